import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRemoteClickHouse,
  DEFAULT_REQUEST_COMPRESSION,
  HOT_WRITER_CLIENT_OPTIONS,
  type RequestCompressionOption,
} from '../../../../functions/shared/clickhouse/connect.js';
import { classifyClickHouseError } from '../../../../functions/shared/clickhouse/errors.js';
import { JSON_ROWS_FORMAT, JSON_ROWS_SETTINGS } from '../../../../functions/shared/clickhouse/insert-text.js';
import {
  LeanHttpRequests,
  SMALL_BODY_BYTES,
} from '../../../../functions/shared/clickhouse/lean-connection.js';
import {
  type ClickHouseRequests,
  ClientRequests,
  clickHouseRequests,
} from '../../../../functions/shared/clickhouse/requests.js';
import { zstd } from '../../../../functions/shared/compression/zstd.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { type ClickHouseHttpServer, startClickHouseHttp } from '../../../../local/clickhouse-http.js';

// The hot writer's port (requests.ts) through both adapters against the real engine: the client
// adapter over embedded chdb, the lean one over the local HTTP interface on the same data. The
// writer, isolation and handler tests run over both too (*.over-lean-http.test.ts).

const password = 'port-secret';
let server: ClickHouseHttpServer;
let embedded: ClickHouseClient;
const clients: ClickHouseClient[] = [];

const leanClient = (url = server.url, pass = password, extra: object = {}) => {
  const c = createRemoteClickHouse(
    { url, username: 'default', password: pass, database: 'default' },
    { ...HOT_WRITER_CLIENT_OPTIONS, ...extra },
  );
  clients.push(c);
  return c;
};

beforeAll(async () => {
  const path = mkdtempSync(join(tmpdir(), 'ch-port-'));
  embedded = createEmbeddedClickHouse({ path });
  server = await startClickHouseHttp({ path, port: 0, password });
  await embedded.command({
    query: `CREATE TABLE IF NOT EXISTS port_probe (k String, n UInt8) ENGINE = MergeTree ORDER BY k
      SETTINGS non_replicated_deduplication_window = 100`,
  });
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await server.close();
  await embedded.close();
});

const count = async (where: string) => {
  const rs = await embedded.query({
    query: `SELECT count() AS c FROM port_probe WHERE ${where}`,
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ c: string }>())[0]?.c);
};

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );

describe('clickHouseRequests', () => {
  it('finds the lean port of a lean client, the client adapter otherwise, and a port as itself', () => {
    expect(clickHouseRequests(leanClient())).toBeInstanceOf(LeanHttpRequests);
    const plain = leanClient(server.url, password, { connection: 'client' });
    expect(clickHouseRequests(plain)).toBeInstanceOf(ClientRequests);
    expect(clickHouseRequests(embedded)).toBeInstanceOf(ClientRequests);
    const port = clickHouseRequests(embedded);
    expect(clickHouseRequests(port)).toBe(port);
  });

  it.each([
    { codec: 'gzip', level: 1 },
    { codec: 'br', quality: 1 },
    { codec: 'zstd', level: 1 },
  ] as const)('stores an insert body compressed with $codec, every row once', async (codec) => {
    const port = clickHouseRequests(leanClient(server.url, password, { requestCompression: codec }));
    const tag = `codec-${codec.codec}`;
    // Rows that differ, so a codec that dropped or repeated a block would show in the count.
    const chunks = Array.from({ length: 3000 }, (_, i) =>
      Buffer.from(`["${tag}-${i}-${'x'.repeat(i % 97)}",${i % 256}]\n`),
    );
    await port.insertText({
      table: 'port_probe',
      format: JSON_ROWS_FORMAT,
      chunks,
      settings: { ...JSON_ROWS_SETTINGS, async_insert: 0 },
    });
    expect(await count(`startsWith(k, '${tag}-')`)).toBe(3000);
    expect(await count(`startsWith(k, '${tag}-2999-') AND n = ${2999 % 256}`)).toBe(1);
  });
});

