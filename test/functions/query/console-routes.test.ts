import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../../functions/shared/clickhouse/migrations.js';
import { S3ObjectStore } from '../../../functions/shared/lake/s3-object-store.js';
import {
  ClickHouseTelemetryReader,
  HotTableSources,
  hotRollups,
} from '../../../functions/shared/query/clickhouse-reader.js';
import { CursorCodec } from '../../../functions/shared/query/cursor.js';
import { createQueryApi, type QueryApi } from '../../../functions/shared/query/query-api.js';
import type { TenantDirectory } from '../../../functions/shared/tenants/directory.js';
import { createLocalColdTier } from '../../../local/cold-tier.js';
import { type Emulators, startEmulators } from '../../../local/emulators.js';
import { openClickHouse, type TestClickHouse } from '../../support/clickhouse.js';
import { batchOf, DAY, log, MINUTE, metric, span, writeHot, writeLake } from './support.js';

/**
 * The console's routes against embedded ClickHouse (hot tier: rows written by the hot writer, the
 * rollups filled by their views) and the Parquet lake on s3rver (cold tier). The data is generated
 * from a seeded random source and every expected figure is computed here from the generated rows,
 * not from the code under test.
 */

const ACME = 'acme-console-key-0123456789';
const GLOBEX = 'globex-console-key-0123456789';
const NOW = Date.now();
/** The 15-minute range every RED test asks for, on a whole quarter hour (so 5m and 15m steps align). */
const QUARTER = 15 * MINUTE;
const W0 = Math.floor((NOW - 50 * MINUTE) / QUARTER) * QUARTER;
const W1 = W0 + 15 * MINUTE;
const COLD_W0 = Math.floor((NOW - 10 * DAY) / QUARTER) * QUARTER;
const SERVICES = ['frontend', 'checkout', 'payments', 'inventory'] as const;

/** mulberry32: a small seeded generator, so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ (t + t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface GenSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  service: string;
  name: string;
  kind: string;
  atMs: number;
  durationMs: number;
  error: boolean;
}

/**
 * Traces frontend(Server, root) -> frontend(Client) -> checkout(Server) -> checkout(Internal) ->
 * {payments(Server) | inventory(Consumer)}; some checkout spans are roots of their own.
 */
function generateTraces(
  rnd: () => number,
  count: number,
  fromMs: number,
  toMs: number,
  tag: string,
): GenSpan[] {
  const out: GenSpan[] = [];
  const dur = () => Math.round((1 + rnd() * rnd() * 400) * 1000) / 1000;
  for (let i = 0; i < count; i++) {
    const traceId = `${tag}${i.toString(16).padStart(8, '0')}`.padEnd(32, '0');
    const id = (n: number) => `${tag}${i.toString(16).padStart(6, '0')}${n}`.padEnd(16, '0');
    const at = fromMs + Math.floor(rnd() * (toMs - fromMs));
    const err = () => rnd() < 0.15;
    if (rnd() < 0.2) {
      out.push({
        traceId,
        spanId: id(1),
        parentSpanId: '',
        service: 'checkout',
        name: 'cron',
        kind: 'Internal',
        atMs: at,
        durationMs: dur(),
        error: err(),
      });
      continue;
    }
    const route = rnd() < 0.5 ? 'GET /cart' : 'POST /checkout';
    out.push({
      traceId,
      spanId: id(1),
      parentSpanId: '',
      service: 'frontend',
      name: route,
      kind: 'Server',
      atMs: at,
      durationMs: dur(),
      error: err(),
    });
    out.push({
      traceId,
      spanId: id(2),
      parentSpanId: id(1),
      service: 'frontend',
      name: 'call checkout',
      kind: 'Client',
      atMs: at + 1,
      durationMs: dur(),
      error: false,
    });
    out.push({
      traceId,
      spanId: id(3),
      parentSpanId: id(2),
      service: 'checkout',
      name: route,
      kind: 'Server',
      atMs: at + 2,
      durationMs: dur(),
      error: err(),
    });
    out.push({
      traceId,
      spanId: id(4),
      parentSpanId: id(3),
      service: 'checkout',
      name: 'prepare',
      kind: 'Internal',
      atMs: at + 3,
      durationMs: dur(),
      error: false,
    });
    if (rnd() < 0.6) {
      out.push({
        traceId,
        spanId: id(5),
        parentSpanId: id(4),
        service: 'payments',
        name: 'charge',
        kind: 'Server',
        atMs: at + 4,
        durationMs: dur(),
        error: err(),
      });
    } else {
      out.push({
        traceId,
        spanId: id(5),
        parentSpanId: id(4),
        service: 'inventory',
        name: 'reserve',
        kind: 'Consumer',
        atMs: at + 4,
        durationMs: dur(),
        error: err(),
      });
    }
  }
  return out;
}

