import { RED_QUANTILES } from '../clickhouse/ddl.js';
import type { ClickHouseStatement, HotRollups, TableSource } from './clickhouse-sql.js';
import { EDGE_PARENT_LOOKAHEAD_MS, EDGE_PARENT_LOOKBACK_MS, STATUS_CODES } from './model.js';
import { NS_PER_MS, type TimeRange } from './time.js';

/**
 * The service map's edges: a child span whose parent span (same trace) belongs to another service.
 *
 * What counts as the parent: a child is matched with its parent when the parent starts within the
 * child's clock hour, widened by EDGE_PARENT_LOOKBACK_MS before it and EDGE_PARENT_LOOKAHEAD_MS after
 * it. Defined per hour (not per requested range), an hour's edges are the same whatever range asks
 * for them, so the edges of a closed hour can be computed once and stored (EDGES_1H_TABLE), and a
 * range's answer is the sum of its closed hours' rows and a query-time join over the rest (the
 * minutes at its ends, the hours still open): the same answer as joining the whole range.
 *
 * A stored hour is used only while its input window (the hour and its parent margins) holds as many
 * spans as when it was computed (SPAN_COUNTS_1M_TABLE, exact by a view): spans are only ever added,
 * so an unchanged count means unchanged input. The count is read before the join that closes the
 * hour; a span landing in between is in the join but not the count, so the hour only looks stale
 * and is joined again, never wrong.
 */

const HOUR_MS = 3_600_000;
const HOUR_NS = BigInt(HOUR_MS) * NS_PER_MS;
const LOOKBACK_NS = BigInt(EDGE_PARENT_LOOKBACK_MS) * NS_PER_MS;
const LOOKAHEAD_NS = BigInt(EDGE_PARENT_LOOKAHEAD_MS) * NS_PER_MS;

/** How long after an hour's parent window has ended before the hour may be closed (rows in flight). */
export const EDGE_CLOSE_SETTLE_MS = 2 * 60_000;

/** The closable hours inside a range (epoch seconds) and the rest of it (joined at query time). */
export interface EdgePlan {
  readonly hours: readonly number[];
  readonly tail: readonly TimeRange[];
}

/**
 * Splits a range: whole hours inside it that are closed (their parent window ended at least
 * EDGE_CLOSE_SETTLE_MS before `nowMs`), and the pieces left over, in order.
 */
export function planEdgeHours(range: TimeRange, nowMs: number): EdgePlan {
  const first = ((range.fromNs + HOUR_NS - 1n) / HOUR_NS) * HOUR_NS;
  const closedBefore = BigInt(nowMs - EDGE_CLOSE_SETTLE_MS) * NS_PER_MS - LOOKAHEAD_NS;
  const hours: number[] = [];
  let h = first;
  for (; h + HOUR_NS <= range.toNs && h + HOUR_NS <= closedBefore; h += HOUR_NS) {
    hours.push(Number(h / 1_000_000_000n));
  }
  if (hours.length === 0) return { hours, tail: range.fromNs < range.toNs ? [range] : [] };
  const tail: TimeRange[] = [];
  if (range.fromNs < first) tail.push({ fromNs: range.fromNs, toNs: first });
  if (h < range.toNs) tail.push({ fromNs: h, toNs: range.toNs });
  return { hours, tail };
}

/** Hours (epoch seconds) as the ranges of consecutive ones. */
export function hourRanges(hours: readonly number[]): TimeRange[] {
  const out: TimeRange[] = [];
  for (const h of [...hours].sort((a, b) => a - b)) {
    const fromNs = BigInt(h) * 1_000_000_000n;
    const last = out[out.length - 1];
    if (last && last.toNs === fromNs) out[out.length - 1] = { fromNs: last.fromNs, toNs: fromNs + HOUR_NS };
    else out.push({ fromNs, toNs: fromNs + HOUR_NS });
  }
  return out;
}

/** Where the parents of children in `range` may start: its hours widened by the margins. */
export function parentWindow(range: TimeRange): TimeRange {
  const from = (range.fromNs / HOUR_NS) * HOUR_NS;
  const to = ((range.toNs + HOUR_NS - 1n) / HOUR_NS) * HOUR_NS;
  return { fromNs: from - LOOKBACK_NS, toNs: to + LOOKAHEAD_NS };
}

/** `(T >= a0 AND T < b0) OR ...` over ranges, each bound its own parameter. */
function rangesWhere(
  column: string,
  ranges: readonly TimeRange[],
  prefix: string,
  params: Record<string, unknown>,
): string {
  return `(${ranges
    .map((r, i) => {
      params[`${prefix}${i}_from`] = r.fromNs.toString();
      params[`${prefix}${i}_to`] = r.toNs.toString();
      return `(${column} >= fromUnixTimestamp64Nano({${prefix}${i}_from:Int64}) AND ${column} < fromUnixTimestamp64Nano({${prefix}${i}_to:Int64}))`;
    })
    .join(' OR ')})`;
}

