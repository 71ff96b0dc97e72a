import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestHandler } from '../../../functions/ingest/handler.js';
import { createQueryHandler, queryRoutes } from '../../../functions/query/handler.js';
import { applyMigrations } from '../../../functions/shared/clickhouse/migrations.js';
import {
  ClickHouseTelemetryReader,
  HotTableSources,
  hotRollups,
} from '../../../functions/shared/query/clickhouse-reader.js';
import { CursorCodec } from '../../../functions/shared/query/cursor.js';
import { DEFAULT_QUERY_RATE, type QueryApiDeps } from '../../../functions/shared/query/query-api.js';
import { KinesisStreamSink } from '../../../functions/shared/stream/kinesis-stream-sink.js';
import { CachedTenantDirectory } from '../../../functions/shared/tenants/directory.js';
import {
  DynamoWindowRateLimiter,
  ensureRateLimitTable,
} from '../../../functions/shared/tenants/dynamo-rate-limiter.js';
import {
  DynamoTenantDirectory,
  ensureTenantsTable,
  registerKey,
  setTenantQueryLimits,
} from '../../../functions/shared/tenants/dynamo-tenant-directory.js';
import { localDynamoClient, localKinesisClient } from '../../../local/aws-clients.js';
import { createEmbeddedClickHouse } from '../../../local/clickhouse-embedded.js';
import { type Emulators, startEmulators } from '../../../local/emulators.js';
import { type HttpGateway, startHttpGateway } from '../../../local/http-gateway.js';
import { fixture } from '../../support/fixtures.js';
import { createStream } from '../shared/stream/kinesis-helpers.js';
import { batchOf, log, MINUTE, span, writeHot } from './support.js';

/**
 * Tenant isolation and limits of the query API (and the key scopes of both APIs), through real
 * requests: local HTTP gateway -> API Gateway v2 event -> the Lambda handlers; tenants and the
 * query rate limiter in dynalite, the stream in kinesalite, the hot tier in embedded ClickHouse.
 */

const BOTH_KEY = 'acme-both-key-0123456789';
const INGEST_KEY = 'acme-ingest-only-0123456789';
const QUERY_KEY = 'acme-query-only-0123456789';
const GLOBEX_KEY = 'globex-key-0123456789';
const LIMITED_KEY = 'limited-key-0123456789';
const HEAVY_KEY = 'heavy-key-0123456789';
const ORIGIN = 'http://localhost:3000';
const NOW = Date.now();
const HOT_AT = NOW - 30 * MINUTE;
const TRACE = '0af7651916cd43dd8448eb211c80319c';
/** Fixed clock of the rate limiter, so a window boundary never falls between two requests. */
const LIMITER_NOW = 1_800_000_003_000;

let dir: string;
let emulators: Emulators;
let clickhouse: ClickHouseClient;
let dynamo: DynamoDBClient;
let kinesis: KinesisClient;
let gateway: HttpGateway;
/** A query API with small caps (response bytes, rows read) on the same data. */
let small: HttpGateway;

interface Answer {
  status: number;
  headers: Headers;
  body: {
    data?: unknown;
    meta?: { tiers: Record<string, unknown>[]; nextCursor: string | null };
    error?: string;
    message?: string;
  };
  bytes: number;
}

async function get(base: string, path: string, key: string): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text), bytes: Buffer.byteLength(text) };
}

