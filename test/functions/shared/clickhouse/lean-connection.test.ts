import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRemoteClickHouse,
  HOT_WRITER_CLIENT_OPTIONS,
} from '../../../../functions/shared/clickhouse/connect.js';
import { classifyClickHouseError } from '../../../../functions/shared/clickhouse/errors.js';
import { LeanHttpConnection } from '../../../../functions/shared/clickhouse/lean-connection.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { type ClickHouseHttpServer, startClickHouseHttp } from '../../../../local/clickhouse-http.js';

// The hot writer's lean connection against the local ClickHouse HTTP interface over the real
// engine: what the writer relies on besides the rows (the writer's own tests run over it too,
// *.over-lean-http.test.ts): error codes, outages, long parameters, compression, stale sockets.

const password = 'lean-secret';
let server: ClickHouseHttpServer;
let embedded: ClickHouseClient;
const clients: ClickHouseClient[] = [];

const lean = (url = server.url, extra: object = {}, pass = password) => {
  const c = createRemoteClickHouse(
    { url, username: 'default', password: pass, database: 'default' },
    { ...HOT_WRITER_CLIENT_OPTIONS, ...extra },
  );
  clients.push(c);
  return c;
};

beforeAll(async () => {
  const path = mkdtempSync(join(tmpdir(), 'ch-lean-'));
  embedded = createEmbeddedClickHouse({ path });
  server = await startClickHouseHttp({ path, port: 0, password });
  await embedded.command({
    query: 'CREATE TABLE IF NOT EXISTS lean_probe (k String, n UInt8) ENGINE = MergeTree ORDER BY k',
  });
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await server.close();
  await embedded.close();
});

const count = async (where: string) => {
  const rs = await embedded.query({
    query: `SELECT count() AS n FROM lean_probe WHERE ${where}`,
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0]?.n);
};

describe('LeanHttpConnection', () => {
  it('inserts a gzip-compressed byte stream with settings, and reads it back with parameters', async () => {
    const client = lean();
    const body = Array.from({ length: 2000 }, (_, i) => `["gz-${i}",${i % 200}]\n`).join('');
    await client.insert({
      table: 'lean_probe',
      values: Readable.from([Buffer.from(body.slice(0, 9000)), Buffer.from(body.slice(9000))], {
        objectMode: false,
      }),
      // A raw format takes a byte stream, as the writer sends its rows.
      format: 'CustomSeparated',
      clickhouse_settings: {
        insert_deduplicate: 1,
        async_insert: 0,
        format_custom_escaping_rule: 'JSON',
        format_custom_field_delimiter: ',',
        format_custom_row_before_delimiter: '[',
        format_custom_row_after_delimiter: ']\n',
      },
    });
    expect(await count("startsWith(k, 'gz-')")).toBe(2000);
    const rs = await client.query({
      query: 'SELECT k FROM lean_probe WHERE k IN {ks:Array(String)} ORDER BY k',
      query_params: { ks: ['gz-1', 'gz-2', 'absent'] },
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ k: 'gz-1' }, { k: 'gz-2' }]);
  });

  it('reads an answer the server compressed when a setting asked it to', async () => {
    const rs = await lean().query({
      query: 'SELECT number AS n FROM numbers(3000)',
      clickhouse_settings: { enable_http_compression: 1 },
      http_headers: { 'Accept-Encoding': 'gzip' },
      format: 'JSON',
    });
    const rows = (await rs.json<{ n: string | number }>()).data;
    expect(rows).toHaveLength(3000);
    expect(Number(rows[2999]?.n)).toBe(2999);
  });

  it('gives up a request its abort signal cancels (an outage, not an answer)', async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const controller = new AbortController();
      const pending = lean(url).command({ query: 'SELECT 1', abort_signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      const err = await pending.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(classifyClickHouseError(err).kind).toBe('outage');
      expect(String(err)).toMatch(/aborted/);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('sends parameters too long for a URL in a multipart body (the lookup of 10,000 envelope ids)', async () => {
    const client = lean();
    const ids = Array.from({ length: 10_000 }, (_, i) => `id-${String(i).padStart(40, '0')}`);
    const rs = await client.query({
      query: 'SELECT length({ids:Array(String)}) AS n, {ids:Array(String)}[10000] AS last',
      query_params: { ids },
      use_multipart_params_auto: true,
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ n: '10000', last: ids[9999] }]);
  });

  it('raises a refused insert as a ClickHouse error with its code: a data error, not an outage', async () => {
    const client = lean();
    const err = await client
      .insert({ table: 'lean_probe', values: [{ k: 'x', n: 'not a number' }], format: 'JSONEachRow' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const failure = classifyClickHouseError(err);
    expect(failure.kind).toBe('data');
    expect(failure.code).toBeGreaterThan(0);
    expect(await count("k = 'x'")).toBe(0);
  });

  it('classifies wrong credentials as an outage (code 516), and a closed port as one (ECONNREFUSED)', async () => {
    const wrong = await lean(server.url, {}, 'nope')
      .command({ query: 'SELECT 1' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(classifyClickHouseError(wrong)).toMatchObject({ kind: 'outage', code: 516 });

    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = await lean(`http://127.0.0.1:${port}`)
      .command({ query: 'SELECT 1' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(classifyClickHouseError(down)).toMatchObject({ kind: 'outage', reasonClass: 'ECONNREFUSED' });
  });

  it('times out a request that gets no answer (an outage)', async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const err = await lean(url, { requestTimeoutMs: 200 })
        .command({ query: 'SELECT 1' })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(classifyClickHouseError(err)).toMatchObject({ kind: 'outage', reasonClass: 'TIMEOUT' });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('reuses a kept-alive socket, but not one idle past its TTL (the server may have closed it unseen)', async () => {
    // A frozen Lambda container does not see the server close an idle socket; the next request
    // on it would fail with a reset. Counted here as the connections the server accepts.
    let connections = 0;
    const counting: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('1\n'));
    });
    counting.on('connection', () => connections++);
    await new Promise<void>((r) => counting.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(counting.address() as AddressInfo).port}`;
      const client = createClient({
        url,
        connection: new LeanHttpConnection({
          url,
          username: 'default',
          password: '',
          database: 'default',
          idleSocketTtlMs: 150,
        }),
      });
      clients.push(client);
      await client.command({ query: 'SELECT 1' });
      await client.command({ query: 'SELECT 1' });
      expect(connections).toBe(1);
      await new Promise((r) => setTimeout(r, 300));
      await client.command({ query: 'SELECT 1' });
      expect(connections).toBe(2);
    } finally {
      counting.closeAllConnections();
      await new Promise<void>((r) => counting.close(() => r()));
    }
  });
});
