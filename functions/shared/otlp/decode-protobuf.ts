import { type DecodeCaps, OtlpDecodeError } from './decode-error.js';
import type {
  AnyValue,
  Exemplar,
  ExponentialBuckets,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  InstrumentationScope,
  KeyValue,
  LogRecord,
  LogsRequest,
  MaybeInvalid,
  Metric,
  MetricData,
  MetricsRequest,
  NumberDataPoint,
  Resource,
  ResourceLogs,
  ResourceMetrics,
  ResourceSpans,
  ScopeLogs,
  ScopeMetrics,
  ScopeSpans,
  Span,
  SpanEvent,
  SpanLink,
  SummaryDataPoint,
  TracesRequest,
  Uint64,
} from './model.js';
import { ProtoReader } from './protobuf-reader.js';

/**
 * The hand-written protobuf decoder for the OTLP export requests
 * (opentelemetry-proto collector/{trace,logs,metrics}/v1). Each message decoder loops over
 * the tags of its byte range and switches on the whole tag, `field << 3 | wire type`, so a known
 * field with the expected wire type is one jump; everything else goes to `ProtoReader.skip`,
 * which rejects a known field with another wire type and skips unknown fields.
 *
 * Field numbers are those of the .proto files, noted beside each case as `field: name`.
 */

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const bits = (...fields: number[]): number => fields.reduce((m, f) => m | (1 << f), 0);

const EMPTY_RESOURCE: Resource = { attributes: [], droppedAttributesCount: 0 };
const EMPTY_SCOPE: InstrumentationScope = {
  name: '',
  version: '',
  attributes: [],
  droppedAttributesCount: 0,
};
const NO_STATUS: Span['status'] = { code: 0, message: '' };
const NO_BUCKETS: ExponentialBuckets = { offset: 0, bucketCounts: [] };

function markAll(items: readonly MaybeInvalid[], reason: string): void {
  for (const item of items) item.invalid ??= reason;
}

// ---- common ----

const KV_KNOWN = bits(1, 2);
function keyValue(r: ProtoReader, end: number, depth: number): KeyValue {
  r.attribute();
  let key = '';
  let value: AnyValue | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: key
        key = r.string();
        break;
      case 18: // 2: value
        value = anyValue(r, r.lenEnd(), depth);
        break;
      default:
        r.skip(tag, KV_KNOWN, 'KeyValue');
    }
  }
  r.finish(end, 'KeyValue');
  return { key, value };
}

const ANY_KNOWN = bits(1, 2, 3, 4, 5, 6, 7);
function anyValue(r: ProtoReader, end: number, depth: number): AnyValue | undefined {
  let value: AnyValue | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: string_value
        value = { t: 'string', v: r.string() };
        break;
      case 16: // 2: bool_value
        value = { t: 'bool', v: r.bool() };
        break;
      case 24: // 3: int_value
        value = { t: 'int', v: r.int64Decimal() };
        break;
      case 33: // 4: double_value
        value = { t: 'double', v: r.double() };
        break;
      case 42: // 5: array_value
        value = { t: 'array', v: arrayValue(r, r.lenEnd(), depth + 1) };
        break;
      case 50: // 6: kvlist_value
        value = { t: 'kvlist', v: kvlistValue(r, r.lenEnd(), depth + 1) };
        break;
      case 58: // 7: bytes_value
        value = { t: 'bytes', v: r.bytesCopy() };
        break;
      default:
        r.skip(tag, ANY_KNOWN, 'AnyValue');
    }
  }
  r.finish(end, 'AnyValue');
  return value;
}

function checkDepth(r: ProtoReader, depth: number): void {
  if (depth > r.maxDepth)
    throw new OtlpDecodeError(`attribute values nested deeper than ${r.maxDepth} levels`);
}

function arrayValue(r: ProtoReader, end: number, depth: number): AnyValue[] {
  checkDepth(r, depth);
  const values: AnyValue[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 10) {
      // 1: values. An element with no value has nothing to carry in the model: dropped.
      r.attribute();
      const v = anyValue(r, r.lenEnd(), depth);
      if (v !== undefined) values.push(v);
    } else r.skip(tag, 2, 'ArrayValue');
  }
  r.finish(end, 'ArrayValue');
  return values;
}