const rowOf = (s: GenSpan) =>
  span({ ...s, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), kind: s.kind });

const isEntry = (s: GenSpan) => s.kind === 'Server' || s.kind === 'Consumer' || s.parentSpanId === '';
const inRange = (atMs: number, from: number, to: number) => atMs >= from && atMs < to;

/** The values at ranks (q ± 0.05)·n of the sorted durations: where a t-digest estimate must fall. */
function quantileBounds(values: number[], q: number): [number, number] {
  const s = [...values].sort((a, b) => a - b);
  const lo = s[Math.max(0, Math.floor((q - 0.05) * s.length))]!;
  const hi = s[Math.min(s.length - 1, Math.ceil((q + 0.05) * s.length))]!;
  return [lo, hi];
}

function expectQuantiles(
  got: { p50Ms: number | null; p95Ms: number | null; p99Ms: number | null },
  durations: number[],
) {
  for (const [q, v] of [
    [0.5, got.p50Ms],
    [0.95, got.p95Ms],
    [0.99, got.p99Ms],
  ] as const) {
    const [lo, hi] = quantileBounds(durations, q);
    expect(v).not.toBeNull();
    expect(v!).toBeGreaterThanOrEqual(lo - 1e-6);
    expect(v!).toBeLessThanOrEqual(hi + 1e-6);
  }
}

let dir: string;
let emulators: Emulators;
let s3: S3Client;
let clickhouse: ClickHouseClient;
let connection: TestClickHouse | undefined;
let api: QueryApi;
let acmeSpans: GenSpan[];
let coldSpans: GenSpan[];
const acmeLogs: { atMs: number; service: string; n: number; text: string; body: string }[] = [];

async function get(path: string, query: Record<string, string> = {}, key = ACME) {
  const res = await api({ method: 'GET', path, headers: { authorization: `Bearer ${key}` }, query });
  // biome-ignore lint/suspicious/noExplicitAny: test reads the JSON body loosely
  return { status: res.status, body: res.body as any };
}

