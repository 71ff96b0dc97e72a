import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeOtlp } from '../../../../functions/shared/otlp/decode.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';
import { OtlpTypes, toPlain } from '../../../support/otlp-proto.js';

/**
 * A second protobuf implementation as the oracle of our hand-written decoder: random OTLP messages
 * over every field of every signal (not only what an SDK emits: 64-bit extremes, NaN and infinities,
 * absent optional fields, every oneof arm, nested attribute values, empty and full ids) are encoded
 * by protobufjs from the published schema, then decoded by ours and by protobufjs; protobufjs's
 * result, mapped onto our model by the rules the model documents (model.ts), must equal ours.
 */

type Plain = Record<string, unknown>;

// ---- generators (protobufjs object form: snake_case, 64-bit integers as decimal strings) ----

const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const u64 = fc
  .oneof(
    fc.constantFrom(0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, U64_MAX),
    fc.bigInt({ min: 0n, max: U64_MAX }),
    fc.bigInt({ min: 0n, max: 2n ** 40n }),
  )
  .map(String);
const i64 = fc
  .oneof(
    fc.constantFrom(I64_MIN, -1n, 0n, I64_MAX, 2n ** 53n + 1n),
    fc.bigInt({ min: I64_MIN, max: I64_MAX }),
  )
  .map(String);
const u32 = fc.oneof(fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
const double = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.MAX_VALUE,
    5e-324,
  ),
  fc.double(),
);
/** A leading U+FEFF is its own case: a UTF-8 decoder left to its defaults drops it as a BOM. */
const text = fc.oneof(
  fc.constant(''),
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.string({ unit: 'binary', maxLength: 4 }).map((s) => `\uFEFF${s}`),
);
const bytes = (n: number) =>
  fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: n, maxLength: n }));
const traceId = bytes(16);
const spanId = bytes(8);
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });
/** Drops undefined members, so absent means absent on the wire. */
const defined = (o: Plain): Plain => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const { anyValue } = fc.letrec<{ anyValue: Plain; keyValue: Plain }>((tie) => ({
  anyValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text.map((v) => ({ string_value: v })),
    fc.boolean().map((v) => ({ bool_value: v })),
    i64.map((v) => ({ int_value: v })),
    double.map((v) => ({ double_value: v })),
    fc.uint8Array({ maxLength: 8 }).map((v) => ({ bytes_value: v })),
    fc.array(tie('anyValue'), { maxLength: 3 }).map((values) => ({ array_value: { values } })),
    fc.array(tie('keyValue'), { maxLength: 3 }).map((values) => ({ kvlist_value: { values } })),
  ),
  keyValue: fc.record({ key: text, value: opt(tie('anyValue')) }).map(defined),
}));
const keyValue = fc.record({ key: text, value: opt(anyValue) }).map(defined);
const attributes = fc.array(keyValue, { maxLength: 3 });
const resource = opt(fc.record({ attributes, dropped_attributes_count: u32 }));
const scope = opt(fc.record({ name: text, version: text, attributes, dropped_attributes_count: u32 }));

const span = fc
  .record({
    trace_id: traceId,
    span_id: spanId,
    trace_state: text,
    parent_span_id: spanId,
    flags: u32,
    name: text,
    kind: fc.integer({ min: 0, max: 5 }),
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
    attributes,
    dropped_attributes_count: u32,
    events: fc.array(
      fc.record({ time_unix_nano: u64, name: text, attributes, dropped_attributes_count: u32 }),
      { maxLength: 2 },
    ),
    dropped_events_count: u32,
    links: fc.array(
      fc.record({
        trace_id: traceId,
        span_id: spanId,
        trace_state: text,
        attributes,
        dropped_attributes_count: u32,
        flags: u32,
      }),
      { maxLength: 2 },
    ),
    dropped_links_count: u32,
    status: opt(fc.record({ message: text, code: fc.integer({ min: 0, max: 2 }) })),
  })
  .map(defined);

const tracesRequest = fc.record({
  resource_spans: fc.array(
    fc
      .record({
        resource,
        schema_url: text,
        scope_spans: fc.array(
          fc.record({ scope, schema_url: text, spans: fc.array(span, { maxLength: 3 }) }).map(defined),
          {
            maxLength: 2,
          },
        ),
      })
      .map(defined),
    { maxLength: 2 },
  ),
});

const logRecord = fc
  .record({
    time_unix_nano: u64,
    observed_time_unix_nano: u64,
    severity_number: fc.integer({ min: 0, max: 24 }),
    severity_text: text,
    body: opt(anyValue),
    attributes,
    dropped_attributes_count: u32,
    flags: u32,
    trace_id: traceId,
    span_id: spanId,
    event_name: text,
  })
  .map(defined);