function kvlistValue(r: ProtoReader, end: number, depth: number): KeyValue[] {
  checkDepth(r, depth);
  const values: KeyValue[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 10)
      values.push(keyValue(r, r.lenEnd(), depth)); // 1: values
    else r.skip(tag, 2, 'KeyValueList');
  }
  r.finish(end, 'KeyValueList');
  return values;
}

const RESOURCE_KNOWN = bits(1, 2);
function resource(r: ProtoReader, end: number): Resource {
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 16: // 2: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      default: // 3: entity_refs, not modelled
        r.skip(tag, RESOURCE_KNOWN, 'Resource');
    }
  }
  r.finish(end, 'Resource');
  return { attributes, droppedAttributesCount };
}

const SCOPE_KNOWN = bits(1, 2, 3, 4);
function scope(r: ProtoReader, end: number): InstrumentationScope {
  let name = '';
  let version = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: name
        name = r.string();
        break;
      case 18: // 2: version
        version = r.string();
        break;
      case 26: // 3: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 32: // 4: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      default:
        r.skip(tag, SCOPE_KNOWN, 'InstrumentationScope');
    }
  }
  r.finish(end, 'InstrumentationScope');
  return { name, version, attributes, droppedAttributesCount };
}

/**
 * The Resource* and Scope* envelopes share one shape: a header message (field 1), repeated
 * children (field 2) and a schema_url (field 3). A problem in the header or schema_url belongs to
 * every item below it, which `items` lists once the envelope is read (fields may come in any order).
 */
function envelope<H, C>(
  r: ProtoReader,
  end: number,
  message: string,
  empty: H,
  header: (r: ProtoReader, end: number) => H,
  child: (r: ProtoReader, end: number) => C,
  items: (children: C[]) => Iterable<readonly MaybeInvalid[]>,
): { header: H; schemaUrl: string; children: C[] } {
  r.attribute();
  const outer = r.problem;
  r.problem = undefined;
  let head = empty;
  let schemaUrl = '';
  const children: C[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: resource | scope
        head = header(r, r.lenEnd());
        break;
      case 18: // 2: scope_* | spans | log_records | metrics
        children.push(child(r, r.lenEnd()));
        break;
      case 26: // 3: schema_url
        schemaUrl = r.string();
        break;
      default:
        r.skip(tag, 0b1110, message);
    }
  }
  r.finish(end, message);
  if (r.problem !== undefined) for (const list of items(children)) markAll(list, r.problem);
  r.problem = outer;
  return { header: head, schemaUrl, children };
}

function topLevel<T>(r: ProtoReader, message: string, child: (r: ProtoReader, end: number) => T): T[] {
  const out: T[] = [];
  while (r.pos < r.len) {
    const tag = r.varint();
    if (tag === 10)
      out.push(child(r, r.lenEnd())); // 1: resource_spans | resource_logs | resource_metrics
    else r.skip(tag, 2, message);
  }
  return out;
}

// ---- traces ----

export function decodeTracesProtobuf(buf: Uint8Array, maxDepth: number, caps?: DecodeCaps): TracesRequest {
  const r = new ProtoReader(buf, maxDepth, caps);
  return { resourceSpans: topLevel(r, 'ExportTraceServiceRequest', resourceSpans) };
}

function resourceSpans(r: ProtoReader, end: number): ResourceSpans {
  const e = envelope(r, end, 'ResourceSpans', EMPTY_RESOURCE, resource, scopeSpans, (c) =>
    c.map((s) => s.spans),
  );
  return { resource: e.header, schemaUrl: e.schemaUrl, scopeSpans: e.children };
}

function scopeSpans(r: ProtoReader, end: number): ScopeSpans {
  const e = envelope(r, end, 'ScopeSpans', EMPTY_SCOPE, scope, span, (c) => [c]);
  return { scope: e.header, schemaUrl: e.schemaUrl, spans: e.children };
}

