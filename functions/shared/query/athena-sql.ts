import { parentWindow } from './edge-rollup.js';
import {
  EDGE_PARENT_LOOKAHEAD_MS,
  EDGE_PARENT_LOOKBACK_MS,
  ENTRY_SPAN_KINDS,
  type LogHistogramQuery,
  type LogSearchQuery,
  METRIC_TABLES,
  type MetricNamesQuery,
  type MetricQuery,
  type MetricType,
  type ServiceSeriesQuery,
  type ServicesQuery,
  STATUS_CODES,
  type TraceQuery,
  type TraceSearchQuery,
} from './model.js';
import { floorToHour, NS_PER_MS, type TimeRange } from './time.js';

/**
 * Athena (engine 3, Trino) SQL of the logical queries, over the Glue tables of the published lake
 * (functions/shared/glue/glue-tables.ts: same column names, lower-cased by Glue; nested columns are
 * arrays of structs). Values from a request travel as `?` execution parameters, in order. Athena
 * takes each parameter as the text of one literal, so strings are quoted here with '' escaping.
 * Athena accepts `?` only in a WHERE clause: the only text inlined elsewhere is code's own
 * (status spellings from a closed set, integers checked here), never a request's value. Every
 * statement starts its WHERE with the tenant and the partition predicates (`dt` and `hour`), which
 * partition projection turns into the exact list of prefixes to read.
 */

export interface AthenaStatement {
  readonly sql: string;
  /** Execution parameters: literal texts, in the order of the `?` in `sql`. */
  readonly params: string[];
}

export const athenaLiteral = {
  string: (s: string): string => `'${s.replace(/'/g, "''")}'`,
  integer: (n: number | bigint): string => {
    const v = typeof n === 'bigint' ? n : BigInt(Math.trunc(n));
    return v.toString();
  },
  /** A timestamp literal for from_iso8601_timestamp (milliseconds: Athena's precision). */
  time: (ns: bigint): string => `'${new Date(Number(ns / NS_PER_MS)).toISOString()}'`,
};

class Builder {
  readonly params: string[] = [];
  /** Adds a parameter and returns its placeholder. */
  p(literal: string): string {
    this.params.push(literal);
    return '?';
  }
  str(s: string): string {
    return this.p(athenaLiteral.string(s));
  }
  list(values: readonly string[]): string {
    return `(${values.map((v) => this.str(v)).join(', ')})`;
  }
}

/** A closed set of code constants as a literal list, for places where Athena takes no `?`. */
function constantList(values: readonly string[]): string {
  return `(${values.map((v) => athenaLiteral.string(v)).join(', ')})`;
}

/** A positive integer inlined into statement text (checked: it never comes unvalidated). */
function positiveInteger(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`${what} must be a positive integer, got: ${n}`);
  return String(n);
}

function day(ns: bigint): { dt: string; hour: number } {
  const iso = new Date(Number(ns / NS_PER_MS)).toISOString();
  return { dt: iso.slice(0, 10), hour: Number(iso.slice(11, 13)) };
}

/**
 * Tenant, partition and event-time predicates: always first in every statement.
 *
 * A bound on a whole hour is left to the partition predicates alone. The lake writer files a row
 * under the hour of its exact timestamp (truncated), while Athena reads the microsecond timestamps
 * rounded to milliseconds: a span at 10:59:59.9997 would read as 11:00:00.000 and fail
 * `timestamp < 11:00`, yet the hot tier (nanoseconds) starts at 11:00 exactly, and the span would
 * fall between the two halves of a split range. The planner splits on whole hours, so partitions
 * (`hour <= 10`) decide there, exactly as the writer did.
 */
