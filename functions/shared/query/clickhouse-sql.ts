import {
  ENTRY_SPAN_KINDS,
  type LogSearchQuery,
  type MetricQuery,
  type MetricType,
  type ServicesQuery,
  STATUS_CODES,
  type TraceQuery,
  type TraceSearchQuery,
} from './model.js';
import type { TimeRange } from './time.js';

/**
 * ClickHouse SQL of the logical queries. The same text runs on the hot tables and, in local mode,
 * on the lake's Parquet files through the `s3()` table function (Parquet lists of structs read as
 * named tuples, so `Events.Name` works on both). Every value is a `{name:Type}` parameter; the only
 * text spliced in is the table expression, which comes from code (a table name, or `s3()` with its
 * own bound parameters), never from a request.
 */

export interface ClickHouseStatement {
  readonly sql: string;
  readonly params: Record<string, unknown>;
}

/** A table expression (`otel_traces`, or `s3({src_traces:String}, ...)`) with its parameters. */
export interface TableSource {
  readonly expr: string;
  readonly params: Record<string, unknown>;
}

/** The trace-id lookup and the hourly RED rollup: hot tier only. */
export interface HotRollups {
  readonly traceLookup: string;
  readonly serviceRed: string;
}

const ERROR_CODES = STATUS_CODES.error;

function scope(
  tenant: string,
  range: TimeRange,
  timeColumn: string,
): { where: string[]; params: Record<string, unknown> } {
  return {
    where: [
      'TenantId = {tenant:String}',
      `${timeColumn} >= fromUnixTimestamp64Nano({from_ns:Int64})`,
      `${timeColumn} < fromUnixTimestamp64Nano({to_ns:Int64})`,
    ],
    params: { tenant, from_ns: range.fromNs.toString(), to_ns: range.toNs.toString() },
  };
}

const ns = (expr: string) => `toString(toUnixTimestamp64Nano(${expr}))`;

/** Where the hot tier's trace-id lookup says a trace lies. */
export function traceLookupSql(q: TraceQuery, rollups: HotRollups): ClickHouseStatement {
  return {
    sql: `SELECT count() AS Found, ${ns('min(Start)')} AS StartNs, ${ns('max(End)')} AS EndNs
FROM ${rollups.traceLookup}
WHERE TenantId = {tenant:String} AND TraceId = {trace_id:String}
  AND Start < fromUnixTimestamp64Nano({to_ns:Int64}) AND End >= fromUnixTimestamp64Nano({from_ns:Int64})`,
    params: {
      tenant: q.tenant,
      trace_id: q.traceId,
      from_ns: q.range.fromNs.toString(),
      to_ns: q.range.toNs.toString(),
    },
  };
}

export function traceSpansSql(q: TraceQuery, source: TableSource): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'Timestamp');
  return {
    sql: `SELECT TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
  ${ns('Timestamp')} AS StartNs, toString(Duration) AS DurationNs, StatusCode, StatusMessage,
  SpanAttributes, ResourceAttributes, ScopeName, ScopeVersion,
  arrayMap(x -> ${ns('x')}, \`Events.Timestamp\`) AS EventTimes, \`Events.Name\` AS EventNames,
  \`Events.Attributes\` AS EventAttributes, \`Links.TraceId\` AS LinkTraceIds, \`Links.SpanId\` AS LinkSpanIds,
  \`Links.TraceState\` AS LinkTraceStates, \`Links.Attributes\` AS LinkAttributes
FROM ${source.expr}
WHERE ${[...s.where, 'TraceId = {trace_id:String}'].join(' AND ')}
ORDER BY Timestamp, SpanId
LIMIT {limit:UInt32}`,
    params: { ...source.params, ...s.params, trace_id: q.traceId, limit: q.limit },
  };
}