function post(signal: 'traces' | 'logs' | 'metrics', key: string): Promise<Response> {
  return fetch(`${gateway.url}/v1/${signal}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: fixture(`otlp/${signal === 'traces' ? 'trace' : signal}.json`),
  });
}

function queryApi(
  overrides: Partial<QueryApiDeps> & { maxRowsToRead?: number; maxBytesToRead?: number } = {},
) {
  const { maxRowsToRead, maxBytesToRead, ...rest } = overrides;
  const maxPageBytes = rest.limits?.maxResponseBytes;
  const deps: QueryApiDeps = {
    tenants: new CachedTenantDirectory(new DynamoTenantDirectory(dynamo, 'tenants')),
    hot: new ClickHouseTelemetryReader(clickhouse, {
      tier: 'hot',
      engine: 'clickhouse',
      sources: new HotTableSources(),
      rollups: hotRollups(),
      ...(maxRowsToRead !== undefined && { maxRowsToRead }),
      ...(maxBytesToRead !== undefined && { maxBytesToRead }),
      ...(maxPageBytes !== undefined && { maxPageBytes }),
    }),
    cursors: new CursorCodec('test-cursor-secret-0123456789'),
    hotRetentionDays: 7,
    ...rest,
  };
  return createQueryHandler({
    api: deps,
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'QueryTest', serviceName: 'query' }),
    tracer: new Tracer({ enabled: false }),
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'query-tenancy-'));
  emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  dynamo = localDynamoClient(emulators.dynamoEndpoint);
  kinesis = localKinesisClient(emulators.kinesisEndpoint);
  await createStream(kinesis, 'telemetry', 1);
  await ensureTenantsTable(dynamo, 'tenants');
  await ensureRateLimitTable(dynamo, 'rate-limits');
  await registerKey(dynamo, 'tenants', { tenantId: 'acme', key: BOTH_KEY });
  await registerKey(dynamo, 'tenants', { tenantId: 'acme', key: INGEST_KEY, scopes: ['ingest'] });
  await registerKey(dynamo, 'tenants', { tenantId: 'acme', key: QUERY_KEY, scopes: ['query'] });
  await registerKey(dynamo, 'tenants', { tenantId: 'globex', key: GLOBEX_KEY });
  await registerKey(dynamo, 'tenants', { tenantId: 'limited', key: LIMITED_KEY });
  await registerKey(dynamo, 'tenants', { tenantId: 'heavy', key: HEAVY_KEY });
  // 0.2 requests/s: the limiter's 10 s window allows 2.
  await setTenantQueryLimits(dynamo, 'tenants', 'limited', { requestsPerSecond: 0.2 });

  clickhouse = createEmbeddedClickHouse({ path: join(dir, 'chdb') });
  await applyMigrations(clickhouse, { hotRetentionDays: 7 });
  await writeHot(clickhouse, 'acme', [
    batchOf('otel_traces', [
      span({
        traceId: TRACE,
        spanId: 'a000000000000001',
        service: 'checkout',
        name: 'GET /cart',
        atMs: HOT_AT,
        durationMs: 12,
      }),
    ]),
  ]);
  // 40 records of ~4 KB each: 160 KB, over the small API's 64 KiB response cap.
  await writeHot(clickhouse, 'acme', [
    batchOf(
      'otel_logs',
      Array.from({ length: 40 }, (_, i) =>
        log(
          HOT_AT - i * 1000,
          'checkout',
          ['INFO', 9],
          `record ${String(i).padStart(2, '0')} ${'x'.repeat(4000)}`,
        ),
      ),
    ),
  ]);
  // The heavy tenant: 30k rows, more than the small API lets one query read.
  await writeHot(clickhouse, 'heavy', [
    batchOf(
      'otel_logs',
      Array.from({ length: 30_000 }, (_, i) =>
        log(HOT_AT - (i % 1800) * 1000, 'bulk', ['INFO', 9], `bulk ${i}`),
      ),
    ),
  ]);

  const rateLimiter = new DynamoWindowRateLimiter({
    client: dynamo,
    tableName: 'rate-limits',
    defaultLimits: { itemsPerSecond: DEFAULT_QUERY_RATE.requestsPerSecond, burst: DEFAULT_QUERY_RATE.burst },
    now: () => LIMITER_NOW,
  });
  const query = queryApi({ rateLimiter });
  const ingest = createIngestHandler({
    ports: {
      tenants: new CachedTenantDirectory(new DynamoTenantDirectory(dynamo, 'tenants')),
      stream: new KinesisStreamSink(kinesis, { streamName: 'telemetry' }),
    },
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'IngestTest', serviceName: 'ingest' }),
    tracer: new Tracer({ enabled: false }),
  });
  gateway = await startHttpGateway({
    port: 0,
    corsAllowedOrigins: [ORIGIN],
    routes: [
      ...(['traces', 'logs', 'metrics'] as const).map((s) => ({
        method: 'POST',
        path: `/v1/${s}`,
        handler: ingest,
        cors: true,
      })),
      ...queryRoutes.map((r) => ({ ...r, handler: query })),
    ],
  });
  const capped = queryApi({ limits: { maxResponseBytes: 64 * 1024 }, maxRowsToRead: 20_000 });
  small = await startHttpGateway({ port: 0, routes: queryRoutes.map((r) => ({ ...r, handler: capped })) });
}, 180_000);

afterAll(async () => {
  await gateway?.close();
  await small?.close();
  await clickhouse?.close();
  dynamo?.destroy();
  kinesis?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

const QUERY_PATHS = [
  `/v1/query/traces/${TRACE}`,
  '/v1/query/traces',
  '/v1/query/logs',
  '/v1/query/metrics?name=cpu.usage',
  '/v1/query/metrics?name=cpu.usage&agg=p95&groupBy=attr.host',
  '/v1/query/services',
  '/v1/query/services/series',
  '/v1/query/services/checkout/operations',
  '/v1/query/service-map',
  '/v1/query/logs/histogram?q=record',
  '/v1/query/metrics/names',
];

describe('key scopes', () => {
  it.each(QUERY_PATHS)('GET %s: 403 for an ingest-only key, 200 for query-only and both', async (path) => {
    const refused = await get(gateway.url, path, INGEST_KEY);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('forbidden');
    expect(refused.body.message).toContain('query scope');
    expect((await get(gateway.url, path, QUERY_KEY)).status).toBe(200);
    expect((await get(gateway.url, path, BOTH_KEY)).status).toBe(200);
  });

  it.each(['traces', 'logs', 'metrics'] as const)(
    'POST /v1/%s: 403 for a query-only key, 200 for ingest-only and both',
    async (signal) => {
      const refused = await post(signal, QUERY_KEY);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { message: string }).message).toContain('ingest scope');
      expect((await post(signal, INGEST_KEY)).status).toBe(200);
      expect((await post(signal, BOTH_KEY)).status).toBe(200);
    },
  );

  it('CORS covers the ingest routes only: a page can send telemetry but gets no answer from the query API', async () => {
    const preflight = (path: string, method: string) =>
      fetch(`${gateway.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': method },
      });
    const ingest = await preflight('/v1/traces', 'POST');
    expect(ingest.status).toBe(204);
    expect(ingest.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const query = await preflight('/v1/query/logs', 'GET');
    expect(query.headers.get('access-control-allow-origin')).toBeNull();
    const read = await fetch(`${gateway.url}/v1/query/logs`, {
      headers: { origin: ORIGIN, authorization: `Bearer ${BOTH_KEY}` },
    });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
    const sent = await fetch(`${gateway.url}/v1/logs`, {
      method: 'POST',
      headers: { origin: ORIGIN, authorization: `Bearer ${INGEST_KEY}`, 'content-type': 'application/json' },
      body: fixture('otlp/logs.json'),
    });
    expect(sent.status).toBe(200);
    expect(sent.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });
});

