import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueryHandler, queryRoutes } from '../../../functions/query/handler.js';
import { applyMigrations } from '../../../functions/shared/clickhouse/migrations.js';
import { S3ObjectStore } from '../../../functions/shared/lake/s3-object-store.js';
import {
  ClickHouseTelemetryReader,
  HotTableSources,
  hotRollups,
} from '../../../functions/shared/query/clickhouse-reader.js';
import { CursorCodec } from '../../../functions/shared/query/cursor.js';
import type { QueryApiDeps } from '../../../functions/shared/query/query-api.js';
import {
  DynamoTenantDirectory,
  ensureTenantsTable,
  registerKey,
} from '../../../functions/shared/tenants/dynamo-tenant-directory.js';
import { createLocalColdTier } from '../../../local/cold-tier.js';
import { type Emulators, startEmulators } from '../../../local/emulators.js';
import { type HttpGateway, startHttpGateway } from '../../../local/http-gateway.js';
import { openClickHouse, type TestClickHouse } from '../../support/clickhouse.js';
import { batchOf, DAY, log, MINUTE, metric, span, writeHot, writeLake } from './support.js';

/**
 * The query API end to end in local mode: HTTP gateway -> API Gateway v2 event -> the Lambda
 * handler -> embedded ClickHouse (hot tier, data written by the real writer) and the Parquet lake
 * on s3rver read by embedded ClickHouse (cold tier); tenants in dynalite.
 */

const ACME_KEY = 'acme-key-0123456789';
const GLOBEX_KEY = 'globex-key-0123456789';
const NOW = Date.now();
const HOT_AT = NOW - 30 * MINUTE;
const COLD_AT = NOW - 10 * DAY;
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const COLD_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const GLOBEX_TRACE = 'ffeeddccbbaa99887766554433221100';

let dir: string;
let emulators: Emulators;
let clickhouse: ClickHouseClient;
let connection: TestClickHouse | undefined;
let gateway: HttpGateway;
let s3: S3Client;
let dynamo: DynamoDBClient;

interface Answer {
  status: number;
  body: {
    data?: unknown;
    meta?: {
      tiers: { tier: string; engine: string; queries: number }[];
      nextCursor: string | null;
      from: string;
      to: string;
    };
    error?: string;
    message?: string;
    parameter?: string;
  };
}