export function traceSearchSql(q: TraceSearchQuery, source: TableSource): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'Timestamp');
  const where = [...s.where];
  const params: Record<string, unknown> = {
    ...source.params,
    ...s.params,
    limit: q.limit,
    error_codes: ERROR_CODES,
  };
  if (q.service !== undefined) {
    where.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  if (q.operation !== undefined) {
    where.push('SpanName = {operation:String}');
    params.operation = q.operation;
  }
  if (q.minDurationNs !== undefined) {
    where.push('Duration >= {min_duration:UInt64}');
    params.min_duration = q.minDurationNs.toString();
  }
  if (q.status !== undefined) {
    where.push('StatusCode IN {status_codes:Array(String)}');
    params.status_codes = STATUS_CODES[q.status];
  }
  let having = '';
  if (q.after) {
    having = `\nHAVING min(Timestamp) < fromUnixTimestamp64Nano({after_ns:Int64})
  OR (min(Timestamp) = fromUnixTimestamp64Nano({after_ns:Int64}) AND TraceId < {after_trace:String})`;
    params.after_ns = q.after.startNs.toString();
    params.after_trace = q.after.traceId;
  }
  return {
    sql: `SELECT TraceId, ${ns('min(Timestamp)')} AS StartNs, argMin(ServiceName, Timestamp) AS FirstService,
  argMin(SpanName, Timestamp) AS Operation, toString(max(Duration)) AS MaxDurationNs, count() AS Spans,
  countIf(StatusCode IN {error_codes:Array(String)}) AS Errors
FROM ${source.expr}
WHERE ${where.join(' AND ')}
GROUP BY TraceId${having}
ORDER BY min(Timestamp) DESC, TraceId DESC
LIMIT {limit:UInt32}`,
    params,
  };
}

/** Log order: newest first, ties broken by fields so every page sees the same order. */
export const LOG_ORDER = 'Timestamp DESC, ServiceName, TraceId, SpanId, Body';

/**
 * Log search. With `maxBytes`, ClickHouse also cuts the page by size: it returns the rows whose
 * running total of (estimated) bytes starts within `maxBytes`, so a page of wide records is not
 * shipped and parsed whole only for the API to cut it to the response cap, and `Total` (rows before
 * the cut) tells the reader whether it cut.
 */
export function logSearchSql(q: LogSearchQuery, source: TableSource, maxBytes?: number): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'Timestamp');
  const where = [...s.where];
  const params: Record<string, unknown> = { ...source.params, ...s.params, limit: q.limit };
  if (q.service !== undefined) {
    where.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  if (q.minSeverity !== undefined) {
    where.push('SeverityNumber >= {min_severity:UInt8}');
    params.min_severity = q.minSeverity;
  }
  if (q.text !== undefined) {
    where.push('positionCaseInsensitiveUTF8(Body, {text:String}) > 0');
    params.text = q.text;
  }
  if (q.traceId !== undefined) {
    where.push('TraceId = {trace_id:String}');
    params.trace_id = q.traceId;
  }
  if (q.atOrBeforeNs !== undefined) {
    where.push('Timestamp <= fromUnixTimestamp64Nano({before_ns:Int64})');
    params.before_ns = q.atOrBeforeNs.toString();
  }
  const page = `SELECT Timestamp, ${ns('Timestamp')} AS TimeNs, ServiceName, SeverityText, SeverityNumber, Body,
  TraceId, SpanId, LogAttributes, ResourceAttributes
FROM ${source.expr}
WHERE ${where.join(' AND ')}
ORDER BY ${LOG_ORDER}
LIMIT {limit:UInt32}`;
  if (maxBytes === undefined) return { sql: page, params };
  return {
    sql: `SELECT TimeNs, ServiceName, SeverityText, SeverityNumber, Body, TraceId, SpanId,
  LogAttributes, ResourceAttributes, Total
FROM (
  SELECT *, sum(RowBytes) OVER (ORDER BY ${LOG_ORDER} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS CumBytes,
    count() OVER () AS Total
  FROM (
    SELECT *, 64 + length(Body) + length(ServiceName) + length(TraceId) + length(SpanId)
      + length(toString(LogAttributes)) + length(toString(ResourceAttributes)) AS RowBytes
    FROM (${page})
  )
)
WHERE CumBytes - RowBytes <= {max_bytes:UInt64}
ORDER BY ${LOG_ORDER}`,
    params: { ...params, max_bytes: maxBytes },
  };
}

