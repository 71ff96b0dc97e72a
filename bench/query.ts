/**
 * Query API latency in local mode: loads spans, log records and gauge points spread over several
 * services, two tenants and six days into embedded ClickHouse (INSERT ... SELECT generators, so the
 * materialized views fill the trace-id lookup and the RED rollup as the writer's inserts would),
 * then runs each endpoint through the query API use-case and prints p50/p95 latency and the rows
 * ClickHouse read per query. `--quick`: 100k rows each, 5 runs per query. `--only <text>`: only
 * the queries whose label contains it.
 *
 *   npx tsx bench/query.ts [--quick] [--only service-map]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stepFor as consoleStepFor } from '../console/src/lib/time-range.js';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import {
  ClickHouseTelemetryReader,
  HotTableSources,
  hotRollups,
} from '../functions/shared/query/clickhouse-reader.js';
import { CursorCodec } from '../functions/shared/query/cursor.js';
import { createQueryApi } from '../functions/shared/query/query-api.js';
import type { TenantDirectory } from '../functions/shared/tenants/directory.js';
import { createEmbeddedClickHouse } from '../local/clickhouse-embedded.js';

const quick = process.argv.includes('--quick');
const SPANS = quick ? 100_000 : 1_000_000;
const LOGS = quick ? 100_000 : 1_000_000;
const POINTS = quick ? 20_000 : 200_000;
const RUNS = quick ? 5 : 20;
const DAYS = 6;
const SERVICES = 10;
const SPANS_PER_TRACE = 5;

const dir = await mkdtemp(join(tmpdir(), 'bench-query-'));
const client = createEmbeddedClickHouse({ path: join(dir, 'chdb') });
await applyMigrations(client, { hotRetentionDays: 7 });

const nowMs = Date.now();
const spanNs = BigInt(DAYS * 86_400_000) * 1_000_000n;
const load = async (label: string, sql: string) => {
  const t = performance.now();
  await client.command({ query: sql, clickhouse_settings: { max_partitions_per_insert_block: '1000' } });
  console.log(`loaded ${label} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
};

// Tenant: 90% acme, 10% globex. Times spread evenly over DAYS, newest first.
await load(
  `${SPANS} spans`,
  `INSERT INTO otel_traces (TenantId, Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
     ResourceAttributes, SpanAttributes, Duration, StatusCode)
   SELECT
     if(intDiv(number, ${SPANS_PER_TRACE}) % 10 = 9, 'globex', 'acme'),
     fromUnixTimestamp64Nano(toInt64(${nowMs}000000 - intDiv(number, ${SPANS_PER_TRACE}) * intDiv(${spanNs}, ${SPANS / SPANS_PER_TRACE}) + (number % ${SPANS_PER_TRACE}) * 1000000)),
     lower(hex(MD5(toString(intDiv(number, ${SPANS_PER_TRACE}))))),
     substring(lower(hex(MD5(toString(number)))), 1, 16),
     if(number % ${SPANS_PER_TRACE} = 0, '', substring(lower(hex(MD5(toString(number - 1)))), 1, 16)),
     ['GET /cart', 'POST /checkout', 'SELECT carts', 'charge', 'render'][number % ${SPANS_PER_TRACE} + 1],
     -- 'charge' is served by the next service: a call edge service-k -> service-(k+1) per trace.
     multiIf(number % ${SPANS_PER_TRACE} = 0, 'Server', number % ${SPANS_PER_TRACE} = 3, 'Server', 'Internal'),
     concat('service-', toString((intDiv(number, ${SPANS_PER_TRACE}) + (number % ${SPANS_PER_TRACE} >= 3)) % ${SERVICES})),
     map('service.name', concat('service-', toString((intDiv(number, ${SPANS_PER_TRACE}) + (number % ${SPANS_PER_TRACE} >= 3)) % ${SERVICES}))),
     map('http.route', '/cart', 'n', toString(number % 100)),
     (number * 7919) % 500000000,
     if(number % 97 = 0, 'Error', 'Ok')
   FROM numbers(${SPANS})`,
);
await load(
  `${LOGS} log records`,
  `INSERT INTO otel_logs (TenantId, Timestamp, TraceId, SeverityText, SeverityNumber, ServiceName, Body, LogAttributes)
   SELECT
     if(number % 10 = 9, 'globex', 'acme'),
     fromUnixTimestamp64Nano(toInt64(${nowMs}000000 - number * intDiv(${spanNs}, ${LOGS}))),
     if(number % 3 = 0, lower(hex(MD5(toString(intDiv(number, 3))))), ''),
     ['INFO', 'INFO', 'INFO', 'WARN', 'ERROR'][number % 5 + 1],
     [9, 9, 9, 13, 17][number % 5 + 1],
     concat('service-', toString(number % ${SERVICES})),
     concat(['cart loaded for user ', 'payment failed for order ', 'cache miss on key ', 'retrying request ', 'rendered page '][number % 5 + 1], toString(number)),
     map('log.source', 'bench')
   FROM numbers(${LOGS})`,
);
await load(
  `${POINTS} gauge points`,
  `INSERT INTO otel_metrics_gauge (TenantId, TimeUnix, ServiceName, MetricName, Attributes, Value)
   SELECT 'acme', fromUnixTimestamp64Nano(toInt64(${nowMs}000000 - number * intDiv(${spanNs}, ${POINTS}))),
     concat('service-', toString(number % ${SERVICES})), 'cpu.usage', map('host', concat('h', toString(number % 4))),
     (number % 100) / 100
   FROM numbers(${POINTS})`,
);
await load(
  `${POINTS / 4} histogram points`,
  `INSERT INTO otel_metrics_histogram (TenantId, TimeUnix, ServiceName, MetricName, MetricUnit, Attributes, Count, Sum, Min, Max, BucketCounts, ExplicitBounds)
   SELECT 'acme', fromUnixTimestamp64Nano(toInt64(${nowMs}000000 - number * intDiv(${spanNs}, ${POINTS / 4}))),
     concat('service-', toString(number % ${SERVICES})), 'http.server.duration', 'ms', map('host', concat('h', toString(number % 4))),
     100, 5000, 1, 900, [10, 20 + number % 10, 30, 30, 10 - number % 10], [5, 25, 50, 100]
   FROM numbers(${POINTS / 4})`,
);
await client.command({ query: 'OPTIMIZE TABLE otel_traces_trace_id_ts FINAL' });

// What the rollups cost on disk next to the rows they summarise (the minute TTL decision, ADR 0004).
const sizes = await (
  await client.query({
    query: `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
            WHERE active AND database = currentDatabase() AND table LIKE 'otel_%' GROUP BY table ORDER BY table`,
    format: 'JSONEachRow',
  })
).json<{ table: string; rows: string; bytes: string }>();
console.log('\ntable sizes (active parts):');
for (const t of sizes) {
  console.log(
    `  ${t.table.padEnd(36)} ${String(t.rows).padStart(10)} rows ${(Number(t.bytes) / 1024).toFixed(0).padStart(8)} KiB`,
  );
}

const someTrace = (
  await (
    await client.query({
      query: `SELECT TraceId FROM otel_traces WHERE TenantId = 'acme' AND ParentSpanId = '' ORDER BY Timestamp DESC LIMIT 1 OFFSET 5000`,
      format: 'JSONEachRow',
    })
  ).json<{ TraceId: string }>()
)[0]!.TraceId;

const tenants: TenantDirectory = {
  resolve: async (key) => (key === 'bench-key' ? { tenantId: 'acme', keyId: 'bench' } : undefined),
};
const api = createQueryApi({
  tenants,
  hot: new ClickHouseTelemetryReader(client, {
    tier: 'hot',
    engine: 'clickhouse',
    sources: new HotTableSources(),
    rollups: hotRollups(),
  }),
  cursors: new CursorCodec('bench-cursor-secret-0123'),
  hotRetentionDays: 7,
});

/** The console's requests per page at 15m, 1h, 24h, 6d and 7d (the longest preset). */
function consoleCases(): [string, string, Record<string, string>][] {
  const ranges: [string, number][] = [
    ['15m', 15 * 60_000],
    ['1h', 3_600_000],
    ['24h', 86_400_000],
    ['6d', 6 * 86_400_000],
    ['7d', 7 * 86_400_000],
  ];
  const stepFor = (spanMs: number, maxPoints?: number, minStepMs?: number) =>
    consoleStepFor({ fromMs: 0, toMs: spanMs }, maxPoints, minStepMs);
  const out: [string, string, Record<string, string>][] = [];
  for (const [label, ms] of ranges) {
    const from = `now-${label}`;
    out.push(
      [`services ${label}`, '/v1/query/services', { from }],
      [`services/series ${label}`, '/v1/query/services/series', { from }],
      [`services/series ${label}, one service`, '/v1/query/services/series', { from, service: 'service-3' }],
      [`operations ${label}`, '/v1/query/services/service-3/operations', { from }],
      [`service-map ${label}`, '/v1/query/service-map', { from }],
      [`traces ${label}`, '/v1/query/traces', { from }],
      [`logs ${label}`, '/v1/query/logs', { from }],
      [`logs/histogram ${label}`, '/v1/query/logs/histogram', { from, step: stepFor(ms, 120, 60_000) }],
      [`metrics/names ${label}`, '/v1/query/metrics/names', { from }],
      [
        `metrics ${label}, cpu avg`,
        '/v1/query/metrics',
        { from, name: 'cpu.usage', agg: 'avg', step: stepFor(ms) },
      ],
      [
        `metrics ${label}, p95 by attr.host`,
        '/v1/query/metrics',
        { from, name: 'http.server.duration', agg: 'p95', groupBy: 'attr.host', step: stepFor(ms) },
      ],
    );
  }
  return out;
}