const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'query-console-'));
  emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: emulators.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'lake' }));
  const store = new S3ObjectStore(s3, 'lake');
  // Embedded, or over HTTP (the production client) when run from console-routes.over-http.test.ts.
  connection = await openClickHouse(join(dir, 'chdb'));
  clickhouse = connection.client;
  await applyMigrations(clickhouse, { hotRetentionDays: 7 });

  const rnd = random(18);
  // Spans from 10 minutes before the range to 10 after it, so the range bounds are exercised.
  acmeSpans = generateTraces(rnd, 600, W0 - 10 * MINUTE, W1 + 10 * MINUTE, 'a');
  // One batch per service, children's batches first: every cross-service parent is in another
  // batch, written after its child (SDKs export a span when it ends, children end first).
  for (const service of [...SERVICES].reverse()) {
    await writeHot(clickhouse, 'acme', [
      batchOf('otel_traces', acmeSpans.filter((s) => s.service === service).map(rowOf)),
    ]);
  }
  // globex: the same services with other figures (and one service only it has).
  const globexSpans = generateTraces(random(7), 200, W0, W1, 'b').map((s) => ({
    ...s,
    service: s.service === 'inventory' ? 'globex-only' : s.service,
    durationMs: s.durationMs * 10,
  }));
  await writeHot(clickhouse, 'globex', [batchOf('otel_traces', globexSpans.map(rowOf))]);

  // Logs: every SeverityNumber 0..24; 0 with a text.
  const texts = ['', 'warning', 'Error', 'debug', 'weird'];
  const bodies = ['payment failed', 'cart loaded', 'cache miss'];
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < 900; i++) {
    const atMs = W0 - 5 * MINUTE + Math.floor(rnd() * 25 * MINUTE);
    const n = Math.floor(rnd() * 25);
    const text = n === 0 ? texts[i % texts.length]! : `S${n}`;
    const service = SERVICES[i % 4]!;
    const body = `${bodies[i % 3]} #${i}`;
    acmeLogs.push({ atMs, service, n, text, body });
    rows.push(log(atMs, service, [text, n], body));
  }
  await writeHot(clickhouse, 'acme', [batchOf('otel_logs', rows)]);
  await writeHot(clickhouse, 'globex', [
    batchOf(
      'otel_logs',
      Array.from({ length: 50 }, (_, i) => log(W0 + i * 1000, 'checkout', ['FATAL', 21], 'globex')),
    ),
  ]);

  // Metrics: a histogram with two hosts, a gauge, a sum.
  await writeHot(clickhouse, 'acme', [
    batchOf('otel_metrics_histogram', histogramPoints()),
    batchOf('otel_metrics_gauge', [
      metric(
        W0 + MINUTE,
        'checkout',
        'process.cpu.usage',
        { Value: 0.2, MetricUnit: '1', MetricDescription: 'CPU' },
        { host: 'h1' },
      ),
      metric(
        W0 + 2 * MINUTE,
        'checkout',
        'process.cpu.usage',
        { Value: 0.6, MetricUnit: '1' },
        { host: 'h1' },
      ),
      metric(W0 + MINUTE, 'frontend', 'process.cpu.usage', { Value: 0.9, MetricUnit: '1' }, { host: 'h2' }),
      metric(W0 + MINUTE, 'frontend', 'process.cpu.usage', { Value: 0.5, MetricUnit: '1' }, {}),
    ]),
    batchOf('otel_metrics_sum', [
      metric(W0 + MINUTE, 'frontend', 'http.requests', {
        Value: 5,
        IsMonotonic: true,
        AggregationTemporality: 2,
      }),
    ]),
  ]);
  await writeHot(clickhouse, 'globex', [
    batchOf('otel_metrics_gauge', [metric(W0 + MINUTE, 'checkout', 'globex.secret.metric', { Value: 1 })]),
  ]);

  // The lake, 10 days ago: traces across services (cold tier).
  coldSpans = generateTraces(random(99), 120, COLD_W0, COLD_W0 + 15 * MINUTE, 'c');
  await writeLake(store, 'acme', batchOf('otel_traces', coldSpans.map(rowOf)));

  const tenants: TenantDirectory = {
    resolve: async (key) =>
      key === ACME
        ? { tenantId: 'acme', keyId: 'a' }
        : key === GLOBEX
          ? { tenantId: 'globex', keyId: 'g' }
          : undefined,
  };
  api = createQueryApi({
    tenants,
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
  });
}, 180_000);