describe('query rate limit (DynamoDB window limiter on dynalite)', () => {
  it("answers 429 with Retry-After past a tenant's own limit, while other tenants go on", async () => {
    const statuses: number[] = [];
    let limited: Answer | undefined;
    for (let i = 0; i < 3; i++) {
      const res = await get(gateway.url, '/v1/query/services', LIMITED_KEY);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(limited!.body.error).toBe('rate_limited');
    const retryAfter = Number(limited!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(limited!.body.message).toContain(`retry after ${retryAfter} s`);
    expect((await get(gateway.url, '/v1/query/services', GLOBEX_KEY)).status).toBe(200);
  });

  it('applies the default (DEFAULT_QUERY_RATE over a 10 s window) to a tenant without its own limit', async () => {
    const window = DEFAULT_QUERY_RATE.requestsPerSecond * 10;
    const statuses: number[] = [];
    for (let i = 0; i < 51; i++)
      statuses.push((await get(gateway.url, '/v1/query/openapi.json', GLOBEX_KEY)).status);
    // The API description is public and not counted.
    expect(new Set(statuses)).toEqual(new Set([200]));
    const counted: number[] = [];
    // globex used 1 request of its window in the test above.
    for (let i = 0; i < window; i++)
      counted.push((await get(gateway.url, '/v1/query/services', GLOBEX_KEY)).status);
    expect(counted.filter((s) => s === 200)).toHaveLength(window - 1);
    expect(counted.at(-1)).toBe(429);
  });
});

describe('response size cap', () => {
  it('cuts a page of logs to the cap and continues it with a cursor, each record once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs = new URLSearchParams({ limit: '1000', ...(cursor && { cursor }) });
      const res = await get(small.url, `/v1/query/logs?${qs}`, BOTH_KEY);
      expect(res.status).toBe(200);
      expect(res.bytes).toBeLessThanOrEqual(64 * 1024);
      seen.push(...(res.body.data as { body: string }[]).map((l) => l.body.slice(0, 9)));
      cursor = res.body.meta!.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(pages).toBeGreaterThan(2);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => `record ${String(i).padStart(2, '0')}`));
  });

  it('answers 422 naming the limit when an answer cannot be paged', async () => {
    const res = await get(small.url, '/v1/query/logs?limit=1&q=nothing-matches', BOTH_KEY);
    expect(res.status).toBe(200);
    const big = await writeBigTrace();
    const trace = await get(small.url, `/v1/query/traces/${big}`, BOTH_KEY);
    expect(trace.status).toBe(422);
    expect(trace.body.error).toBe('response_too_large');
    expect(trace.body.message).toContain(`${64 * 1024}-byte response limit`);
    expect((await get(gateway.url, `/v1/query/traces/${big}`, BOTH_KEY)).status).toBe(200);
  });
});

