import type {
  AnyValue,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  InstrumentationScope,
  KeyValue,
  LogRecord,
  Metric,
  NumberDataPoint,
  OtlpRequest,
  Span,
  SummaryDataPoint,
} from '../../../../functions/shared/otlp/model.js';

/** Decoded-model builders shaped like the decoders' output for the OTLP example fixtures. */

export const RECV = '1700000000000000000';
const MS = 1_000_000n;

/** RECV shifted by `offsetMs` (negative: in the past), in decimal nanoseconds. */
export function at(offsetMs: number): string {
  return (BigInt(RECV) + BigInt(Math.round(offsetMs)) * MS).toString();
}

export const DAY_MS = 86_400_000;

export function val(v: string | boolean | number | AnyValue): AnyValue {
  if (typeof v === 'string') return { t: 'string', v };
  if (typeof v === 'boolean') return { t: 'bool', v };
  if (typeof v === 'number') return Number.isInteger(v) ? { t: 'int', v: String(v) } : { t: 'double', v };
  return v;
}

export function kv(key: string, v: string | boolean | number | AnyValue | undefined): KeyValue {
  return { key, value: v === undefined ? undefined : val(v) };
}

export function scope(
  name = 'my.library',
  version = '1.0.0',
  attributes: KeyValue[] = [],
): InstrumentationScope {
  return { name, version, attributes, droppedAttributesCount: 0 };
}

export function span(over: Partial<Span> = {}): Span {
  return {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    traceState: '',
    parentSpanId: 'eee19b7ec3c1b173',
    flags: 0,
    name: 'I am a span!',
    kind: 2,
    startTimeUnixNano: at(-1000),
    endTimeUnixNano: at(-900),
    attributes: [kv('my.span.attr', 'some value')],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
    ...over,
  };
}

export function traces(
  spans: Span[],
  resourceAttrs: KeyValue[] = [kv('service.name', 'my.service')],
): OtlpRequest & { signal: 'traces' } {
  return {
    signal: 'traces',
    request: {
      resourceSpans: [
        {
          resource: { attributes: resourceAttrs, droppedAttributesCount: 0 },
          schemaUrl: '',
          scopeSpans: [{ scope: scope(), schemaUrl: '', spans }],
        },
      ],
    },
  };
}

export function logRecord(over: Partial<LogRecord> = {}): LogRecord {
  return {
    timeUnixNano: at(-1000),
    observedTimeUnixNano: at(-500),
    severityNumber: 10,
    severityText: 'Information',
    body: val('Example log record'),
    attributes: [kv('string.attribute', 'some string')],
    droppedAttributesCount: 0,
    flags: 0,
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    eventName: '',
    ...over,
  };
}

export function logs(
  records: LogRecord[],
  resourceAttrs: KeyValue[] = [kv('service.name', 'my.service')],
): OtlpRequest & { signal: 'logs' } {
  return {
    signal: 'logs',
    request: {
      resourceLogs: [
        {
          resource: { attributes: resourceAttrs, droppedAttributesCount: 0 },
          schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
          scopeLogs: [
            {
              scope: scope('my.library', '1.0.0', [kv('my.scope.attribute', 'some scope attribute')]),
              schemaUrl: 'https://opentelemetry.io/schemas/1.25.0',
              logRecords: records,
            },
          ],
        },
      ],
    },
  };
}

export function numberPoint(over: Partial<NumberDataPoint> = {}): NumberDataPoint {
  return {
    attributes: [kv('my.counter.attr', 'some value')],
    startTimeUnixNano: at(-60_000),
    timeUnixNano: at(-1000),
    flags: 0,
    exemplars: [],
    value: 5,
    ...over,
  };
}

export function histogramPoint(over: Partial<HistogramDataPoint> = {}): HistogramDataPoint {
  return {
    attributes: [kv('my.histogram.attr', 'some value')],
    startTimeUnixNano: at(-60_000),
    timeUnixNano: at(-1000),
    flags: 0,
    exemplars: [],
    count: 2,
    sum: 2,
    bucketCounts: [1, 1],
    explicitBounds: [1],
    min: 0,
    max: 2,
    ...over,
  };
}

export function expPoint(over: Partial<ExponentialHistogramDataPoint> = {}): ExponentialHistogramDataPoint {
  return {
    attributes: [],
    startTimeUnixNano: at(-60_000),
    timeUnixNano: at(-1000),
    flags: 0,
    exemplars: [],
    count: 3,
    sum: 10,
    scale: 2,
    zeroCount: 1,
    positive: { offset: 1, bucketCounts: [1, 1] },
    negative: { offset: -2, bucketCounts: [] },
    min: 1,
    max: 5,
    zeroThreshold: 0,
    ...over,
  };
}

export function summaryPoint(over: Partial<SummaryDataPoint> = {}): SummaryDataPoint {
  return {
    attributes: [],
    startTimeUnixNano: at(-60_000),
    timeUnixNano: at(-1000),
    count: 4,
    sum: 10.5,
    quantileValues: [
      { quantile: 0.5, value: 2 },
      { quantile: 0.99, value: 4.5 },
    ],
    flags: 0,
    ...over,
  };
}

export function metric(name: string, data: Metric['data'], over: Partial<Metric> = {}): Metric {
  return { name, description: `${name} description`, unit: '1', metadata: [], data, ...over };
}

export function metrics(
  list: Metric[],
  resourceAttrs: KeyValue[] = [kv('service.name', 'my.service')],
): OtlpRequest & { signal: 'metrics' } {
  return {
    signal: 'metrics',
    request: {
      resourceMetrics: [
        {
          resource: { attributes: resourceAttrs, droppedAttributesCount: 0 },
          schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
          scopeMetrics: [
            {
              scope: scope('my.library', '1.0.0', [kv('my.scope.attribute', 'some scope attribute')]),
              schemaUrl: '',
              metrics: list,
            },
          ],
        },
      ],
    },
  };
}