function scope(b: Builder, tenant: string, range: TimeRange, timeColumn: string): string[] {
  const first = day(range.fromNs);
  const last = day(range.toNs - 1n); // `to` is exclusive
  const where = [
    `tenant = ${b.str(tenant)}`,
    `dt BETWEEN ${b.str(first.dt)} AND ${b.str(last.dt)}`,
    `(dt > ${b.str(first.dt)} OR hour >= ${b.p(athenaLiteral.integer(first.hour))})`,
    `(dt < ${b.str(last.dt)} OR hour <= ${b.p(athenaLiteral.integer(last.hour))})`,
  ];
  if (floorToHour(range.fromNs) !== range.fromNs) {
    where.push(`${timeColumn} >= from_iso8601_timestamp(${b.p(athenaLiteral.time(range.fromNs))})`);
  }
  if (floorToHour(range.toNs) !== range.toNs) {
    where.push(`${timeColumn} < from_iso8601_timestamp(${b.p(athenaLiteral.time(range.toNs))})`);
  }
  return where;
}

const ms = (expr: string) => `CAST(round(to_unixtime(${expr}) * 1000) AS bigint)`;
const json = (expr: string) => `json_format(CAST(${expr} AS JSON))`;

export interface AthenaTables {
  /** Qualifies a table name: `"database"."otel_traces"`. */
  table(name: string): string;
}

export function glueTables(database: string): AthenaTables {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return { table: (name) => `${q(database)}.${q(name)}` };
}

export function athenaTraceSpansSql(q: TraceQuery, t: AthenaTables): AthenaStatement {
  const b = new Builder();
  const where = [...scope(b, q.tenant, q.range, '"timestamp"'), `traceid = ${b.str(q.traceId)}`];
  return {
    sql: `SELECT traceid, spanid, parentspanid, tracestate, spanname, spankind, servicename,
  ${ms('"timestamp"')} AS start_ms, duration, statuscode, statusmessage,
  ${json('spanattributes')} AS span_attributes, ${json('resourceattributes')} AS resource_attributes,
  scopename, scopeversion,
  ${json(`transform(events, e -> CAST(ROW(${ms('e."timestamp"')}, e.name, e.attributes) AS ROW(time_ms bigint, name varchar, attributes map(varchar, varchar))))`)} AS events,
  ${json(`transform(links, l -> CAST(ROW(l.traceid, l.spanid, l.tracestate, l.attributes) AS ROW(trace_id varchar, span_id varchar, trace_state varchar, attributes map(varchar, varchar))))`)} AS links
FROM ${t.table('otel_traces')}
WHERE ${where.join('\n  AND ')}
ORDER BY "timestamp", spanid
LIMIT ${positiveInteger(q.limit, 'limit')}`,
    params: b.params,
  };
}

export function athenaTraceSearchSql(q: TraceSearchQuery, t: AthenaTables): AthenaStatement {
  const b = new Builder();
  const where = scope(b, q.tenant, q.range, '"timestamp"');
  if (q.service !== undefined) where.push(`servicename = ${b.str(q.service)}`);
  if (q.operation !== undefined) where.push(`spanname = ${b.str(q.operation)}`);
  if (q.minDurationNs !== undefined) where.push(`duration >= ${b.p(athenaLiteral.integer(q.minDurationNs))}`);
  if (q.status !== undefined) where.push(`statuscode IN ${b.list(STATUS_CODES[q.status])}`);
  // The keyset condition is on an aggregate: an outer WHERE over the grouped traces, not a HAVING.
  const grouped = `SELECT traceid, min("timestamp") AS first_seen, ${ms('min("timestamp")')} AS start_ms,
    min_by(servicename, "timestamp") AS service_name, min_by(spanname, "timestamp") AS operation,
    max(duration) AS max_duration, count(*) AS spans, count_if(statuscode IN ${constantList(STATUS_CODES.error)}) AS errors
  FROM ${t.table('otel_traces')}
  WHERE ${where.join('\n    AND ')}
  GROUP BY traceid`;
  let after = '';
  if (q.after) {
    const at = athenaLiteral.time(q.after.startNs);
    after = `\nWHERE first_seen < from_iso8601_timestamp(${b.p(at)})
  OR (first_seen = from_iso8601_timestamp(${b.p(at)}) AND traceid < ${b.str(q.after.traceId)})`;
  }
  return {
    sql: `SELECT traceid, start_ms, service_name, operation, max_duration, spans, errors
FROM (
  ${grouped}
)${after}
ORDER BY first_seen DESC, traceid DESC
LIMIT ${positiveInteger(q.limit, 'limit')}`,
    params: b.params,
  };
}