const SPAN_KNOWN = bits(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
function span(r: ProtoReader, end: number): Span {
  r.item();
  const outer = r.problem;
  r.problem = undefined;
  let traceId = '';
  let spanId = '';
  let traceState = '';
  let parentSpanId = '';
  let flags = 0;
  let name = '';
  let kind = 0;
  let startTimeUnixNano = '0';
  let endTimeUnixNano = '0';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  const events: SpanEvent[] = [];
  let droppedEventsCount = 0;
  const links: SpanLink[] = [];
  let droppedLinksCount = 0;
  let status = NO_STATUS;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: trace_id
        traceId = r.id(16, 'trace_id');
        break;
      case 18: // 2: span_id
        spanId = r.id(8, 'span_id');
        break;
      case 26: // 3: trace_state
        traceState = r.string();
        break;
      case 34: // 4: parent_span_id
        parentSpanId = r.id(8, 'parent_span_id');
        break;
      case 42: // 5: name
        name = r.string();
        break;
      case 48: // 6: kind
        kind = r.int32();
        break;
      case 57: // 7: start_time_unix_nano
        startTimeUnixNano = r.fixed64Decimal();
        break;
      case 65: // 8: end_time_unix_nano
        endTimeUnixNano = r.fixed64Decimal();
        break;
      case 74: // 9: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 80: // 10: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      case 90: // 11: events
        events.push(spanEvent(r, r.lenEnd()));
        break;
      case 96: // 12: dropped_events_count
        droppedEventsCount = r.varint();
        break;
      case 106: // 13: links
        links.push(spanLink(r, r.lenEnd()));
        break;
      case 112: // 14: dropped_links_count
        droppedLinksCount = r.varint();
        break;
      case 122: // 15: status
        status = spanStatus(r, r.lenEnd());
        break;
      case 133: // 16: flags (fixed32)
        flags = r.fixed32();
        break;
      default:
        r.skip(tag, SPAN_KNOWN, 'Span');
    }
  }
  r.finish(end, 'Span');
  const out: Mutable<Span> = {
    traceId,
    spanId,
    traceState,
    parentSpanId,
    flags,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    attributes,
    droppedAttributesCount,
    events,
    droppedEventsCount,
    links,
    droppedLinksCount,
    status,
  };
  if (r.problem !== undefined) out.invalid = r.problem;
  r.problem = outer;
  return out;
}

const EVENT_KNOWN = bits(1, 2, 3, 4);
function spanEvent(r: ProtoReader, end: number): SpanEvent {
  r.attribute();
  let timeUnixNano = '0';
  let name = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 9: // 1: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 18: // 2: name
        name = r.string();
        break;
      case 26: // 3: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 32: // 4: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      default:
        r.skip(tag, EVENT_KNOWN, 'Span.Event');
    }
  }
  r.finish(end, 'Span.Event');
  return { timeUnixNano, name, attributes, droppedAttributesCount };
}

const LINK_KNOWN = bits(1, 2, 3, 4, 5, 6);
function spanLink(r: ProtoReader, end: number): SpanLink {
  r.attribute();
  let traceId = '';
  let spanId = '';
  let traceState = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: trace_id
        traceId = r.id(16, 'links.trace_id');
        break;
      case 18: // 2: span_id
        spanId = r.id(8, 'links.span_id');
        break;
      case 26: // 3: trace_state
        traceState = r.string();
        break;
      case 34: // 4: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 40: // 5: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      case 53: // 6: flags (fixed32)
        flags = r.fixed32();
        break;
      default:
        r.skip(tag, LINK_KNOWN, 'Span.Link');
    }
  }
  r.finish(end, 'Span.Link');
  return { traceId, spanId, traceState, attributes, droppedAttributesCount, flags };
}

const STATUS_KNOWN = bits(2, 3);
function spanStatus(r: ProtoReader, end: number): Span['status'] {
  let code = 0;
  let message = '';
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 18: // 2: message
        message = r.string();
        break;
      case 24: // 3: code
        code = r.int32();
        break;
      default: // 1: the deprecated code, not read
        r.skip(tag, STATUS_KNOWN, 'Status');
    }
  }
  r.finish(end, 'Status');
  return { code, message };
}

// ---- logs ----

export function decodeLogsProtobuf(buf: Uint8Array, maxDepth: number, caps?: DecodeCaps): LogsRequest {
  const r = new ProtoReader(buf, maxDepth, caps);
  return { resourceLogs: topLevel(r, 'ExportLogsServiceRequest', resourceLogs) };
}

function resourceLogs(r: ProtoReader, end: number): ResourceLogs {
  const e = envelope(r, end, 'ResourceLogs', EMPTY_RESOURCE, resource, scopeLogs, (c) =>
    c.map((s) => s.logRecords),
  );
  return { resource: e.header, schemaUrl: e.schemaUrl, scopeLogs: e.children };
}

function scopeLogs(r: ProtoReader, end: number): ScopeLogs {
  const e = envelope(r, end, 'ScopeLogs', EMPTY_SCOPE, scope, logRecord, (c) => [c]);
  return { scope: e.header, schemaUrl: e.schemaUrl, logRecords: e.children };
}

