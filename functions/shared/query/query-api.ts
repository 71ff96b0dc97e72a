import type * as z from 'zod';
import { admit } from '../tenants/admission.js';
import type { TenantDirectory, TenantQueryLimits } from '../tenants/directory.js';
import { utcDate, utcDay } from '../tenants/quotas.js';
import type { RateLimiter } from '../tenants/rate-limiter.js';
import type { UsageReader } from '../usage/usage.js';
import type { CursorCodec, CursorContext, CursorPosition } from './cursor.js';
import {
  QueryEngineError,
  QueryParameterError,
  QueryTimeoutError,
  QueryTooLargeError,
  ResponseTooLargeError,
} from './errors.js';
import { histogramQuantile } from './histogram.js';
import { DEFAULT_MAX_RESPONSE_BYTES, queryRateKey } from './limits.js';
import {
  mergeEdges,
  mergeLogs,
  mergeMetricBuckets,
  mergeMetricNames,
  mergeServiceBuckets,
  mergeServices,
  mergeSpans,
  mergeTraceSummaries,
} from './merge.js';
import {
  apiSpanKind,
  apiStatusCode,
  type HistogramBucket,
  type LogRecordRow,
  type MetricBucket,
  type QueryBudget,
  type ServiceStats,
  type SpanRecord,
  type TelemetryReader,
  type TierResult,
  type TraceSummary,
} from './model.js';
import { openApiDocument } from './openapi.js';
import { hotBoundaryNs, planTiers, type TierPlan } from './planner.js';
import { matchRoute, type QueryOperation } from './routes.js';
import {
  LogHistogramParamsSchema,
  LogSearchParamsSchema,
  MAX_ATTRIBUTE_FILTERS,
  type Meta,
  type MetricAggregation,
  MetricNamesParamsSchema,
  MetricParamsSchema,
  SEVERITIES,
  SEVERITY_NUMBERS,
  ServiceMapParamsSchema,
  ServicePathSchema,
  ServiceSeriesParamsSchema,
  ServicesParamsSchema,
  type TierStatsOut,
  TraceGetParamsSchema,
  TracePathSchema,
  TraceSearchParamsSchema,
  UsageParamsSchema,
} from './schemas.js';
import { formatDuration, isoOf, NS_PER_MS, NS_PER_SECOND, resolveRange, type TimeRange } from './time.js';

/**
 * The query API's use-case: a request (method, path, headers, query string) in, a status and JSON
 * body out. It authenticates the API key, validates parameters, resolves the range, plans the
 * tiers, runs the readers within the time budget and merges. No AWS SDK here: the readers and the
 * tenant directory are ports.
 */

export interface QueryLimits {
  /** Range when `from` is absent. @default 1 hour */
  readonly defaultLookbackMs: number;
  /** Longest range. @default 31 days */
  readonly maxRangeMs: number;
  /** Time budget of one request across tiers. @default 25 s (API Gateway cuts at 30 s) */
  readonly timeoutMs: number;
  /** Most spans of one trace. @default 10000 */
  readonly maxTraceSpans: number;
  /** Most points per metric series. @default 1500 */
  readonly maxPoints: number;
  /**
   * Largest JSON body answered. Pages of searches are cut to fit (with a cursor to the rest);
   * other answers over it are a 422. @default DEFAULT_MAX_RESPONSE_BYTES (5 MiB: Lambda's
   * synchronous response limit is 6 MB)
   */
  readonly maxResponseBytes: number;
}

export { DEFAULT_MAX_RESPONSE_BYTES };

/** Kept back from `maxResponseBytes` for `meta` (tiers, cursor) and the envelope of a page. */
const PAGE_OVERHEAD_BYTES = 16 * 1024;

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  defaultLookbackMs: 3_600_000,
  maxRangeMs: 31 * 86_400_000,
  timeoutMs: 25_000,
  maxTraceSpans: 10_000,
  maxPoints: 1_500,
  maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
};

/** The query API's default rate per tenant; a tenant's `queryLimits` (tenants CLI) overrides it. */
export const DEFAULT_QUERY_RATE: Required<TenantQueryLimits> = { requestsPerSecond: 20, burst: 100 };

export { queryRateKey };

export interface QueryApiDeps {
  readonly tenants: TenantDirectory;
  readonly hot: TelemetryReader;
  /** The lake; absent (tests, a hot-only deployment) the hot tier answers every range. */
  readonly cold?: TelemetryReader;
  readonly cursors: CursorCodec;
  /**
   * Per-tenant request rate, built with the deployment's default query limits (DEFAULT_QUERY_RATE);
   * a tenant's `queryLimits` are passed on each call. @default none (no limit; tests only)
   */
  readonly rateLimiter?: RateLimiter;
  readonly hotRetentionDays: number;
  /** Usage metering (GET /v1/usage); absent, the route answers 404. */
  readonly usage?: UsageReader;
  readonly limits?: Partial<QueryLimits>;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface QueryApiRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Path parameters the gateway already extracted (else taken from the path). */
  readonly pathParameters?: Readonly<Record<string, string | undefined>>;
  /** Time left before the caller (Lambda) is cut off. */
  readonly remainingMs?: number;
}

