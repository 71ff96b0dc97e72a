import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type ClickHouseClient, ClickHouseError, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedClickHouse } from '../../local/clickhouse-embedded.js';
import {
  type ClickHouseHttpServer,
  parseLiteral,
  startClickHouseHttp,
  unescapeText,
} from '../../local/clickhouse-http.js';

// The ClickHouse HTTP interface over embedded chdb, read by @clickhouse/client over HTTP (the
// production path) and by plain fetch (what curl, Grafana and DBeaver send).

const PASSWORD = 's3cret';
let path: string;
let server: ClickHouseHttpServer;
let http: ClickHouseClient;
let embedded: ClickHouseClient;

const auth = { Authorization: `Basic ${Buffer.from(`default:${PASSWORD}`).toString('base64')}` };

async function post(query: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/?${query}`, { method: 'POST', headers: { ...auth, ...headers }, body });
}

beforeAll(async () => {
  path = mkdtempSync(join(tmpdir(), 'ch-http-'));
  embedded = createEmbeddedClickHouse({ path });
  server = await startClickHouseHttp({ path, port: 0, password: PASSWORD });
  http = createClient({
    url: server.url,
    password: PASSWORD,
    compression: { request: true, response: true },
    use_multipart_params_auto: true,
    log: { level: 127 as never },
  });
  await http.command({
    query: `CREATE TABLE IF NOT EXISTS t (id UInt32, s String, tags Array(String), m Map(String, String))
            ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100`,
  });
});
afterAll(async () => {
  await http.close();
  await server.close();
  await embedded.close();
});
beforeEach(async () => {
  await http.command({ query: 'TRUNCATE TABLE t' });
});

describe('ClickHouse over HTTP on embedded chdb', () => {
  it('answers /ping and a bare GET like a server', async () => {
    const ping = await fetch(`${server.url}/ping`);
    expect([ping.status, await ping.text()]).toEqual([200, 'Ok.\n']);
    expect(await http.ping()).toEqual({ success: true });
  });

  it('inserts JSONCompactEachRow and JSONEachRow (gzip request bodies) and reads them back gzipped', async () => {
    await http.insert({
      table: 't',
      values: [[1, 'tab\there', ["it's", 'back\\slash'], { k: 'v' }]],
      format: 'JSONCompactEachRow',
      columns: ['id', 's', 'tags', 'm'],
    });
    const summary = (
      await http.insert({
        table: 't',
        values: [
          { id: 2, s: 'two', tags: [], m: {} },
          { id: 3, s: 'three', tags: ['x'], m: { a: 'b' } },
        ],
        format: 'JSONEachRow',
      })
    ).summary;
    expect(summary?.written_rows).toBe('2');

    const rows = await (
      await http.query({ query: 'SELECT * FROM t ORDER BY id', format: 'JSONEachRow' })
    ).json();
    expect(rows).toEqual([
      { id: 1, s: 'tab\there', tags: ["it's", 'back\\slash'], m: { k: 'v' } },
      { id: 2, s: 'two', tags: [], m: {} },
      { id: 3, s: 'three', tags: ['x'], m: { a: 'b' } },
    ]);
  });

  it('compresses the response when asked with enable_http_compression=1 and Accept-Encoding', async () => {
    const res = await post('enable_http_compression=1', 'SELECT 42 AS x FORMAT JSONEachRow', {
      'Accept-Encoding': 'gzip',
    });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    // fetch decompresses transparently.
    expect(await res.text()).toBe('{"x":42}\n');
    const plain = await post('', gzipSync('SELECT 7 AS y FORMAT JSONEachRow'), {
      'Content-Encoding': 'gzip',
    });
    expect(await plain.text()).toBe('{"y":7}\n');
  });

  it('binds {name:Type} parameters from param_* exactly, escapes and quotes included', async () => {
    await http.insert({
      table: 't',
      values: [
        { id: 1, s: "q'r\\", tags: ['a\tb', "c'd"], m: {} },
        { id: 2, s: 'plain', tags: [], m: {} },
      ],
      format: 'JSONEachRow',
    });
    const rs = await http.query({
      query: `SELECT id FROM t WHERE s = {s:String} OR hasAny(tags, {tags:Array(String)}) ORDER BY id`,
      query_params: { s: "q'r\\", tags: ["c'd"] },
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ id: 1 }]);
    const echo = await http.query({
      query: 'SELECT {s:String} AS s, {a:Array(String)} AS a, {n:UInt64} AS n, {m:Map(String, UInt8)} AS m',
      query_params: { s: 'line\nnext\\', a: ['x\\y', "o'k"], n: '18446744073709551615', m: { k: 1 } },
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    });
    expect(await echo.json()).toEqual([
      { s: 'line\nnext\\', a: ['x\\y', "o'k"], n: '18446744073709551615', m: { k: 1 } },
    ]);
  });

  it('takes parameters too long for a URL from a multipart body (the writer ledger lookup)', async () => {
    await http.insert({ table: 't', values: [{ id: 9, s: 'seq-4999' }], format: 'JSONEachRow' });
    const many = Array.from({ length: 5000 }, (_, i) => `seq-${i}`);
    const rs = await http.query({
      query: 'SELECT id FROM t WHERE s IN {many:Array(String)}',
      query_params: { many },
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ id: 9 }]);
  });

  it('scopes settings to the request: a setting never leaks into the next one', async () => {
    const first = await http.query({
      query: "SELECT getSetting('max_threads') AS v",
      format: 'JSONEachRow',
      clickhouse_settings: { max_threads: 1 },
    });
    expect(await first.json()).toEqual([{ v: 1 }]);
    for (let i = 0; i < 6; i++) {
      const next = await http.query({
        query: "SELECT getSetting('max_threads') AS v",
        format: 'JSONEachRow',
      });
      expect((await next.json<{ v: number }>())[0]?.v).not.toBe(1);
    }
  });

  it('answers an unknown setting with 404 UNKNOWN_SETTING and keeps serving', async () => {
    const res = await post('no_such_setting=1', 'SELECT 1');
    expect(res.status).toBe(404);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('115');
    for (let i = 0; i < 6; i++) {
      const ok = await http.query({ query: "SELECT getSetting('max_threads') AS v", format: 'JSONEachRow' });
      expect(await ok.json()).toHaveLength(1);
    }
  });

  it('dedups by insert_deduplication_token, scoped to that insert (statement SETTINGS, not a session SET)', async () => {
    const insert = (id: number, token?: string) =>
      http.insert({
        table: 't',
        values: [{ id, s: 'x' }],
        format: 'JSONEachRow',
        ...(token && { clickhouse_settings: { insert_deduplication_token: token, insert_deduplicate: 1 } }),
      });
    await insert(1, 'tok-a');
    await insert(2, 'tok-a'); // same token: dropped, as by a server
    await insert(3); // no token: must not inherit tok-a
    await insert(3); // same content, no token: block hash dedup drops it, as on a server
    await insert(4, 'tok-b');
    const rs = await http.query({ query: 'SELECT id FROM t ORDER BY id', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ id: 1 }, { id: 3 }, { id: 4 }]);
  });

  it('reads tables of the `database` parameter', async () => {
    await http.command({ query: 'CREATE DATABASE IF NOT EXISTS other' });
    await http.command({ query: 'CREATE TABLE IF NOT EXISTS other.u (x UInt8) ENGINE = Memory' });
    const other = createClient({ url: server.url, password: PASSWORD, database: 'other' });
    try {
      await other.command({ query: 'INSERT INTO u VALUES (5)' });
      const rs = await other.query({
        query: 'SELECT x, currentDatabase() AS db FROM u',
        format: 'JSONEachRow',
      });
      expect(await rs.json()).toEqual([{ x: 5, db: 'other' }]);
      const back = await http.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' });
      expect(await back.json()).toEqual([{ db: 'default' }]);
    } finally {
      await other.close();
    }
  });

  it('checks the configured user: basic auth, X-ClickHouse-User/Key headers, URL parameters', async () => {
    const ok = await fetch(`${server.url}/?query=SELECT%201`, {
      headers: { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': PASSWORD },
    });
    expect([ok.status, await ok.text()]).toEqual([200, '1\n']);
    const viaUrl = await fetch(`${server.url}/?user=default&password=${PASSWORD}&query=SELECT%202`);
    expect(await viaUrl.text()).toBe('2\n');

    const bad = await fetch(`${server.url}/?query=SELECT%201`, {
      headers: { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': 'nope' },
    });
    expect(bad.status).toBe(403);
    expect(bad.headers.get('x-clickhouse-exception-code')).toBe('516');
    expect(await bad.text()).toMatch(/^Code: 516\. DB::Exception: .*\(AUTHENTICATION_FAILED\)/);
    const client = createClient({ url: server.url, password: 'wrong', log: { level: 127 as never } });
    await expect(client.query({ query: 'SELECT 1' })).rejects.toMatchObject({ code: '516' });
    await client.close();
  });

  it('sends errors as a server does: status, X-ClickHouse-Exception-Code, `Code: N. DB::Exception`', async () => {
    const missing = await post('', 'SELECT * FROM no_such_table');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-clickhouse-exception-code')).toBe('60');
    expect(await missing.text()).toMatch(/^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\)/);

    const unparsable = await post(
      `query=${encodeURIComponent('INSERT INTO t (id) FORMAT JSONEachRow')}`,
      '{"id":"not a number"}\n',
    );
    expect(unparsable.status).toBe(400);
    expect(unparsable.headers.get('x-clickhouse-exception-code')).toBe('27');

    const err = await http
      .insert({ table: 't', values: [{ id: 'x' }], format: 'JSONEachRow' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect(err).toMatchObject({ code: '27', type: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED' });
  });

  it('returns binary formats byte for byte (Native, RowBinaryWithNamesAndTypes, as Grafana and JDBC read)', async () => {
    const native = await post('', 'SELECT toUInt32(258) AS n FORMAT Native');
    const bytes = Buffer.from(await native.arrayBuffer());
    // Native: 1 column, 1 row, "n", "UInt32", then 258 little-endian.
    expect(bytes.subarray(-4)).toEqual(Buffer.from([2, 1, 0, 0]));
    expect(bytes.includes(Buffer.from('UInt32'))).toBe(true);
    const rb = await post('', 'SELECT toUInt16(513) AS x FORMAT RowBinaryWithNamesAndTypes');
    expect(Buffer.from(await rb.arrayBuffer())).toEqual(
      Buffer.concat([
        Buffer.from([1, 1]),
        Buffer.from('x'),
        Buffer.from([6]),
        Buffer.from('UInt16'),
        Buffer.from([1, 2]),
      ]),
    );
  });

  it('refuses ClickHouse native compression (compress=1) with a clear error instead of misframed bytes', async () => {
    const res = await post('compress=1', 'SELECT 1');
    expect(res.status).toBe(501);
    expect(await res.text()).toMatch(/compress=1 .* not served locally/);
  });

  it('refuses INSERT … SELECT … FROM input() (embedded ClickHouse would read no rows and answer 200) and still takes the same rows as INSERT … FORMAT', async () => {
    const rows = '[1,"a"]\n[2,"b"]\n';
    const res = await post(
      `query=${encodeURIComponent("INSERT INTO t (id, s) SELECT id, upper(s) FROM input('id UInt32, s String') FORMAT JSONCompactEachRow")}`,
      rows,
    );
    expect(res.status).toBe(501);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('48');
    expect(await res.text()).toMatch(/input\(\) is not served locally/);
    const plain = await post(
      `query=${encodeURIComponent('INSERT INTO t (id, s) FORMAT JSONCompactEachRow')}`,
      rows,
    );
    expect(plain.status).toBe(200);
    const count = await http.query({ query: 'SELECT count() AS n FROM t', format: 'JSONEachRow' });
    expect(await count.json()).toEqual([{ n: '2' }]);
  });

  it('treats GET as read-only (code 164, status 500), as the server does', async () => {
    const res = await fetch(`${server.url}/?query=${encodeURIComponent('INSERT INTO t (id) VALUES (1)')}`, {
      headers: auth,
    });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('164');
  });

  it('sends X-ClickHouse-Query-Id (the caller’s when given) and X-ClickHouse-Summary', async () => {
    const res = await post('query_id=my-query-1', 'SELECT number FROM numbers(3) FORMAT JSONEachRow');
    expect(res.headers.get('x-clickhouse-query-id')).toBe('my-query-1');
    expect(res.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    const summary = JSON.parse(res.headers.get('x-clickhouse-summary') ?? '{}') as Record<string, string>;
    expect(summary.read_rows).toBe('3');
    expect((await res.text()).trim().split('\n')).toHaveLength(3);
    const rs = await http.query({ query: 'SELECT 1', format: 'JSONEachRow', query_id: 'from-client' });
    expect(rs.query_id).toBe('from-client');
    expect(rs.response_headers['x-clickhouse-query-id']).toBe('from-client');
  });

  it('quotes 64-bit integers in JSON as a server does by default (chdb does not), unless told otherwise', async () => {
    const quoted = await http.query({
      query: 'SELECT toUInt64(18446744073709551615) AS n',
      format: 'JSONEachRow',
    });
    expect(await quoted.json()).toEqual([{ n: '18446744073709551615' }]);
    const bare = await http.query({
      query: 'SELECT toUInt64(5) AS n',
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    });
    expect(await bare.json()).toEqual([{ n: 5 }]);
    const again = await http.query({ query: 'SELECT toUInt64(5) AS n', format: 'JSONEachRow' });
    expect(await again.json()).toEqual([{ n: '5' }]);
  });

  it('sees what the in-process embedded client writes (one data directory)', async () => {
    await embedded.insert({ table: 't', values: [{ id: 77, s: 'embedded' }], format: 'JSONEachRow' });
    const rs = await http.query({ query: 'SELECT s FROM t WHERE id = 77', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ s: 'embedded' }]);
  });
});

describe('parameter text helpers', () => {
  it('unescapes ClickHouse escaped text', () => {
    expect(unescapeText("a\\tb\\nc\\\\d\\'e\\x41")).toBe("a\tb\nc\\d'eA");
  });
  it('parses composite literals into values chdb re-serializes', () => {
    expect(parseLiteral("['a\\'b', 'c\\\\d']")).toEqual(["a'b", 'c\\d']);
    expect(parseLiteral('[1, 18446744073709551615]')).toEqual([1n, 18446744073709551615n]);
    expect(parseLiteral("{'k':NULL}")).toEqual(new Map([['k', null]]));
  });
});