describe.each([
  ['the lean adapter over HTTP', () => clickHouseRequests(leanClient())],
  ['the client adapter over embedded chdb', () => new ClientRequests(embedded)],
] as const)('ClickHouseRequests: %s', (name, open) => {
  const tag = name.startsWith('the lean') ? 'lean' : 'client';
  let port: ClickHouseRequests;
  beforeAll(() => {
    port = open();
  });

  it('inserts text with a dedup token once, however often it is sent, and large bodies too', async () => {
    // The writer's format: a raw one (the client takes byte streams for raw formats only).
    const line = (i: number) => `["${tag}-text-${i}",${i % 200}]\n`;
    const small = [Buffer.from(line(0)), Buffer.from(line(1))];
    const settings = {
      ...JSON_ROWS_SETTINGS,
      insert_deduplicate: 1,
      insert_deduplication_token: `${tag}-tok`,
      async_insert: 0,
    } as const;
    for (let i = 0; i < 2; i++)
      await port.insertText({ table: 'port_probe', format: JSON_ROWS_FORMAT, chunks: small, settings });
    expect(await count(`startsWith(k, '${tag}-text-')`)).toBe(2);
    // Over SMALL_BODY_BYTES: the lean adapter compresses it (Brotli 1 by default).
    const big = Array.from({ length: 500 }, (_, i) => Buffer.from(line(i + 2)));
    expect(big.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(SMALL_BODY_BYTES);
    await port.insertText({
      table: 'port_probe',
      columns: ['`k`', '`n`'],
      format: JSON_ROWS_FORMAT,
      chunks: big,
      settings: { ...settings, insert_deduplication_token: `${tag}-tok-big` },
    });
    expect(await count(`startsWith(k, '${tag}-text-')`)).toBe(502);
  });

  it('inserts objects as JSONEachRow with named columns, and reads rows back with parameters', async () => {
    await port.insertObjects({
      table: 'port_probe',
      objects: [{ k: `${tag}-obj-a` }, { k: `${tag}-obj-b` }],
      columns: ['k'],
    });
    const rows = await port.rows<{ k: string; n: number }>({
      query: 'SELECT k, n FROM port_probe WHERE k IN {ks:Array(String)} ORDER BY k',
      params: { ks: [`${tag}-obj-a`, `${tag}-obj-b`, 'absent'] },
    });
    expect(rows).toEqual([
      { k: `${tag}-obj-a`, n: 0 },
      { k: `${tag}-obj-b`, n: 0 },
    ]);
  });

  it('binds parameters too long for a URL (the lookup of 10,000 envelope ids)', async () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `id-${String(i).padStart(40, '0')}`);
    const rows = await port.rows<{ n: string | number; last: string }>({
      query: 'SELECT length({ids:Array(String)}) AS n, {ids:Array(String)}[10000] AS last',
      params: { ids },
      settings: { max_query_size: '1000000' },
    });
    expect(rows.map((r) => [Number(r.n), r.last])).toEqual([[10_000, ids[9999]]]);
  });

  it('runs a command with parameters (INSERT … SELECT)', async () => {
    await port.command({
      query: 'INSERT INTO port_probe SELECT concat({p:String}, toString(number)), 7 FROM numbers(3)',
      params: { p: `${tag}-cmd-` },
    });
    expect(await count(`startsWith(k, '${tag}-cmd-') AND n = 7`)).toBe(3);
  });

  it('raises a refused insert as a ClickHouse error with its code: a data error, nothing stored', async () => {
    const err = await failure(
      port.insertObjects({ table: 'port_probe', objects: [{ k: `${tag}-bad`, n: 'not a number' }] }),
    );
    const f = classifyClickHouseError(err);
    expect(f.kind).toBe('data');
    expect(f.code).toBeGreaterThan(0);
    expect(await count(`k = '${tag}-bad'`)).toBe(0);
  });

  it('raises an unknown table as an outage with its code (a deployment problem to retry)', async () => {
    const err = await failure(port.rows({ query: 'SELECT 1 FROM no_such_table_here' }));
    expect(classifyClickHouseError(err)).toMatchObject({ kind: 'outage', code: 60 });
  });
});