export interface QueryApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  /** `body` as JSON when it was serialised already (to measure it). */
  readonly bodyText?: string;
  /** What to log: tenant, operation, tiers. */
  readonly log: {
    readonly operation?: QueryOperation;
    readonly tenant?: string;
    readonly tiers?: TierLog[];
  };
}

/**
 * A tier's figures for the operator's log. `rowsRead` and `bytesRead` count whole granules, which
 * hold other tenants' rows too: they never reach the client (that would leak others' volume).
 */
export type TierLog = TierStatsOut & { readonly rowsRead?: number; readonly bytesRead?: number };

type Query = Readonly<Record<string, string | undefined>>;

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (!issue) throw new QueryParameterError('query', 'invalid');
  if (issue.code === 'unrecognized_keys') {
    throw new QueryParameterError(String(issue.keys[0]), 'unknown parameter');
  }
  throw new QueryParameterError(String(issue.path[0] ?? 'query'), issue.message);
}

/** Every defined parameter but `cursor` and `limit`: what a cursor is bound to. */
function boundParams(query: Query): Record<string, string | undefined> {
  const { cursor: _c, limit: _l, ...rest } = query;
  return rest;
}

function tierStats<T>(result: TierResult<T> | undefined, range: TimeRange | undefined): TierLog[] {
  if (!result || !range) return [];
  const s = result.stats;
  return [
    {
      tier: s.tier,
      engine: s.engine,
      from: isoOf(range.fromNs),
      to: isoOf(range.toNs),
      queries: s.queries,
      ...(s.rowsRead !== undefined ? { rowsRead: s.rowsRead } : {}),
      ...(s.bytesRead !== undefined ? { bytesRead: s.bytesRead } : {}),
      ...(s.bytesScanned !== undefined ? { bytesScanned: s.bytesScanned } : {}),
      elapsedMs: s.elapsedMs,
    },
  ];
}

const nsToMs = (ns: string): number => Number(BigInt(ns || '0') / 1000n) / 1000;

function spanOut(s: SpanRecord) {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    traceState: s.traceState,
    name: s.name,
    kind: apiSpanKind(s.kind),
    serviceName: s.serviceName,
    startTimeUnixNano: s.startTimeUnixNano,
    startTime: isoOf(BigInt(s.startTimeUnixNano || '0')),
    durationNanos: s.durationNanos,
    durationMs: nsToMs(s.durationNanos),
    status: { code: apiStatusCode(s.statusCode), message: s.statusMessage },
    attributes: s.attributes,
    resourceAttributes: s.resourceAttributes,
    scope: { name: s.scopeName, version: s.scopeVersion },
    events: s.events,
    links: s.links,
  };
}

function traceSummaryOut(t: TraceSummary) {
  return {
    traceId: t.traceId,
    startTimeUnixNano: t.startTimeUnixNano,
    startTime: isoOf(BigInt(t.startTimeUnixNano || '0')),
    serviceName: t.serviceName,
    operation: t.operation,
    durationMs: nsToMs(t.maxDurationNanos),
    spanCount: t.spanCount,
    errorCount: t.errorCount,
  };
}

function logOut(l: LogRecordRow) {
  return { ...l, time: isoOf(BigInt(l.timeUnixNano || '0')) };
}

const STEP_UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const STEP_LADDER_MS = [
  1_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
  7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];
/** About this many points when the client gives no step. */
const TARGET_POINTS = 120;

const MINUTE_MS = 60_000;
const NS_PER_MINUTE = BigInt(MINUTE_MS) * NS_PER_MS;
/** Steps of the console's series routes when none is given: the first with at most SERIES_POINTS. */
const SERIES_LADDER_MS = [
  60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000,
  43_200_000, 86_400_000,
];
const SERIES_POINTS = 300;

/** A range widened to whole multiples of `stepNs` (epoch-aligned). */
function alignRange(range: TimeRange, stepNs: bigint): TimeRange {
  const fromNs = (range.fromNs / stepNs) * stepNs;
  const toNs = ((range.toNs + stepNs - 1n) / stepNs) * stepNs;
  return { fromNs, toNs };
}

const PERCENTILES: Readonly<Partial<Record<MetricAggregation, number>>> = {
  p50: 0.5,
  p90: 0.9,
  p95: 0.95,
  p99: 0.99,
};