afterAll(async () => {
  await connection?.close();
  s3?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Histogram points of `http.server.duration`: values drawn at random, bucketed here. */
const BOUNDS = [10, 50, 100, 500];
const histogramValues: { atMs: number; host: string; values: number[] }[] = [];
function histogramPoints(): Record<string, unknown>[] {
  const rnd = random(5);
  const out: Record<string, unknown>[] = [];
  for (let m = 0; m < 15; m++) {
    for (const host of ['h1', 'h2']) {
      const values = Array.from({ length: 40 }, () => rnd() * rnd() * (host === 'h1' ? 300 : 900));
      const counts = [0, 0, 0, 0, 0];
      for (const v of values)
        counts[BOUNDS.findIndex((b) => v <= b) === -1 ? 4 : BOUNDS.findIndex((b) => v <= b)]!++;
      const atMs = W0 + m * MINUTE + 30_000;
      histogramValues.push({ atMs, host, values });
      out.push(
        metric(
          atMs,
          'checkout',
          'http.server.duration',
          {
            Count: values.length,
            Sum: values.reduce((a, b) => a + b, 0),
            Min: Math.min(...values),
            Max: Math.max(...values),
            BucketCounts: counts,
            ExplicitBounds: BOUNDS,
            MetricUnit: 'ms',
          },
          { host },
        ),
      );
    }
  }
  return out;
}

/** The textbook estimate: find the bucket holding rank q·n, interpolate linearly inside it. */
function expectedPercentile(values: number[], q: number): number {
  const counts = [0, 0, 0, 0, 0];
  for (const v of values) {
    const i = BOUNDS.findIndex((b) => v <= b);
    counts[i === -1 ? 4 : i]!++;
  }
  const lo = Math.min(0, Math.min(...values));
  const edges = [
    Math.min(...values) <= BOUNDS[0]! ? Math.min(...values) : lo,
    ...BOUNDS,
    Math.max(Math.max(...values), BOUNDS[3]!),
  ];
  const rank = q * values.length;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    if (cum + counts[i]! >= rank && counts[i]! > 0)
      return edges[i]! + ((edges[i + 1]! - edges[i]!) * (rank - cum)) / counts[i]!;
    cum += counts[i]!;
  }
  return edges[edges.length - 1]!;
}

describe('GET /v1/query/services at minute resolution', () => {
  it('counts a 15-minute range and divides by 900 s, not by the hour', async () => {
    const res = await get('/v1/query/services', { from: iso(W0), to: iso(W1) });
    expect(res.status).toBe(200);
    expect(res.body.meta.from).toBe(iso(W0));
    expect(res.body.meta.to).toBe(iso(W1));
    for (const service of SERVICES) {
      const entries = acmeSpans.filter((s) => s.service === service && isEntry(s) && inRange(s.atMs, W0, W1));
      const row = res.body.data.find((d: { serviceName: string }) => d.serviceName === service);
      expect(row, service).toBeDefined();
      expect(row.requests).toBe(entries.length);
      expect(row.errors).toBe(entries.filter((s) => s.error).length);
      expect(row.requestRate).toBeCloseTo(entries.length / 900, 9);
      expectQuantiles(
        { p50Ms: row.latencyMs.p50, p95Ms: row.latencyMs.p95, p99Ms: row.latencyMs.p99 },
        entries.map((s) => s.durationMs),
      );
    }
  });

  it('answers a range across an hour boundary from hourly and minute rollups alike', async () => {
    // 70 minutes ending at W1: whole hours (if any) from the hourly table, the rest per minute.
    const from = W1 - 70 * MINUTE;
    const res = await get('/v1/query/services', { from: iso(from), to: iso(W1) });
    for (const service of SERVICES) {
      const n = acmeSpans.filter(
        (s) => s.service === service && isEntry(s) && inRange(s.atMs, from, W1),
      ).length;
      expect(
        res.body.data.find((d: { serviceName: string }) => d.serviceName === service)?.requests ?? 0,
      ).toBe(n);
    }
  });
});

describe('GET /v1/query/services/series', () => {
  it('gives every minute of the range for every service, rates per second of the step', async () => {
    const res = await get('/v1/query/services/series', { from: iso(W0), to: iso(W1), step: '1m' });
    expect(res.status).toBe(200);
    expect(res.body.meta.stepMs).toBe(60_000);
    const frontend = res.body.data.find((d: { service: string }) => d.service === 'frontend');
    expect(frontend.points).toHaveLength(15);
    for (const [i, p] of frontend.points.entries()) {
      const t = W0 + i * MINUTE;
      expect(p.t).toBe(t);
      const entries = acmeSpans.filter(
        (s) => s.service === 'frontend' && isEntry(s) && inRange(s.atMs, t, t + MINUTE),
      );
      expect(p.requests).toBe(entries.length);
      expect(p.errors).toBe(entries.filter((s) => s.error).length);
      expect(p.rate).toBeCloseTo(entries.length / 60, 9);
      if (entries.length === 0) expect(p.p50Ms).toBeNull();
      else expect(p.p99Ms).toBeLessThanOrEqual(Math.max(...entries.map((s) => s.durationMs)) + 1e-6);
    }
  });

  it('filters by service, picks a step giving at most 300 points, and reads the hourly rollup for whole-hour steps', async () => {
    const auto = await get('/v1/query/services/series', { from: 'now-6h', service: 'payments' });
    expect(auto.body.meta.stepMs).toBe(120_000);
    expect(auto.body.data.map((d: { service: string }) => d.service)).toEqual(['payments']);
    const hourly = await get('/v1/query/services/series', {
      from: 'now-6h',
      step: '1h',
      service: 'payments',
    });
    const total = hourly.body.data[0].points.reduce(
      (n: number, p: { requests: number }) => n + p.requests,
      0,
    );
    expect(total).toBe(acmeSpans.filter((s) => s.service === 'payments').length);
  });

  it('answers a range over 12 hours without a step at an hourly step, from the hourly rollup, and says so', async () => {
    const res = await get('/v1/query/services/series', { from: 'now-24h', service: 'payments' });
    expect(res.body.meta.stepMs).toBe(3_600_000);
    const points = res.body.data[0].points as { t: number; requests: number }[];
    expect(points.length).toBeGreaterThanOrEqual(24);
    expect(points.every((p) => p.t % 3_600_000 === 0)).toBe(true);
    expect(points.reduce((n, p) => n + p.requests, 0)).toBe(
      acmeSpans.filter((s) => s.service === 'payments').length,
    );
  });

  it('rejects a step finer than a minute or not in whole minutes, and too many points', async () => {
    for (const step of ['30s', '90s']) {
      const res = await get('/v1/query/services/series', { step });
      expect(res.status).toBe(400);
      expect(res.body.parameter).toBe('step');
    }
    expect((await get('/v1/query/services/series', { from: 'now-30d', step: '1m' })).status).toBe(400);
  });

  it('answers a range in the lake from the raw spans (cold tier)', async () => {
    const res = await get('/v1/query/services/series', {
      from: iso(COLD_W0),
      to: iso(COLD_W0 + 15 * MINUTE),
      step: '5m',
    });
    expect(res.status).toBe(200);
    expect(res.body.meta.tiers.map((t: { tier: string }) => t.tier)).toEqual(['cold']);
    const checkout = res.body.data.find((d: { service: string }) => d.service === 'checkout');
    const counts = checkout.points.map((p: { requests: number }) => p.requests);
    const expected = [0, 1, 2].map(
      (i) =>
        coldSpans.filter(
          (s) =>
            s.service === 'checkout' &&
            isEntry(s) &&
            inRange(s.atMs, COLD_W0 + i * 5 * MINUTE, COLD_W0 + (i + 1) * 5 * MINUTE),
        ).length,
    );
    expect(counts).toEqual(expected);
  });
});

describe('GET /v1/query/services/{service}/operations', () => {
  it('lists the entry operations of one service, busiest first', async () => {
    const res = await get('/v1/query/services/checkout/operations', { from: iso(W0), to: iso(W1) });
    expect(res.status).toBe(200);
    const entries = acmeSpans.filter(
      (s) => s.service === 'checkout' && isEntry(s) && inRange(s.atMs, W0, W1),
    );
    const names = [...new Set(entries.map((s) => s.name))];
    const expected = names
      .map((operation) => ({ operation, requests: entries.filter((s) => s.name === operation).length }))
      .sort((a, b) => b.requests - a.requests);
    expect(
      res.body.data.map((d: { operation: string; requests: number }) => ({
        operation: d.operation,
        requests: d.requests,
      })),
    ).toEqual(expected);
    for (const row of res.body.data) {
      const mine = entries.filter((s) => s.name === row.operation);
      expect(row.errors).toBe(mine.filter((s) => s.error).length);
      expect(row.rate).toBeCloseTo(mine.length / 900, 9);
      expectQuantiles(
        row,
        mine.map((s) => s.durationMs),
      );
    }
    // 'prepare' is an Internal child span: not an entry operation.
    expect(res.body.data.map((d: { operation: string }) => d.operation)).not.toContain('prepare');
  });

  it('is empty for an unknown service', async () => {
    const res = await get('/v1/query/services/nope/operations', { from: iso(W0), to: iso(W1) });
    expect(res.body.data).toEqual([]);
  });
});

function expectedEdges(spans: GenSpan[], from: number, to: number) {
  const byId = new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
  const edges = new Map<string, GenSpan[]>();
  for (const c of spans) {
    if (!c.parentSpanId || !inRange(c.atMs, from, to)) continue;
    const p = byId.get(`${c.traceId}/${c.parentSpanId}`);
    if (!p || p.service === c.service) continue;
    const key = `${p.service}->${c.service}`;
    edges.set(key, [...(edges.get(key) ?? []), c]);
  }
  return edges;
}

describe('GET /v1/query/service-map', () => {
  it('finds every parent->child call across services, parents written in other batches', async () => {
    const res = await get('/v1/query/service-map', { from: iso(W0), to: iso(W1) });
    expect(res.status).toBe(200);
    const expected = expectedEdges(acmeSpans, W0, W1);
    expect(
      res.body.data.edges.map((e: { parent: string; child: string }) => `${e.parent}->${e.child}`).sort(),
    ).toEqual([...expected.keys()].sort());
    for (const e of res.body.data.edges) {
      const calls = expected.get(`${e.parent}->${e.child}`)!;
      expect(e.calls).toBe(calls.length);
      expect(e.errors).toBe(calls.filter((s) => s.error).length);
      expect(e.rate).toBeCloseTo(calls.length / 900, 9);
      expect(e.errorRatio).toBeCloseTo(calls.filter((s) => s.error).length / calls.length, 9);
      expectQuantiles(
        e,
        calls.map((s) => s.durationMs),
      );
    }
    const nodes = res.body.data.nodes.map((n: { service: string }) => n.service);
    expect(nodes).toEqual([...SERVICES].sort());
  });

  it('finds the edges of a range in the lake', async () => {
    const res = await get('/v1/query/service-map', { from: iso(COLD_W0), to: iso(COLD_W0 + 15 * MINUTE) });
    const expected = expectedEdges(coldSpans, COLD_W0, COLD_W0 + 15 * MINUTE);
    expect(
      Object.fromEntries(
        res.body.data.edges.map((e: { parent: string; child: string; calls: number }) => [
          `${e.parent}->${e.child}`,
          e.calls,
        ]),
      ),
    ).toEqual(Object.fromEntries([...expected].map(([k, v]) => [k, v.length])));
  });
});

const SEVERITY_CLASS = (n: number, text: string) => {
  if (n >= 1) return ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'][Math.floor((n - 1) / 4)]!;
  return (
    ({ WARNING: 'WARN', ERROR: 'ERROR', DEBUG: 'DEBUG' } as Record<string, string>)[text.toUpperCase()] ??
    'INFO'
  );
};

describe('GET /v1/query/logs/histogram', () => {
  const expectedCounts = (filter: (l: (typeof acmeLogs)[number]) => boolean, t: number, step: number) => {
    const counts: Record<string, number> = { TRACE: 0, DEBUG: 0, INFO: 0, WARN: 0, ERROR: 0, FATAL: 0 };
    for (const l of acmeLogs)
      if (filter(l) && inRange(l.atMs, t, t + step)) counts[SEVERITY_CLASS(l.n, l.text)]!++;
    return counts;
  };

  it('counts records per step and severity from the minute rollup, every key present', async () => {
    const res = await get('/v1/query/logs/histogram', { from: iso(W0), to: iso(W1), step: '5m' });
    expect(res.status).toBe(200);
    expect(res.body.meta.stepMs).toBe(300_000);
    expect(res.body.data.map((d: { t: number }) => d.t)).toEqual([W0, W0 + 5 * MINUTE, W0 + 10 * MINUTE]);
    for (const d of res.body.data) expect(d.counts).toEqual(expectedCounts(() => true, d.t, 5 * MINUTE));
  });

  it('applies service, minimum severity and text (raw records) as the log search does', async () => {
    const filters = { from: iso(W0), to: iso(W1), step: '15m', service: 'payments', severity: 'warn' };
    const raw = await get('/v1/query/logs/histogram', { ...filters, q: 'PAYMENT' });
    const rollup = await get('/v1/query/logs/histogram', filters);
    // 15-minute buckets on the epoch: the range is widened to whole steps.
    expect(raw.body.meta.from).toBe(iso(Math.floor(W0 / (15 * MINUTE)) * 15 * MINUTE));
    expect(raw.body.data.length).toBeGreaterThanOrEqual(1);
    for (const d of raw.body.data) {
      expect(d.counts).toEqual(
        expectedCounts(
          (l) => l.service === 'payments' && l.n >= 13 && l.body.includes('payment'),
          d.t,
          15 * MINUTE,
        ),
      );
    }
    for (const d of rollup.body.data) {
      expect(d.counts).toEqual(
        expectedCounts((l) => l.service === 'payments' && l.n >= 13, d.t, 15 * MINUTE),
      );
    }
  });
});

describe('GET /v1/query/metrics/names', () => {
  it("lists the tenant's metric names with type, unit, description and services, filtered by text", async () => {
    const res = await get('/v1/query/metrics/names', { from: iso(W0), to: iso(W1) });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([
      { name: 'http.requests', type: 'sum', unit: '', description: '', services: ['frontend'] },
      {
        name: 'http.server.duration',
        type: 'histogram',
        unit: 'ms',
        description: '',
        services: ['checkout'],
      },
      {
        name: 'process.cpu.usage',
        type: 'gauge',
        unit: '1',
        description: expect.any(String),
        services: ['checkout', 'frontend'],
      },
    ]);
    const filtered = await get('/v1/query/metrics/names', { from: iso(W0), to: iso(W1), q: 'HTTP.' });
    expect(filtered.body.data.map((d: { name: string }) => d.name)).toEqual([
      'http.requests',
      'http.server.duration',
    ]);
  });
});

describe('GET /v1/query/metrics: percentiles and groupBy', () => {
  it('estimates p50/p95/p99 of a histogram per attribute value by linear interpolation in the bucket', async () => {
    for (const [agg, q] of [
      ['p50', 0.5],
      ['p95', 0.95],
      ['p99', 0.99],
    ] as const) {
      const res = await get('/v1/query/metrics', {
        name: 'http.server.duration',
        agg,
        groupBy: 'attr.host',
        step: '5m',
        from: iso(W0),
        to: iso(W1),
      });
      expect(res.status).toBe(200);
      expect(res.body.meta.stepMs).toBe(300_000);
      const series = res.body.data.series;
      expect(series.map((s: { group: string }) => s.group)).toEqual(['h1', 'h2']);
      for (const s of series) {
        expect(s.serviceName).toBe('');
        expect(s.points).toHaveLength(3);
        for (const p of s.points) {
          const values = histogramValues
            .filter((h) => h.host === s.group && inRange(h.atMs, p.timeUnixMs, p.timeUnixMs + 5 * MINUTE))
            .flatMap((h) => h.values);
          expect(p.value).toBeCloseTo(expectedPercentile(values, q), 6);
        }
      }
    }
  });

  it('groups a gauge by an attribute (points without it left out) and by service', async () => {
    const base = { name: 'process.cpu.usage', step: '15m', from: iso(W0), to: iso(W1) };
    const byHost = await get('/v1/query/metrics', { ...base, agg: 'avg', groupBy: 'attr.host' });
    expect(
      byHost.body.data.series.map((s: { group: string; points: { value: number }[] }) => [
        s.group,
        s.points[0]!.value,
      ]),
    ).toEqual([
      ['h1', expect.closeTo(0.4, 9)],
      ['h2', expect.closeTo(0.9, 9)],
    ]);
    const byService = await get('/v1/query/metrics', { ...base, agg: 'max' });
    expect(
      byService.body.data.series.map(
        (s: { group: string; serviceName: string; points: { value: number }[] }) => [
          s.group,
          s.serviceName,
          s.points[0]!.value,
        ],
      ),
    ).toEqual([
      ['checkout', 'checkout', 0.6],
      ['frontend', 'frontend', 0.9],
    ]);
  });

  it('rejects an unknown groupBy', async () => {
    const res = await get('/v1/query/metrics', { name: 'x', groupBy: 'host' });
    expect(res.status).toBe(400);
    expect(res.body.parameter).toBe('groupBy');
  });
});

describe('tenant isolation on the console routes', () => {
  const range = { from: iso(W0), to: iso(W1) };
  it.each([
    ['/v1/query/services/series', { step: '15m' }],
    ['/v1/query/services/checkout/operations', {}],
    ['/v1/query/service-map', {}],
    ['/v1/query/logs/histogram', { step: '15m' }],
    ['/v1/query/metrics/names', {}],
    ['/v1/query/metrics', { name: 'http.server.duration', agg: 'p95' }],
  ] as const)('%s shows globex only its own rows, and acme none of them', async (path, extra) => {
    // The metric route echoes the asked name: only its series are the tenant's data.
    const dataOf = (body: { data: { series?: unknown } }) => JSON.stringify(body.data.series ?? body.data);
    const acme = dataOf((await get(path, { ...range, ...extra })).body);
    const globex = dataOf((await get(path, { ...range, ...extra }, GLOBEX)).body);
    expect(acme).not.toContain('globex');
    for (const acmeOnly of ['inventory', 'process.cpu', 'http.server.duration', '"h1"']) {
      expect(globex).not.toContain(acmeOnly);
    }
    expect(globex).not.toEqual(acme);
  });

  it('globex figures are its own: the service map of globex counts only globex calls', async () => {
    const res = await get('/v1/query/service-map', range, GLOBEX);
    const services = res.body.data.nodes.map((n: { service: string }) => n.service);
    expect(services).toContain('globex-only');
    expect(services).not.toContain('inventory');
  });
});
