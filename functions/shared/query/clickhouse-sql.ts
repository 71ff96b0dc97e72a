import { METRIC_NAME_SERVICES } from '../clickhouse/ddl.js';
import {
  ENTRY_SPAN_KINDS,
  type LogHistogramQuery,
  type LogSearchQuery,
  type MetricNamesQuery,
  type MetricQuery,
  type MetricType,
  type ServiceSeriesQuery,
  type ServicesQuery,
  STATUS_CODES,
  type TraceQuery,
  type TraceSearchQuery,
} from './model.js';
import { ceilToHour, floorToHour, NS_PER_MS, type TimeRange } from './time.js';

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

/** The trace-id lookup and the RED and log-count rollups (hourly and per minute): hot tier only. */
export interface HotRollups {
  readonly traceLookup: string;
  readonly serviceRed: string;
  readonly serviceRed1m: string;
  readonly logCounts: string;
  readonly logCounts1m: string;
  /** Spans per minute, and the closed hours' service-map edges (query/edge-rollup.ts). */
  readonly spanCounts1m: string;
  readonly edges1h: string;
  /** Metric names per hour. */
  readonly metricNames1h: string;
}

const HOUR_MS = 3_600_000;
const NS_PER_MINUTE = 60_000n * NS_PER_MS;

/** One rollup table read over part of a range: `{table, its time column, the part}`. */
interface RollupPart {
  readonly table: string;
  readonly column: 'Hour' | 'Minute';
  readonly range: TimeRange;
}

/**
 * The cheapest rollups covering `range` (rounded out to whole minutes): the hourly table for the
 * whole hours inside it, the minute table for the minutes before the first and after the last.
 */
export function rollupParts(range: TimeRange, hourly: string, minutely: string): RollupPart[] {
  const from = (range.fromNs / NS_PER_MINUTE) * NS_PER_MINUTE;
  const to = ((range.toNs + NS_PER_MINUTE - 1n) / NS_PER_MINUTE) * NS_PER_MINUTE;
  const h0 = ceilToHour(from);
  const h1 = floorToHour(to);
  if (h0 >= h1) return [{ table: minutely, column: 'Minute', range: { fromNs: from, toNs: to } }];
  const parts: RollupPart[] = [];
  if (from < h0) parts.push({ table: minutely, column: 'Minute', range: { fromNs: from, toNs: h0 } });
  parts.push({ table: hourly, column: 'Hour', range: { fromNs: h0, toNs: h1 } });
  if (h1 < to) parts.push({ table: minutely, column: 'Minute', range: { fromNs: h1, toNs: to } });
  return parts;
}

/**
 * `SELECT <columns>, <time column> AS T FROM <part> WHERE tenant, time, extra` per part, joined by
 * UNION ALL; each part's bounds are their own parameters.
 */
function unionOfParts(
  parts: readonly RollupPart[],
  columns: string,
  extraWhere: readonly string[],
  params: Record<string, unknown>,
): string {
  return parts
    .map((p, i) => {
      params[`p${i}_from`] = p.range.fromNs.toString();
      params[`p${i}_to`] = p.range.toNs.toString();
      const where = [
        'TenantId = {tenant:String}',
        `${p.column} >= fromUnixTimestamp64Nano({p${i}_from:Int64})`,
        `${p.column} < fromUnixTimestamp64Nano({p${i}_to:Int64})`,
        ...extraWhere,
      ];
      return `SELECT ${columns}, ${p.column} AS T FROM ${p.table} WHERE ${where.join(' AND ')}`;
    })
    .join('\n  UNION ALL\n  ');
}

/** Epoch ms of the step bucket of a DateTime (rollups) or DateTime64 (raw rows) expression. */
const bucketOf = (expr: string, dateTime64: boolean) =>
  dateTime64
    ? `intDiv(toUnixTimestamp64Milli(${expr}), {step_ms:Int64}) * {step_ms:Int64}`
    : `intDiv(toInt64(toUnixTimestamp(${expr})) * 1000, {step_ms:Int64}) * {step_ms:Int64}`;

/** A step of whole hours reads the hourly rollup; any other (whole minutes) the minute one. */
const hourlyStep = (stepMs: number) => stepMs % HOUR_MS === 0;

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

/** The span filters of a trace search (service, operation, duration, status), without tenant and time. */
function traceSearchFilters(q: TraceSearchQuery): { where: string[]; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
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
  return { where, params };
}

export function traceSearchSql(q: TraceSearchQuery, source: TableSource): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'Timestamp');
  const f = traceSearchFilters(q);
  const where = [...s.where, ...f.where];
  const params: Record<string, unknown> = {
    ...source.params,
    ...s.params,
    ...f.params,
    limit: q.limit,
    error_codes: ERROR_CODES,
  };
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