export function athenaLogSearchSql(q: LogSearchQuery, t: AthenaTables): AthenaStatement {
  const b = new Builder();
  const where = scope(b, q.tenant, q.range, '"timestamp"');
  if (q.service !== undefined) where.push(`servicename = ${b.str(q.service)}`);
  if (q.minSeverity !== undefined)
    where.push(`severitynumber >= ${b.p(athenaLiteral.integer(q.minSeverity))}`);
  if (q.text !== undefined) where.push(`strpos(lower(body), lower(${b.str(q.text)})) > 0`);
  if (q.traceId !== undefined) where.push(`traceid = ${b.str(q.traceId)}`);
  if (q.atOrBeforeNs !== undefined) {
    where.push(`"timestamp" <= from_iso8601_timestamp(${b.p(athenaLiteral.time(q.atOrBeforeNs))})`);
  }
  return {
    sql: `SELECT ${ms('"timestamp"')} AS time_ms, servicename, severitytext, severitynumber, body, traceid, spanid,
  ${json('logattributes')} AS log_attributes, ${json('resourceattributes')} AS resource_attributes
FROM ${t.table('otel_logs')}
WHERE ${where.join('\n  AND ')}
ORDER BY "timestamp" DESC, servicename, traceid, spanid, body
LIMIT ${positiveInteger(q.limit, 'limit')}`,
    params: b.params,
  };
}

const METRIC_VALUES: Readonly<Record<MetricType, string>> = {
  gauge: 'CAST(value AS double) AS s, 1e0 AS c, CAST(value AS double) AS mn, CAST(value AS double) AS mx',
  sum: 'CAST(value AS double) AS s, 1e0 AS c, CAST(value AS double) AS mn, CAST(value AS double) AS mx',
  histogram:
    'CAST(sum AS double) AS s, CAST(count AS double) AS c, CAST(min AS double) AS mn, CAST(max AS double) AS mx',
  exponential_histogram:
    'CAST(sum AS double) AS s, CAST(count AS double) AS c, CAST(min AS double) AS mn, CAST(max AS double) AS mx',
  summary:
    'CAST(sum AS double) AS s, CAST(count AS double) AS c, CAST(NULL AS double) AS mn, CAST(NULL AS double) AS mx',
};

/**
 * Tenant, range, name, service and attribute filters of a metric table; grouped by an attribute,
 * the map is unnested and its key bound in the WHERE clause (Athena takes `?` nowhere else), which
 * also leaves out points without the attribute, as the ClickHouse statement does.
 */
function metricWhere(b: Builder, q: MetricQuery): { where: string[]; join: string; group: string } {
  const where = [...scope(b, q.tenant, q.range, 'timeunix'), `metricname = ${b.str(q.name)}`];
  if (q.service !== undefined) where.push(`servicename = ${b.str(q.service)}`);
  for (const [k, v] of q.attributes) where.push(`element_at(attributes, ${b.str(k)}) = ${b.str(v)}`);
  if (q.groupByAttribute === undefined) return { where, join: '', group: 'servicename' };
  where.push(`group_attr.k = ${b.str(q.groupByAttribute)}`);
  return {
    where,
    join: '\n  CROSS JOIN UNNEST(attributes) AS group_attr(k, v)',
    group: 'group_attr.v',
  };
}

