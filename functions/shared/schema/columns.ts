/**
 * The column model: the one place that says which tables exist and which columns they have.
 *
 * Tables and column names follow the OpenTelemetry Collector ClickHouse exporter schema
 * (otel_traces, otel_logs, otel_metrics_*), plus a leading `TenantId`, so tools built for that
 * schema (Grafana's ClickHouse data source in OTel mode, ClickStack) read our tables unchanged.
 * The ClickHouse DDL, the Parquet (Arrow) schema and the Glue table definitions are all derived
 * from this module; none of them lists columns of its own.
 *
 * In-memory values (see `ColumnBatch` in ../rows/batch.ts) by logical type:
 * - `string`, `lowcard`: JS string ('' when absent, never null)
 * - `timestamp_ns`: decimal string of nanoseconds since the Unix epoch ('1700000000123456789');
 *   JS numbers cannot hold nanosecond epochs exactly
 * - `uint8`, `uint32`, `int32`: JS number
 * - `uint64`: JS number up to 2^53-1, else the exact decimal string ('18446744073709551615'):
 *   OTLP counts reach 2^64-1 (`Uint64` in otlp/model.ts)
 * - `float64`: JS number, or one of the strings 'NaN' | 'Infinity' | '-Infinity' (JSON has no
 *   non-finite numbers; consumers convert)
 * - `bool`: JS boolean
 * - `map`: Record<string, string> (attribute values stringified, see rows/attributes.ts)
 * - `array_float64`: elements as `float64`; `array_uint64`: elements as `uint64`
 * - a nested column `Events` with fields `Timestamp`, `Name` is carried as one physical column per
 *   field, named `Events.Timestamp`, `Events.Name` (ClickHouse's flattened Nested naming), each
 *   value an array with one element per nested item.
 */

export type ScalarType =
  | 'string'
  | 'lowcard'
  | 'timestamp_ns'
  | 'uint8'
  | 'uint32'
  | 'int32'
  | 'uint64'
  | 'float64'
  | 'bool'
  | 'map'
  | 'array_float64'
  | 'array_uint64';

export interface ScalarColumn {
  readonly name: string;
  readonly type: ScalarType;
  /** The value of a row that does not carry the column, when not the type's (schema/defaults.ts). */
  readonly absent?: number;
}

export interface NestedColumn {
  readonly name: string;
  readonly type: 'nested';
  readonly fields: readonly ScalarColumn[];
}

export type Column = ScalarColumn | NestedColumn;

export type Signal = 'traces' | 'logs' | 'metrics';

export const TABLE_NAMES = [
  'otel_traces',
  'otel_logs',
  'otel_metrics_gauge',
  'otel_metrics_sum',
  'otel_metrics_histogram',
  'otel_metrics_exponential_histogram',
  'otel_metrics_summary',
] as const;

export type TableName = (typeof TABLE_NAMES)[number];

export interface TableDef {
  readonly name: TableName;
  readonly signal: Signal;
  /** The event-time column: partitions, TTL, lake paths and time filters use it. */
  readonly timeColumn: 'Timestamp' | 'TimeUnix';
  readonly columns: readonly Column[];
}

const c = (name: string, type: ScalarType): ScalarColumn => ({ name, type });
const nested = (name: string, fields: ScalarColumn[]): NestedColumn => ({ name, type: 'nested', fields });

const TENANT = c('TenantId', 'lowcard');

/**
 * The content id of the envelope a row came in (ingest hashes the request as received, so a
 * byte-identical resend carries the same ids): the writers' dedup key in both tiers (ADR 0004,
 * 0005). Last in every table, after the Collector's columns. Not carried in the envelope payload:
 * the writers fill it from the envelope header, so flatten never creates it.
 */
export const ENVELOPE_ID_COLUMN = 'EnvelopeId';
const ENVELOPE_ID = c(ENVELOPE_ID_COLUMN, 'string');

