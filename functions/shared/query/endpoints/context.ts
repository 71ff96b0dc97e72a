import type * as z from 'zod';
import type { TenantDirectory, TenantQueryLimits } from '../../tenants/directory.js';
import type { RateLimiter } from '../../tenants/rate-limiter.js';
import type { UsageReader } from '../../usage/usage.js';
import type { CursorCodec, CursorContext, CursorPosition } from '../cursor.js';
import { QueryParameterError, ResponseTooLargeError } from '../errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../limits.js';
import type { QueryBudget, TelemetryReader, TierResult } from '../model.js';
import { hotBoundaryNs, planTiers, type TierPlan } from '../planner.js';
import type { QueryOperation } from '../routes.js';
import type { Meta, TierStatsOut } from '../schemas.js';
import { formatDuration, isoOf, NS_PER_MS, resolveRange, type TimeRange } from '../time.js';

/**
 * What every endpoint of the query API shares: the ports, the limits, and the steps each one
 * repeats (parameter parsing, tier planning, `meta`, series steps, page cuts). One module per
 * endpoint family (traces, logs, metrics, services, usage) takes it as its first argument.
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

/**
 * A tier's figures for the operator's log. `rowsRead` and `bytesRead` count whole granules, which
 * hold other tenants' rows too: they never reach the client (that would leak others' volume).
 */
export type TierLog = TierStatsOut & { readonly rowsRead?: number; readonly bytesRead?: number };

export type Query = Readonly<Record<string, string | undefined>>;

/** What an endpoint answers: status and body, and the tiers it read (for the operator's log). */
export interface EndpointResult {
  readonly status: number;
  readonly body: unknown;
  readonly tiers: TierLog[];
}

/** An endpoint's handler: the tenant is authenticated, the budget set. */
export type Endpoint = (
  ctx: EndpointContext,
  tenant: string,
  pathParams: Readonly<Record<string, string | undefined>>,
  query: Query,
  budget: QueryBudget,
) => Promise<EndpointResult>;

export type EndpointOperation = Exclude<QueryOperation, 'openapi'>;

export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
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
export function boundParams(query: Query): Record<string, string | undefined> {
  const { cursor: _c, limit: _l, ...rest } = query;
  return rest;
}

