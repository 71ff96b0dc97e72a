import {
  ENTRY_SPAN_KINDS,
  ERROR_STATUS_CODES,
  LEGACY_SPAN_KINDS,
  LEGACY_STATUS_CODES,
} from '../clickhouse/ddl.js';
import type { TimeRange } from './time.js';

/**
 * The logical queries of the query API and the port each tier implements. A query says what to
 * find, never how: the ClickHouse reader (hot tier, and the local cold tier over Parquet) and the
 * Athena reader (cold tier) each compile it to their own dialect, always scoped to `tenant` and
 * bounded by `range`, with every value bound as a parameter.
 */

export type Tier = 'hot' | 'cold';
export type SpanStatus = 'ok' | 'error' | 'unset';

interface Scoped {
  readonly tenant: string;
  readonly range: TimeRange;
}

export interface TraceQuery extends Scoped {
  readonly traceId: string;
  /** Most spans returned for one trace. */
  readonly limit: number;
}

export interface TraceSearchQuery extends Scoped {
  readonly service?: string;
  readonly operation?: string;
  readonly minDurationNs?: bigint;
  readonly status?: SpanStatus;
  /** Rows to fetch (the API asks for one more than the page to know whether another follows). */
  readonly limit: number;
  /** Keyset: only traces ordered after this one (start descending, then trace id descending). */
  readonly after?: { readonly startNs: bigint; readonly traceId: string };
}

export interface LogSearchQuery extends Scoped {
  readonly service?: string;
  /** Lowest SeverityNumber returned. */
  readonly minSeverity?: number;
  /** Case-insensitive substring of the body. */
  readonly text?: string;
  readonly traceId?: string;
  readonly limit: number;
  /** Keyset: only records at or before this time (the API skips those already returned). */
  readonly atOrBeforeNs?: bigint;
}

export interface MetricQuery extends Scoped {
  readonly name: string;
  readonly service?: string;
  /** Attribute equality filters on the data points' attributes. */
  readonly attributes: readonly (readonly [string, string])[];
  readonly stepMs: number;
  /**
   * Series per value of this data-point attribute instead of per service (points without it are
   * left out); the value travels in MetricBucket.serviceName / HistogramBucket.group.
   */
  readonly groupByAttribute?: string;
}

/** RED of entry spans per service (or per operation of one service). */
export interface ServicesQuery extends Scoped {
  readonly service?: string;
  /** Group by span name too (the operations of `service`). @default false */
  readonly byOperation?: boolean;
}

/** RED of entry spans per (service, step bucket). */
export interface ServiceSeriesQuery extends Scoped {
  readonly service?: string;
  readonly stepMs: number;
}

/** Log records per (step bucket, severity), with the log search's filters. */
export interface LogHistogramQuery extends Scoped {
  readonly service?: string;
  readonly minSeverity?: number;
  readonly text?: string;
  readonly traceId?: string;
  readonly stepMs: number;
}

export interface MetricNamesQuery extends Scoped {
  /** Case-insensitive substring of the name. */
  readonly text?: string;
}

export interface SpanEvent {
  readonly timeUnixNano: string;
  readonly name: string;
  readonly attributes: Record<string, string>;
}

export interface SpanLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string;
  readonly attributes: Record<string, string>;
}

export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  readonly kind: string;
  readonly serviceName: string;
  readonly startTimeUnixNano: string;
  readonly durationNanos: string;
  readonly statusCode: string;
  readonly statusMessage: string;
  readonly attributes: Record<string, string>;
  readonly resourceAttributes: Record<string, string>;
  readonly scopeName: string;
  readonly scopeVersion: string;
  readonly events: SpanEvent[];
  readonly links: SpanLink[];
}

/** One trace found by a search: a summary of its spans that matched the filters. */
export interface TraceSummary {
  readonly traceId: string;
  /** Earliest matching span's start. */
  readonly startTimeUnixNano: string;
  /** Service and name of the earliest matching span. */
  readonly serviceName: string;
  readonly operation: string;
  /** Longest matching span. */
  readonly maxDurationNanos: string;
  readonly spanCount: number;
  readonly errorCount: number;
}

export interface LogRecordRow {
  readonly timeUnixNano: string;
  readonly serviceName: string;
  readonly severityText: string;
  readonly severityNumber: number;
  readonly body: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly attributes: Record<string, string>;
  readonly resourceAttributes: Record<string, string>;
}

export type MetricType = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

/** Partial aggregates of one (type, service, step bucket): tiers merge by adding them up. */
export interface MetricBucket {
  readonly metricType: MetricType;
  readonly serviceName: string;
  readonly bucketMs: number;
  readonly sum: number;
  readonly count: number;
  readonly min: number | null;
  readonly max: number | null;
}

export interface ServiceStats {
  readonly serviceName: string;
  /** Span name, when grouped by operation. */
  readonly operation?: string;
  readonly requests: number;
  readonly errors: number;
  /** Latency quantiles (p50, p95, p99) in nanoseconds; null without requests. */
  readonly quantilesNs: readonly [number, number, number] | null;
}