const LOG_KNOWN = bits(1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12);
function logRecord(r: ProtoReader, end: number): LogRecord {
  r.item();
  const outer = r.problem;
  r.problem = undefined;
  let timeUnixNano = '0';
  let observedTimeUnixNano = '0';
  let severityNumber = 0;
  let severityText = '';
  let body: AnyValue | undefined;
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  let traceId = '';
  let spanId = '';
  let eventName = '';
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 9: // 1: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 89: // 11: observed_time_unix_nano
        observedTimeUnixNano = r.fixed64Decimal();
        break;
      case 16: // 2: severity_number
        severityNumber = r.int32();
        break;
      case 26: // 3: severity_text
        severityText = r.string();
        break;
      case 42: // 5: body
        body = anyValue(r, r.lenEnd(), 0);
        break;
      case 50: // 6: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 56: // 7: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      case 69: // 8: flags (fixed32)
        flags = r.fixed32();
        break;
      case 74: // 9: trace_id
        traceId = r.id(16, 'trace_id');
        break;
      case 82: // 10: span_id
        spanId = r.id(8, 'span_id');
        break;
      case 98: // 12: event_name
        eventName = r.string();
        break;
      default:
        r.skip(tag, LOG_KNOWN, 'LogRecord');
    }
  }
  r.finish(end, 'LogRecord');
  const out: Mutable<LogRecord> = {
    timeUnixNano,
    observedTimeUnixNano,
    severityNumber,
    severityText,
    body,
    attributes,
    droppedAttributesCount,
    flags,
    traceId,
    spanId,
    eventName,
  };
  if (r.problem !== undefined) out.invalid = r.problem;
  r.problem = outer;
  return out;
}

// ---- metrics ----

export function decodeMetricsProtobuf(buf: Uint8Array, maxDepth: number, caps?: DecodeCaps): MetricsRequest {
  const r = new ProtoReader(buf, maxDepth, caps);
  return { resourceMetrics: topLevel(r, 'ExportMetricsServiceRequest', resourceMetrics) };
}

function resourceMetrics(r: ProtoReader, end: number): ResourceMetrics {
  const e = envelope(r, end, 'ResourceMetrics', EMPTY_RESOURCE, resource, scopeMetrics, (c) =>
    c.flatMap((s) => s.metrics.map(pointsOf)),
  );
  return { resource: e.header, schemaUrl: e.schemaUrl, scopeMetrics: e.children };
}

function scopeMetrics(r: ProtoReader, end: number): ScopeMetrics {
  const e = envelope(r, end, 'ScopeMetrics', EMPTY_SCOPE, scope, metric, (c) => c.map(pointsOf));
  return { scope: e.header, schemaUrl: e.schemaUrl, metrics: e.children };
}

function pointsOf(m: Metric): readonly MaybeInvalid[] {
  return m.data?.dataPoints ?? [];
}

const METRIC_KNOWN = bits(1, 2, 3, 5, 7, 9, 10, 11, 12);
function metric(r: ProtoReader, end: number): Metric {
  r.attribute();
  const outer = r.problem;
  r.problem = undefined;
  let name = '';
  let description = '';
  let unit = '';
  const metadata: KeyValue[] = [];
  let data: MetricData | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: name
        name = r.string();
        break;
      case 18: // 2: description
        description = r.string();
        break;
      case 26: // 3: unit
        unit = r.string();
        break;
      case 42: // 5: gauge
        data = { type: 'gauge', dataPoints: numberPoints(r, r.lenEnd(), 'Gauge') };
        break;
      case 58: // 7: sum
        data = sum(r, r.lenEnd());
        break;
      case 74: // 9: histogram
        data = histogram(r, r.lenEnd());
        break;
      case 82: // 10: exponential_histogram
        data = exponentialHistogram(r, r.lenEnd());
        break;
      case 90: // 11: summary
        data = summary(r, r.lenEnd());
        break;
      case 98: // 12: metadata
        metadata.push(keyValue(r, r.lenEnd(), 0));
        break;
      default:
        r.skip(tag, METRIC_KNOWN, 'Metric');
    }
  }
  r.finish(end, 'Metric');
  if (r.problem !== undefined && data !== undefined) markAll(data.dataPoints, r.problem);
  r.problem = outer;
  return { name, description, unit, metadata, data };
}