async function get(path: string, key: string | null = ACME_KEY): Promise<Answer> {
  const res = await fetch(`${gateway.url}${path}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const qs = (params: Record<string, string | number>) =>
  new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'query-handler-'));
  emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: emulators.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'lake' }));
  const store = new S3ObjectStore(s3, 'lake');
  dynamo = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: emulators.dynamoEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTenantsTable(dynamo, 'tenants');
  await registerKey(dynamo, 'tenants', { tenantId: 'acme', key: ACME_KEY });
  await registerKey(dynamo, 'tenants', { tenantId: 'globex', key: GLOBEX_KEY });

  // Embedded, or over HTTP (the production client) when run from handler.over-http.test.ts.
  connection = await openClickHouse(join(dir, 'chdb'));
  clickhouse = connection.client;
  await applyMigrations(clickhouse, { hotRetentionDays: 7 });

  // --- hot tier (last hour), through the hot writer
  await writeHot(clickhouse, 'acme', [
    batchOf('otel_traces', [
      span({
        traceId: TRACE,
        spanId: 'a000000000000001',
        service: 'checkout',
        name: 'GET /cart',
        atMs: HOT_AT,
        durationMs: 120,
        attributes: { 'http.method': 'GET' },
        events: [{ atMs: HOT_AT + 5, name: 'cache.miss', attributes: { key: 'cart:42' } }],
      }),
      span({
        traceId: TRACE,
        spanId: 'a000000000000002',
        parentSpanId: 'a000000000000001',
        service: 'checkout',
        name: 'SELECT carts',
        kind: 'SPAN_KIND_CLIENT',
        atMs: HOT_AT + 10,
        durationMs: 30,
        links: [{ traceId: COLD_TRACE, spanId: 'c000000000000001' }],
      }),
      span({
        traceId: TRACE,
        spanId: 'a000000000000003',
        parentSpanId: 'a000000000000002',
        service: 'payments',
        name: 'charge',
        kind: 'SPAN_KIND_SERVER',
        atMs: HOT_AT + 20,
        durationMs: 80,
        error: true,
      }),
      ...Array.from({ length: 6 }, (_, i) =>
        span({
          traceId: `1000000000000000000000000000000${i}`,
          spanId: `b00000000000000${i}`,
          service: i % 2 === 0 ? 'checkout' : 'payments',
          name: 'GET /health',
          atMs: HOT_AT - (i + 1) * MINUTE,
          durationMs: 5 + i,
        }),
      ),
    ]),
  ]);
  await writeHot(clickhouse, 'acme', [
    batchOf('otel_logs', [
      log(HOT_AT, 'checkout', ['ERROR', 17], 'Payment FAILED for order 42', TRACE),
      log(HOT_AT - MINUTE, 'checkout', ['INFO', 9], 'cart loaded'),
      log(HOT_AT - 2 * MINUTE, 'payments', ['WARN', 13], 'retrying charge'),
      // Same instant twice: pages must neither repeat nor lose one.
      log(HOT_AT - 3 * MINUTE, 'payments', ['INFO', 9], 'tick a'),
      log(HOT_AT - 3 * MINUTE, 'payments', ['INFO', 9], 'tick b'),
    ]),
  ]);
  await writeHot(clickhouse, 'acme', [
    batchOf('otel_metrics_gauge', [
      metric(HOT_AT, 'checkout', 'cpu.usage', { Value: 0.5 }, { host: 'a' }),
      metric(HOT_AT + 1000, 'checkout', 'cpu.usage', { Value: 0.7 }, { host: 'b' }),
    ]),
    batchOf('otel_metrics_sum', [
      metric(HOT_AT, 'checkout', 'requests', { Value: 10, IsMonotonic: true, AggregationTemporality: 2 }),
    ]),
    batchOf('otel_metrics_histogram', [
      metric(HOT_AT, 'checkout', 'http.duration', {
        Count: 4,
        Sum: 100,
        Min: 10,
        Max: 40,
        BucketCounts: [1, 3],
        ExplicitBounds: [20],
      }),
    ]),
    batchOf('otel_metrics_exponential_histogram', [
      metric(HOT_AT, 'checkout', 'rpc.duration', {
        Count: 2,
        Sum: 8,
        Min: 3,
        Max: 5,
        Scale: 1,
        PositiveBucketCounts: [2],
      }),
    ]),
    batchOf('otel_metrics_summary', [metric(HOT_AT, 'checkout', 'gc.pause', { Count: 3, Sum: 9 })]),
  ]);
  await writeHot(clickhouse, 'globex', [
    batchOf('otel_traces', [
      span({
        traceId: GLOBEX_TRACE,
        spanId: 'g000000000000001',
        service: 'checkout',
        name: 'GET /cart',
        atMs: HOT_AT,
        durationMs: 999,
        attributes: { secret: 'globex-only' },
      }),
    ]),
  ]);
  await writeHot(clickhouse, 'globex', [
    batchOf('otel_logs', [log(HOT_AT, 'checkout', ['ERROR', 17], 'globex secret payment failed')]),
  ]);
  await writeHot(clickhouse, 'globex', [
    batchOf('otel_metrics_gauge', [metric(HOT_AT, 'checkout', 'cpu.usage', { Value: 99 })]),
  ]);

  // --- cold tier (10 days ago), published Parquet parts
  await writeLake(
    store,
    'acme',
    batchOf('otel_traces', [
      span({
        traceId: COLD_TRACE,
        spanId: 'c000000000000001',
        service: 'checkout',
        name: 'GET /cart',
        atMs: COLD_AT,
        durationMs: 200,
        error: true,
      }),
      span({
        traceId: COLD_TRACE,
        spanId: 'c000000000000002',
        parentSpanId: 'c000000000000001',
        service: 'payments',
        name: 'charge',
        kind: 'SPAN_KIND_SERVER',
        atMs: COLD_AT + 50,
        durationMs: 100,
      }),
    ]),
  );
  await writeLake(
    store,
    'acme',
    batchOf('otel_logs', [
      log(COLD_AT, 'checkout', ['ERROR', 17], 'old payment failed for order 7'),
      log(COLD_AT - MINUTE, 'checkout', ['INFO', 9], 'old cart loaded'),
    ]),
  );
  await writeLake(
    store,
    'acme',
    batchOf('otel_metrics_gauge', [metric(COLD_AT, 'checkout', 'cpu.usage', { Value: 0.1 })]),
  );
  await writeLake(
    store,
    'globex',
    batchOf('otel_logs', [log(COLD_AT, 'checkout', ['ERROR', 17], 'globex old secret')]),
  );

  const deps: QueryApiDeps = {
    tenants: new DynamoTenantDirectory(dynamo, 'tenants'),
    hot: new ClickHouseTelemetryReader(clickhouse, {
      tier: 'hot',
      engine: 'clickhouse',
      sources: new HotTableSources(),
      rollups: hotRollups(),
    }),
    cold: createLocalColdTier({
      client: clickhouse,
      store,
      s3Endpoint: emulators.s3Endpoint,
      bucket: 'lake',
    }),
    cursors: new CursorCodec('test-cursor-secret-0123456789'),
    hotRetentionDays: 7,
  };
  const handler = createQueryHandler({
    api: deps,
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'QueryTest', serviceName: 'query' }),
  });
  gateway = await startHttpGateway({ port: 0, routes: queryRoutes.map((r) => ({ ...r, handler })) });
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  await connection?.close();
  s3?.destroy();
  dynamo?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

type Span = {
  spanId: string;
  parentSpanId: string;
  serviceName: string;
  name: string;
  kind: string;
  status: { code: string };
  events: { name: string; attributes: Record<string, string> }[];
  links: { traceId: string }[];
  attributes: Record<string, string>;
  durationMs: number;
};
type Log = { body: string; serviceName: string; timeUnixNano: string; severityText: string };
type TraceRow = {
  traceId: string;
  serviceName: string;
  durationMs: number;
  errorCount: number;
  spanCount: number;
};

describe('GET /v1/query/traces/{traceId}', () => {
  it('returns every span of a hot trace with parents, events and links, found through the trace-id lookup', async () => {
    const res = await get(`/v1/query/traces/${TRACE}`);
    expect(res.status).toBe(200);
    const data = res.body.data as { traceId: string; spans: Span[] };
    expect(data.spans.map((s) => [s.spanId, s.parentSpanId, s.serviceName])).toEqual([
      ['a000000000000001', '', 'checkout'],
      ['a000000000000002', 'a000000000000001', 'checkout'],
      ['a000000000000003', 'a000000000000002', 'payments'],
    ]);
    expect(data.spans[0]).toMatchObject({
      name: 'GET /cart',
      kind: 'SPAN_KIND_SERVER',
      durationMs: 120,
      attributes: { 'http.method': 'GET' },
    });
    expect(data.spans[0]!.events).toEqual([
      expect.objectContaining({ name: 'cache.miss', attributes: { key: 'cart:42' } }),
    ]);
    expect(data.spans[1]!.links.map((l) => l.traceId)).toEqual([COLD_TRACE]);
    expect(data.spans[2]!.status.code).toBe('STATUS_CODE_ERROR');
    expect(res.body.meta!.tiers.map((t) => t.tier)).toEqual(['hot']);
    // Two statements: the lookup, then a scan bounded to the trace's own time range. Rows read
    // (whole granules, other tenants' rows included) stay out of meta: see tenancy.test.ts.
    expect(res.body.meta!.tiers[0]).toMatchObject({ queries: 2 });
    expect(res.body.meta!.tiers[0]).not.toHaveProperty('rowsRead');
  });

  it('reaches the lake when from goes back past the hot retention', async () => {
    const res = await get(`/v1/query/traces/${COLD_TRACE}?from=now-12d`);
    expect(res.status).toBe(200);
    const data = res.body.data as { spans: Span[] };
    expect(data.spans.map((s) => s.spanId)).toEqual(['c000000000000001', 'c000000000000002']);
    expect(data.spans[0]!.durationMs).toBe(200);
    expect(res.body.meta!.tiers.map((t) => `${t.tier}:${t.engine}`)).toEqual([
      'hot:clickhouse',
      'cold:clickhouse-parquet',
    ]);
  });

  it('answers 404 for a trace outside the range', async () => {
    const res = await get(`/v1/query/traces/${COLD_TRACE}`);
    expect(res.status).toBe(404);
  });
});

describe('GET /v1/query/traces (search)', () => {
  it('filters by service, operation, status and minimum duration', async () => {
    const errors = await get(`/v1/query/traces?${qs({ service: 'payments', status: 'error' })}`);
    expect(errors.status).toBe(200);
    expect((errors.body.data as TraceRow[]).map((t) => t.traceId)).toEqual([TRACE]);
    const slow = await get(`/v1/query/traces?${qs({ minDurationMs: 100 })}`);
    expect((slow.body.data as TraceRow[]).map((t) => [t.traceId, t.durationMs])).toEqual([[TRACE, 120]]);
    const health = await get(`/v1/query/traces?${qs({ operation: 'GET /health' })}`);
    expect((health.body.data as TraceRow[]).length).toBe(6);
  });

  it('pages with a cursor across both tiers, each trace exactly once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    const tiers = new Set<string>();
    do {
      const page: Answer = await get(
        `/v1/query/traces?${qs({ from: 'now-12d', limit: 3, ...(cursor ? { cursor } : {}) })}`,
      );
      expect(page.status).toBe(200);
      for (const t of page.body.data as TraceRow[]) seen.push(t.traceId);
      for (const t of page.body.meta!.tiers) tiers.add(t.tier);
      cursor = page.body.meta!.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen.length).toBe(8);
    expect(new Set(seen).size).toBe(8);
    expect(seen[0]).toBe(TRACE);
    expect(seen[seen.length - 1]).toBe(COLD_TRACE);
    expect([...tiers].sort()).toEqual(['cold', 'hot']);
  });
});

describe('GET /v1/query/logs', () => {
  it('finds text in the body case-insensitively, with severity and trace filters', async () => {
    const res = await get(`/v1/query/logs?${qs({ q: 'payment failed', severity: 'error' })}`);
    expect(res.status).toBe(200);
    expect((res.body.data as Log[]).map((l) => l.body)).toEqual(['Payment FAILED for order 42']);
    const byTrace = await get(`/v1/query/logs?${qs({ traceId: TRACE })}`);
    expect((byTrace.body.data as Log[]).length).toBe(1);
    const warn = await get(`/v1/query/logs?${qs({ severity: 'WARN' })}`);
    expect((warn.body.data as Log[]).map((l) => l.severityText).sort()).toEqual(['ERROR', 'WARN']);
  });

  it('merges hot and cold records, newest first, and pages through equal timestamps without loss', async () => {
    const all: Log[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Answer = await get(
        `/v1/query/logs?${qs({ from: 'now-12d', limit: 2, ...(cursor ? { cursor } : {}) })}`,
      );
      expect(page.status).toBe(200);
      all.push(...(page.body.data as Log[]));
      cursor = page.body.meta!.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(all.map((l) => l.body)).toEqual([
      'Payment FAILED for order 42',
      'cart loaded',
      'retrying charge',
      'tick a',
      'tick b',
      'old payment failed for order 7',
      'old cart loaded',
    ]);
  });
});

describe('GET /v1/query/metrics', () => {
  it('aggregates a gauge per step and filters by attribute', async () => {
    const res = await get(`/v1/query/metrics?${qs({ name: 'cpu.usage', agg: 'max', step: '1h' })}`);
    expect(res.status).toBe(200);
    const data = res.body.data as {
      stepSeconds: number;
      series: { serviceName: string; metricType: string; points: { value: number }[] }[];
    };
    expect(data.stepSeconds).toBe(3600);
    expect(data.series).toHaveLength(1);
    expect(data.series[0]).toMatchObject({ serviceName: 'checkout', metricType: 'gauge' });
    expect(Math.max(...data.series[0]!.points.map((p) => p.value))).toBe(0.7);
    const hostA = await get(
      `/v1/query/metrics?${qs({ name: 'cpu.usage', agg: 'avg', step: '1d', 'attr.host': 'a' })}`,
    );
    const pts = (hostA.body.data as typeof data).series[0]!.points;
    expect(pts.map((p) => p.value)).toEqual([0.5]);
  });

  it('reads every metric type', async () => {
    const expectations: [string, string, string, number][] = [
      ['requests', 'sum', 'sum', 10],
      ['http.duration', 'histogram', 'avg', 25],
      ['rpc.duration', 'exponential_histogram', 'count', 2],
      ['gc.pause', 'summary', 'sum', 9],
    ];
    for (const [name, type, agg, value] of expectations) {
      const res = await get(`/v1/query/metrics?${qs({ name, agg, step: '1d' })}`);
      const series = (res.body.data as { series: { metricType: string; points: { value: number }[] }[] })
        .series;
      expect(
        series.map((s) => s.metricType),
        name,
      ).toEqual([type]);
      expect(
        series[0]!.points.reduce((n, p) => n + p.value, 0),
        name,
      ).toBe(value);
    }
  });

  it('joins the cold and the hot tier over a spanning range', async () => {
    const res = await get(
      `/v1/query/metrics?${qs({ name: 'cpu.usage', agg: 'count', step: '1d', from: 'now-12d' })}`,
    );
    const series = (res.body.data as { series: { points: { value: number }[] }[] }).series;
    expect(series[0]!.points.reduce((n, p) => n + p.value, 0)).toBe(3);
    expect(res.body.meta!.tiers.map((t) => t.tier).sort()).toEqual(['cold', 'hot']);
  });
});

describe('GET /v1/query/services', () => {
  it('reports request rate, error ratio and latency quantiles from the hourly rollup', async () => {
    const res = await get('/v1/query/services?from=now-2h');
    expect(res.status).toBe(200);
    const services = res.body.data as {
      serviceName: string;
      requests: number;
      errors: number;
      errorRatio: number;
      requestRate: number;
      latencyMs: { p50: number };
    }[];
    const payments = services.find((s) => s.serviceName === 'payments')!;
    const checkout = services.find((s) => s.serviceName === 'checkout')!;
    // payments: the charge span (server, error) + 3 health roots; checkout: the cart root + 3 health roots.
    expect([payments.requests, payments.errors]).toEqual([4, 1]);
    expect(payments.errorRatio).toBe(0.25);
    expect([checkout.requests, checkout.errors]).toEqual([4, 0]);
    expect(checkout.requestRate).toBeGreaterThan(0);
    expect(checkout.latencyMs.p50).toBeGreaterThan(0);
  });

  it('adds the lake figures when the range reaches back past the hot retention', async () => {
    const res = await get('/v1/query/services?from=now-12d');
    const services = res.body.data as { serviceName: string; requests: number; errors: number }[];
    const checkout = services.find((s) => s.serviceName === 'checkout')!;
    expect([checkout.requests, checkout.errors]).toEqual([5, 1]);
    expect(res.body.meta!.tiers.map((t) => t.tier).sort()).toEqual(['cold', 'hot']);
  });
});

describe('tenant isolation', () => {
  it("does not find another tenant's trace by id", async () => {
    expect((await get(`/v1/query/traces/${TRACE}`, GLOBEX_KEY)).status).toBe(404);
    expect((await get(`/v1/query/traces/${GLOBEX_TRACE}`, ACME_KEY)).status).toBe(404);
    expect((await get(`/v1/query/traces/${COLD_TRACE}?from=now-12d`, GLOBEX_KEY)).status).toBe(404);
  });

  it('returns only the caller’s rows from both tiers', async () => {
    const logs = await get('/v1/query/logs?from=now-12d', GLOBEX_KEY);
    expect((logs.body.data as Log[]).map((l) => l.body).sort()).toEqual([
      'globex old secret',
      'globex secret payment failed',
    ]);
    const acme = await get('/v1/query/logs?from=now-12d&q=secret', ACME_KEY);
    expect(acme.body.data).toEqual([]);
    const cpu = await get(
      `/v1/query/metrics?${qs({ name: 'cpu.usage', agg: 'max', step: '1d' })}`,
      GLOBEX_KEY,
    );
    const values = (cpu.body.data as { series: { points: { value: number }[] }[] }).series.flatMap((s) =>
      s.points.map((p) => p.value),
    );
    expect(values).toEqual([99]);
  });

  it.each([
    ['service', "checkout' OR '1'='1"],
    ['service', "checkout') OR TenantId != ('"],
    ['q', "%' OR TenantId = 'acme' --"],
    ['q', '}{tenant:String}'],
    ['operation', "GET /cart\\' OR 1=1 --"],
  ])('treats %s=%j as a plain value', async (param, value) => {
    const res = await get(
      `/v1/query/${param === 'q' ? 'logs' : 'traces'}?${qs({ [param]: value, from: 'now-12d' })}`,
      GLOBEX_KEY,
    );
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([]);
  });

  it('rejects an injection in the path and a tenant parameter', async () => {
    const path = await get(`/v1/query/traces/${encodeURIComponent("x' OR '1'='1")}`, GLOBEX_KEY);
    expect([path.status, path.body.parameter]).toEqual([400, 'traceId']);
    const tenant = await get('/v1/query/logs?tenant=acme', GLOBEX_KEY);
    expect([tenant.status, tenant.body.parameter]).toEqual([400, 'tenant']);
    const attr = await get(
      `/v1/query/metrics?${qs({ name: 'cpu.usage', "attr.x'] OR 1=1 --": 'y' })}`,
      GLOBEX_KEY,
    );
    expect(attr.status).toBe(200);
    expect((attr.body.data as { series: unknown[] }).series).toEqual([]);
  });

  it("rejects tenant A's cursor when tenant B presents it, and a tampered cursor", async () => {
    const page = await get('/v1/query/logs?from=now-12d&limit=1', ACME_KEY);
    const cursor = page.body.meta!.nextCursor!;
    expect(cursor).toBeTruthy();
    const foreign = await get(`/v1/query/logs?${qs({ from: 'now-12d', limit: 1, cursor })}`, GLOBEX_KEY);
    expect([foreign.status, foreign.body.parameter]).toEqual([400, 'cursor']);
    const [body, sig] = cursor.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { t: string };
    payload.t = 'globex';
    const forged = `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`;
    const tampered = await get(
      `/v1/query/logs?${qs({ from: 'now-12d', limit: 1, cursor: forged })}`,
      GLOBEX_KEY,
    );
    expect([tampered.status, tampered.body.parameter]).toEqual([400, 'cursor']);
    const otherQuery = await get(
      `/v1/query/logs?${qs({ from: 'now-12d', limit: 1, q: 'x', cursor })}`,
      ACME_KEY,
    );
    expect([otherQuery.status, otherQuery.body.parameter]).toEqual([400, 'cursor']);
  });

  it('answers 401 without a key or with an unknown one', async () => {
    expect((await get('/v1/query/services', null)).status).toBe(401);
    expect((await get('/v1/query/services', 'not-a-real-key-123')).status).toBe(401);
  });
});

describe('bad parameters', () => {
  it.each([
    ['/v1/query/logs?limit=5000', 'limit'],
    ['/v1/query/logs?limit=abc', 'limit'],
    ['/v1/query/logs?from=yesterday', 'from'],
    ['/v1/query/logs?to=2026-02-31T00:00:00Z', 'to'],
    ['/v1/query/logs?from=now-60d', 'from'],
    ['/v1/query/logs?from=now&to=now-1h', 'from'],
    ['/v1/query/logs?severity=LOUD', 'severity'],
    ['/v1/query/traces?status=broken', 'status'],
    ['/v1/query/traces?minDurationMs=-1', 'minDurationMs'],
    ['/v1/query/metrics?agg=avg', 'name'],
    ['/v1/query/metrics?name=x&step=1s&from=now-7d', 'step'],
    ['/v1/query/metrics?name=x&agg=median', 'agg'],
    ['/v1/query/logs?cursor=garbage', 'cursor'],
  ])('%s -> 400 naming %s', async (path, parameter) => {
    const res = await get(path);
    expect(res.status).toBe(400);
    expect(res.body.parameter).toBe(parameter);
    expect(res.body.message).toContain(`'${parameter}'`);
  });
});

describe('GET /v1/query/openapi.json', () => {
  it('serves the API description without a key', async () => {
    const res = await get('/v1/query/openapi.json', null);
    expect(res.status).toBe(200);
    expect((res.body as unknown as { openapi: string }).openapi).toBe('3.1.0');
  });
});