export function athenaMetricBucketsSql(q: MetricQuery, t: AthenaTables): AthenaStatement {
  const b = new Builder();
  const step = positiveInteger(q.stepMs, 'stepMs');
  const bucket = `CAST(floor(to_unixtime(timeunix) * 1000 / ${step}) AS bigint) * ${step}`;
  const branches = (Object.entries(METRIC_TABLES) as [MetricType, string][]).map(([type, table]) => {
    const m = metricWhere(b, q);
    const group = m.group === 'servicename' ? m.group : `${m.group} AS servicename`;
    return `SELECT '${type}' AS metric_type, ${group}, timeunix, ${METRIC_VALUES[type]}
  FROM ${t.table(table)}${m.join}
  WHERE ${m.where.join('\n    AND ')}`;
  });
  return {
    sql: `SELECT metric_type, servicename, ${bucket} AS bucket_ms, sum(s) AS sum, sum(c) AS count, min(mn) AS min, max(mx) AS max
FROM (
  ${branches.join('\n  UNION ALL\n  ')}
)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
LIMIT 100000`,
    params: b.params,
  };
}

const RED = `count(*) AS requests, count_if(statuscode IN ${constantList(STATUS_CODES.error)}) AS errors,
  ${json('approx_percentile(duration, ARRAY[0.5, 0.95, 0.99])')} AS quantiles`;

/** Entry spans in the range (as the rollups count them), optionally of one service. */
function entrySpans(b: Builder, q: ServicesQuery | ServiceSeriesQuery): string[] {
  const where = scope(b, q.tenant, q.range, '"timestamp"');
  where.push(`(spankind IN ${b.list(ENTRY_SPAN_KINDS)} OR parentspanid = '')`);
  if (q.service !== undefined) where.push(`servicename = ${b.str(q.service)}`);
  return where;
}

export function athenaServicesSql(q: ServicesQuery, t: AthenaTables, limit: number): AthenaStatement {
  const b = new Builder();
  const where = entrySpans(b, q);
  const keys = q.byOperation ? 'servicename, spanname' : 'servicename';
  return {
    sql: `SELECT ${keys}, ${RED}
FROM ${t.table('otel_traces')}
WHERE ${where.join('\n  AND ')}
GROUP BY ${keys}
ORDER BY ${keys}
LIMIT ${positiveInteger(limit, 'limit')}`,
    params: b.params,
  };
}

/** Epoch ms of the step bucket of a timestamp column (the step is checked and inlined). */
const bucketMs = (column: string, stepMs: number) => {
  const step = positiveInteger(stepMs, 'stepMs');
  return `CAST(floor(to_unixtime(${column}) * 1000 / ${step}) AS bigint) * ${step}`;
};

export function athenaServiceSeriesSql(q: ServiceSeriesQuery, t: AthenaTables): AthenaStatement {
  const b = new Builder();
  const where = entrySpans(b, q);
  return {
    sql: `SELECT servicename, ${bucketMs('"timestamp"', q.stepMs)} AS bucket_ms, ${RED}
FROM ${t.table('otel_traces')}
WHERE ${where.join('\n  AND ')}
GROUP BY 1, 2
ORDER BY 1, 2
LIMIT 100000`,
    params: b.params,
  };
}

/**
 * Service-to-service edges joined at query time, a parent within the child's clock hour and its
 * margins (the definition in edge-rollup.ts, which the ClickHouse tiers share).
 */
export function athenaServiceEdgesSql(q: ServicesQuery, t: AthenaTables, limit: number): AthenaStatement {
  const b = new Builder();
  const children = scope(b, q.tenant, q.range, '"timestamp"');
  children.push("parentspanid <> ''");
  const parents = scope(b, q.tenant, parentWindow(q.range), '"timestamp"');
  const back = EDGE_PARENT_LOOKBACK_MS / 60_000;
  const ahead = (3_600_000 + EDGE_PARENT_LOOKAHEAD_MS) / 60_000;
  return {
    sql: `SELECT p.servicename AS parent, c.servicename AS child, count(*) AS calls,
  count_if(c.statuscode IN ${constantList(STATUS_CODES.error)}) AS errors,
  ${json('approx_percentile(c.duration, ARRAY[0.5, 0.95, 0.99])')} AS quantiles
FROM (
  SELECT traceid, parentspanid, servicename, duration, statuscode, date_trunc('hour', "timestamp") AS child_hour
  FROM ${t.table('otel_traces')}
  WHERE ${children.join('\n    AND ')}
) c
JOIN (
  SELECT traceid, spanid, servicename, "timestamp" AS started
  FROM ${t.table('otel_traces')}
  WHERE ${parents.join('\n    AND ')}
) p ON c.traceid = p.traceid AND c.parentspanid = p.spanid
WHERE p.servicename <> c.servicename
  AND p.started >= c.child_hour - INTERVAL '${positiveInteger(back, 'lookback')}' MINUTE
  AND p.started < c.child_hour + INTERVAL '${positiveInteger(ahead, 'lookahead')}' MINUTE
GROUP BY 1, 2
ORDER BY 1, 2
LIMIT ${positiveInteger(limit, 'limit')}`,
    params: b.params,
  };
}