const Q = RED_QUANTILES.join(', ');

/**
 * The join itself: children in `ranges` (from `children`), parents in their windows (from
 * `parents`), grouped by `Hour` (the child's, DateTime) when `byHour`. Yields Parent, Child, Calls,
 * Errors and DurationQuantiles (a t-digest state, to merge with stored hours).
 */
function edgeJoinSql(
  tenant: string,
  ranges: readonly TimeRange[],
  children: TableSource,
  parents: TableSource,
  params: Record<string, unknown>,
  byHour: boolean,
): string {
  Object.assign(params, children.params, parents.params, {
    tenant,
    error_codes: STATUS_CODES.error,
    lookback_ns: LOOKBACK_NS.toString(),
    hour_ahead_ns: (HOUR_NS + LOOKAHEAD_NS).toString(),
  });
  const childWhere = rangesWhere('Timestamp', ranges, 'c', params);
  const parentWhere = rangesWhere('Timestamp', ranges.map(parentWindow), 'pw', params);
  const hour = byHour ? 'toDateTime(intDiv(c.HourNs, 1000000000)) AS Hour, ' : '';
  // Joined on a 64-bit hash of (trace id, span id): about twice as fast as on the two strings
  // (measured, ADR 0004). A wrong match needs two of the range's spans to collide: ~n²/2^65.
  return `SELECT ${hour}p.ServiceName AS Parent, c.ServiceName AS Child, count() AS Calls,
  countIf(c.StatusCode IN {error_codes:Array(String)}) AS Errors,
  quantilesTDigestState(${Q})(c.Duration) AS DurationQuantiles
FROM (
  SELECT cityHash64(TraceId, ParentSpanId) AS K, ServiceName, Duration, StatusCode,
    intDiv(toUnixTimestamp64Nano(Timestamp), ${HOUR_NS}) * ${HOUR_NS} AS HourNs
  FROM ${children.expr}
  WHERE TenantId = {tenant:String} AND ${childWhere} AND ParentSpanId != ''
) AS c
INNER JOIN (
  SELECT cityHash64(TraceId, SpanId) AS K, ServiceName, toUnixTimestamp64Nano(Timestamp) AS StartNs
  FROM ${parents.expr}
  WHERE TenantId = {tenant:String} AND ${parentWhere}
) AS p ON c.K = p.K
WHERE p.ServiceName != c.ServiceName
  AND p.StartNs >= c.HourNs - {lookback_ns:Int64} AND p.StartNs < c.HourNs + {hour_ahead_ns:Int64}
GROUP BY ${byHour ? 'Hour, ' : ''}Parent, Child`;
}

/**
 * Per closable hour: the spans its input window holds now (`Kind` 'now') and the counts it was
 * closed with (`Kind` 'closed', one per closing still stored).
 */
export function edgeHourCountsSql(
  tenant: string,
  hours: readonly number[],
  rollups: HotRollups,
): ClickHouseStatement {
  const lb = EDGE_PARENT_LOOKBACK_MS / 1000;
  const la = EDGE_PARENT_LOOKAHEAD_MS / 1000;
  const first = Math.min(...hours);
  const last = Math.max(...hours);
  return {
    sql: `SELECT 'now' AS Kind, H, sum(Spans) AS N
FROM (
  SELECT Spans, arrayJoin(arrayFilter(h -> m >= h - ${lb} AND m < h + ${3600 + la},
    [intDiv(m, 3600) * 3600 - 3600, intDiv(m, 3600) * 3600, intDiv(m, 3600) * 3600 + 3600])) AS H
  FROM (SELECT toInt64(toUnixTimestamp(Minute)) AS m, Spans FROM ${rollups.spanCounts1m}
    WHERE TenantId = {tenant:String} AND Minute >= toDateTime({from_s:Int64}) AND Minute < toDateTime({to_s:Int64}))
)
WHERE H IN {hours:Array(Int64)}
GROUP BY H
UNION ALL
SELECT 'closed' AS Kind, toInt64(toUnixTimestamp(Hour)) AS H, InputSpans AS N
FROM ${rollups.edges1h} FINAL
WHERE TenantId = {tenant:String} AND Hour >= toDateTime({first_s:Int64}) AND Hour <= toDateTime({last_s:Int64})
  AND Parent = '' AND Child = ''`,
    params: {
      tenant,
      hours,
      from_s: first - lb,
      to_s: last + 3600 + la,
      first_s: first,
      last_s: last,
    },
  };
}