/**
 * Which of `traceIds` have a span matching the search in `range` (the part of a search's range
 * before the window it was answered from): their start lies there, not in the window.
 */
export function tracesWithSpansInSql(
  q: TraceSearchQuery,
  range: TimeRange,
  traceIds: readonly string[],
  source: TableSource,
): ClickHouseStatement {
  const s = scope(q.tenant, range, 'Timestamp');
  const f = traceSearchFilters(q);
  return {
    sql: `SELECT DISTINCT TraceId
FROM ${source.expr}
WHERE ${[...s.where, 'TraceId IN {trace_ids:Array(String)}', ...f.where].join(' AND ')}`,
    params: { ...source.params, ...s.params, ...f.params, trace_ids: traceIds },
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
  const { where, params, group } = metricWhere(q);
  const branches = sources.map(({ type, source }) => {
    Object.assign(params, source.params);
    const [sum, count, min, max] = METRIC_VALUES[type];
    return `SELECT '${type}' AS MetricType, ${group} AS ServiceName, TimeUnix, ${sum} AS S, ${count} AS C, ${min} AS Mn, ${max} AS Mx
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

const QUANTILES = 'quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles) AS Quantiles';

/**
 * Per-service (or, with `byOperation`, per span name of one service) RED from the rollups (hot
 * tier): whole hours from the hourly table, the minutes around them from the minute one.
 */
export function servicesRollupSql(q: ServicesQuery, rollups: HotRollups, limit: number): ClickHouseStatement {
  const params: Record<string, unknown> = { tenant: q.tenant, limit };
  const extra: string[] = [];
  if (q.service !== undefined) {
    extra.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  const keys = q.byOperation ? 'ServiceName, SpanName' : 'ServiceName';
  const parts = rollupParts(q.range, rollups.serviceRed, rollups.serviceRed1m);
  return {
    sql: `SELECT ${keys}, sum(Requests) AS Requests, sum(Errors) AS Errors,
  ${QUANTILES}
FROM (
  ${unionOfParts(parts, 'ServiceName, SpanName, Requests, Errors, DurationQuantiles', extra, params)}
)
GROUP BY ${keys}
ORDER BY ${keys}
LIMIT {limit:UInt32}`,
    params,
  };
}

/** Entry spans, as the RED rollups count them. */
const ENTRY = "(SpanKind IN {entry_kinds:Array(String)} OR ParentSpanId = '')";

/** The same figures computed from raw entry spans (the lake has no rollups). */
export function servicesRawSql(q: ServicesQuery, source: TableSource, limit: number): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'Timestamp');
  const where = [...s.where, ENTRY];
  const params: Record<string, unknown> = {
    ...source.params,
    ...s.params,
    error_codes: ERROR_CODES,
    entry_kinds: ENTRY_SPAN_KINDS,
    limit,
  };
  if (q.service !== undefined) {
    where.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  const keys = q.byOperation ? 'ServiceName, SpanName' : 'ServiceName';
  return {
    sql: `SELECT ${keys}, count() AS Requests, countIf(StatusCode IN {error_codes:Array(String)}) AS Errors,
  quantilesTDigest(0.5, 0.95, 0.99)(Duration) AS Quantiles
FROM ${source.expr}
WHERE ${where.join(' AND ')}
GROUP BY ${keys}
ORDER BY ${keys}
LIMIT {limit:UInt32}`,
    params,
  };
}

/** Most (service, bucket) rows one series statement returns. */
export const MAX_SERIES_ROWS = 100_000;

/** RED per (service, step bucket) from the rollup of the step's grain (hot tier). */
export function serviceSeriesRollupSql(q: ServiceSeriesQuery, rollups: HotRollups): ClickHouseStatement {
  const params: Record<string, unknown> = { tenant: q.tenant, step_ms: q.stepMs };
  const extra: string[] = [];
  if (q.service !== undefined) {
    extra.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  const part: RollupPart = hourlyStep(q.stepMs)
    ? { table: rollups.serviceRed, column: 'Hour', range: q.range }
    : { table: rollups.serviceRed1m, column: 'Minute', range: q.range };
  return {
    sql: `SELECT ServiceName, ${bucketOf('T', false)} AS BucketMs, sum(Requests) AS Requests, sum(Errors) AS Errors,
  ${QUANTILES}
FROM (
  ${unionOfParts([part], 'ServiceName, Requests, Errors, DurationQuantiles', extra, params)}
)
GROUP BY ServiceName, BucketMs
ORDER BY ServiceName, BucketMs
LIMIT ${MAX_SERIES_ROWS}`,
    params,
  };
}

/** The same from raw entry spans (the lake). */
export function serviceSeriesRawSql(q: ServiceSeriesQuery, source: TableSource): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'Timestamp');
  const where = [...s.where, ENTRY];
  const params: Record<string, unknown> = {
    ...source.params,
    ...s.params,
    error_codes: ERROR_CODES,
    entry_kinds: ENTRY_SPAN_KINDS,
    step_ms: q.stepMs,
  };
  if (q.service !== undefined) {
    where.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  return {
    sql: `SELECT ServiceName, ${bucketOf('Timestamp', true)} AS BucketMs, count() AS Requests,
  countIf(StatusCode IN {error_codes:Array(String)}) AS Errors,
  quantilesTDigest(0.5, 0.95, 0.99)(Duration) AS Quantiles
FROM ${source.expr}
WHERE ${where.join(' AND ')}
GROUP BY ServiceName, BucketMs
ORDER BY ServiceName, BucketMs
LIMIT ${MAX_SERIES_ROWS}`,
    params,
  };
}

/** SeverityText matters only where the number is unspecified (0): grouped by it there alone. */
const SEVERITY_TEXT = "if(SeverityNumber = 0, upper(toString(SeverityText)), '')";

function logFilters(q: LogHistogramQuery, params: Record<string, unknown>): string[] {
  const where: string[] = [];
  if (q.service !== undefined) {
    where.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  if (q.minSeverity !== undefined) {
    where.push('SeverityNumber >= {min_severity:UInt8}');
    params.min_severity = q.minSeverity;
  }
  return where;
}

/** Log counts per (step bucket, severity) from the log-count rollup (no text or trace filter). */
export function logHistogramRollupSql(q: LogHistogramQuery, rollups: HotRollups): ClickHouseStatement {
  const params: Record<string, unknown> = { tenant: q.tenant, step_ms: q.stepMs };
  const extra = logFilters(q, params);
  const part: RollupPart = hourlyStep(q.stepMs)
    ? { table: rollups.logCounts, column: 'Hour', range: q.range }
    : { table: rollups.logCounts1m, column: 'Minute', range: q.range };
  return {
    sql: `SELECT ${bucketOf('T', false)} AS BucketMs, SeverityNumber, ${SEVERITY_TEXT} AS Severity, sum(Count) AS Count
FROM (
  ${unionOfParts([part], 'SeverityNumber, SeverityText, Count', extra, params)}
)
GROUP BY BucketMs, SeverityNumber, Severity
ORDER BY BucketMs, SeverityNumber, Severity
LIMIT ${MAX_SERIES_ROWS}`,
    params,
  };
}

/** The same from raw records: the lake, or any filter the rollup cannot answer (text, trace). */
export function logHistogramRawSql(q: LogHistogramQuery, source: TableSource): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'Timestamp');
  const params: Record<string, unknown> = { ...source.params, ...s.params, step_ms: q.stepMs };
  const where = [...s.where, ...logFilters(q, params)];
  if (q.text !== undefined) {
    where.push('positionCaseInsensitiveUTF8(Body, {text:String}) > 0');
    params.text = q.text;
  }
  if (q.traceId !== undefined) {
    where.push('TraceId = {trace_id:String}');
    params.trace_id = q.traceId;
  }
  return {
    sql: `SELECT ${bucketOf('Timestamp', true)} AS BucketMs, SeverityNumber, ${SEVERITY_TEXT} AS Severity, count() AS Count
FROM ${source.expr}
WHERE ${where.join(' AND ')}
GROUP BY BucketMs, SeverityNumber, Severity
ORDER BY BucketMs, SeverityNumber, Severity
LIMIT ${MAX_SERIES_ROWS}`,
    params,
  };
}

/** Most metric names listed. */
export const MAX_METRIC_NAMES = 1000;
/** Most services listed per metric name. */
export const MAX_SERVICES_PER_METRIC = METRIC_NAME_SERVICES;

/** The metric names of every metric table in the range, with type, unit, description and services. */
export function metricNamesSql(
  q: MetricNamesQuery,
  sources: ReadonlyArray<{ readonly type: MetricType; readonly source: TableSource }>,
): ClickHouseStatement {
  const s = scope(q.tenant, q.range, 'TimeUnix');
  const where = [...s.where];
  const params: Record<string, unknown> = { ...s.params };
  if (q.text !== undefined) {
    where.push('positionCaseInsensitiveUTF8(MetricName, {text:String}) > 0');
    params.text = q.text;
  }
  const branches = sources.map(({ type, source }) => {
    Object.assign(params, source.params);
    return `SELECT '${type}' AS MetricType, MetricName, any(MetricUnit) AS Unit, any(MetricDescription) AS Description,
    groupUniqArray(${MAX_SERVICES_PER_METRIC})(ServiceName) AS Services
  FROM ${source.expr}
  WHERE ${where.join(' AND ')}
  GROUP BY MetricName`;
  });
  return {
    sql: `SELECT MetricType, MetricName, Unit, Description, arraySort(Services) AS Services
FROM (
  ${branches.join('\n  UNION ALL\n  ')}
)
ORDER BY MetricName, MetricType
LIMIT ${MAX_METRIC_NAMES}`,
    params,
  };
}

/** Filters shared by the metric statements: tenant, range, name, service, attributes, grouping. */
function metricWhere(q: MetricQuery): { where: string[]; params: Record<string, unknown>; group: string } {
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
  let group = 'ServiceName';
  if (q.groupByAttribute !== undefined) {
    where.push('mapContains(Attributes, {group_key:String})');
    params.group_key = q.groupByAttribute;
    group = 'Attributes[{group_key:String}]';
  }
  return { where, params, group };
}

/**
 * Summed bucket counts of a histogram metric per (group, step bucket, bounds): what percentiles
 * are estimated from. Points with other bounds in the same bucket stay apart (summed later as
 * distributions, see histogram.ts).
 */
export function metricHistogramsSql(q: MetricQuery, source: TableSource): ClickHouseStatement {
  const m = metricWhere(q);
  return {
    sql: `SELECT ${m.group} AS Grp, ${bucketOf('TimeUnix', true)} AS BucketMs, ExplicitBounds AS Bounds,
  sumForEach(BucketCounts) AS Counts, min(Min) AS Min, max(Max) AS Max
FROM ${source.expr}
WHERE ${m.where.join(' AND ')} AND length(BucketCounts) = length(ExplicitBounds) + 1
GROUP BY Grp, BucketMs, Bounds
ORDER BY Grp, BucketMs
LIMIT ${MAX_SERIES_ROWS}`,
    params: { ...source.params, ...m.params },
  };
}

/**
 * Metric names from the hourly names rollup for the whole hours of the range and from the points
 * of the minutes before the first and after the last (hot tier): the same list as metricNamesSql,
 * reading a row per (name, hour) instead of every point.
 */
export function metricNamesRollupSql(
  q: MetricNamesQuery,
  rollups: HotRollups,
  sources: ReadonlyArray<{ readonly type: MetricType; readonly source: TableSource }>,
): ClickHouseStatement {
  const h0 = ceilToHour(q.range.fromNs);
  const h1 = floorToHour(q.range.toNs);
  if (h0 >= h1) return metricNamesSql(q, sources);
  const params: Record<string, unknown> = { tenant: q.tenant, h0: h0.toString(), h1: h1.toString() };
  const text = q.text !== undefined ? ' AND positionCaseInsensitiveUTF8(MetricName, {text:String}) > 0' : '';
  if (q.text !== undefined) params.text = q.text;
  const edges: TimeRange[] = [
    { fromNs: q.range.fromNs, toNs: h0 },
    { fromNs: h1, toNs: q.range.toNs },
  ].filter((r) => r.fromNs < r.toNs);
  const branches = [
    `SELECT MetricType, MetricName, Unit, Description, Services FROM ${rollups.metricNames1h}
  WHERE TenantId = {tenant:String} AND Hour >= fromUnixTimestamp64Nano({h0:Int64})
    AND Hour < fromUnixTimestamp64Nano({h1:Int64})${text}`,
  ];
  edges.forEach((r, i) => {
    params[`e${i}_from`] = r.fromNs.toString();
    params[`e${i}_to`] = r.toNs.toString();
    for (const { type, source } of sources) {
      Object.assign(params, source.params);
      branches.push(`SELECT '${type}' AS MetricType, MetricName, anyState(MetricUnit) AS Unit,
    anyState(MetricDescription) AS Description,
    groupUniqArrayState(${MAX_SERVICES_PER_METRIC})(toString(ServiceName)) AS Services
  FROM ${source.expr}
  WHERE TenantId = {tenant:String} AND TimeUnix >= fromUnixTimestamp64Nano({e${i}_from:Int64})
    AND TimeUnix < fromUnixTimestamp64Nano({e${i}_to:Int64})${text}
  GROUP BY MetricName`);
    }
  });
  return {
    sql: `SELECT MetricType, MetricName, anyMerge(Unit) AS Unit, anyMerge(Description) AS Description,
  arraySort(groupUniqArrayMerge(${MAX_SERVICES_PER_METRIC})(Services)) AS Services
FROM (
  ${branches.join('\n  UNION ALL\n  ')}
)
GROUP BY MetricType, MetricName
ORDER BY MetricName, MetricType
LIMIT ${MAX_METRIC_NAMES}`,
    params,
  };
}