async function writeBigTrace(): Promise<string> {
  const traceId = 'b16b16b16b16b16b16b16b16b16b16b1';
  await writeHot(clickhouse, 'acme', [
    batchOf(
      'otel_traces',
      Array.from({ length: 30 }, (_, i) =>
        span({
          traceId,
          spanId: `b${String(i).padStart(15, '0')}`,
          service: 'checkout',
          name: 'big',
          atMs: HOT_AT + i,
          durationMs: 1,
          attributes: { blob: 'y'.repeat(4000) },
        }),
      ),
    ),
  ]);
  return traceId;
}

describe('read caps (ClickHouse max_rows_to_read)', () => {
  it('answers 422 "narrow the range" for a query over too much data; a narrow or small one still runs', async () => {
    const wide = await get(small.url, '/v1/query/logs?from=now-2h', HEAVY_KEY);
    expect(wide.status).toBe(422);
    expect(wide.body.error).toBe('query_too_large');
    expect(wide.body.message).toMatch(/20000 rows.*narrow the range/);
    // The same request of a tenant with little data, on the same capped API.
    expect((await get(small.url, '/v1/query/logs?from=now-2h', BOTH_KEY)).status).toBe(200);
    // Uncapped, the heavy tenant's query runs.
    expect((await get(gateway.url, '/v1/query/logs?from=now-2h', HEAVY_KEY)).status).toBe(200);
  });
});

describe('meta reports only the tenant’s own figures', () => {
  it("stays the same when another tenant's rows fill the same granules", async () => {
    const range = new URLSearchParams({
      from: new Date(NOW - 2 * 60 * MINUTE).toISOString(),
      to: new Date(NOW).toISOString(),
    });
    const path = `/v1/query/traces?${range}`;
    // What the engine reads for acme's rows: whole granules, whoever's rows they hold.
    const engineRead = async () => {
      const rs = await clickhouse.query({
        query: "SELECT count() AS n, sum(Duration) AS d FROM otel_traces WHERE TenantId = 'acme'",
        format: 'JSON',
      });
      const body = await rs.json<{ n: string }>();
      return { acmeRows: Number(body.data[0]!.n), rowsRead: Number(body.statistics?.rows_read) };
    };
    const alone = await engineRead();
    expect(alone.rowsRead).toBe(alone.acmeRows);
    const view = async () => {
      const res = await get(small.url, path, QUERY_KEY);
      expect(res.status).toBe(200);
      return {
        data: res.body.data,
        tiers: res.body.meta!.tiers.map(({ elapsedMs: _e, ...rest }) => rest),
      };
    };
    const before = await view();
    expect(Object.keys(before.tiers[0]!).sort()).toEqual(['engine', 'from', 'queries', 'tier', 'to']);
    // globex writes 10k spans; merged into the same parts, its rows share acme's granules.
    await writeHot(clickhouse, 'globex', [
      batchOf(
        'otel_traces',
        Array.from({ length: 10_000 }, (_, i) =>
          span({
            traceId: `9${String(i).padStart(31, '0')}`,
            spanId: `9${String(i).padStart(15, '0')}`,
            service: 'checkout',
            name: 'GET /cart',
            atMs: HOT_AT - (i % 3000) * 1000,
            durationMs: 5,
          }),
        ),
      ),
    ]);
    await clickhouse.command({ query: 'OPTIMIZE TABLE otel_traces FINAL' });
    const parts = await (
      await clickhouse.query({
        query: "SELECT count() AS n FROM system.parts WHERE table = 'otel_traces' AND active",
        format: 'JSONEachRow',
      })
    ).json<{ n: string }>();
    expect(Number(parts[0]!.n)).toBe(1);
    const shared = await engineRead();
    expect(shared.acmeRows).toBe(alone.acmeRows);
    expect(shared.rowsRead).toBeGreaterThan(alone.acmeRows + 1000);
    expect(await view()).toEqual(before);
  });
});
