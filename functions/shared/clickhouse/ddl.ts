import {
  type Column,
  ENVELOPE_ID_COLUMN,
  type PhysicalColumn,
  type ScalarType,
  type Signal,
  TABLE_NAMES,
  TABLES,
  type TableName,
} from '../schema/columns.js';

/**
 * ClickHouse DDL for the hot tier, derived from the column model (schema/columns.ts): no column list
 * here. Shaped like the OpenTelemetry Collector ClickHouse exporter's tables (codecs, LowCardinality,
 * Map(LowCardinality(String), String), Nested, bloom-filter skip indexes) plus a leading TenantId in
 * every sort key, so Grafana's ClickHouse data source in OTel mode reads them unchanged.
 */

/** Hot-tier retention when the stack sets none (days). */
export const DEFAULT_HOT_RETENTION_DAYS = 7;

/**
 * How many recent insert blocks each table remembers for `insert_deduplication_token`. Plain
 * MergeTree (chdb, self-hosted) deduplicates inserts only when this is set; it must cover every block
 * written between a failed attempt and its identical retry (7 tables x partitions x shards x retries).
 */
export const DEDUP_WINDOW_BLOCKS = 10_000;

/** Trace id -> (TenantId, TraceId, Start, End): finds a trace's time range without scanning spans. */
export const TRACE_LOOKUP_TABLE = 'otel_traces_trace_id_ts';
export const TRACE_LOOKUP_MV = 'otel_traces_trace_id_ts_mv';
/**
 * Hourly RED per (tenant, service, span name) over entry spans (server/consumer kind, or roots),
 * re-weighted by SampleRate (ADR 0009): rows kept only for an error or slow span (weight 0) are
 * left out, so the quantiles are those of the sample, not skewed to the slow traces always kept.
 * Read with `sum(Requests)`, `sum(Errors)`,
 * `quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)` (nanoseconds), grouped by the key.
 */
export const SERVICE_RED_TABLE = 'otel_traces_service_red_1h';
export const SERVICE_RED_MV = 'otel_traces_service_red_1h_mv';
/** The quantiles held by SERVICE_RED_TABLE.DurationQuantiles, in this order. */
export const RED_QUANTILES = [0.5, 0.95, 0.99] as const;
/**
 * The hourly rollups are kept at least this long, whatever the hot retention: they are small (a row
 * per service, operation and hour) and the anomaly rules learn weekly seasonality from them.
 */
export const ROLLUP_RETENTION_DAYS = 35;
/** Hourly log counts per (tenant, service, severity); read with `sum(Count)`. */
export const LOG_COUNTS_TABLE = 'otel_logs_counts_1h';
export const LOG_COUNTS_MV = 'otel_logs_counts_1h_mv';
/**
 * Per-minute twins of the two hourly rollups (migration 5): the same keys, values and entry-span
 * definition, with `Minute` in place of `Hour`. They answer ranges and steps finer than an hour
 * (the query API's resolution rule, docs/query-api.md). Their TTL is the hot retention: at about
 * 60 rows per hourly row they stay a few per cent of the raw tables (figures in ADR 0004), and a
 * shorter TTL would leave fine-step queries on older hot data with nothing to read.
 */
export const SERVICE_RED_1M_TABLE = 'otel_traces_service_red_1m';
export const SERVICE_RED_1M_MV = 'otel_traces_service_red_1m_mv';
export const LOG_COUNTS_1M_TABLE = 'otel_logs_counts_1m';
export const LOG_COUNTS_1M_MV = 'otel_logs_counts_1m_mv';
/**
 * The service map's rollups (migration 7). SPAN_COUNTS_1M_TABLE counts every span per (tenant,
 * minute), by a view, so it is exact whatever the batches. EDGES_1H_TABLE holds the
 * service-to-service edges of a *closed* hour, computed by the query-time join (query/edge-rollup.ts)
 * once the hour and its parent window are past, with `InputSpans`: how many spans that window held
 * when it was computed. An hour's rows are used only while the window still holds that many spans:
 * a late span (a parent or child in a later batch) changes the count, and the hour is joined again.
 * A row with Parent = Child = '' marks a closed hour (an edge always joins two services).
 */