const logsRequest = fc.record({
  resource_logs: fc.array(
    fc
      .record({
        resource,
        schema_url: text,
        scope_logs: fc.array(
          fc
            .record({ scope, schema_url: text, log_records: fc.array(logRecord, { maxLength: 3 }) })
            .map(defined),
          { maxLength: 2 },
        ),
      })
      .map(defined),
    { maxLength: 2 },
  ),
});

const numberValue = fc.oneof(
  double.map((v) => ({ as_double: v })),
  i64.map((v) => ({ as_int: v })),
  fc.constant({}),
);
const exemplar = fc
  .tuple(
    fc.record({ filtered_attributes: attributes, time_unix_nano: u64, span_id: spanId, trace_id: traceId }),
    numberValue,
  )
  .map(([e, v]) => ({ ...e, ...v }));
const exemplars = fc.array(exemplar, { maxLength: 2 });
const pointBase = { attributes, start_time_unix_nano: u64, time_unix_nano: u64, flags: u32, exemplars };
const numberPoint = fc.tuple(fc.record(pointBase), numberValue).map(([p, v]) => ({ ...p, ...v }));
const histogramPoint = fc
  .record({
    ...pointBase,
    count: u64,
    sum: opt(double),
    bucket_counts: fc.array(u64, { maxLength: 4 }),
    explicit_bounds: fc.array(double, { maxLength: 3 }),
    min: opt(double),
    max: opt(double),
  })
  .map(defined);
const buckets = opt(fc.record({ offset: fc.integer(), bucket_counts: fc.array(u64, { maxLength: 4 }) }));
const expHistogramPoint = fc
  .record({
    ...pointBase,
    count: u64,
    sum: opt(double),
    scale: fc.integer({ min: -10, max: 20 }),
    zero_count: u64,
    positive: buckets,
    negative: buckets,
    min: opt(double),
    max: opt(double),
    zero_threshold: double,
  })
  .map(defined);
const summaryPoint = fc.record({
  attributes,
  start_time_unix_nano: u64,
  time_unix_nano: u64,
  count: u64,
  sum: double,
  quantile_values: fc.array(fc.record({ quantile: double, value: double }), { maxLength: 3 }),
  flags: u32,
});
const temporality = fc.integer({ min: 0, max: 2 });
const metricData = fc.oneof(
  fc.record({ gauge: fc.record({ data_points: fc.array(numberPoint, { maxLength: 3 }) }) }),
  fc.record({
    sum: fc.record({
      data_points: fc.array(numberPoint, { maxLength: 3 }),
      aggregation_temporality: temporality,
      is_monotonic: fc.boolean(),
    }),
  }),
  fc.record({
    histogram: fc.record({
      data_points: fc.array(histogramPoint, { maxLength: 3 }),
      aggregation_temporality: temporality,
    }),
  }),
  fc.record({
    exponential_histogram: fc.record({
      data_points: fc.array(expHistogramPoint, { maxLength: 3 }),
      aggregation_temporality: temporality,
    }),
  }),
  fc.record({ summary: fc.record({ data_points: fc.array(summaryPoint, { maxLength: 3 }) }) }),
  fc.constant({}),
);
const metric = fc
  .tuple(fc.record({ name: text, description: text, unit: text, metadata: attributes }), metricData)
  .map(([m, d]) => ({ ...m, ...d }));

const metricsRequest = fc.record({
  resource_metrics: fc.array(
    fc
      .record({
        resource,
        schema_url: text,
        scope_metrics: fc.array(
          fc.record({ scope, schema_url: text, metrics: fc.array(metric, { maxLength: 3 }) }).map(defined),
          {
            maxLength: 2,
          },
        ),
      })
      .map(defined),
    { maxLength: 2 },
  ),
});

// ---- protobufjs's decoding mapped onto our model, by the rules model.ts states ----

const arr = (v: unknown): Plain[] => (Array.isArray(v) ? (v as Plain[]) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const hex = (v: unknown): string => Buffer.from((v as number[] | undefined) ?? []).toString('hex');
const time = (v: unknown): string => (v === undefined ? '0' : BigInt(v as string).toString());
/** uint64: a number while exact, else its decimal string. */
const uint64 = (v: unknown): number | string => {
  const b = v === undefined ? 0n : BigInt(v as string);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
};
const dbl = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0);

