import { type DecodeCaps, OtlpDecodeError } from '../decode-error.js';
import type {
  Exemplar,
  ExponentialBuckets,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  KeyValue,
  MaybeInvalid,
  Metric,
  MetricData,
  MetricsRequest,
  NumberDataPoint,
  ResourceMetrics,
  ScopeMetrics,
  SummaryDataPoint,
  Uint64,
} from '../model.js';
import { ProtoReader } from '../protobuf-reader.js';
import {
  bits,
  EMPTY_RESOURCE,
  EMPTY_SCOPE,
  envelope,
  keyValue,
  type Mutable,
  markAll,
  NO_BUCKETS,
  resource,
  scope,
  topLevel,
} from './common.js';

/**
 * The protobuf decoder of ExportMetricsServiceRequest (opentelemetry-proto collector/metrics/v1); its conventions and the
 * messages every signal shares are in ./common.ts.
 */

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
