/**
 * Noisy neighbour: one tenant's small query latency while another tenant's heaviest query runs,
 * with the query API's per-request caps off ("before": no response cap, no read caps) and at
 * their defaults ("after": 5 MiB responses, 100 M rows / 10 GiB read, see docs/query-api.md).
 *
 * Data in embedded ClickHouse: the heavy tenant has WIDE log records (200 KB bodies: a page of
 * 1000 is ~200 MB of JSON, the shape of the measured 252 MB answer) and many small ones; the light
 * tenant has 100 small records. The light query is a 1-hour log search. Each heavy query runs in
 * a loop on its own async "client" while the light one is timed; both go through the query API
 * use-case in this process (as in local mode and in one Lambda instance, the event loop is shared).
 *
 *   npx tsx bench/query-isolation.ts [--quick]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import {
  ClickHouseTelemetryReader,
  HotTableSources,
  hotRollups,
} from '../functions/shared/query/clickhouse-reader.js';
import { CursorCodec } from '../functions/shared/query/cursor.js';
import { createQueryApi, type QueryApi } from '../functions/shared/query/query-api.js';
import type { TenantDirectory } from '../functions/shared/tenants/directory.js';
import { createEmbeddedClickHouse } from '../local/clickhouse-embedded.js';

const quick = process.argv.includes('--quick');
const WIDE = quick ? 400 : 2_000;
const WIDE_BYTES = 200_000;
const SMALL = quick ? 200_000 : 2_000_000;
const RUNS = quick ? 10 : 30;

const dir = await mkdtemp(join(tmpdir(), 'bench-isolation-'));
const client = createEmbeddedClickHouse({ path: join(dir, 'chdb') });
await applyMigrations(client, { hotRetentionDays: 7 });
const nowMs = Date.now();
const DAY_NS = 86_400_000_000_000n;

const load = async (sql: string) =>
  client.command({ query: sql, clickhouse_settings: { max_partitions_per_insert_block: '1000' } });
// Wide records in the last 6 hours, small ones over the 5 days before: the heavy tenant's own.
await load(`INSERT INTO otel_logs (TenantId, Timestamp, SeverityText, SeverityNumber, ServiceName, Body)
  SELECT 'heavy', fromUnixTimestamp64Nano(toInt64(${nowMs}000000 - number * ${(6n * 3_600_000_000_000n) / BigInt(WIDE)})),
    'INFO', 9, 'bulk', concat(toString(number), ' ', repeat('x', ${WIDE_BYTES}))
  FROM numbers(${WIDE})`);
await load(`INSERT INTO otel_logs (TenantId, Timestamp, SeverityText, SeverityNumber, ServiceName, Body)
  SELECT 'heavy', fromUnixTimestamp64Nano(toInt64(${nowMs}000000 - 7 * 3600000000000 - number * ${(5n * DAY_NS) / BigInt(SMALL)})),
    'INFO', 9, concat('svc-', toString(number % 20)), concat('request ', toString(number), ' done')
  FROM numbers(${SMALL})`);
await load(`INSERT INTO otel_logs (TenantId, Timestamp, SeverityText, SeverityNumber, ServiceName, Body)
  SELECT 'light', fromUnixTimestamp64Nano(toInt64(${nowMs}000000 - number * 30000000000)),
    'INFO', 9, 'web', concat('hello ', toString(number))
  FROM numbers(100)`);
await client.command({ query: 'OPTIMIZE TABLE otel_logs FINAL' });

const tenants: TenantDirectory = {
  resolve: async (key) => ({ tenantId: key === 'heavy-key' ? 'heavy' : 'light', keyId: key }),
};
const api = (caps: 'none' | 'defaults'): QueryApi =>
  createQueryApi({
    tenants,
    hot: new ClickHouseTelemetryReader(client, {
      tier: 'hot',
      engine: 'clickhouse',
      sources: new HotTableSources(),
      rollups: hotRollups(),
      ...(caps === 'none' && {
        maxRowsToRead: 1e15,
        maxBytesToRead: 1e15,
        maxExecutionSeconds: 60,
        maxPageBytes: Number.POSITIVE_INFINITY,
      }),
    }),
    cursors: new CursorCodec('bench-cursor-secret-0123'),
    hotRetentionDays: 7,
    ...(caps === 'none' && { limits: { maxResponseBytes: Number.MAX_SAFE_INTEGER, timeoutMs: 120_000 } }),
  });

const request = async (q: QueryApi, key: string, query: Record<string, string>) => {
  const t = performance.now();
  const res = await q({ method: 'GET', path: '/v1/query/logs', headers: { 'x-api-key': key }, query });
  // The Lambda handler serialises the body (or uses the API's own serialisation).
  const bytes = Buffer.byteLength(res.bodyText ?? JSON.stringify(res.body));
  return { ms: performance.now() - t, status: res.status, bytes };
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const LIGHT = { from: 'now-1h', limit: '100' };
const HEAVY: [string, Record<string, string>][] = [
  ['wide page (limit 1000, last 6h)', { from: 'now-6h', limit: '1000' }],
  ['full scan (text search, 6 days)', { from: 'now-6d', q: 'no such text', limit: '1000' }],
];

async function lightLatency(q: QueryApi): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push((await request(q, 'light-key', LIGHT)).ms);
  return times;
}

console.log(
  `\nheavy tenant: ${WIDE} records of ${WIDE_BYTES / 1000} KB + ${SMALL} small; light tenant: 100 records; ${RUNS} light queries per row\n`,
);
console.log(
  `${'caps'.padEnd(9)} ${'heavy query'.padEnd(34)} ${'heavy ms'.padStart(9)} ${'status'.padStart(6)} ${'bytes'.padStart(11)} ${'light p50'.padStart(10)} ${'light p95'.padStart(10)}`,
);
for (const caps of ['none', 'defaults'] as const) {
  const q = api(caps);
  await lightLatency(q); // warm-up
  const alone = await lightLatency(q);
  console.log(
    `${caps.padEnd(9)} ${'(none)'.padEnd(34)} ${'-'.padStart(9)} ${'-'.padStart(6)} ${'-'.padStart(11)} ${pct(alone, 50).toFixed(1).padStart(10)} ${pct(alone, 95).toFixed(1).padStart(10)}`,
  );
  for (const [label, query] of HEAVY) {
    const heavy = await request(q, 'heavy-key', query);
    let running = true;
    const loop = (async () => {
      while (running) await request(q, 'heavy-key', query);
    })();
    const under = await lightLatency(q);
    running = false;
    await loop;
    console.log(
      `${caps.padEnd(9)} ${label.padEnd(34)} ${heavy.ms.toFixed(0).padStart(9)} ${String(heavy.status).padStart(6)} ${String(heavy.bytes).padStart(11)} ${pct(under, 50).toFixed(1).padStart(10)} ${pct(under, 95).toFixed(1).padStart(10)}`,
    );
  }
}

await client.close();
await rm(dir, { recursive: true, force: true });
