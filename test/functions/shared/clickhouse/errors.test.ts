import { mkdtempSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { Session } from 'chdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyClickHouseError, DATA_ERROR_CODES } from '../../../../functions/shared/clickhouse/errors.js';
import { ClickHouseWriteError } from '../../../../functions/shared/clickhouse/writer.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { type ClickHouseHttpServer, startClickHouseHttp } from '../../../../local/clickhouse-http.js';

// Every data-error code the classifier lists is provoked here against the real engine, through
// both connections the pipeline uses: embedded chdb and the HTTP interface (@clickhouse/client).

const quiet = { level: 127 as never };
let server: ClickHouseHttpServer;
const clients: Record<'embedded' | 'http', ClickHouseClient> = {} as never;

let path: string;

beforeAll(async () => {
  path = mkdtempSync(join(tmpdir(), 'ch-errors-'));
  clients.embedded = createEmbeddedClickHouse({ path });
  server = await startClickHouseHttp({ path, port: 0 });
  clients.http = createClient({
    url: server.url,
    compression: { request: true, response: true },
    log: quiet,
  });
  await clients.embedded.command({
    query: `CREATE TABLE IF NOT EXISTS probe (u8 UInt8, u64 UInt64, d DateTime64(9), dt Date, f Float64,
              s String, fs FixedString(2), arr Array(UInt64), m Map(String, String), dec Decimal(9, 2),
              n Nested(a String, b UInt8), e Enum8('a' = 1), ip IPv4, uu UUID)
            ENGINE = MergeTree ORDER BY u8`,
  });
  await clients.embedded.command({
    query:
      'CREATE TABLE IF NOT EXISTS probe_checked (x UInt8, CONSTRAINT small CHECK x < 10) ENGINE = MergeTree ORDER BY x',
  });
});
afterAll(async () => {
  await clients.http.close();
  await server.close();
  await clients.embedded.close();
});

const insert = (columns: string, row: string) =>
  `INSERT INTO probe (${columns}) FORMAT JSONCompactEachRow\n${row}\n`;

/** One statement per listed code; inserts where an insert can provoke it. */
const PROVOKE: Record<number, string> = {
  6: "SELECT CAST('abc' AS UInt8)",
  25: insert('s', '["\\ud800"]'),
  26: 'INSERT INTO probe (s) FORMAT JSONCompactEachRow\n["abc',
  27: insert('u8', '["abc"]'),
  32: "SELECT CAST('' AS UInt8)",
  38: insert('dt', '["zz"]'),
  // A start time of 2^64-1 ns as the writer sends it (seconds.nanoseconds): the poison of issue #16.
  41: insert('d', '["18446744073.709551615"]'),
  53: 'SELECT CAST([1] AS Map(String, String))',
  69: insert('dec', '[99999999999]'),
  70: "SELECT accurateCast(-1, 'UInt8')",
  72: insert('u64', '[-1]'),
  117: `SELECT CAST('{"a":1' AS JSON)`,
  130: insert('arr', '["x"]'),
  131: insert('fs', '["abcdef"]'),
  190: insert('n.a, n.b', '[["x","y"],[1]]'),
  376: insert('uu', '["nope"]'),
  407: 'SELECT CAST(1e300 AS Decimal(9, 2))',
  467: "SELECT CAST('x' AS Bool)",
  675: insert('ip', '["1.2.3"]'),
  691: insert('e', '["zz"]'),
  469: 'INSERT INTO probe_checked FORMAT JSONCompactEachRow\n[11]\n',
};

describe.each(['embedded', 'http'] as const)('classifyClickHouseError over %s', (via) => {
  it('lists no data-error code that is not provoked here', () => {
    expect([...DATA_ERROR_CODES.keys()].sort((a, b) => a - b)).toEqual(
      Object.keys(PROVOKE)
        .map(Number)
        .sort((a, b) => a - b),
    );
  });

  it.each(Object.entries(PROVOKE))('code %s from the engine is a data error', async (code, sql) => {
    const err = await clients[via].command({ query: sql }).catch((e: unknown) => e);
    const failure = classifyClickHouseError(err);
    expect(failure).toMatchObject({
      kind: 'data',
      code: Number(code),
      reasonClass: DATA_ERROR_CODES.get(Number(code)),
    });
    expect(failure.message.length).toBeGreaterThan(0);
  });

  it('a data error stays one when wrapped (the writer wraps with a cause)', async () => {
    const err = await clients[via]
      .insert({ table: 'probe', values: [{ d: '18446744073.709551615' }], format: 'JSONEachRow' })
      .catch((e: unknown) => e);
    const wrapped = new ClickHouseWriteError('probe: insert failed', 'probe', { cause: err });
    expect(classifyClickHouseError(wrapped)).toMatchObject({ kind: 'data', code: 41 });
  });

  it.each([
    [
      'MEMORY_LIMIT_EXCEEDED',
      241,
      'SELECT groupArray(number) FROM numbers(10000000) SETTINGS max_memory_usage = 1000000',
    ],
    [
      'TIMEOUT_EXCEEDED',
      159,
      'SELECT sleepEachRow(0.5) FROM numbers(4) SETTINGS max_execution_time = 1, max_block_size = 1',
    ],
    ['READONLY', 164, 'INSERT INTO probe (u8) SETTINGS readonly = 1 VALUES (1)'],
    ['UNKNOWN_TABLE (a deployment problem, not the rows)', 60, 'INSERT INTO nope FORMAT JSONEachRow\n{}\n'],
    ['SYNTAX_ERROR (our statement, not the rows)', 62, 'INSERT INTO probe (s) VALUES (abc'],
  ])('%s is an outage (retried, never dead-lettered)', async (_name, code, sql) => {
    const err = await clients[via].command({ query: sql }).catch((e: unknown) => e);
    expect(classifyClickHouseError(err)).toMatchObject({ kind: 'outage', code });
  });
});

describe("classifyClickHouseError on chdb's own session errors", () => {
  it('reads the numeric clickhouseCode of a ChdbQueryError (the raw engine, no client in between)', async () => {
    const session = new Session(path);
    try {
      const err = await session.queryAsync(PROVOKE[41]!).catch((e: unknown) => e);
      expect(err).toMatchObject({ clickhouseCode: 41 });
      expect(classifyClickHouseError(err)).toMatchObject({ kind: 'data', code: 41 });
      const missing = await session.queryAsync('SELECT * FROM no_such_table').catch((e: unknown) => e);
      expect(classifyClickHouseError(missing)).toMatchObject({ kind: 'outage', code: 60 });
    } finally {
      session.close();
    }
  });
});

describe('classifyClickHouseError without a server answer', () => {
  it('connection refused (endpoint down) is an outage', async () => {
    // A port that was just free: nothing listens there once closed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const client = createClient({ url: `http://127.0.0.1:${port}`, log: quiet, request_timeout: 2_000 });
    const err = await client.query({ query: 'SELECT 1' }).catch((e: unknown) => e);
    await client.close();
    expect(classifyClickHouseError(err)).toMatchObject({ kind: 'outage', reasonClass: 'ECONNREFUSED' });
  });

  it('a socket reset, a timeout, a proxy page and anything unknown are outages', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(classifyClickHouseError(reset)).toMatchObject({ kind: 'outage', reasonClass: 'ECONNRESET' });
    expect(classifyClickHouseError(new Error('Timeout error.'))).toMatchObject({
      kind: 'outage',
      reasonClass: 'TIMEOUT',
    });
    expect(classifyClickHouseError(new Error('<html>503 Service Unavailable</html>'))).toMatchObject({
      kind: 'outage',
    });
    expect(classifyClickHouseError('boom')).toMatchObject({ kind: 'outage', reasonClass: 'UNKNOWN' });
    expect(
      classifyClickHouseError(new Error('Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)')),
    ).toMatchObject({ kind: 'outage', code: 252, reasonClass: 'TOO_MANY_PARTS' });
  });
});