export interface ServiceBucket extends ServiceStats {
  readonly bucketMs: number;
}

/**
 * Calls from spans of `parent` to child spans of `child` (another service): the child spans'
 * count, errors and latency quantiles (ns).
 */
export interface ServiceEdge {
  readonly parent: string;
  readonly child: string;
  readonly calls: number;
  readonly errors: number;
  readonly quantilesNs: readonly [number, number, number] | null;
}

/** Log records of one step bucket and SeverityNumber (SeverityText kept only for number 0). */
export interface LogCount {
  readonly bucketMs: number;
  readonly severityNumber: number;
  readonly severityText: string;
  readonly count: number;
}

export interface MetricName {
  readonly name: string;
  readonly type: MetricType;
  readonly unit: string;
  readonly description: string;
  readonly services: string[];
}

/** Summed explicit-bucket counts of one (group, step bucket, bounds) of a histogram metric. */
export interface HistogramBucket {
  readonly group: string;
  readonly bucketMs: number;
  readonly bounds: number[];
  readonly counts: number[];
  /** Smallest and largest value recorded (null when the points carry none). */
  readonly min: number | null;
  readonly max: number | null;
}

export interface TierStats {
  readonly tier: Tier;
  readonly engine: 'clickhouse' | 'athena' | 'clickhouse-parquet';
  readonly queries: number;
  readonly rowsRead?: number;
  readonly bytesRead?: number;
  /** Athena: bytes scanned (what Athena bills). */
  readonly bytesScanned?: number;
  readonly elapsedMs: number;
}

export interface TierResult<T> {
  readonly rows: T[];
  readonly stats: TierStats;
  /** The tier stopped short of `limit` for size (more rows follow those returned). */
  readonly cut?: boolean;
}

/** A deadline for the whole request: readers stop (and report a timeout) when it passes. */
export interface QueryBudget {
  /** Epoch ms after which the reader gives up. */
  readonly deadlineMs: number;
}

/** The port both tiers implement. */
export interface TelemetryReader {
  readonly tier: Tier;
  trace(q: TraceQuery, budget: QueryBudget): Promise<TierResult<SpanRecord>>;
  searchTraces(q: TraceSearchQuery, budget: QueryBudget): Promise<TierResult<TraceSummary>>;
  searchLogs(q: LogSearchQuery, budget: QueryBudget): Promise<TierResult<LogRecordRow>>;
  metricBuckets(q: MetricQuery, budget: QueryBudget): Promise<TierResult<MetricBucket>>;
  services(q: ServicesQuery, budget: QueryBudget): Promise<TierResult<ServiceStats>>;
  serviceSeries(q: ServiceSeriesQuery, budget: QueryBudget): Promise<TierResult<ServiceBucket>>;
  serviceEdges(q: ServicesQuery, budget: QueryBudget): Promise<TierResult<ServiceEdge>>;
  logHistogram(q: LogHistogramQuery, budget: QueryBudget): Promise<TierResult<LogCount>>;
  metricNames(q: MetricNamesQuery, budget: QueryBudget): Promise<TierResult<MetricName>>;
  metricHistograms(q: MetricQuery, budget: QueryBudget): Promise<TierResult<HistogramBucket>>;
}

/**
 * The service map reads a child span's parent up to this long before the range (a parent starts
 * before its children; a call whose parent began longer ago than this is not on the map) and
 * this long after it (clock skew between hosts).
 */
export const EDGE_PARENT_LOOKBACK_MS = 5 * 60_000;
export const EDGE_PARENT_LOOKAHEAD_MS = 60_000;

export { ENTRY_SPAN_KINDS };
/** StatusCode spellings (Collector and proto names); errors as the rollup counts them. */
export const STATUS_CODES: Readonly<Record<SpanStatus, readonly string[]>> = {
  ok: ['Ok', 'STATUS_CODE_OK'],
  error: ERROR_STATUS_CODES,
  unset: ['Unset', 'STATUS_CODE_UNSET', ''],
};
const invert = (m: Readonly<Record<string, string>>) => new Map(Object.entries(m).map(([k, v]) => [v, k]));
const PROTO_KIND = invert(LEGACY_SPAN_KINDS);
const PROTO_STATUS = invert(LEGACY_STATUS_CODES);
/**
 * The API answers with OTLP's enum names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`) whichever
 * spelling a row was stored with (the exporter's `Server`, or the proto name of older rows and parts).
 */
export const apiSpanKind = (stored: string): string => PROTO_KIND.get(stored) ?? stored;
export const apiStatusCode = (stored: string): string => PROTO_STATUS.get(stored) ?? stored;

export const METRIC_TABLES: Readonly<Record<MetricType, string>> = {
  gauge: 'otel_metrics_gauge',
  sum: 'otel_metrics_sum',
  histogram: 'otel_metrics_histogram',
  exponential_histogram: 'otel_metrics_exponential_histogram',
  summary: 'otel_metrics_summary',
};