/** Per-row partial aggregates of each metric type: sum, count, min, max. */
const METRIC_VALUES: Readonly<Record<MetricType, readonly [string, string, string, string]>> = {
  gauge: ['toFloat64(Value)', 'toFloat64(1)', 'toNullable(toFloat64(Value))', 'toNullable(toFloat64(Value))'],
  sum: ['toFloat64(Value)', 'toFloat64(1)', 'toNullable(toFloat64(Value))', 'toNullable(toFloat64(Value))'],
  histogram: [
    'toFloat64(Sum)',
    'toFloat64(Count)',
    'toNullable(toFloat64(Min))',
    'toNullable(toFloat64(Max))',
  ],
  exponential_histogram: [
    'toFloat64(Sum)',
    'toFloat64(Count)',
    'toNullable(toFloat64(Min))',
    'toNullable(toFloat64(Max))',
  ],
  // Summaries carry no min/max.
  summary: [
    'toFloat64(Sum)',
    'toFloat64(Count)',
    'CAST(NULL AS Nullable(Float64))',
    'CAST(NULL AS Nullable(Float64))',
  ],
};

/** Step buckets of every metric table holding `q.name`; `sources` lists the tables to read. */
export function metricBucketsSql(
  q: MetricQuery,
  sources: ReadonlyArray<{ readonly type: MetricType; readonly source: TableSource }>,
): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'TimeUnix');
  const where = [...s.where, 'MetricName = {metric:String}'];
  const params: Record<string, unknown> = { ...s.params, metric: q.name, step_ms: q.stepMs };
  if (q.service !== undefined) {
    where.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  q.attributes.forEach(([k, v], i) => {
    where.push(`Attributes[{attr_key_${i}:String}] = {attr_value_${i}:String}`);
    params[`attr_key_${i}`] = k;
    params[`attr_value_${i}`] = v;
  });
  const branches = sources.map(({ type, source }) => {
    Object.assign(params, source.params);
    const [sum, count, min, max] = METRIC_VALUES[type];
    return `SELECT '${type}' AS MetricType, ServiceName, TimeUnix, ${sum} AS S, ${count} AS C, ${min} AS Mn, ${max} AS Mx
  FROM ${source.expr}
  WHERE ${where.join(' AND ')}`;
  });
  return {
    sql: `SELECT MetricType, ServiceName,
  intDiv(toUnixTimestamp64Milli(TimeUnix), {step_ms:Int64}) * {step_ms:Int64} AS BucketMs,
  sum(S) AS Sum, sum(C) AS Count, min(Mn) AS Min, max(Mx) AS Max
FROM (
  ${branches.join('\n  UNION ALL\n  ')}
)
GROUP BY MetricType, ServiceName, BucketMs
ORDER BY MetricType, ServiceName, BucketMs
LIMIT 100000`,
    params,
  };
}

/** Per-service RED from the hourly rollup (hot tier). The range is whole hours (see the planner). */
export function servicesRollupSql(q: ServicesQuery, rollups: HotRollups, limit: number): ClickHouseStatement {
  return {
    sql: `SELECT ServiceName, sum(Requests) AS Requests, sum(Errors) AS Errors,
  quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles) AS Quantiles
FROM ${rollups.serviceRed}
WHERE TenantId = {tenant:String}
  AND Hour >= fromUnixTimestamp64Nano({from_ns:Int64}) AND Hour < fromUnixTimestamp64Nano({to_ns:Int64})
GROUP BY ServiceName
ORDER BY ServiceName
LIMIT {limit:UInt32}`,
    params: { tenant: q.tenant, from_ns: q.range.fromNs.toString(), to_ns: q.range.toNs.toString(), limit },
  };
}

/** The same figures computed from raw entry spans (the lake has no rollups). */
export function servicesRawSql(q: ServicesQuery, source: TableSource, limit: number): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'Timestamp');
  return {
    sql: `SELECT ServiceName, count() AS Requests, countIf(StatusCode IN {error_codes:Array(String)}) AS Errors,
  quantilesTDigest(0.5, 0.95, 0.99)(Duration) AS Quantiles
FROM ${source.expr}
WHERE ${s.where.join(' AND ')} AND (SpanKind IN {entry_kinds:Array(String)} OR ParentSpanId = '')
GROUP BY ServiceName
ORDER BY ServiceName
LIMIT {limit:UInt32}`,
    params: {
      ...source.params,
      ...s.params,
      error_codes: ERROR_CODES,
      entry_kinds: ENTRY_SPAN_KINDS,
      limit,
    },
  };
}
