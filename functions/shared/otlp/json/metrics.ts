import { OtlpDecodeError } from '../decode-error.js';
import type {
  Exemplar,
  ExponentialBuckets,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  MaybeInvalid,
  Metric,
  MetricData,
  NumberDataPoint,
  ResourceMetrics,
  ScopeMetrics,
  SummaryDataPoint,
} from '../model.js';
import {
  bool,
  count,
  countAttributes,
  double,
  enumValue,
  envelope,
  id,
  int64Number,
  item,
  type Json,
  keyValues,
  list,
  NO_BUCKETS,
  numbers,
  obj,
  one,
  optDouble,
  resource,
  scope,
  sint32,
  str,
  time,
  uint32,
  type Walk,
} from './common.js';

/**
 * The OTLP/JSON decoder of ExportMetricsServiceRequest: shared parts in ./common.ts, the entry in
 * ../decode-json.ts.
 */

export function resourceMetrics(w: Walk, v: unknown): ResourceMetrics {
  const o = obj(v, 'an element of resourceMetrics') ?? {};
  return envelope(
    w,
    (): ResourceMetrics => ({
      resource: resource(w, o.resource),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      scopeMetrics: list(
        one(o.scopeMetrics, o.scope_metrics, 'scopeMetrics', 'scope_metrics'),
        'scopeMetrics',
        (x) => scopeMetrics(w, x),
      ),
    }),
    (r) => r.scopeMetrics.flatMap((s) => s.metrics.map(pointsOf)),
  );
}

function scopeMetrics(w: Walk, v: unknown): ScopeMetrics {
  const o = obj(v, 'an element of scopeMetrics') ?? {};
  return envelope(
    w,
    (): ScopeMetrics => ({
      scope: scope(w, o.scope),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      metrics: list(o.metrics, 'metrics', (x) => metric(w, x)),
    }),
    (s) => s.metrics.map(pointsOf),
  );
}

function pointsOf(m: Metric): readonly MaybeInvalid[] {
  return m.data?.dataPoints ?? [];
}

const TEMPORALITIES = new Map([
  ['AGGREGATION_TEMPORALITY_UNSPECIFIED', 0],
  ['AGGREGATION_TEMPORALITY_DELTA', 1],
  ['AGGREGATION_TEMPORALITY_CUMULATIVE', 2],
]);

function metric(w: Walk, v: unknown): Metric {
  const o = obj(v, 'an element of metrics') ?? {};
  // A problem at metric level (name, temporality…) belongs to each of its data points.
  return envelope(
    w,
    (): Metric => ({
      name: str(w, o.name, 'metric name'),
      description: str(w, o.description, 'metric description'),
      unit: str(w, o.unit, 'metric unit'),
      metadata: keyValues(w, o.metadata, 'metadata', 0),
      data: metricData(w, o),
    }),
    (m) => [pointsOf(m)],
  );
}

const present = (v: unknown): number => (v === undefined || v === null ? 0 : 1);

function metricData(w: Walk, o: Json): MetricData | undefined {
  // A oneof: two of them would leave one's points unread. Named loads: each stays monomorphic.
  const fields =
    present(o.gauge) +
    present(o.sum) +
    present(o.histogram) +
    present(o.exponentialHistogram) +
    present(o.exponential_histogram) +
    present(o.summary);
  if (fields > 1) throw new OtlpDecodeError(`metric ${JSON.stringify(o.name)} has more than one data field`);
  const gauge = obj(o.gauge, 'gauge');
  if (gauge !== undefined) {
    return { type: 'gauge', dataPoints: points(w, gauge, numberDataPoint) };
  }
  const sum = obj(o.sum, 'sum');
  if (sum !== undefined) {
    return {
      type: 'sum',
      dataPoints: points(w, sum, numberDataPoint),
      aggregationTemporality: temporality(w, sum),
      isMonotonic: bool(
        w,
        one(sum.isMonotonic, sum.is_monotonic, 'isMonotonic', 'is_monotonic'),
        'isMonotonic',
      ),
    };
  }
  const histogram = obj(o.histogram, 'histogram');
  if (histogram !== undefined) {
    return {
      type: 'histogram',
      dataPoints: points(w, histogram, histogramDataPoint),
      aggregationTemporality: temporality(w, histogram),
    };
  }
  const expo = obj(
    one(o.exponentialHistogram, o.exponential_histogram, 'exponentialHistogram', 'exponential_histogram'),
    'exponentialHistogram',
  );
  if (expo !== undefined) {
    return {
      type: 'exponential_histogram',
      dataPoints: points(w, expo, exponentialHistogramDataPoint),
      aggregationTemporality: temporality(w, expo),
    };
  }
  const summary = obj(o.summary, 'summary');
  if (summary !== undefined) {
    return { type: 'summary', dataPoints: points(w, summary, summaryDataPoint) };
  }
  return undefined;
}

function temporality(w: Walk, o: Json): number {
  return enumValue(
    w,
    one(
      o.aggregationTemporality,
      o.aggregation_temporality,
      'aggregationTemporality',
      'aggregation_temporality',
    ),
    TEMPORALITIES,
    'aggregation temporality',
  );
}

function points<T extends MaybeInvalid>(w: Walk, o: Json, point: (w: Walk, p: Json) => T): T[] {
  return list(one(o.dataPoints, o.data_points, 'dataPoints', 'data_points'), 'dataPoints', (x) =>
    item(w, () => point(w, obj(x, 'an element of dataPoints') ?? {})),
  );
}