const cases: [string, string, Record<string, string>][] = [
  ['trace by id (lookup)', `/v1/query/traces/${someTrace}`, {}],
  ['trace search 1h, service', '/v1/query/traces', { service: 'service-3' }],
  [
    'trace search 24h, svc+minDur+error',
    '/v1/query/traces',
    { from: 'now-24h', service: 'service-3', minDurationMs: '100', status: 'error' },
  ],
  ['trace search 6d, op', '/v1/query/traces', { from: 'now-6d', operation: 'charge' }],
  ['logs 1h, newest', '/v1/query/logs', {}],
  ['logs 24h, q text', '/v1/query/logs', { from: 'now-24h', q: 'payment failed for order 12345' }],
  ['logs 6d, service+ERROR', '/v1/query/logs', { from: 'now-6d', service: 'service-4', severity: 'error' }],
  ['logs 6d, traceId', '/v1/query/logs', { from: 'now-6d', traceId: someTrace }],
  ['metrics 1h, avg', '/v1/query/metrics', { name: 'cpu.usage' }],
  [
    'metrics 6d, max by 1h, attr',
    '/v1/query/metrics',
    { name: 'cpu.usage', agg: 'max', step: '1h', from: 'now-6d', 'attr.host': 'h1' },
  ],
  ['services 1h (rollup)', '/v1/query/services', {}],
  ['services 6d (rollup)', '/v1/query/services', { from: 'now-6d' }],
  // The console's pages (issue 18): each page's queries at every range the picker offers, as the
  // console asks for them (its own step for logs and metrics, none for the service series).
  ...consoleCases(),
];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