/** Gauge: 1 data_points. */
function numberPoints(r: ProtoReader, end: number, message: string): NumberDataPoint[] {
  const points: NumberDataPoint[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 10) points.push(numberDataPoint(r, r.lenEnd()));
    else r.skip(tag, 2, message);
  }
  r.finish(end, message);
  return points;
}

const SUM_KNOWN = bits(1, 2, 3);
const AGGREGATE_KNOWN = bits(1, 2);
/** Sum, Histogram and ExponentialHistogram: 1 data_points, 2 aggregation_temporality, 3 is_monotonic (Sum). */
function aggregate<P>(
  r: ProtoReader,
  end: number,
  message: string,
  point: (r: ProtoReader, end: number) => P,
): { dataPoints: P[]; aggregationTemporality: number; isMonotonic: boolean } {
  const dataPoints: P[] = [];
  let aggregationTemporality = 0;
  let isMonotonic = false;
  const known = message === 'Sum' ? SUM_KNOWN : AGGREGATE_KNOWN;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: data_points
        dataPoints.push(point(r, r.lenEnd()));
        break;
      case 16: // 2: aggregation_temporality
        aggregationTemporality = r.int32();
        break;
      case 24: // 3: is_monotonic (Sum only)
        if (message !== 'Sum') r.skip(tag, known, message);
        else isMonotonic = r.bool();
        break;
      default:
        r.skip(tag, known, message);
    }
  }
  r.finish(end, message);
  return { dataPoints, aggregationTemporality, isMonotonic };
}

function sum(r: ProtoReader, end: number): MetricData {
  const a = aggregate(r, end, 'Sum', numberDataPoint);
  return {
    type: 'sum',
    dataPoints: a.dataPoints,
    aggregationTemporality: a.aggregationTemporality,
    isMonotonic: a.isMonotonic,
  };
}

function histogram(r: ProtoReader, end: number): MetricData {
  const a = aggregate(r, end, 'Histogram', histogramDataPoint);
  return { type: 'histogram', dataPoints: a.dataPoints, aggregationTemporality: a.aggregationTemporality };
}

function exponentialHistogram(r: ProtoReader, end: number): MetricData {
  const a = aggregate(r, end, 'ExponentialHistogram', exponentialHistogramDataPoint);
  return {
    type: 'exponential_histogram',
    dataPoints: a.dataPoints,
    aggregationTemporality: a.aggregationTemporality,
  };
}

function summary(r: ProtoReader, end: number): MetricData {
  const dataPoints: SummaryDataPoint[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 10) dataPoints.push(summaryDataPoint(r, r.lenEnd()));
    else r.skip(tag, 2, 'Summary');
  }
  r.finish(end, 'Summary');
  return { type: 'summary', dataPoints };
}

function withProblem<T extends MaybeInvalid>(r: ProtoReader, outer: string | undefined, item: T): T {
  if (r.problem !== undefined) item.invalid = r.problem;
  r.problem = outer;
  return item;
}

const NUMBER_KNOWN = bits(2, 3, 4, 5, 6, 7, 8);
function numberDataPoint(r: ProtoReader, end: number): NumberDataPoint {
  r.item();
  const outer = r.problem;
  r.problem = undefined;
  const attributes: KeyValue[] = [];
  let startTimeUnixNano = '0';
  let timeUnixNano = '0';
  let flags = 0;
  const exemplars: Exemplar[] = [];
  let value = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 58: // 7: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 17: // 2: start_time_unix_nano
        startTimeUnixNano = r.fixed64Decimal();
        break;
      case 25: // 3: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 33: // 4: as_double
        value = r.double();
        break;
      case 49: // 6: as_int (sfixed64)
        value = r.sfixed64Number();
        break;
      case 42: // 5: exemplars
        exemplars.push(exemplar(r, r.lenEnd()));
        break;
      case 64: // 8: flags
        flags = r.varint();
        break;
      default:
        r.skip(tag, NUMBER_KNOWN, 'NumberDataPoint');
    }
  }
  r.finish(end, 'NumberDataPoint');
  return withProblem<Mutable<NumberDataPoint>>(r, outer, {
    attributes,
    startTimeUnixNano,
    timeUnixNano,
    flags,
    exemplars,
    value,
  });
}