function numberDataPoint(w: Walk, o: Json): NumberDataPoint {
  const asInt = one(o.asInt, o.as_int, 'asInt', 'as_int');
  const asDouble = one(o.asDouble, o.as_double, 'asDouble', 'as_double');
  // The value is a oneof: with both, one would be dropped unsaid.
  if (asInt != null && asDouble != null) w.problem ??= 'both asInt and asDouble are set';
  return {
    attributes: keyValues(w, o.attributes, 'attributes', 0),
    startTimeUnixNano: time(
      w,
      one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
      'startTimeUnixNano',
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'timeUnixNano',
    ),
    flags: uint32(w, o.flags, 'flags'),
    exemplars: list(o.exemplars, 'exemplars', (x) => exemplar(w, x)),
    value:
      asDouble !== undefined && asDouble !== null
        ? double(w, asDouble, 'asDouble')
        : asInt !== undefined && asInt !== null
          ? int64Number(w, asInt, 'asInt')
          : 0,
  };
}

function histogramDataPoint(w: Walk, o: Json): HistogramDataPoint {
  return {
    attributes: keyValues(w, o.attributes, 'attributes', 0),
    startTimeUnixNano: time(
      w,
      one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
      'startTimeUnixNano',
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'timeUnixNano',
    ),
    flags: uint32(w, o.flags, 'flags'),
    exemplars: list(o.exemplars, 'exemplars', (x) => exemplar(w, x)),
    count: count(w, o.count, 'count'),
    sum: optDouble(w, o.sum, 'sum'),
    bucketCounts: numbers(
      w,
      one(o.bucketCounts, o.bucket_counts, 'bucketCounts', 'bucket_counts'),
      'bucketCounts',
      count,
    ),
    explicitBounds: numbers(
      w,
      one(o.explicitBounds, o.explicit_bounds, 'explicitBounds', 'explicit_bounds'),
      'explicitBounds',
      double,
    ),
    min: optDouble(w, o.min, 'min'),
    max: optDouble(w, o.max, 'max'),
  };
}

function exponentialHistogramDataPoint(w: Walk, o: Json): ExponentialHistogramDataPoint {
  return {
    attributes: keyValues(w, o.attributes, 'attributes', 0),
    startTimeUnixNano: time(
      w,
      one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
      'startTimeUnixNano',
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'timeUnixNano',
    ),
    flags: uint32(w, o.flags, 'flags'),
    exemplars: list(o.exemplars, 'exemplars', (x) => exemplar(w, x)),
    count: count(w, o.count, 'count'),
    sum: optDouble(w, o.sum, 'sum'),
    scale: sint32(w, o.scale, 'scale'),
    zeroCount: count(w, one(o.zeroCount, o.zero_count, 'zeroCount', 'zero_count'), 'zeroCount'),
    positive: buckets(w, o.positive, 'positive'),
    negative: buckets(w, o.negative, 'negative'),
    min: optDouble(w, o.min, 'min'),
    max: optDouble(w, o.max, 'max'),
    zeroThreshold: double(
      w,
      one(o.zeroThreshold, o.zero_threshold, 'zeroThreshold', 'zero_threshold'),
      'zeroThreshold',
    ),
  };
}

function buckets(w: Walk, v: unknown, what: string): ExponentialBuckets {
  const o = obj(v, what);
  if (o === undefined) return NO_BUCKETS;
  return {
    offset: sint32(w, o.offset, `${what}.offset`),
    bucketCounts: numbers(
      w,
      one(o.bucketCounts, o.bucket_counts, 'bucketCounts', 'bucket_counts'),
      `${what}.bucketCounts`,
      count,
    ),
  };
}

function summaryDataPoint(w: Walk, o: Json): SummaryDataPoint {
  return {
    attributes: keyValues(w, o.attributes, 'attributes', 0),
    startTimeUnixNano: time(
      w,
      one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
      'startTimeUnixNano',
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'timeUnixNano',
    ),
    count: count(w, o.count, 'count'),
    sum: double(w, o.sum, 'sum'),
    quantileValues: list(
      one(o.quantileValues, o.quantile_values, 'quantileValues', 'quantile_values'),
      'quantileValues',
      (x) => {
        countAttributes(w, 1);
        const q = obj(x, 'an element of quantileValues') ?? {};
        return { quantile: double(w, q.quantile, 'quantile'), value: double(w, q.value, 'value') };
      },
    ),
    flags: uint32(w, o.flags, 'flags'),
  };
}

function exemplar(w: Walk, v: unknown): Exemplar {
  countAttributes(w, 1);
  const o = obj(v, 'an element of exemplars') ?? {};
  const asInt = one(o.asInt, o.as_int, 'asInt', 'as_int');
  const asDouble = one(o.asDouble, o.as_double, 'asDouble', 'as_double');
  // The value is a oneof: with both, one would be dropped unsaid.
  if (asInt != null && asDouble != null) w.problem ??= 'both asInt and asDouble are set';
  return {
    filteredAttributes: keyValues(
      w,
      one(o.filteredAttributes, o.filtered_attributes, 'filteredAttributes', 'filtered_attributes'),
      'filteredAttributes',
      0,
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'exemplars.timeUnixNano',
    ),
    value:
      asDouble !== undefined && asDouble !== null
        ? double(w, asDouble, 'exemplars.asDouble')
        : asInt !== undefined && asInt !== null
          ? int64Number(w, asInt, 'exemplars.asInt')
          : 0,
    spanId: id(w, one(o.spanId, o.span_id, 'spanId', 'span_id'), 8, 'exemplars.spanId'),
    traceId: id(w, one(o.traceId, o.trace_id, 'traceId', 'trace_id'), 16, 'exemplars.traceId'),
  };
}