export const SPAN_COUNTS_1M_TABLE = 'otel_traces_span_counts_1m';
export const SPAN_COUNTS_1M_MV = 'otel_traces_span_counts_1m_mv';
export const EDGES_1H_TABLE = 'otel_traces_edges_1h';

/**
 * Metric names per (tenant, hour, type, name) with their unit, description and up to
 * METRIC_NAME_SERVICES services (migration 7), fed by a view on each metric table: the console's
 * list of metric names reads it for the whole hours of a range instead of every data point. Read
 * with `anyMerge(Unit)`, `anyMerge(Description)`, `groupUniqArrayMerge(METRIC_NAME_SERVICES)(Services)`.
 */
export const METRIC_NAMES_1H_TABLE = 'otel_metrics_names_1h';
/** Most services listed per metric name. */
export const METRIC_NAME_SERVICES = 100;
const METRIC_TABLE_PREFIX = 'otel_metrics_';

/**
 * Which (table, stream position) pairs the hot writer had written, before dedup moved to the
 * rows' EnvelopeId (ADR 0004). No longer written; kept so no migration has to drop it (its TTL
 * empties it).
 */
export const WRITE_LEDGER_TABLE = 'otel_write_ledger';
/**
 * Usage metering (migration 6): one row per request, from the usage on its first envelope
 * (envelope.ts RequestUsage), keyed by that envelope's content id so a resend or a redelivery is
 * one row after merges (ReplacingMergeTree; read with FINAL). USAGE_DAILY_VIEW sums it per tenant,
 * UTC day and signal. Kept 400 days: a year of bills and their disputes.
 */
export const USAGE_TABLE = 'usage_requests';
export const USAGE_DAILY_VIEW = 'usage_daily';
export const USAGE_RETENTION_DAYS = 400;
/** Hot-tier sampling (ADR 0009): per-tenant rules, and the traces kept for an error or slow span. */
export const SAMPLING_RULES_TABLE = 'otel_sampling_rules';
export const SAMPLING_KEEP_TABLE = 'otel_sampling_keep';

/**
 * Every table holding tenant rows (a `TenantId` column): what a tenant's read-only user may read,
 * each behind a row policy (tenant-access.ts). The views are left out: each writes into (or reads
 * from) one of these, which is where its rows are read.
 */
export const TENANT_TABLES: readonly string[] = [
  ...TABLE_NAMES,
  TRACE_LOOKUP_TABLE,
  SERVICE_RED_TABLE,
  LOG_COUNTS_TABLE,
  SERVICE_RED_1M_TABLE,
  LOG_COUNTS_1M_TABLE,
  SPAN_COUNTS_1M_TABLE,
  EDGES_1H_TABLE,
  METRIC_NAMES_1H_TABLE,
  USAGE_TABLE,
  SAMPLING_RULES_TABLE,
  SAMPLING_KEEP_TABLE,
];

/** Applied schema versions: see migrations.ts. */
export const MIGRATIONS_TABLE = 'schema_migrations';

/**
 * SpanKind / StatusCode spellings that mark an entry span and an error. Rows are written with the
 * Collector exporter's values (`Server`, `Error`); rows written before migration 2 carry the OTLP
 * proto names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`), and so do lake parts published before it,
 * which are never rewritten. The RED rollup, the query API and the alert rules accept both.
 */
export const ENTRY_SPAN_KINDS = ['Server', 'Consumer', 'SPAN_KIND_SERVER', 'SPAN_KIND_CONSUMER'] as const;
export const ERROR_STATUS_CODES = ['Error', 'STATUS_CODE_ERROR'] as const;