function packedFixed64(r: ProtoReader, out: Uint64[], message: string): void {
  const end = r.lenEnd();
  if ((end - r.pos) % 8 !== 0) throw new OtlpDecodeError(`malformed protobuf: packed fixed64 in ${message}`);
  while (r.pos < end) out.push(r.fixed64Uint());
}

function packedDouble(r: ProtoReader, out: number[], message: string): void {
  const end = r.lenEnd();
  if ((end - r.pos) % 8 !== 0) throw new OtlpDecodeError(`malformed protobuf: packed double in ${message}`);
  while (r.pos < end) out.push(r.double());
}

const HISTOGRAM_KNOWN = bits(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
function histogramDataPoint(r: ProtoReader, end: number): HistogramDataPoint {
  r.item();
  const outer = r.problem;
  r.problem = undefined;
  const attributes: KeyValue[] = [];
  let startTimeUnixNano = '0';
  let timeUnixNano = '0';
  let flags = 0;
  const exemplars: Exemplar[] = [];
  let count: Uint64 = 0;
  let sumValue: number | undefined;
  const bucketCounts: Uint64[] = [];
  const explicitBounds: number[] = [];
  let min: number | undefined;
  let max: number | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 74: // 9: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 17: // 2: start_time_unix_nano
        startTimeUnixNano = r.fixed64Decimal();
        break;
      case 25: // 3: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 33: // 4: count
        count = r.fixed64Uint();
        break;
      case 41: // 5: sum
        sumValue = r.double();
        break;
      case 50: // 6: bucket_counts, packed
        packedFixed64(r, bucketCounts, 'HistogramDataPoint');
        break;
      case 49: // 6: bucket_counts, one element
        bucketCounts.push(r.fixed64Uint());
        break;
      case 58: // 7: explicit_bounds, packed
        packedDouble(r, explicitBounds, 'HistogramDataPoint');
        break;
      case 57: // 7: explicit_bounds, one element
        explicitBounds.push(r.double());
        break;
      case 66: // 8: exemplars
        exemplars.push(exemplar(r, r.lenEnd()));
        break;
      case 80: // 10: flags
        flags = r.varint();
        break;
      case 89: // 11: min
        min = r.double();
        break;
      case 97: // 12: max
        max = r.double();
        break;
      default:
        r.skip(tag, HISTOGRAM_KNOWN, 'HistogramDataPoint');
    }
  }
  r.finish(end, 'HistogramDataPoint');
  return withProblem<Mutable<HistogramDataPoint>>(r, outer, {
    attributes,
    startTimeUnixNano,
    timeUnixNano,
    flags,
    exemplars,
    count,
    sum: sumValue,
    bucketCounts,
    explicitBounds,
    min,
    max,
  });
}

const EXPO_KNOWN = bits(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
function exponentialHistogramDataPoint(r: ProtoReader, end: number): ExponentialHistogramDataPoint {
  r.item();
  const outer = r.problem;
  r.problem = undefined;
  const attributes: KeyValue[] = [];
  let startTimeUnixNano = '0';
  let timeUnixNano = '0';
  let flags = 0;
  const exemplars: Exemplar[] = [];
  let count: Uint64 = 0;
  let sumValue: number | undefined;
  let scale = 0;
  let zeroCount: Uint64 = 0;
  let positive = NO_BUCKETS;
  let negative = NO_BUCKETS;
  let min: number | undefined;
  let max: number | undefined;
  let zeroThreshold = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 17: // 2: start_time_unix_nano
        startTimeUnixNano = r.fixed64Decimal();
        break;
      case 25: // 3: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 33: // 4: count
        count = r.fixed64Uint();
        break;
      case 41: // 5: sum
        sumValue = r.double();
        break;
      case 48: // 6: scale (sint32)
        scale = r.sint32();
        break;
      case 57: // 7: zero_count
        zeroCount = r.fixed64Uint();
        break;
      case 66: // 8: positive
        positive = buckets(r, r.lenEnd());
        break;
      case 74: // 9: negative
        negative = buckets(r, r.lenEnd());
        break;
      case 80: // 10: flags
        flags = r.varint();
        break;
      case 90: // 11: exemplars
        exemplars.push(exemplar(r, r.lenEnd()));
        break;
      case 97: // 12: min
        min = r.double();
        break;
      case 105: // 13: max
        max = r.double();
        break;
      case 113: // 14: zero_threshold
        zeroThreshold = r.double();
        break;
      default:
        r.skip(tag, EXPO_KNOWN, 'ExponentialHistogramDataPoint');
    }
  }
  r.finish(end, 'ExponentialHistogramDataPoint');
  return withProblem<Mutable<ExponentialHistogramDataPoint>>(r, outer, {
    attributes,
    startTimeUnixNano,
    timeUnixNano,
    flags,
    exemplars,
    count,
    sum: sumValue,
    scale,
    zeroCount,
    positive,
    negative,
    min,
    max,
    zeroThreshold,
  });
}