/** The severity name of a SeverityNumber (1-24), or for 0 (unspecified) of its text; else INFO. */
function severityClass(n: number, text: string): (typeof SEVERITIES)[number] {
  if (n >= 1 && n <= 24) return SEVERITIES[Math.floor((n - 1) / 4)]!;
  const t = text.toUpperCase();
  if (t.startsWith('WARN')) return 'WARN';
  if (t.startsWith('ERR')) return 'ERROR';
  if (t === 'CRITICAL' || t === 'EMERGENCY' || t === 'ALERT') return 'FATAL';
  return SEVERITIES.find((s) => t.startsWith(s)) ?? 'INFO';
}

const quantileMs = (q: readonly [number, number, number] | null) => ({
  p50Ms: q ? q[0] / 1e6 : null,
  p95Ms: q ? q[1] / 1e6 : null,
  p99Ms: q ? q[2] / 1e6 : null,
});

export function createQueryApi(deps: QueryApiDeps) {
  const limits: QueryLimits = { ...DEFAULT_QUERY_LIMITS, ...deps.limits };
  const now = deps.now ?? Date.now;

  const plan = (range: TimeRange): TierPlan =>
    planTiers(range, hotBoundaryNs(now(), deps.hotRetentionDays), deps.cold !== undefined);

  // Only the tenant's own figures: engine-wide counters (rows and bytes read) stay in the log.
  const meta = (range: TimeRange, tiers: TierLog[], nextCursor: string | null, stepMs?: number): Meta => ({
    from: isoOf(range.fromNs),
    to: isoOf(range.toNs),
    tiers: tiers.map(({ rowsRead: _r, bytesRead: _b, ...own }) => own),
    nextCursor,
    ...(stepMs !== undefined && { stepMs }),
  });

  /**
   * The step of a series route (whole minutes: the finest rollup) and the range widened to whole
   * steps. A step of whole hours is answered from the hourly rollups, any other from the minute ones.
   */
  function seriesStep(step: string | undefined, asked: TimeRange): { stepMs: number; range: TimeRange } {
    const spanMs = Number((asked.toNs - asked.fromNs) / NS_PER_MS);
    let stepMs: number;
    if (step !== undefined) {
      stepMs = Number(step.slice(0, -1)) * STEP_UNIT_MS[step.slice(-1)]!;
      if (stepMs < MINUTE_MS || stepMs % MINUTE_MS !== 0) {
        throw new QueryParameterError(
          'step',
          'must be whole minutes (1m, 5m, 1h...): the finest rollup is per minute',
        );
      }
      if (spanMs / stepMs > limits.maxPoints) {
        throw new QueryParameterError(
          'step',
          `too small for the range: at most ${limits.maxPoints} points (use at least ${formatDuration(Math.ceil(spanMs / limits.maxPoints / MINUTE_MS) * MINUTE_MS)})`,
        );
      }
    } else {
      stepMs =
        SERIES_LADDER_MS.find((s) => Math.ceil(spanMs / s) <= SERIES_POINTS) ??
        Math.ceil(spanMs / SERIES_POINTS / 86_400_000) * 86_400_000;
    }
    return { stepMs, range: alignRange(asked, BigInt(stepMs) * NS_PER_MS) };
  }

  /** Start (ms) of every step bucket of an aligned range. */
  function bucketsOf(range: TimeRange, stepMs: number): number[] {
    const out: number[] = [];
    const to = Number(range.toNs / NS_PER_MS);
    for (let t = Number(range.fromNs / NS_PER_MS); t < to; t += stepMs) out.push(t);
    return out;
  }

  /** Ranges of the RED routes: rounded out to whole minutes (the finest rollup). */
  const minuteRange = (from: string | undefined, to: string | undefined) =>
    alignRange(resolveRange(from, to, now(), limits), NS_PER_MINUTE);

  /**
   * How many of `rows` (already in their JSON shape) fit in one response; a search page is cut there
   * and its cursor points after the last row kept. Not one row fitting is a 422.
   */
  function rowsThatFit(rows: readonly unknown[]): number {
    const budget = limits.maxResponseBytes - PAGE_OVERHEAD_BYTES;
    let used = 0;
    for (let i = 0; i < rows.length; i++) {
      used += Buffer.byteLength(JSON.stringify(rows[i])) + 1;
      if (used > budget) {
        if (i === 0) {
          throw new ResponseTooLargeError(
            `one row is larger than the ${limits.maxResponseBytes}-byte response limit`,
          );
        }
        return i;
      }
    }
    return rows.length;
  }

  /** The range of the request, or of the first page when a cursor continues a search. */
  function pageState(
    ctx: CursorContext,
    query: Query,
    cursor: string | undefined,
  ): { range: TimeRange; position?: CursorPosition } {
    if (cursor !== undefined) {
      const position = deps.cursors.decode(ctx, cursor);
      return { range: { fromNs: position.fromNs, toNs: position.toNs }, position };
    }
    return { range: resolveRange(query.from, query.to, now(), limits) };
  }

  async function getTrace(tenant: string, pathParams: Query, query: Query, budget: QueryBudget) {
    const { traceId } = parse(TracePathSchema, pathParams);
    const params = parse(TraceGetParamsSchema, query);
    // Without `from`, the whole hot retention: a trace lookup is cheap there.
    const lookback = deps.hotRetentionDays * 86_400_000;
    const range = resolveRange(params.from, params.to, now(), { ...limits, defaultLookbackMs: lookback });
    const p = plan(range);
    const q = { tenant, traceId, limit: limits.maxTraceSpans };
    const hot = p.hot ? await deps.hot.trace({ ...q, range: p.hot }, budget) : undefined;
    // The lake is asked only when it could hold part of the trace: nothing found in the hot tier,
    // or the trace starts within an hour of the boundary (it may have begun before it).
    const firstHot = hot?.rows[0];
    const needCold =
      p.cold &&
      deps.cold &&
      (!firstHot || BigInt(firstHot.startTimeUnixNano) - p.cold.toNs < 3_600n * NS_PER_SECOND);
    const cold = needCold ? await deps.cold!.trace({ ...q, range: p.cold! }, budget) : undefined;
    const spans = mergeSpans(hot?.rows ?? [], cold?.rows ?? []);
    const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, needCold ? p.cold : undefined)];
    if (spans.length === 0) {
      return {
        status: 404,
        body: {
          error: 'not_found',
          message: `no trace ${traceId} between ${isoOf(range.fromNs)} and ${isoOf(range.toNs)}`,
        },
        tiers,
      };
    }
    return {
      status: 200,
      body: { data: { traceId, spans: spans.map(spanOut) }, meta: meta(range, tiers, null) },
      tiers,
    };
  }

  async function searchTraces(tenant: string, query: Query, budget: QueryBudget) {
    const params = parse(TraceSearchParamsSchema, query);
    const ctx: CursorContext = { tenant, endpoint: 'searchTraces', params: boundParams(query) };
    const { range, position } = pageState(ctx, query, params.cursor);
    const after = position
      ? { startNs: BigInt(position.key[0] ?? '0'), traceId: position.key[1] ?? '' }
      : undefined;
    const p = plan(range);
    const fetch = params.limit + 1;
    const q = {
      tenant,
      limit: fetch,
      ...(params.service !== undefined && { service: params.service }),
      ...(params.operation !== undefined && { operation: params.operation }),
      ...(params.minDurationMs !== undefined && {
        minDurationNs: BigInt(Math.round(params.minDurationMs * 1e6)),
      }),
      ...(params.status !== undefined && { status: params.status }),
      ...(after && { after }),
    };
    // Hot rows are the newer ones: the lake is read only when they do not fill the page.
    const hot = p.hot ? await deps.hot.searchTraces({ ...q, range: p.hot }, budget) : undefined;
    const cold =
      p.cold && (hot?.rows.length ?? 0) < fetch
        ? await deps.cold!.searchTraces({ ...q, range: p.cold }, budget)
        : undefined;
    const merged = mergeTraceSummaries(hot?.rows ?? [], cold?.rows ?? []);
    const wanted = merged.slice(0, params.limit);
    const out = wanted.map(traceSummaryOut);
    const fit = rowsThatFit(out);
    const page = wanted.slice(0, fit);
    const last = page[page.length - 1];
    const next =
      merged.length > page.length && last
        ? deps.cursors.encode(ctx, { ...range, key: [last.startTimeUnixNano, last.traceId] })
        : null;
    const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, cold ? p.cold : undefined)];
    return { status: 200, body: { data: out.slice(0, fit), meta: meta(range, tiers, next) }, tiers };
  }

  async function searchLogs(tenant: string, query: Query, budget: QueryBudget) {
    const params = parse(LogSearchParamsSchema, query);
    const ctx: CursorContext = { tenant, endpoint: 'searchLogs', params: boundParams(query) };
    const { range, position } = pageState(ctx, query, params.cursor);
    // Keyset: records at or before `atNs`, of which the first `skip` (same time) were already sent.
    const atNs = position ? (position.key[0] ?? undefined) : undefined;
    const skip = position ? Number(position.key[1] ?? 0) : 0;
    if (!Number.isSafeInteger(skip) || skip < 0 || skip > 1_000_000)
      throw new QueryParameterError('cursor', 'malformed');
    const p = plan(range);
    const fetch = params.limit + skip + 1;
    const q = {
      tenant,
      ...(params.service !== undefined && { service: params.service }),
      ...(params.severity !== undefined && { minSeverity: SEVERITY_NUMBERS[params.severity] }),
      ...(params.q !== undefined && { text: params.q }),
      ...(params.traceId !== undefined && { traceId: params.traceId }),
      ...(atNs !== undefined && { atOrBeforeNs: BigInt(atNs) }),
    };
    const hot = p.hot ? await deps.hot.searchLogs({ ...q, range: p.hot, limit: fetch }, budget) : undefined;
    const got = hot?.rows.length ?? 0;
    // A hot page cut for size has more hot rows after it: the lake's (older) rows wait.
    const cold =
      p.cold && got < fetch && !hot?.cut
        ? await deps.cold!.searchLogs({ ...q, range: p.cold, limit: fetch - got }, budget)
        : undefined;
    const merged = mergeLogs(hot?.rows ?? [], cold?.rows ?? []);
    let dropped = 0;
    while (dropped < skip && merged[dropped]?.timeUnixNano === atNs) dropped++;
    const rest = merged.slice(dropped);
    const out = rest.slice(0, params.limit).map(logOut);
    const fit = rowsThatFit(out);
    const page = rest.slice(0, fit);
    const last = page[page.length - 1];
    let next: string | null = null;
    if ((rest.length > page.length || hot?.cut || cold?.cut) && last) {
      let same = 0;
      for (const r of page) if (r.timeUnixNano === last.timeUnixNano) same++;
      const total = last.timeUnixNano === atNs ? same + skip : same;
      next = deps.cursors.encode(ctx, { ...range, key: [last.timeUnixNano, String(total)] });
    }
    const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, cold ? p.cold : undefined)];
    return { status: 200, body: { data: out.slice(0, fit), meta: meta(range, tiers, next) }, tiers };
  }

  async function queryMetrics(tenant: string, query: Query, budget: QueryBudget) {
    const attributes: [string, string][] = [];
    const plain: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(query)) {
      if (!k.startsWith('attr.')) {
        plain[k] = v;
        continue;
      }
      const key = k.slice(5);
      if (key.length === 0 || key.length > 256)
        throw new QueryParameterError(k, 'attribute key must be 1-256 characters');
      if ((v ?? '').length > 1024)
        throw new QueryParameterError(k, 'attribute value must be at most 1024 characters');
      attributes.push([key, v ?? '']);
    }
    if (attributes.length > MAX_ATTRIBUTE_FILTERS) {
      throw new QueryParameterError('attr.*', `at most ${MAX_ATTRIBUTE_FILTERS} attribute filters`);
    }
    const params = parse(MetricParamsSchema, plain);
    const range = resolveRange(params.from, params.to, now(), limits);
    const spanMs = Number((range.toNs - range.fromNs) / NS_PER_MS);
    let stepMs: number;
    if (params.step !== undefined) {
      stepMs = Number(params.step.slice(0, -1)) * STEP_UNIT_MS[params.step.slice(-1)]!;
      if (stepMs < 1_000) throw new QueryParameterError('step', 'must be at least 1s');
      if (spanMs / stepMs > limits.maxPoints) {
        throw new QueryParameterError(
          'step',
          `too small for the range: at most ${limits.maxPoints} points (use at least ${formatDuration(Math.ceil(spanMs / limits.maxPoints / 1000) * 1000)})`,
        );
      }
    } else {
      stepMs = STEP_LADDER_MS.find((s) => spanMs / s <= TARGET_POINTS) ?? 86_400_000;
    }
    const p = plan(range);
    const byAttribute = params.groupBy.startsWith('attr.') ? params.groupBy.slice(5) : undefined;
    const q = {
      tenant,
      name: params.name,
      attributes,
      stepMs,
      ...(params.service !== undefined && { service: params.service }),
      ...(byAttribute !== undefined && { groupByAttribute: byAttribute }),
    };
    type Point = { timeUnixMs: number; time: string; value: number | null };
    const series = new Map<
      string,
      { group: string; serviceName: string; metricType: MetricBucket['metricType']; points: Point[] }
    >();
    const seriesOf = (group: string, metricType: MetricBucket['metricType']) => {
      const key = `${metricType}\u0000${group}`;
      const found = series.get(key);
      if (found) return found;
      const made = { group, serviceName: byAttribute === undefined ? group : '', metricType, points: [] };
      series.set(key, made);
      return made;
    };
    const percentile = PERCENTILES[params.agg];
    let tiers: TierLog[];
    if (percentile !== undefined) {
      // Percentiles come from bucket counts: histogram points only.
      const [hot, cold] = await Promise.all([
        p.hot ? deps.hot.metricHistograms({ ...q, range: p.hot }, budget) : undefined,
        p.cold ? deps.cold!.metricHistograms({ ...q, range: p.cold }, budget) : undefined,
      ]);
      const parts = new Map<string, HistogramBucket[]>();
      for (const h of [...(hot?.rows ?? []), ...(cold?.rows ?? [])]) {
        const key = `${h.group}\u0000${h.bucketMs}`;
        parts.set(key, [...(parts.get(key) ?? []), h]);
      }
      const ordered = [...parts.values()].sort((a, b) =>
        a[0]!.group < b[0]!.group ? -1 : a[0]!.group > b[0]!.group ? 1 : a[0]!.bucketMs - b[0]!.bucketMs,
      );
      for (const group of ordered) {
        const { group: g, bucketMs } = group[0]!;
        seriesOf(g, 'histogram').points.push({
          timeUnixMs: bucketMs,
          time: new Date(bucketMs).toISOString(),
          value: histogramQuantile(group, percentile),
        });
      }
      tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
    } else {
      const [hot, cold] = await Promise.all([
        p.hot ? deps.hot.metricBuckets({ ...q, range: p.hot }, budget) : undefined,
        p.cold ? deps.cold!.metricBuckets({ ...q, range: p.cold }, budget) : undefined,
      ]);
      for (const b of mergeMetricBuckets(hot?.rows ?? [], cold?.rows ?? [])) {
        seriesOf(b.serviceName, b.metricType).points.push({
          timeUnixMs: b.bucketMs,
          time: new Date(b.bucketMs).toISOString(),
          value: aggregate(params.agg as SimpleAggregation, b),
        });
      }
      tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
    }
    return {
      status: 200,
      body: {
        data: {
          name: params.name,
          agg: params.agg,
          stepSeconds: stepMs / 1000,
          series: [...series.values()],
        },
        meta: meta(range, tiers, null, stepMs),
      },
      tiers,
    };
  }

  /** RED per service (or per operation of one service) over a range rounded to whole minutes. */
  async function red(tenant: string, range: TimeRange, budget: QueryBudget, service?: string) {
    const p = plan(range);
    const q = { tenant, ...(service !== undefined && { service, byOperation: true }) };
    const [hot, cold] = await Promise.all([
      p.hot ? deps.hot.services({ ...q, range: p.hot }, budget) : undefined,
      p.cold ? deps.cold!.services({ ...q, range: p.cold }, budget) : undefined,
    ]);
    const seconds = Number((range.toNs - range.fromNs) / NS_PER_SECOND);
    return {
      rows: mergeServices(hot?.rows ?? [], cold?.rows ?? []),
      seconds,
      tiers: [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)],
    };
  }

  const redOut = (s: ServiceStats, seconds: number) => ({
    requests: s.requests,
    errors: s.errors,
    rate: s.requests / seconds,
    errorRatio: s.requests > 0 ? s.errors / s.requests : 0,
  });

  async function listServices(tenant: string, query: Query, budget: QueryBudget) {
    const params = parse(ServicesParamsSchema, query);
    const range = minuteRange(params.from, params.to);
    const r = await red(tenant, range, budget);
    const data = r.rows.map((s: ServiceStats) => ({
      serviceName: s.serviceName,
      requests: s.requests,
      requestRate: s.requests / r.seconds,
      errors: s.errors,
      errorRatio: s.requests > 0 ? s.errors / s.requests : 0,
      latencyMs: s.quantilesNs
        ? { p50: s.quantilesNs[0] / 1e6, p95: s.quantilesNs[1] / 1e6, p99: s.quantilesNs[2] / 1e6 }
        : null,
    }));
    return { status: 200, body: { data, meta: meta(range, r.tiers, null) }, tiers: r.tiers };
  }

  async function serviceOperations(
    tenant: string,
    pathParams: Record<string, string | undefined>,
    query: Query,
    budget: QueryBudget,
  ) {
    const { service } = parse(ServicePathSchema, pathParams);
    const params = parse(ServicesParamsSchema, query);
    const range = minuteRange(params.from, params.to);
    const r = await red(tenant, range, budget, service);
    const data = r.rows
      .map((s) => ({ operation: s.operation ?? '', ...redOut(s, r.seconds), ...quantileMs(s.quantilesNs) }))
      .sort((a, b) => b.requests - a.requests || (a.operation < b.operation ? -1 : 1));
    return { status: 200, body: { data, meta: meta(range, r.tiers, null) }, tiers: r.tiers };
  }

  async function serviceSeries(tenant: string, query: Query, budget: QueryBudget) {
    const params = parse(ServiceSeriesParamsSchema, query);
    const { stepMs, range } = seriesStep(params.step, resolveRange(params.from, params.to, now(), limits));
    const p = plan(range);
    const q = { tenant, stepMs, ...(params.service !== undefined && { service: params.service }) };
    const [hot, cold] = await Promise.all([
      p.hot ? deps.hot.serviceSeries({ ...q, range: p.hot }, budget) : undefined,
      p.cold ? deps.cold!.serviceSeries({ ...q, range: p.cold }, budget) : undefined,
    ]);
    const byService = new Map<string, Map<number, ServiceStats>>();
    for (const b of mergeServiceBuckets(hot?.rows ?? [], cold?.rows ?? [])) {
      const m = byService.get(b.serviceName) ?? new Map<number, ServiceStats>();
      m.set(b.bucketMs, b);
      byService.set(b.serviceName, m);
    }
    const buckets = bucketsOf(range, stepMs);
    const seconds = stepMs / 1000;
    const data = [...byService].map(([service, points]) => ({
      service,
      points: buckets.map((t) => {
        const b = points.get(t);
        return b
          ? { t, ...redOut(b, seconds), ...quantileMs(b.quantilesNs) }
          : { t, requests: 0, errors: 0, rate: 0, errorRatio: 0, p50Ms: null, p95Ms: null, p99Ms: null };
      }),
    }));
    const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
    return { status: 200, body: { data, meta: meta(range, tiers, null, stepMs) }, tiers };
  }

  async function serviceMap(tenant: string, query: Query, budget: QueryBudget) {
    const params = parse(ServiceMapParamsSchema, query);
    const range = minuteRange(params.from, params.to);
    const p = plan(range);
    const [nodes, hotEdges, coldEdges] = await Promise.all([
      red(tenant, range, budget),
      p.hot ? deps.hot.serviceEdges({ tenant, range: p.hot }, budget) : undefined,
      p.cold ? deps.cold!.serviceEdges({ tenant, range: p.cold }, budget) : undefined,
    ]);
    const edges = mergeEdges(hotEdges?.rows ?? [], coldEdges?.rows ?? []);
    const seconds = nodes.seconds;
    const nodeOut = new Map(
      nodes.rows.map((s) => [s.serviceName, { service: s.serviceName, ...redOut(s, seconds) }]),
    );
    // A service seen only in edges (no entry spans in the range) is still a node.
    for (const e of edges) {
      for (const service of [e.parent, e.child]) {
        if (!nodeOut.has(service)) {
          nodeOut.set(service, { service, requests: 0, errors: 0, rate: 0, errorRatio: 0 });
        }
      }
    }
    const data = {
      nodes: [...nodeOut.values()].sort((a, b) =>
        a.service < b.service ? -1 : a.service > b.service ? 1 : 0,
      ),
      edges: edges.map((e) => ({
        parent: e.parent,
        child: e.child,
        calls: e.calls,
        errors: e.errors,
        rate: e.calls / seconds,
        errorRatio: e.calls > 0 ? e.errors / e.calls : 0,
        ...quantileMs(e.quantilesNs),
      })),
    };
    const tiers = [...nodes.tiers, ...tierStats(hotEdges, p.hot), ...tierStats(coldEdges, p.cold)];
    return { status: 200, body: { data, meta: meta(range, tiers, null) }, tiers };
  }

  async function logHistogram(tenant: string, query: Query, budget: QueryBudget) {
    const params = parse(LogHistogramParamsSchema, query);
    const { stepMs, range } = seriesStep(params.step, resolveRange(params.from, params.to, now(), limits));
    const p = plan(range);
    const q = {
      tenant,
      stepMs,
      ...(params.service !== undefined && { service: params.service }),
      ...(params.severity !== undefined && { minSeverity: SEVERITY_NUMBERS[params.severity] }),
      ...(params.q !== undefined && { text: params.q }),
      ...(params.traceId !== undefined && { traceId: params.traceId }),
    };
    const [hot, cold] = await Promise.all([
      p.hot ? deps.hot.logHistogram({ ...q, range: p.hot }, budget) : undefined,
      p.cold ? deps.cold!.logHistogram({ ...q, range: p.cold }, budget) : undefined,
    ]);
    const zero = () =>
      Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<(typeof SEVERITIES)[number], number>;
    const counts = new Map(bucketsOf(range, stepMs).map((t) => [t, zero()]));
    for (const c of [...(hot?.rows ?? []), ...(cold?.rows ?? [])]) {
      const bucket = counts.get(c.bucketMs);
      if (bucket) bucket[severityClass(c.severityNumber, c.severityText)] += c.count;
    }
    const data = [...counts].map(([t, c]) => ({ t, counts: c }));
    const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
    return { status: 200, body: { data, meta: meta(range, tiers, null, stepMs) }, tiers };
  }

  async function metricNames(tenant: string, query: Query, budget: QueryBudget) {
    const params = parse(MetricNamesParamsSchema, query);
    const range = resolveRange(params.from, params.to, now(), limits);
    const p = plan(range);
    const q = { tenant, ...(params.q !== undefined && { text: params.q }) };
    const [hot, cold] = await Promise.all([
      p.hot ? deps.hot.metricNames({ ...q, range: p.hot }, budget) : undefined,
      p.cold ? deps.cold!.metricNames({ ...q, range: p.cold }, budget) : undefined,
    ]);
    const data = mergeMetricNames(hot?.rows ?? [], cold?.rows ?? []);
    const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
    return { status: 200, body: { data, meta: meta(range, tiers, null) }, tiers };
  }

  async function getUsage(tenant: string, query: Query) {
    const params = parse(UsageParamsSchema, query);
    // Whole UTC days; the same range limit as every query (31 days by default).
    const range = resolveRange(params.from, params.to, now(), {
      ...limits,
      defaultLookbackMs: 7 * 86_400_000,
    });
    const day = (ns: bigint) => utcDate(utcDay(Number(ns / 1_000_000n)));
    const from = day(range.fromNs);
    const to = day(range.toNs);
    const data = await deps.usage!.daily(tenant, from, to);
    return { status: 200, body: { data, meta: { from, to } }, tiers: [] };
  }

  function dispatch(
    operation: Exclude<QueryOperation, 'openapi'>,
    tenant: string,
    pathParams: Record<string, string | undefined>,
    query: Query,
    budget: QueryBudget,
  ) {
    switch (operation) {
      case 'getTrace':
        return getTrace(tenant, pathParams, query, budget);
      case 'searchTraces':
        return searchTraces(tenant, query, budget);
      case 'searchLogs':
        return searchLogs(tenant, query, budget);
      case 'queryMetrics':
        return queryMetrics(tenant, query, budget);
      case 'listServices':
        return listServices(tenant, query, budget);
      case 'serviceSeries':
        return serviceSeries(tenant, query, budget);
      case 'serviceOperations':
        return serviceOperations(tenant, pathParams, query, budget);
      case 'serviceMap':
        return serviceMap(tenant, query, budget);
      case 'logHistogram':
        return logHistogram(tenant, query, budget);
      case 'metricNames':
        return metricNames(tenant, query, budget);
      case 'getUsage':
        return getUsage(tenant, query);
      default: {
        const never: never = operation;
        throw new Error(`unhandled operation ${String(never)}`);
      }
    }
  }

  const error = (status: number, code: string, message: string, extra: Record<string, string> = {}) => ({
    status,
    headers: JSON_HEADERS,
    body: { error: code, message, ...extra },
  });

  return async function handle(req: QueryApiRequest): Promise<QueryApiResponse> {
    const match = matchRoute(req.path);
    if (!match.route) return { ...error(404, 'not_found', 'Not Found'), log: {} };
    const { route } = match;
    const operation = route.operationId;
    if (req.method.toUpperCase() !== route.method) {
      return {
        ...error(405, 'method_not_allowed', 'Method Not Allowed'),
        headers: { ...JSON_HEADERS, allow: 'GET' },
        log: { operation },
      };
    }
    if (operation === 'openapi') {
      return { status: 200, headers: JSON_HEADERS, body: openApiDocument(), log: { operation } };
    }
    const admission = await admit(deps, req.headers, {
      scope: 'query',
      deniedAction: 'read data',
      limitName: 'query rate limit',
    });
    if (!admission.ok) {
      return {
        ...error(admission.status, admission.code, admission.message),
        headers: { ...JSON_HEADERS, ...admission.headers },
        log: { operation, ...(admission.tenant !== undefined && { tenant: admission.tenant }) },
      };
    }
    const { info } = admission;
    const tenant = info.tenantId;
    const timeout = Math.min(
      limits.timeoutMs,
      Math.max(0, (req.remainingMs ?? Number.POSITIVE_INFINITY) - 1_000),
    );
    const budget: QueryBudget = { deadlineMs: now() + timeout };
    if (operation === 'getUsage' && deps.usage === undefined) {
      return { ...error(404, 'not_found', 'usage metering is not configured'), log: { operation, tenant } };
    }
    const pathParams = { ...match.pathParameters, ...req.pathParameters };
    try {
      const r = await dispatch(operation, tenant, pathParams, req.query, budget);
      const bodyText = JSON.stringify(r.body);
      const bytes = Buffer.byteLength(bodyText);
      if (bytes > limits.maxResponseBytes) {
        throw new ResponseTooLargeError(
          `the answer is ${bytes} bytes, over the ${limits.maxResponseBytes}-byte response limit`,
        );
      }
      return {
        status: r.status,
        headers: JSON_HEADERS,
        body: r.body,
        bodyText,
        log: { operation, tenant, tiers: r.tiers },
      };
    } catch (err) {
      const log = { operation, tenant };
      if (err instanceof QueryTooLargeError) {
        return { ...error(422, 'query_too_large', `${err.message}; narrow the range or add filters`), log };
      }
      if (err instanceof ResponseTooLargeError) {
        return {
          ...error(422, 'response_too_large', `${err.message}; narrow the range or add filters`),
          log,
        };
      }
      if (err instanceof QueryParameterError) {
        return { ...error(400, 'bad_request', err.message, { parameter: err.parameter }), log };
      }
      if (err instanceof QueryTimeoutError) {
        return { ...error(504, 'timeout', `${err.message}; narrow the range or add filters`), log };
      }
      if (err instanceof QueryEngineError) return { ...error(502, 'tier_failed', err.message), log };
      throw err;
    }
  };
}

export type QueryApi = ReturnType<typeof createQueryApi>;

type SimpleAggregation = 'avg' | 'sum' | 'min' | 'max' | 'count';

function aggregate(agg: SimpleAggregation, b: MetricBucket): number | null {
  switch (agg) {
    case 'avg':
      return b.count > 0 ? b.sum / b.count : null;
    case 'sum':
      return b.sum;
    case 'count':
      return b.count;
    case 'min':
      return b.min;
    case 'max':
      return b.max;
  }
}