/** Old (proto name) -> current (Collector exporter) spelling of SpanKind, by OTLP enum order. */
export const LEGACY_SPAN_KINDS: Readonly<Record<string, string>> = {
  SPAN_KIND_UNSPECIFIED: 'Unspecified',
  SPAN_KIND_INTERNAL: 'Internal',
  SPAN_KIND_SERVER: 'Server',
  SPAN_KIND_CLIENT: 'Client',
  SPAN_KIND_PRODUCER: 'Producer',
  SPAN_KIND_CONSUMER: 'Consumer',
};
/** Old (proto name) -> current (Collector exporter) spelling of StatusCode. */
export const LEGACY_STATUS_CODES: Readonly<Record<string, string>> = {
  STATUS_CODE_UNSET: 'Unset',
  STATUS_CODE_OK: 'Ok',
  STATUS_CODE_ERROR: 'Error',
};

/**
 * Columns computed on read that tools built for the exporter's schema expect, which the column model
 * does not carry (nothing writes them): Grafana's OTel logs queries filter on `TimestampTime`.
 */
export const ALIAS_COLUMNS: Readonly<Partial<Record<TableName, readonly string[]>>> = {
  otel_logs: ['`TimestampTime` DateTime ALIAS toDateTime(Timestamp)'],
};

export interface DdlOptions {
  /** Qualifies every table name; omitted, the connection's current database is used. */
  readonly database?: string;
  /** @default DEFAULT_HOT_RETENTION_DAYS */
  readonly hotRetentionDays?: number;
}