const BUCKETS_KNOWN = bits(1, 2);
function buckets(r: ProtoReader, end: number): ExponentialBuckets {
  let offset = 0;
  const bucketCounts: Uint64[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 8: // 1: offset (sint32)
        offset = r.sint32();
        break;
      case 18: {
        // 2: bucket_counts, packed varints
        // A count is one byte on the wire and eight in memory: every 8 count as one attribute
        // against the request's cap (a legitimate point has at most a few hundred).
        const e = r.lenEnd();
        while (r.pos < e) if ((bucketCounts.push(r.uint64()) & 7) === 0) r.attribute();
        r.finish(e, 'Buckets.bucket_counts');
        break;
      }
      case 16: // 2: bucket_counts, one element
        if ((bucketCounts.push(r.uint64()) & 7) === 0) r.attribute();
        break;
      default:
        r.skip(tag, BUCKETS_KNOWN, 'Buckets');
    }
  }
  r.finish(end, 'Buckets');
  return { offset, bucketCounts };
}

const SUMMARY_KNOWN = bits(2, 3, 4, 5, 6, 7, 8);
function summaryDataPoint(r: ProtoReader, end: number): SummaryDataPoint {
  r.item();
  const outer = r.problem;
  r.problem = undefined;
  const attributes: KeyValue[] = [];
  let startTimeUnixNano = '0';
  let timeUnixNano = '0';
  let count: Uint64 = 0;
  let sumValue = 0;
  const quantileValues: { quantile: number; value: number }[] = [];
  let flags = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 58: // 7: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 17: // 2: start_time_unix_nano
        startTimeUnixNano = r.fixed64Decimal();
        break;
      case 25: // 3: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 33: // 4: count
        count = r.fixed64Uint();
        break;
      case 41: // 5: sum
        sumValue = r.double();
        break;
      case 50: // 6: quantile_values
        quantileValues.push(valueAtQuantile(r, r.lenEnd()));
        break;
      case 64: // 8: flags
        flags = r.varint();
        break;
      default:
        r.skip(tag, SUMMARY_KNOWN, 'SummaryDataPoint');
    }
  }
  r.finish(end, 'SummaryDataPoint');
  return withProblem<Mutable<SummaryDataPoint>>(r, outer, {
    attributes,
    startTimeUnixNano,
    timeUnixNano,
    count,
    sum: sumValue,
    quantileValues,
    flags,
  });
}

const QUANTILE_KNOWN = bits(1, 2);
function valueAtQuantile(r: ProtoReader, end: number): { quantile: number; value: number } {
  r.attribute();
  let quantile = 0;
  let value = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 9: // 1: quantile
        quantile = r.double();
        break;
      case 17: // 2: value
        value = r.double();
        break;
      default:
        r.skip(tag, QUANTILE_KNOWN, 'ValueAtQuantile');
    }
  }
  r.finish(end, 'ValueAtQuantile');
  return { quantile, value };
}

const EXEMPLAR_KNOWN = bits(2, 3, 4, 5, 6, 7);
function exemplar(r: ProtoReader, end: number): Exemplar {
  r.attribute();
  const filteredAttributes: KeyValue[] = [];
  let timeUnixNano = '0';
  let value = 0;
  let spanId = '';
  let traceId = '';
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 58: // 7: filtered_attributes
        filteredAttributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 17: // 2: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 25: // 3: as_double
        value = r.double();
        break;
      case 49: // 6: as_int (sfixed64)
        value = r.sfixed64Number();
        break;
      case 34: // 4: span_id
        spanId = r.id(8, 'exemplars.span_id');
        break;
      case 42: // 5: trace_id
        traceId = r.id(16, 'exemplars.trace_id');
        break;
      default:
        r.skip(tag, EXEMPLAR_KNOWN, 'Exemplar');
    }
  }
  r.finish(end, 'Exemplar');
  return { filteredAttributes, timeUnixNano, value, spanId, traceId };
}