/**
 * How many spans a hot-tier row stands for (ADR 0009): 1 unsampled, N for a trace the tenant's
 * 1-in-N head sample kept, 0 for a trace kept only for an error or a slow span (counted through the
 * sample instead, which keeps `sum(SampleRate)` unbiased). A row without it counts as 1, and every
 * lake row is 1 (the lake keeps every span). Filled by the writers, not carried in the payload.
 */
export const SAMPLE_RATE_COLUMN = 'SampleRate';
const SAMPLE_RATE: ScalarColumn = { name: SAMPLE_RATE_COLUMN, type: 'uint32', absent: 1 };

const EXEMPLARS = nested('Exemplars', [
  c('FilteredAttributes', 'map'),
  c('TimeUnix', 'timestamp_ns'),
  c('Value', 'float64'),
  c('SpanId', 'string'),
  c('TraceId', 'string'),
]);

/** Columns shared by every metrics table, in the exporter's order. */
const METRIC_COMMON: readonly Column[] = [
  TENANT,
  c('ResourceAttributes', 'map'),
  c('ResourceSchemaUrl', 'string'),
  c('ScopeName', 'string'),
  c('ScopeVersion', 'string'),
  c('ScopeAttributes', 'map'),
  c('ScopeDroppedAttrCount', 'uint32'),
  c('ScopeSchemaUrl', 'string'),
  c('ServiceName', 'lowcard'),
  c('MetricName', 'string'),
  c('MetricDescription', 'string'),
  c('MetricUnit', 'string'),
  c('Attributes', 'map'),
  c('StartTimeUnix', 'timestamp_ns'),
  c('TimeUnix', 'timestamp_ns'),
];

export const TABLES: Readonly<Record<TableName, TableDef>> = {
  otel_traces: {
    name: 'otel_traces',
    signal: 'traces',
    timeColumn: 'Timestamp',
    columns: [
      TENANT,
      c('Timestamp', 'timestamp_ns'),
      c('TraceId', 'string'),
      c('SpanId', 'string'),
      c('ParentSpanId', 'string'),
      c('TraceState', 'string'),
      c('SpanName', 'lowcard'),
      c('SpanKind', 'lowcard'),
      c('ServiceName', 'lowcard'),
      c('ResourceAttributes', 'map'),
      c('ScopeName', 'string'),
      c('ScopeVersion', 'string'),
      c('SpanAttributes', 'map'),
      c('Duration', 'uint64'),
      c('StatusCode', 'lowcard'),
      c('StatusMessage', 'string'),
      nested('Events', [c('Timestamp', 'timestamp_ns'), c('Name', 'lowcard'), c('Attributes', 'map')]),
      nested('Links', [
        c('TraceId', 'string'),
        c('SpanId', 'string'),
        c('TraceState', 'string'),
        c('Attributes', 'map'),
      ]),
      ENVELOPE_ID,
      SAMPLE_RATE,
    ],
  },
  otel_logs: {
    name: 'otel_logs',
    signal: 'logs',
    timeColumn: 'Timestamp',
    columns: [
      TENANT,
      c('Timestamp', 'timestamp_ns'),
      c('TraceId', 'string'),
      c('SpanId', 'string'),
      c('TraceFlags', 'uint8'),
      c('SeverityText', 'lowcard'),
      c('SeverityNumber', 'uint8'),
      c('ServiceName', 'lowcard'),
      c('Body', 'string'),
      c('ResourceSchemaUrl', 'lowcard'),
      c('ResourceAttributes', 'map'),
      c('ScopeSchemaUrl', 'lowcard'),
      c('ScopeName', 'string'),
      c('ScopeVersion', 'lowcard'),
      c('ScopeAttributes', 'map'),
      c('LogAttributes', 'map'),
      c('EventName', 'string'),
      ENVELOPE_ID,
    ],
  },
  otel_metrics_gauge: {
    name: 'otel_metrics_gauge',
    signal: 'metrics',
    timeColumn: 'TimeUnix',
    columns: [...METRIC_COMMON, c('Value', 'float64'), c('Flags', 'uint32'), EXEMPLARS, ENVELOPE_ID],
  },
  otel_metrics_sum: {
    name: 'otel_metrics_sum',
    signal: 'metrics',
    timeColumn: 'TimeUnix',
    columns: [
      ...METRIC_COMMON,
      c('Value', 'float64'),
      c('Flags', 'uint32'),
      EXEMPLARS,
      c('AggregationTemporality', 'int32'),
      c('IsMonotonic', 'bool'),
      ENVELOPE_ID,
    ],
  },
  otel_metrics_histogram: {
    name: 'otel_metrics_histogram',
    signal: 'metrics',
    timeColumn: 'TimeUnix',
    columns: [
      ...METRIC_COMMON,
      c('Count', 'uint64'),
      c('Sum', 'float64'),
      c('BucketCounts', 'array_uint64'),
      c('ExplicitBounds', 'array_float64'),
      EXEMPLARS,
      c('Flags', 'uint32'),
      c('Min', 'float64'),
      c('Max', 'float64'),
      c('AggregationTemporality', 'int32'),
      ENVELOPE_ID,
    ],
  },
  otel_metrics_exponential_histogram: {
    name: 'otel_metrics_exponential_histogram',
    signal: 'metrics',
    timeColumn: 'TimeUnix',
    columns: [
      ...METRIC_COMMON,
      c('Count', 'uint64'),
      c('Sum', 'float64'),
      c('Scale', 'int32'),
      c('ZeroCount', 'uint64'),
      c('PositiveOffset', 'int32'),
      c('PositiveBucketCounts', 'array_uint64'),
      c('NegativeOffset', 'int32'),
      c('NegativeBucketCounts', 'array_uint64'),
      EXEMPLARS,
      c('Flags', 'uint32'),
      c('Min', 'float64'),
      c('Max', 'float64'),
      c('AggregationTemporality', 'int32'),
      ENVELOPE_ID,
    ],
  },
  otel_metrics_summary: {
    name: 'otel_metrics_summary',
    signal: 'metrics',
    timeColumn: 'TimeUnix',
    columns: [
      ...METRIC_COMMON,
      c('Count', 'uint64'),
      c('Sum', 'float64'),
      nested('ValueAtQuantiles', [c('Quantile', 'float64'), c('Value', 'float64')]),
      c('Flags', 'uint32'),
      ENVELOPE_ID,
    ],
  },
};