/** Backquotes an identifier (table, column or database name). */
export function ident(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

export function qualified(table: string, database?: string): string {
  return database ? `${ident(database)}.${ident(table)}` : ident(table);
}

const SCALAR_TYPES: Record<ScalarType, string> = {
  string: 'String',
  lowcard: 'LowCardinality(String)',
  timestamp_ns: 'DateTime64(9)',
  uint8: 'UInt8',
  uint32: 'UInt32',
  int32: 'Int32',
  uint64: 'UInt64',
  float64: 'Float64',
  bool: 'Bool',
  map: 'Map(LowCardinality(String), String)',
  array_float64: 'Array(Float64)',
  array_uint64: 'Array(UInt64)',
};

/** The ClickHouse type of a logical column type. */
export function clickHouseType(type: ScalarType): string {
  return SCALAR_TYPES[type];
}

/** The type system.columns reports for a physical column (nested fields are arrays). */
export function physicalClickHouseType(col: PhysicalColumn): string {
  const t = clickHouseType(col.type);
  return col.nestedIn ? `Array(${t})` : t;
}

/** A column's line in CREATE TABLE (and in ALTER TABLE … ADD COLUMN). */
export function columnDefinition(col: Column): string {
  if (col.type === 'nested') {
    const fields = col.fields.map((f) => `${ident(f.name)} ${clickHouseType(f.type)}`).join(', ');
    return `${ident(col.name)} Nested(${fields}) CODEC(ZSTD(1))`;
  }
  // Times are near-monotonic within a part: Delta turns them into small numbers ZSTD packs well.
  const codec = col.type === 'timestamp_ns' ? 'CODEC(Delta, ZSTD(1))' : 'CODEC(ZSTD(1))';
  const dflt = col.absent !== undefined ? ` DEFAULT ${col.absent}` : '';
  return `${ident(col.name)} ${clickHouseType(col.type)}${dflt} ${codec}`;
}

/**
 * The hot writer's dedup lookup (`EnvelopeId IN (...)`, see writer.ts) skips granules by it. One
 * envelope's rows are spread over a part by the sort key, so granules hold many ids: 0.01 keeps
 * the filter small.
 */
export const ENVELOPE_ID_INDEX = `INDEX idx_envelope_id ${ENVELOPE_ID_COLUMN} TYPE bloom_filter(0.01) GRANULARITY 1`;

function skipIndexes(columns: readonly Column[]): string[] {
  const out: string[] = [];
  for (const col of columns) {
    if (col.type === 'nested') continue;
    if (col.name === 'TraceId') out.push(`INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1`);
    if (col.name === 'Duration') out.push(`INDEX idx_duration Duration TYPE minmax GRANULARITY 1`);
    if (col.name === ENVELOPE_ID_COLUMN) out.push(ENVELOPE_ID_INDEX);
    if (col.type === 'map') {
      const base = col.name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
      out.push(`INDEX idx_${base}_key mapKeys(${ident(col.name)}) TYPE bloom_filter(0.01) GRANULARITY 1`);
      out.push(`INDEX idx_${base}_value mapValues(${ident(col.name)}) TYPE bloom_filter(0.01) GRANULARITY 1`);
    }
  }
  return out;
}

/** Sort keys: TenantId first (every query is per tenant), then what the exporter sorts by. */
export const SORT_KEYS: Readonly<Record<TableName, string>> = {
  otel_traces: 'TenantId, ServiceName, SpanName, toDateTime(Timestamp)',
  otel_logs: 'TenantId, ServiceName, toDateTime(Timestamp)',
  otel_metrics_gauge: 'TenantId, ServiceName, MetricName, toDateTime(TimeUnix)',
  otel_metrics_sum: 'TenantId, ServiceName, MetricName, toDateTime(TimeUnix)',
  otel_metrics_histogram: 'TenantId, ServiceName, MetricName, toDateTime(TimeUnix)',
  otel_metrics_exponential_histogram: 'TenantId, ServiceName, MetricName, toDateTime(TimeUnix)',
  otel_metrics_summary: 'TenantId, ServiceName, MetricName, toDateTime(TimeUnix)',
};

function retention(options: DdlOptions): number {
  const days = options.hotRetentionDays ?? DEFAULT_HOT_RETENTION_DAYS;
  if (!Number.isInteger(days) || days < 1)
    throw new RangeError(`hotRetentionDays must be >= 1, got: ${days}`);
  return days;
}

/** The TTL expression of a table whose event time is `timeExpr`. */
/**
 * Longest hot retention accepted. DateTime ends in 2106: a TTL beyond it wraps around and ClickHouse
 * would drop every row on arrival.
 */
export const MAX_HOT_RETENTION_DAYS = 3650;

export function ttlExpression(timeExpr: string, days: number): string {
  if (!Number.isInteger(days) || days < 1 || days > MAX_HOT_RETENTION_DAYS) {
    throw new RangeError(`hot retention must be 1..${MAX_HOT_RETENTION_DAYS} days, got: ${days}`);
  }
  return `toDateTime(${timeExpr}) + toIntervalDay(${days})`;
}

const TABLE_SETTINGS = `index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = ${DEDUP_WINDOW_BLOCKS}`;

export function createTableStatement(table: TableName, options: DdlOptions = {}): string {
  const def = TABLES[table];
  const lines = [
    ...def.columns.map(columnDefinition),
    ...(ALIAS_COLUMNS[table] ?? []),
    ...skipIndexes(def.columns),
  ];
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(table, options.database)} (`,
    `  ${lines.join(',\n  ')}`,
    `) ENGINE = MergeTree`,
    `PARTITION BY toDate(${def.timeColumn})`,
    `ORDER BY (${SORT_KEYS[table]})`,
    `TTL ${ttlExpression(def.timeColumn, retention(options))}`,
    `SETTINGS ${TABLE_SETTINGS}`,
  ].join('\n');
}

/** Tables fed by materialized views, each with its view, target first. */
export function rollupStatements(options: DdlOptions = {}): string[] {
  const db = options.database;
  const days = retention(options);
  const traces = qualified('otel_traces', db);
  return [
    // One row per (trace, insert block, day); merges collapse them. End is the latest span end.
    `CREATE TABLE IF NOT EXISTS ${qualified(TRACE_LOOKUP_TABLE, db)} (
  TenantId LowCardinality(String) CODEC(ZSTD(1)),
  TraceId String CODEC(ZSTD(1)),
  Start SimpleAggregateFunction(min, DateTime64(9)) CODEC(Delta, ZSTD(1)),
  End SimpleAggregateFunction(max, DateTime64(9)) CODEC(Delta, ZSTD(1))
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Start)
ORDER BY (TenantId, TraceId)
TTL ${ttlExpression('Start', days)}
SETTINGS ${TABLE_SETTINGS}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(TRACE_LOOKUP_MV, db)} TO ${qualified(TRACE_LOOKUP_TABLE, db)} AS
SELECT TenantId, TraceId, min(Timestamp) AS Start, max(addNanoseconds(Timestamp, Duration)) AS End
FROM ${traces}
WHERE TraceId != ''
GROUP BY TenantId, TraceId`,
    ...redAndLogCountStatements('hour', options),
  ];
}

/** A rollup grain: its time column and the function that truncates an event time to it. */
const GRAINS = {
  hour: {
    column: 'Hour',
    truncate: 'toStartOfHour',
    red: [SERVICE_RED_TABLE, SERVICE_RED_MV],
    logs: [LOG_COUNTS_TABLE, LOG_COUNTS_MV],
  },
  minute: {
    column: 'Minute',
    truncate: 'toStartOfMinute',
    red: [SERVICE_RED_1M_TABLE, SERVICE_RED_1M_MV],
    logs: [LOG_COUNTS_1M_TABLE, LOG_COUNTS_1M_MV],
  },
} as const;
export type RollupGrain = keyof typeof GRAINS;

/** The RED rollup and the log counts of one grain, each table before its view. */
function redAndLogCountStatements(grain: RollupGrain, options: DdlOptions, backfill = false): string[] {
  const db = options.database;
  // The hourly rollups outlive the hot retention: anomaly rules learn weekly seasonality from them.
  const days = grain === 'hour' ? Math.max(retention(options), ROLLUP_RETENTION_DAYS) : retention(options);
  const { column: T, truncate, red, logs } = GRAINS[grain];
  const list = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');
  const q = RED_QUANTILES.join(', ');
  const redSelect = `SELECT
  TenantId, ServiceName, SpanName, ${truncate}(Timestamp) AS ${T},
  sum(SampleRate) AS Requests,
  sumIf(SampleRate, StatusCode IN (${list(ERROR_STATUS_CODES)})) AS Errors,
  quantilesTDigestState(${q})(Duration) AS DurationQuantiles