function anyValueOf(v: Plain | undefined): unknown {
  if (v === undefined) return undefined;
  switch (v.value) {
    case 'string_value':
      return { t: 'string', v: v.string_value };
    case 'bool_value':
      return { t: 'bool', v: v.bool_value };
    case 'int_value':
      return { t: 'int', v: BigInt(v.int_value as string).toString() };
    case 'double_value':
      return { t: 'double', v: dbl(v.double_value) };
    case 'bytes_value':
      return { t: 'bytes', v: new Uint8Array(v.bytes_value as number[]) };
    case 'array_value':
      return { t: 'array', v: arr((v.array_value as Plain).values).map(anyValueOf) };
    case 'kvlist_value':
      return { t: 'kvlist', v: arr((v.kvlist_value as Plain).values).map(keyValueOf) };
    default:
      // An AnyValue with no arm set: nothing to keep.
      return undefined;
  }
}
const keyValueOf = (kv: Plain) => ({ key: str(kv.key), value: anyValueOf(kv.value as Plain | undefined) });
const attrs = (v: unknown) => arr(v).map(keyValueOf);
const resourceOf = (r: Plain | undefined) => ({
  attributes: attrs(r?.attributes),
  droppedAttributesCount: num(r?.dropped_attributes_count),
});
const scopeOf = (s: Plain | undefined) => ({
  name: str(s?.name),
  version: str(s?.version),
  attributes: attrs(s?.attributes),
  droppedAttributesCount: num(s?.dropped_attributes_count),
});

function spanOf(s: Plain) {
  const status = s.status as Plain | undefined;
  return {
    traceId: hex(s.trace_id),
    spanId: hex(s.span_id),
    traceState: str(s.trace_state),
    parentSpanId: hex(s.parent_span_id),
    flags: num(s.flags),
    name: str(s.name),
    kind: num(s.kind),
    startTimeUnixNano: time(s.start_time_unix_nano),
    endTimeUnixNano: time(s.end_time_unix_nano),
    attributes: attrs(s.attributes),
    droppedAttributesCount: num(s.dropped_attributes_count),
    events: arr(s.events).map((e) => ({
      timeUnixNano: time(e.time_unix_nano),
      name: str(e.name),
      attributes: attrs(e.attributes),
      droppedAttributesCount: num(e.dropped_attributes_count),
    })),
    droppedEventsCount: num(s.dropped_events_count),
    links: arr(s.links).map((l) => ({
      traceId: hex(l.trace_id),
      spanId: hex(l.span_id),
      traceState: str(l.trace_state),
      attributes: attrs(l.attributes),
      droppedAttributesCount: num(l.dropped_attributes_count),
      flags: num(l.flags),
    })),
    droppedLinksCount: num(s.dropped_links_count),
    status: { code: num(status?.code), message: str(status?.message) },
  };
}

function logOf(l: Plain) {
  return {
    timeUnixNano: time(l.time_unix_nano),
    observedTimeUnixNano: time(l.observed_time_unix_nano),
    severityNumber: num(l.severity_number),
    severityText: str(l.severity_text),
    body: anyValueOf(l.body as Plain | undefined),
    attributes: attrs(l.attributes),
    droppedAttributesCount: num(l.dropped_attributes_count),
    flags: num(l.flags),
    traceId: hex(l.trace_id),
    spanId: hex(l.span_id),
    eventName: str(l.event_name),
  };
}

/** as_double, or as_int converted to the nearest double; 0 when neither is set. */
const pointValue = (p: Plain): number =>
  p.value === 'as_int' ? Number(BigInt(p.as_int as string)) : p.value === 'as_double' ? dbl(p.as_double) : 0;
const exemplarOf = (e: Plain) => ({
  filteredAttributes: attrs(e.filtered_attributes),
  timeUnixNano: time(e.time_unix_nano),
  value: pointValue(e),
  spanId: hex(e.span_id),
  traceId: hex(e.trace_id),
});
const base = (p: Plain) => ({
  attributes: attrs(p.attributes),
  startTimeUnixNano: time(p.start_time_unix_nano),
  timeUnixNano: time(p.time_unix_nano),
  flags: num(p.flags),
  exemplars: arr(p.exemplars).map(exemplarOf),
});
const optDouble = (v: unknown) => (v === undefined ? undefined : dbl(v));
const bucketsOf = (b: Plain | undefined) => ({
  offset: num(b?.offset),
  bucketCounts: arr(b?.bucket_counts).map(uint64),
});