export const SIGNAL_TABLES: Readonly<Record<Signal, readonly TableName[]>> = {
  traces: ['otel_traces'],
  logs: ['otel_logs'],
  metrics: [
    'otel_metrics_gauge',
    'otel_metrics_sum',
    'otel_metrics_histogram',
    'otel_metrics_exponential_histogram',
    'otel_metrics_summary',
  ],
};

/** A physical column as carried in a batch: nested columns expand to `Parent.Field` arrays. */
export interface PhysicalColumn {
  readonly name: string;
  readonly type: ScalarType;
  /** Set for the fields of a nested column: each value is an array of `type`. */
  readonly nestedIn?: string;
  /** See ScalarColumn.absent. */
  readonly absent?: number;
}

export function physicalColumns(table: TableName): readonly PhysicalColumn[] {
  const out: PhysicalColumn[] = [];
  for (const col of TABLES[table].columns) {
    if (col.type === 'nested') {
      for (const f of col.fields)
        out.push({ name: `${col.name}.${f.name}`, type: f.type, nestedIn: col.name });
    } else {
      out.push({ name: col.name, type: col.type, ...(col.absent !== undefined && { absent: col.absent }) });
    }
  }
  return out;
}

/** The physical columns an envelope payload carries: all but those the writers fill from the header. */
export function payloadColumns(table: TableName): readonly PhysicalColumn[] {
  return physicalColumns(table).filter(
    (col) => col.name !== ENVELOPE_ID_COLUMN && col.name !== SAMPLE_RATE_COLUMN,
  );
}

export function isTableName(name: string): name is TableName {
  return (TABLE_NAMES as readonly string[]).includes(name);
}