FROM ${qualified('otel_traces', db)}
WHERE (SpanKind IN (${list(ENTRY_SPAN_KINDS)}) OR ParentSpanId = '') AND SampleRate > 0`;
  const redGroup = `GROUP BY TenantId, ServiceName, SpanName, ${T}`;
  const logSelect = `SELECT TenantId, ServiceName, SeverityText, SeverityNumber, ${truncate}(Timestamp) AS ${T}, count() AS Count
FROM ${qualified('otel_logs', db)}`;
  const logGroup = `GROUP BY TenantId, ServiceName, SeverityText, SeverityNumber, ${T}`;
  // Before its view exists, a new table is filled from the rows already there, once: only while
  // it is empty, so a re-run of a half-applied migration adds nothing twice.
  const fill = (table: string, select: string, group: string, hasWhere: boolean) =>
    `INSERT INTO ${qualified(table, db)}
${select}
${hasWhere ? 'AND' : 'WHERE'} (SELECT count() FROM ${qualified(table, db)}) = 0
${group}`;
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(red[0], db)} (
  TenantId LowCardinality(String),
  ServiceName LowCardinality(String),
  SpanName LowCardinality(String),
  ${T} DateTime,
  Requests SimpleAggregateFunction(sum, UInt64),
  Errors SimpleAggregateFunction(sum, UInt64),
  DurationQuantiles AggregateFunction(quantilesTDigest(${q}), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(${T})
ORDER BY (TenantId, ServiceName, SpanName, ${T})
TTL ${ttlExpression(T, days)}
SETTINGS ${TABLE_SETTINGS}`,
    ...(backfill ? [fill(red[0], redSelect.replace(/WHERE (.*)$/, 'WHERE ($1)'), redGroup, true)] : []),
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(red[1], db)} TO ${qualified(red[0], db)} AS
${redSelect}
${redGroup}`,
    `CREATE TABLE IF NOT EXISTS ${qualified(logs[0], db)} (
  TenantId LowCardinality(String),
  ServiceName LowCardinality(String),
  SeverityText LowCardinality(String),
  SeverityNumber UInt8,
  ${T} DateTime,
  Count UInt64
) ENGINE = SummingMergeTree(Count)
PARTITION BY toDate(${T})
ORDER BY (TenantId, ServiceName, ${T}, SeverityNumber, SeverityText)
TTL ${ttlExpression(T, days)}
SETTINGS ${TABLE_SETTINGS}`,
    ...(backfill ? [fill(logs[0], logSelect, logGroup, false)] : []),
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(logs[1], db)} TO ${qualified(logs[0], db)} AS
${logSelect}
${logGroup}`,
  ];
}