/** Splits closable hours by their counts: stored and current (usable), or to (re)close with `counts`. */
export function classifyHours(
  hours: readonly number[],
  rows: ReadonlyArray<{ Kind: unknown; H: unknown; N: unknown }>,
): { usable: [number, string][]; stale: [number, string][] } {
  const now = new Map<number, string>();
  const closed = new Map<number, Set<string>>();
  for (const r of rows) {
    const h = Number(r.H);
    const n = String(r.N);
    if (r.Kind === 'now') now.set(h, n);
    else closed.set(h, (closed.get(h) ?? new Set()).add(n));
  }
  const usable: [number, string][] = [];
  const stale: [number, string][] = [];
  for (const h of hours) {
    const n = now.get(h);
    // No span in the window: no edge either; nothing to store or read.
    if (n === undefined || n === '0') continue;
    (closed.get(h)?.has(n) ? usable : stale).push([h, n]);
  }
  return { usable, stale };
}

/** Stores the edges of `hours` (each with the input count read before), and a marker per hour. */
export function closeEdgeHoursSql(
  tenant: string,
  hours: ReadonlyArray<[number, string]>,
  rollups: HotRollups,
  traces: TableSource,
): ClickHouseStatement {
  const params: Record<string, unknown> = {
    close_hours: hours.map(([h]) => h),
    close_counts: hours.map(([, n]) => Number(n)),
  };
  const join = edgeJoinSql(tenant, hourRanges(hours.map(([h]) => h)), traces, traces, params, true);
  const countOf = (hourExpr: string) =>
    `{close_counts:Array(UInt64)}[indexOf({close_hours:Array(Int64)}, toInt64(toUnixTimestamp(${hourExpr})))]`;
  return {
    sql: `INSERT INTO ${rollups.edges1h} (TenantId, Hour, InputSpans, Parent, Child, Calls, Errors, DurationQuantiles)
SELECT {tenant:String}, Hour, ${countOf('Hour')}, Parent, Child, Calls, Errors, DurationQuantiles
FROM (
${join}
)
UNION ALL
SELECT {tenant:String}, toDateTime(H), ${countOf('toDateTime(H)')}, '', '', 0, 0,
  quantilesTDigestStateIf(${Q})(toUInt64(0), 0)
FROM (SELECT arrayJoin({close_hours:Array(Int64)}) AS H)
GROUP BY H`,
    params,
  };
}

/**
 * A range's edges: stored rows of the `usable` hours (with the count they were closed with) and
 * the query-time join over `tail`, merged per (parent, child); undefined when there is neither.
 */
export function edgesSql(
  tenant: string,
  usable: ReadonlyArray<[number, string]>,
  tail: readonly TimeRange[],
  sources: { rollups?: HotRollups; children?: TableSource; parents?: TableSource },
  limit: number,
): ClickHouseStatement | undefined {
  const params: Record<string, unknown> = { tenant, limit };
  const parts: string[] = [];
  if (usable.length > 0 && sources.rollups) {
    params.usable_hours = usable.map(([h]) => h);
    params.usable_counts = usable.map(([, n]) => Number(n));
    parts.push(`SELECT Parent, Child, Calls, Errors, DurationQuantiles
  FROM ${sources.rollups.edges1h} FINAL
  WHERE TenantId = {tenant:String} AND Parent != ''
    AND Hour >= toDateTime({usable_first:Int64}) AND Hour <= toDateTime({usable_last:Int64})
    AND has({usable_hours:Array(Int64)}, toInt64(toUnixTimestamp(Hour)))
    AND InputSpans = {usable_counts:Array(UInt64)}[indexOf({usable_hours:Array(Int64)}, toInt64(toUnixTimestamp(Hour)))]`);
    params.usable_first = Math.min(...usable.map(([h]) => h));
    params.usable_last = Math.max(...usable.map(([h]) => h));
  }
  if (tail.length > 0 && sources.children && sources.parents) {
    parts.push(edgeJoinSql(tenant, tail, sources.children, sources.parents, params, false));
  }
  if (parts.length === 0) return undefined;
  return {
    sql: `SELECT Parent, Child, sum(Calls) AS Calls, sum(Errors) AS Errors,
  quantilesTDigestMerge(${Q})(DurationQuantiles) AS Quantiles
FROM (
  ${parts.join('\n  UNION ALL\n  ')}
)
GROUP BY Parent, Child
ORDER BY Parent, Child
LIMIT {limit:UInt32}`,
    params,
  };
}