export function tierStats<T>(result: TierResult<T> | undefined, range: TimeRange | undefined): TierLog[] {
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

export const STEP_UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const MINUTE_MS = 60_000;
const NS_PER_MINUTE = BigInt(MINUTE_MS) * NS_PER_MS;
/** Steps of the console's series routes when none is given: the first with at most SERIES_POINTS. */
const SERIES_LADDER_MS = [
  60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000,
  43_200_000, 86_400_000,
];
const SERIES_POINTS = 300;
/**
 * Without a step, a range longer than this gets a step of whole hours, read from the hourly rollups:
 * at minute grain a day is tens of thousands of t-digest states to merge (over 300 ms at p95 on a
 * loaded machine, bench/query.ts), an hour's rollup sixty times fewer.
 */
export const HOURLY_SERIES_AFTER_MS = 12 * 3_600_000;

/** A range widened to whole multiples of `stepNs` (epoch-aligned). */
function alignRange(range: TimeRange, stepNs: bigint): TimeRange {
  const fromNs = (range.fromNs / stepNs) * stepNs;
  const toNs = ((range.toNs + stepNs - 1n) / stepNs) * stepNs;
  return { fromNs, toNs };
}

/** Kept back from `maxResponseBytes` for `meta` (tiers, cursor) and the envelope of a page. */
const PAGE_OVERHEAD_BYTES = 16 * 1024;

/** The shared part of the query API, built once per `createQueryApi`. */
export class EndpointContext {
  readonly limits: QueryLimits;
  readonly now: () => number;

  constructor(readonly deps: QueryApiDeps) {
    this.limits = { ...DEFAULT_QUERY_LIMITS, ...deps.limits };
    this.now = deps.now ?? Date.now;
  }

  plan(range: TimeRange): TierPlan {
    return planTiers(
      range,
      hotBoundaryNs(this.now(), this.deps.hotRetentionDays),
      this.deps.cold !== undefined,
    );
  }

  /** Only the tenant's own figures: engine-wide counters (rows and bytes read) stay in the log. */
  meta(range: TimeRange, tiers: TierLog[], nextCursor: string | null, stepMs?: number): Meta {
    return {
      from: isoOf(range.fromNs),
      to: isoOf(range.toNs),
      tiers: tiers.map(({ rowsRead: _r, bytesRead: _b, ...own }) => own),
      nextCursor,
      ...(stepMs !== undefined && { stepMs }),
    };
  }

  /** The request's range (`from`/`to`, or the default lookback). */
  range(from: string | undefined, to: string | undefined): TimeRange {
    return resolveRange(from, to, this.now(), this.limits);
  }

  /** Ranges of the RED routes: rounded out to whole minutes (the finest rollup). */
  minuteRange(from: string | undefined, to: string | undefined): TimeRange {
    return alignRange(this.range(from, to), NS_PER_MINUTE);
  }

  /**
   * The step of a series route (whole minutes: the finest rollup) and the range widened to whole
   * steps. A step of whole hours is answered from the hourly rollups, any other from the minute ones.
   */
  seriesStep(step: string | undefined, asked: TimeRange): { stepMs: number; range: TimeRange } {
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
      if (spanMs / stepMs > this.limits.maxPoints) {
        throw new QueryParameterError(
          'step',
          `too small for the range: at most ${this.limits.maxPoints} points (use at least ${formatDuration(Math.ceil(spanMs / this.limits.maxPoints / MINUTE_MS) * MINUTE_MS)})`,
        );
      }
    } else {
      const ladder =
        spanMs > HOURLY_SERIES_AFTER_MS
          ? SERIES_LADDER_MS.filter((s) => s % 3_600_000 === 0)
          : SERIES_LADDER_MS;
      stepMs =
        ladder.find((s) => Math.ceil(spanMs / s) <= SERIES_POINTS) ??
        Math.ceil(spanMs / SERIES_POINTS / 86_400_000) * 86_400_000;
    }
    return { stepMs, range: alignRange(asked, BigInt(stepMs) * NS_PER_MS) };
  }

  /**
   * How many of `rows` (already in their JSON shape) fit in one response; a search page is cut there
   * and its cursor points after the last row kept. Not one row fitting is a 422.
   */
  rowsThatFit(rows: readonly unknown[]): number {
    const budget = this.limits.maxResponseBytes - PAGE_OVERHEAD_BYTES;
    let used = 0;
    for (let i = 0; i < rows.length; i++) {
      used += Buffer.byteLength(JSON.stringify(rows[i])) + 1;
      if (used > budget) {
        if (i === 0) {
          throw new ResponseTooLargeError(
            `one row is larger than the ${this.limits.maxResponseBytes}-byte response limit`,
          );
        }
        return i;
      }
    }
    return rows.length;
  }

  /** The range of the request, or of the first page when a cursor continues a search. */
  pageState(
    ctx: CursorContext,
    query: Query,
    cursor: string | undefined,
  ): { range: TimeRange; position?: CursorPosition } {
    if (cursor !== undefined) {
      const position = this.deps.cursors.decode(ctx, cursor);
      return { range: { fromNs: position.fromNs, toNs: position.toNs }, position };
    }
    return { range: this.range(query.from, query.to) };
  }
}

/** Start (ms) of every step bucket of an aligned range. */
export function bucketsOf(range: TimeRange, stepMs: number): number[] {
  const out: number[] = [];
  const to = Number(range.toNs / NS_PER_MS);
  for (let t = Number(range.fromNs / NS_PER_MS); t < to; t += stepMs) out.push(t);
  return out;
}