export function athenaLogHistogramSql(q: LogHistogramQuery, t: AthenaTables): AthenaStatement {
  const b = new Builder();
  const where = scope(b, q.tenant, q.range, '"timestamp"');
  if (q.service !== undefined) where.push(`servicename = ${b.str(q.service)}`);
  if (q.minSeverity !== undefined)
    where.push(`severitynumber >= ${b.p(athenaLiteral.integer(q.minSeverity))}`);
  if (q.text !== undefined) where.push(`strpos(lower(body), lower(${b.str(q.text)})) > 0`);
  if (q.traceId !== undefined) where.push(`traceid = ${b.str(q.traceId)}`);
  return {
    sql: `SELECT ${bucketMs('"timestamp"', q.stepMs)} AS bucket_ms, severitynumber,
  IF(severitynumber = 0, upper(severitytext), '') AS severity, count(*) AS count
FROM ${t.table('otel_logs')}
WHERE ${where.join('\n  AND ')}
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
LIMIT 100000`,
    params: b.params,
  };
}

export function athenaMetricNamesSql(q: MetricNamesQuery, t: AthenaTables): AthenaStatement {
  const b = new Builder();
  const branches = (Object.entries(METRIC_TABLES) as [MetricType, string][]).map(([type, table]) => {
    const where = scope(b, q.tenant, q.range, 'timeunix');
    if (q.text !== undefined) where.push(`strpos(lower(metricname), lower(${b.str(q.text)})) > 0`);
    return `SELECT '${type}' AS metric_type, metricname, arbitrary(metricunit) AS unit,
    arbitrary(metricdescription) AS description, ${json('slice(array_sort(array_agg(DISTINCT servicename)), 1, 100)')} AS services
  FROM ${t.table(table)}
  WHERE ${where.join('\n    AND ')}
  GROUP BY metricname`;
  });
  return {
    sql: `SELECT metric_type, metricname, unit, description, services
FROM (
  ${branches.join('\n  UNION ALL\n  ')}
)
ORDER BY metricname, metric_type
LIMIT 1000`,
    params: b.params,
  };
}

/**
 * Summed bucket counts of a histogram metric per (group, step bucket, bounds): the count arrays
 * are unnested with their position and summed per position (Trino has no element-wise sum).
 */
export function athenaMetricHistogramsSql(q: MetricQuery, t: AthenaTables): AthenaStatement {
  const b = new Builder();
  const m = metricWhere(b, q);
  m.where.push('cardinality(bucketcounts) = cardinality(explicitbounds) + 1');
  return {
    sql: `SELECT grp, bucket_ms, ${json('bounds')} AS bounds, ${json('array_agg(c ORDER BY i)')} AS counts,
  min(mn) AS min, max(mx) AS max
FROM (
  SELECT ${m.group} AS grp, ${bucketMs('timeunix', q.stepMs)} AS bucket_ms, explicitbounds AS bounds,
    bucket.i, sum(bucket.c) AS c, min(min) AS mn, max(max) AS mx
  FROM ${t.table('otel_metrics_histogram')}${m.join}
  CROSS JOIN UNNEST(bucketcounts) WITH ORDINALITY AS bucket(c, i)
  WHERE ${m.where.join('\n    AND ')}
  GROUP BY 1, 2, 3, 4
)
GROUP BY 1, 2, 3
ORDER BY 1, 2
LIMIT 100000`,
    params: b.params,
  };
}