console.log(
  `\n${SPANS} spans, ${LOGS} log records, ${POINTS} gauge points; ${SERVICES} services, ${DAYS} days, 2 tenants; ${RUNS} runs each\n`,
);
console.log(
  `${'query'.padEnd(38)} ${'1st ms'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'rows read'.padStart(10)} ${'rows out'.padStart(9)}`,
);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
for (const [label, path, query] of cases.filter(([label]) => only === undefined || label.includes(only))) {
  const times: number[] = [];
  let first = 0;
  let rowsRead = 0;
  let rowsOut = 0;
  for (let i = 0; i < RUNS + 1; i++) {
    const t = performance.now();
    const res = await api({ method: 'GET', path, headers: { authorization: 'Bearer bench-key' }, query });
    const ms = performance.now() - t;
    if (res.status !== 200) throw new Error(`${label}: ${res.status} ${JSON.stringify(res.body)}`);
    // The first run warms caches (and closes the service map's hours): shown apart.
    if (i > 0) times.push(ms);
    else first = ms;
    // Rows read are an engine-wide figure: the operator's log has them, the client's meta not.
    rowsRead = (res.log.tiers ?? []).reduce((n, t) => n + (t.rowsRead ?? 0), 0);
    const body = res.body as { data: unknown };
    const d = body.data as
      | { spans?: unknown[]; series?: { points: unknown[] }[]; edges?: unknown[]; nodes?: unknown[] }
      | { points?: unknown[] }[];
    rowsOut = Array.isArray(d)
      ? d.reduce((n, x) => n + (x.points?.length ?? 1), 0)
      : (d.spans?.length ??
        d.series?.reduce((n, s) => n + s.points.length, 0) ??
        (d.edges?.length ?? 0) + (d.nodes?.length ?? 0));
  }
  console.log(
    `${label.padEnd(38)} ${first.toFixed(1).padStart(8)} ${pct(times, 50).toFixed(1).padStart(8)} ${pct(times, 95).toFixed(1).padStart(8)} ${String(rowsRead).padStart(10)} ${String(rowsOut).padStart(9)}`,
  );
}

await client.close();
await rm(dir, { recursive: true, force: true });