/**
 * Migration 5: per-minute RED (tenant, service, span name) and log counts (tenant, service,
 * severity), fed by views like the hourly ones. A view sees only rows inserted after it exists, so
 * each table is first back-filled from the hot rows already stored (only while it is empty, so a
 * re-run adds nothing twice). Rows inserted in the moment between the back-fill and the view's
 * creation are missing from the minute tables only (the hourly ones have them).
 */
export function minuteRollupStatements(options: DdlOptions = {}): string[] {
  return redAndLogCountStatements('minute', options, true);
}

/**
 * Migration 7: the span counts per minute (a view, back-filled from the stored spans while empty)
 * and the table of closed hours' edges (filled by the query path, see EDGES_1H_TABLE; Replacing:
 * two queries closing the same hour with the same count write the same rows, kept once, read FINAL),
 * and the metric names per hour (views, back-filled likewise).
 */
export function edgeRollupStatements(options: DdlOptions = {}): string[] {
  const db = options.database;
  const days = retention(options);
  const counts = qualified(SPAN_COUNTS_1M_TABLE, db);
  const select = `SELECT TenantId, toStartOfMinute(Timestamp) AS Minute, count() AS Spans
FROM ${qualified('otel_traces', db)}`;
  return [
    `CREATE TABLE IF NOT EXISTS ${counts} (
  TenantId LowCardinality(String),
  Minute DateTime,
  Spans UInt64
) ENGINE = SummingMergeTree(Spans)
PARTITION BY toDate(Minute)
ORDER BY (TenantId, Minute)
TTL ${ttlExpression('Minute', days)}
SETTINGS ${TABLE_SETTINGS}`,
    `INSERT INTO ${counts}
${select}
WHERE (SELECT count() FROM ${counts}) = 0
GROUP BY TenantId, Minute`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(SPAN_COUNTS_1M_MV, db)} TO ${counts} AS
${select}
GROUP BY TenantId, Minute`,
    `CREATE TABLE IF NOT EXISTS ${qualified(EDGES_1H_TABLE, db)} (
  TenantId LowCardinality(String),
  Hour DateTime,
  InputSpans UInt64,
  Parent LowCardinality(String),
  Child LowCardinality(String),
  Calls UInt64,
  Errors UInt64,
  DurationQuantiles AggregateFunction(quantilesTDigest(${RED_QUANTILES.join(', ')}), UInt64)
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (TenantId, Hour, InputSpans, Parent, Child)
TTL ${ttlExpression('Hour', days)}
SETTINGS ${TABLE_SETTINGS}`,
    ...metricNameStatements(options),
  ];
}

/** The metric names table, back-filled from every metric table while empty, and a view per table. */
function metricNameStatements(options: DdlOptions): string[] {
  const db = options.database;
  const names = qualified(METRIC_NAMES_1H_TABLE, db);
  const metricTables = TABLE_NAMES.filter((t) => t.startsWith(METRIC_TABLE_PREFIX));
  const select = (table: string) => `SELECT TenantId, toStartOfHour(TimeUnix) AS Hour,
  '${table.slice(METRIC_TABLE_PREFIX.length)}' AS MetricType, MetricName,
  anyState(MetricUnit) AS Unit, anyState(MetricDescription) AS Description,
  groupUniqArrayState(${METRIC_NAME_SERVICES})(toString(ServiceName)) AS Services
FROM ${qualified(table, db)}`;
  const group = 'GROUP BY TenantId, Hour, MetricName';
  return [
    `CREATE TABLE IF NOT EXISTS ${names} (
  TenantId LowCardinality(String),
  Hour DateTime,
  MetricType LowCardinality(String),
  MetricName String,
  Unit AggregateFunction(any, String),
  Description AggregateFunction(any, String),
  Services AggregateFunction(groupUniqArray(${METRIC_NAME_SERVICES}), String)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (TenantId, MetricName, MetricType, Hour)
TTL ${ttlExpression('Hour', retention(options))}
SETTINGS ${TABLE_SETTINGS}`,
    // The guard is evaluated once, before any branch inserts: all see the table empty or none.
    `INSERT INTO ${names}
${metricTables.map((t) => `${select(t)}\nWHERE (SELECT count() FROM ${names}) = 0\n${group}`).join('\nUNION ALL\n')}`,
    ...metricTables.map(
      (t) =>
        `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(`${METRIC_NAMES_1H_TABLE}_${t.slice(METRIC_TABLE_PREFIX.length)}_mv`, db)} TO ${names} AS
${select(t)}
${group}`,
    ),
  ];
}

/**
 * The hot writer's ledger. It outlives the hot retention by a day: a record redelivered later than
 * that carries rows the TTL (and the writer's expiry filter) would drop anyway.
 */
export function ledgerStatement(options: DdlOptions = {}): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(WRITE_LEDGER_TABLE, options.database)} (
  Stream LowCardinality(String),
  ShardId LowCardinality(String),
  SequenceNumber String,
  TableName LowCardinality(String),
  WrittenAt DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(WrittenAt)
ORDER BY (Stream, ShardId, SequenceNumber, TableName)
TTL WrittenAt + toIntervalDay(${retention(options) + 1})
SETTINGS ${TABLE_SETTINGS}`;
}

/** `CASE` expression mapping a column's legacy spellings to current ones (others kept). */
function relabel(column: string, map: Readonly<Record<string, string>>): string {
  const whens = Object.entries(map).map(([from, to]) => `WHEN '${from}' THEN '${to}'`);
  return `CASE ${column} ${whens.join(' ')} ELSE ${column} END`;
}

/**
 * Migration 2: the exporter's SpanKind/StatusCode spellings for rows already written, and
 * `TimestampTime` on otel_logs. The mutation runs in the background (it rewrites the parts holding
 * old values; a re-run finds nothing left to change). Materialized views do not see mutations, and
 * need not: the rollups store no kind or status, and their SELECTs accept both spellings.
 */
export function exporterSpellingStatements(options: DdlOptions = {}): string[] {
  const db = options.database;
  const old = (map: Readonly<Record<string, string>>) =>
    Object.keys(map)
      .map((k) => `'${k}'`)
      .join(', ');
  return [
    ...Object.entries(ALIAS_COLUMNS).flatMap(([table, defs]) =>
      defs.map((d) => `ALTER TABLE ${qualified(table, db)} ADD COLUMN IF NOT EXISTS ${d}`),
    ),
    `ALTER TABLE ${qualified('otel_traces', db)} UPDATE
  SpanKind = ${relabel('SpanKind', LEGACY_SPAN_KINDS)},
  StatusCode = ${relabel('StatusCode', LEGACY_STATUS_CODES)}
WHERE SpanKind IN (${old(LEGACY_SPAN_KINDS)}) OR StatusCode IN (${old(LEGACY_STATUS_CODES)})`,
  ];
}

/** Every statement of the current schema, in dependency order (tables before the views on them). */
export function schemaStatements(options: DdlOptions = {}): string[] {
  return [
    ...TABLE_NAMES.map((t) => createTableStatement(t, options)),
    ...rollupStatements(options),
    ledgerStatement(options),
  ];
}

/** Migration 6: the usage table and its daily view. */
export function usageStatements(options: DdlOptions = {}): string[] {
  const db = options.database;
  const table = qualified(USAGE_TABLE, db);
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (
  TenantId LowCardinality(String),
  Day Date,
  Signal LowCardinality(String),
  FirstEnvelopeId String,
  ItemsAccepted UInt64,
  ItemsRejected UInt64,
  WireBytes UInt64,
  DecodedBytes UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(Day)
ORDER BY (TenantId, Day, Signal, FirstEnvelopeId)
TTL Day + toIntervalDay(${USAGE_RETENTION_DAYS})`,
    `CREATE VIEW IF NOT EXISTS ${qualified(USAGE_DAILY_VIEW, db)} AS
SELECT TenantId, Day, Signal,
  count() AS Requests,
  sum(ItemsAccepted) AS ItemsAccepted,
  sum(ItemsRejected) AS ItemsRejected,
  sum(WireBytes) AS WireBytes,
  sum(DecodedBytes) AS DecodedBytes
FROM ${table} FINAL
GROUP BY TenantId, Day, Signal`,
  ];
}

/**
 * Tables whose TTL follows the hot retention (per tenant and signal: tenants/retention.ts), with
 * their TTL time expression, their signal and, for the hourly rollups, the least they keep.
 */
export const RETENTION_TABLES: ReadonlyArray<{
  readonly table: string;
  readonly timeExpr: string;
  readonly signal: Signal;
  readonly minDays?: number;
}> = [
  ...TABLE_NAMES.map((t) => ({
    table: t as string,
    timeExpr: TABLES[t].timeColumn as string,
    signal: TABLES[t].signal,
  })),
  { table: TRACE_LOOKUP_TABLE, timeExpr: 'Start', signal: 'traces' },
  { table: SERVICE_RED_TABLE, timeExpr: 'Hour', signal: 'traces', minDays: ROLLUP_RETENTION_DAYS },
  { table: LOG_COUNTS_TABLE, timeExpr: 'Hour', signal: 'logs', minDays: ROLLUP_RETENTION_DAYS },
  { table: SERVICE_RED_1M_TABLE, timeExpr: 'Minute', signal: 'traces' },
  { table: LOG_COUNTS_1M_TABLE, timeExpr: 'Minute', signal: 'logs' },
  { table: SPAN_COUNTS_1M_TABLE, timeExpr: 'Minute', signal: 'traces' },
  { table: EDGES_1H_TABLE, timeExpr: 'Hour', signal: 'traces' },
  { table: METRIC_NAMES_1H_TABLE, timeExpr: 'Hour', signal: 'metrics' },
];

/**
 * The TTL of a table whose retention is a per-row expression (tenants with their own hot
 * retention, tenants/retention.ts hotDaysExpression); a plain number gives ttlExpression's text.
 */
export function ttlExpressionOf(timeExpr: string, daysExpr: string): string {
  return /^\d+$/.test(daysExpr)
    ? ttlExpression(timeExpr, Number(daysExpr))
    : `toDateTime(${timeExpr}) + toIntervalDay(${daysExpr})`;
}