/** A server that records each request's headers and answers with `answer` (no local part can). */
async function fakeServer(answer: (res: import('node:http').ServerResponse) => void) {
  const seen: { headers: IncomingHttpHeaders; url: string; bytes: number }[] = [];
  const s: Server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      seen.push({ headers: req.headers, url: req.url ?? '', bytes });
      answer(res);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

describe('LeanHttpRequests on the wire (a recording server: a mock, none exists locally)', () => {
  it('sends a small body plain and a large one compressed, with the settings in the URL', async () => {
    const fake = await fakeServer((res) => res.writeHead(200).end());
    try {
      const port = clickHouseRequests(leanClient(fake.url));
      await port.insertObjects({ table: 't', objects: [{ a: 1 }], settings: { async_insert: 0 } });
      await port.insertText({
        table: 't',
        format: 'JSONEachRow',
        chunks: [Buffer.from('{"a":1}\n'.repeat(SMALL_BODY_BYTES))],
      });
      expect(fake.seen[0]!.headers['content-encoding']).toBeUndefined();
      expect(fake.seen[0]!.url).toContain('async_insert=0');
      expect(decodeURIComponent(fake.seen[0]!.url)).toContain('INSERT INTO t FORMAT JSONEachRow');
      expect(fake.seen[1]!.headers['content-encoding']).toBe(
        DEFAULT_REQUEST_COMPRESSION === false ? undefined : DEFAULT_REQUEST_COMPRESSION.codec,
      );
      expect(fake.seen[1]!.bytes).toBeLessThan(SMALL_BODY_BYTES);
    } finally {
      await fake.close();
    }
  });

  it('sends zstd where node:zlib has it, and Brotli where it does not (a large body: no zstd stream in WebAssembly)', async () => {
    const fake = await fakeServer((res) => res.writeHead(200).end());
    const codec: RequestCompressionOption = { codec: 'zstd', level: 1 };
    try {
      const port = clickHouseRequests(leanClient(fake.url, password, { requestCompression: codec }));
      const line = Buffer.from('["a-row-of-the-insert",1]\n');
      await port.insertText({
        table: 't',
        format: 'JSONEachRow',
        chunks: [Buffer.alloc(SMALL_BODY_BYTES, line)],
      });
      // Over 8 MiB the body is compressed as a stream.
      const large = Array.from({ length: 9 }, () => Buffer.alloc(1024 * 1024, line));
      await port.insertText({ table: 't', format: 'JSONEachRow', chunks: large });
      expect(fake.seen.map((r) => r.headers['content-encoding'])).toEqual([
        zstd ? 'zstd' : 'br',
        zstd?.compressStream ? 'zstd' : 'br',
      ]);
      expect(fake.seen[1]!.bytes).toBeLessThan(1024 * 1024);
    } finally {
      await fake.close();
    }
  });

  it('classifies an exception at the end of a 200 answer by its code (met after the answer began)', async () => {
    const fake = await fakeServer((res) =>
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(
          '{"meta":[{"name":"x","type":"UInt8"}],"data":[{"x":1},\nCode: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)\n',
        ),
    );
    try {
      const err = await failure(clickHouseRequests(leanClient(fake.url)).rows({ query: 'SELECT 1 AS x' }));
      expect(classifyClickHouseError(err)).toMatchObject({
        kind: 'outage',
        code: 241,
        reasonClass: 'MEMORY_LIMIT_EXCEEDED',
      });
    } finally {
      await fake.close();
    }
  });

  it('classifies a closed port and a silent server as outages', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = await failure(
      clickHouseRequests(leanClient(`http://127.0.0.1:${port}`)).command({ query: 'SELECT 1' }),
    );
    expect(classifyClickHouseError(down)).toMatchObject({ kind: 'outage', reasonClass: 'ECONNREFUSED' });

    const silent = await fakeServer(() => {});
    try {
      const err = await failure(
        clickHouseRequests(leanClient(silent.url, password, { requestTimeoutMs: 200 })).rows({
          query: 'SELECT 1',
        }),
      );
      expect(classifyClickHouseError(err)).toMatchObject({ kind: 'outage', reasonClass: 'TIMEOUT' });
    } finally {
      await silent.close();
    }
  });
});
