/**
 * The decoded OTLP request, the same whichever wire format it came in (protobuf, OTLP/JSON or
 * the protobuf canonical JSON mapping). Decoders produce it; rows/flatten consumes it. It mirrors
 * opentelemetry-proto's messages with three normalisations:
 * - trace and span ids are lowercase hex strings ('' when absent);
 * - times are decimal strings of nanoseconds since the epoch ('0' when absent);
 * - enums are numbers (names such as "SPAN_KIND_SERVER" are mapped by the JSON decoder);
 * - uint64 counts are `Uint64`: a number while exact (below 2^53, nearly always), else a decimal
 *   string, so a count of 2^64-1 reaches both writers exact;
 * - strings are well-formed Unicode: the JSON decoder replaces lone UTF-16 surrogates with U+FFFD.
 *
 * A decoder that meets an item it cannot take (an id of the wrong length, invalid UTF-8, an
 * unknown enum name) does not fail the request: it sets `invalid` on that item with a reason,
 * and flatten counts the item as rejected in `partial_success`.
 */

/**
 * A uint64 value: a JS number when at most Number.MAX_SAFE_INTEGER (exact), otherwise its canonical
 * decimal string. Never a number above 2^53 (inexact) and never a string at or below it, so equal
 * values have one representation. See `uint64Of` in int64.ts.
 */
export type Uint64 = number | string;

export type AnyValue =
  | { readonly t: 'string'; readonly v: string }
  | { readonly t: 'bool'; readonly v: boolean }
  /** int64 as a decimal string: exact beyond 2^53. */
  | { readonly t: 'int'; readonly v: string }
  | { readonly t: 'double'; readonly v: number }
  | { readonly t: 'bytes'; readonly v: Uint8Array }
  | { readonly t: 'array'; readonly v: readonly AnyValue[] }
  | { readonly t: 'kvlist'; readonly v: readonly KeyValue[] };

export interface KeyValue {
  readonly key: string;
  /** Undefined when the producer sent a KeyValue with no value. */
  readonly value: AnyValue | undefined;
}

export interface Resource {
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
}

export interface InstrumentationScope {
  readonly name: string;
  readonly version: string;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
}

/** Set by a decoder on an item it could not take whole; see the module comment. */
export interface MaybeInvalid {
  invalid?: string;
}

// ---- traces ----

export interface SpanEvent {
  readonly timeUnixNano: string;
  readonly name: string;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
}

export interface SpanLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
  readonly flags: number;
}

export interface Span extends MaybeInvalid {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string;
  readonly parentSpanId: string;
  readonly flags: number;
  readonly name: string;
  /** opentelemetry.proto.trace.v1.Span.SpanKind: 0 unspecified … 5 consumer. */
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
  readonly events: readonly SpanEvent[];
  readonly droppedEventsCount: number;
  readonly links: readonly SpanLink[];
  readonly droppedLinksCount: number;
  /** Status.StatusCode: 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message: string };
}

export interface ScopeSpans {
  readonly scope: InstrumentationScope;
  readonly schemaUrl: string;
  readonly spans: readonly Span[];
}

export interface ResourceSpans {
  readonly resource: Resource;
  readonly schemaUrl: string;
  readonly scopeSpans: readonly ScopeSpans[];
}

export interface TracesRequest {
  readonly resourceSpans: readonly ResourceSpans[];
}

// ---- logs ----

export interface LogRecord extends MaybeInvalid {
  readonly timeUnixNano: string;
  readonly observedTimeUnixNano: string;
  /** SeverityNumber 0..24. */
  readonly severityNumber: number;
  readonly severityText: string;
  readonly body: AnyValue | undefined;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
  readonly flags: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly eventName: string;
}

export interface ScopeLogs {
  readonly scope: InstrumentationScope;
  readonly schemaUrl: string;
  readonly logRecords: readonly LogRecord[];
}

export interface ResourceLogs {
  readonly resource: Resource;
  readonly schemaUrl: string;
  readonly scopeLogs: readonly ScopeLogs[];
}

export interface LogsRequest {
  readonly resourceLogs: readonly ResourceLogs[];
}

// ---- metrics ----

export interface Exemplar {
  readonly filteredAttributes: readonly KeyValue[];
  readonly timeUnixNano: string;
  /** as_double, or as_int converted to a double. */
  readonly value: number;
  readonly spanId: string;
  readonly traceId: string;
}

interface DataPointBase extends MaybeInvalid {
  readonly attributes: readonly KeyValue[];
  readonly startTimeUnixNano: string;
  readonly timeUnixNano: string;
  readonly flags: number;
  readonly exemplars: readonly Exemplar[];
}

export interface NumberDataPoint extends DataPointBase {
  /** as_double, or as_int converted to a double. */
  readonly value: number;
}

export interface HistogramDataPoint extends DataPointBase {
  readonly count: Uint64;
  readonly sum: number | undefined;
  readonly bucketCounts: readonly Uint64[];
  readonly explicitBounds: readonly number[];
  readonly min: number | undefined;
  readonly max: number | undefined;
}

export interface ExponentialBuckets {
  readonly offset: number;
  readonly bucketCounts: readonly Uint64[];
}

export interface ExponentialHistogramDataPoint extends DataPointBase {
  readonly count: Uint64;
  readonly sum: number | undefined;
  readonly scale: number;
  readonly zeroCount: Uint64;
  readonly positive: ExponentialBuckets;
  readonly negative: ExponentialBuckets;
  readonly min: number | undefined;
  readonly max: number | undefined;
  readonly zeroThreshold: number;
}

export interface SummaryDataPoint extends MaybeInvalid {
  readonly attributes: readonly KeyValue[];
  readonly startTimeUnixNano: string;
  readonly timeUnixNano: string;
  readonly count: Uint64;
  readonly sum: number;
  readonly quantileValues: readonly { readonly quantile: number; readonly value: number }[];
  readonly flags: number;
}

/** AggregationTemporality: 0 unspecified, 1 delta, 2 cumulative. */
export type MetricData =
  | { readonly type: 'gauge'; readonly dataPoints: readonly NumberDataPoint[] }
  | {
      readonly type: 'sum';
      readonly dataPoints: readonly NumberDataPoint[];
      readonly aggregationTemporality: number;
      readonly isMonotonic: boolean;
    }
  | {
      readonly type: 'histogram';
      readonly dataPoints: readonly HistogramDataPoint[];
      readonly aggregationTemporality: number;
    }
  | {
      readonly type: 'exponential_histogram';
      readonly dataPoints: readonly ExponentialHistogramDataPoint[];
      readonly aggregationTemporality: number;
    }
  | { readonly type: 'summary'; readonly dataPoints: readonly SummaryDataPoint[] };

export interface Metric {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly metadata: readonly KeyValue[];
  /** Undefined when the metric carries no data field (nothing to store). */
  readonly data: MetricData | undefined;
}

export interface ScopeMetrics {
  readonly scope: InstrumentationScope;
  readonly schemaUrl: string;
  readonly metrics: readonly Metric[];
}

export interface ResourceMetrics {
  readonly resource: Resource;
  readonly schemaUrl: string;
  readonly scopeMetrics: readonly ScopeMetrics[];
}

export interface MetricsRequest {
  readonly resourceMetrics: readonly ResourceMetrics[];
}

export type OtlpRequest =
  | { readonly signal: 'traces'; readonly request: TracesRequest }
  | { readonly signal: 'logs'; readonly request: LogsRequest }
  | { readonly signal: 'metrics'; readonly request: MetricsRequest };