function metricDataOf(m: Plain): unknown {
  const points = (d: unknown) => arr((d as Plain).data_points);
  switch (m.data) {
    case 'gauge':
      return {
        type: 'gauge',
        dataPoints: points(m.gauge).map((p) => ({ ...base(p), value: pointValue(p) })),
      };
    case 'sum': {
      const s = m.sum as Plain;
      return {
        type: 'sum',
        dataPoints: points(s).map((p) => ({ ...base(p), value: pointValue(p) })),
        aggregationTemporality: num(s.aggregation_temporality),
        isMonotonic: s.is_monotonic === true,
      };
    }
    case 'histogram': {
      const h = m.histogram as Plain;
      return {
        type: 'histogram',
        dataPoints: points(h).map((p) => ({
          ...base(p),
          count: uint64(p.count),
          sum: optDouble(p.sum),
          bucketCounts: arr(p.bucket_counts).map(uint64),
          explicitBounds: arr(p.explicit_bounds).map(dbl),
          min: optDouble(p.min),
          max: optDouble(p.max),
        })),
        aggregationTemporality: num(h.aggregation_temporality),
      };
    }
    case 'exponential_histogram': {
      const h = m.exponential_histogram as Plain;
      return {
        type: 'exponential_histogram',
        dataPoints: points(h).map((p) => ({
          ...base(p),
          count: uint64(p.count),
          sum: optDouble(p.sum),
          scale: num(p.scale),
          zeroCount: uint64(p.zero_count),
          positive: bucketsOf(p.positive as Plain | undefined),
          negative: bucketsOf(p.negative as Plain | undefined),
          min: optDouble(p.min),
          max: optDouble(p.max),
          zeroThreshold: dbl(p.zero_threshold),
        })),
        aggregationTemporality: num(h.aggregation_temporality),
      };
    }
    case 'summary':
      return {
        type: 'summary',
        dataPoints: points(m.summary).map((p) => ({
          attributes: attrs(p.attributes),
          startTimeUnixNano: time(p.start_time_unix_nano),
          timeUnixNano: time(p.time_unix_nano),
          count: uint64(p.count),
          sum: dbl(p.sum),
          quantileValues: arr(p.quantile_values).map((q) => ({
            quantile: dbl(q.quantile),
            value: dbl(q.value),
          })),
          flags: num(p.flags),
        })),
      };
    default:
      return undefined;
  }
}

function oracle(signal: Signal, plain: Plain): unknown {
  switch (signal) {
    case 'traces':
      return {
        resourceSpans: arr(plain.resource_spans).map((rs) => ({
          resource: resourceOf(rs.resource as Plain | undefined),
          schemaUrl: str(rs.schema_url),
          scopeSpans: arr(rs.scope_spans).map((ss) => ({
            scope: scopeOf(ss.scope as Plain | undefined),
            schemaUrl: str(ss.schema_url),
            spans: arr(ss.spans).map(spanOf),
          })),
        })),
      };
    case 'logs':
      return {
        resourceLogs: arr(plain.resource_logs).map((rl) => ({
          resource: resourceOf(rl.resource as Plain | undefined),
          schemaUrl: str(rl.schema_url),
          scopeLogs: arr(rl.scope_logs).map((sl) => ({
            scope: scopeOf(sl.scope as Plain | undefined),
            schemaUrl: str(sl.schema_url),
            logRecords: arr(sl.log_records).map(logOf),
          })),
        })),
      };
    case 'metrics':
      return {
        resourceMetrics: arr(plain.resource_metrics).map((rm) => ({
          resource: resourceOf(rm.resource as Plain | undefined),
          schemaUrl: str(rm.schema_url),
          scopeMetrics: arr(rm.scope_metrics).map((sm) => ({
            scope: scopeOf(sm.scope as Plain | undefined),
            schemaUrl: str(sm.schema_url),
            metrics: arr(sm.metrics).map((m) => ({
              name: str(m.name),
              description: str(m.description),
              unit: str(m.unit),
              metadata: attrs(m.metadata),
              data: metricDataOf(m),
            })),
          })),
        })),
      };
  }
}

function agree(signal: Signal, message: Plain): void {
  const type = OtlpTypes[signal];
  const wire = type.encode(type.fromObject(message)).finish();
  const ours = decodeOtlp(signal, wire, 'protobuf');
  expect(ours.signal).toBe(signal);
  expect(ours.request).toEqual(oracle(signal, toPlain(type, wire)));
}

describe('protobufjs as a second oracle for our protobuf decoder, over every OTLP field', () => {
  it('traces', () => {
    fc.assert(
      fc.property(tracesRequest, (m) => agree('traces', m)),
      { numRuns: 300 },
    );
  });

  it('logs', () => {
    fc.assert(
      fc.property(logsRequest, (m) => agree('logs', m)),
      { numRuns: 300 },
    );
  });

  it('metrics of every data kind', () => {
    fc.assert(
      fc.property(metricsRequest, (m) => agree('metrics', m)),
      { numRuns: 300 },
    );
  });

  it('the oracle can fail: a message decoded differently does not pass', () => {
    const type = OtlpTypes.traces;
    const message = { resource_spans: [{ scope_spans: [{ spans: [{ name: 'a', kind: 2 }] }] }] };
    const wire = type.encode(type.fromObject(message)).finish();
    const expected = oracle('traces', toPlain(type, wire)) as {
      resourceSpans: { scopeSpans: { spans: { kind: number }[] }[] }[];
    };
    expected.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.kind = 3;
    expect(decodeOtlp('traces', wire, 'protobuf').request).not.toEqual(expected);
  });
});
