import type { Attributes, AttributeValue, HrTime } from '@opentelemetry/api';
import type { AnyValue as SdkAnyValue } from '@opentelemetry/api-logs';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AggregationType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeOtlp } from '../../../../functions/shared/otlp/decode.js';
import { canonicalBytes, logsOf, metricsOf, spansOf } from './support.js';

// Values both official serializers can carry: JSON has no NaN/Infinity (JSON.stringify writes
// null) and the SDK sends integers beyond 2^53 as doubles in JSON; those are left out here.
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const int = fc.integer({ min: -(2 ** 40), max: 2 ** 40 });
const dbl = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 });
const primitive = fc.oneof(text, int, dbl, fc.boolean());
const attributeValue: fc.Arbitrary<AttributeValue> = fc.oneof(
  primitive,
  fc.array(text, { maxLength: 3 }),
  fc.array(int, { maxLength: 3 }),
  fc.array(fc.boolean(), { maxLength: 3 }),
);
const attributes: fc.Arbitrary<Attributes> = fc.dictionary(text, attributeValue, { maxKeys: 5 });
const hex = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
const hrTime: fc.Arbitrary<HrTime> = fc.tuple(
  fc.integer({ min: 0, max: 4_000_000_000 }),
  fc.integer({ min: 0, max: 999_999_999 }),
);
const resource = fc.constantFrom(
  resourceFromAttributes({ 'service.name': 'a' }),
  resourceFromAttributes({ 'service.name': 'b', 'host.name': 'h', 'process.pid': 7 }),
);
const scope = fc.record({ name: text, version: fc.option(text, { nil: undefined }) });

const span: fc.Arbitrary<ReadableSpan> = fc
  .record({
    name: text,
    kind: fc.integer({ min: 0, max: 4 }),
    traceId: hex(16),
    spanId: hex(8),
    parent: fc.option(hex(8), { nil: undefined }),
    start: hrTime,
    end: hrTime,
    status: fc.record({ code: fc.integer({ min: 0, max: 2 }), message: fc.option(text, { nil: undefined }) }),
    attributes,
    events: fc.array(fc.record({ name: text, time: hrTime, attributes }), { maxLength: 2 }),
    links: fc.array(fc.record({ traceId: hex(16), spanId: hex(8), attributes }), { maxLength: 2 }),
    dropped: fc.nat(1000),
    resource,
    scope,
  })
  .map((s) => ({
    name: s.name,
    kind: s.kind,
    spanContext: () => ({ traceId: s.traceId, spanId: s.spanId, traceFlags: 1 }),
    parentSpanContext: s.parent ? { traceId: s.traceId, spanId: s.parent, traceFlags: 1 } : undefined,
    startTime: s.start,
    endTime: s.end,
    duration: [0, 0],
    status: s.status,
    attributes: s.attributes,
    links: s.links.map((l) => ({
      context: { traceId: l.traceId, spanId: l.spanId, traceFlags: 0 },
      attributes: l.attributes,
    })),
    events: s.events.map((e) => ({ ...e, droppedAttributesCount: 0 })),
    ended: true,
    resource: s.resource,
    instrumentationScope: s.scope,
    droppedAttributesCount: s.dropped,
    droppedEventsCount: 0,
    droppedLinksCount: s.dropped % 3,
  }));

const anyValue: fc.Arbitrary<SdkAnyValue> = fc.letrec<{ v: SdkAnyValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    primitive,
    fc.uint8Array({ maxLength: 6 }),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(text, tie('v'), { maxKeys: 3 }),
  ),
})).v;

const logRecord: fc.Arbitrary<ReadableLogRecord> = fc
  .record({
    time: hrTime,
    observed: hrTime,
    ids: fc.option(fc.tuple(hex(16), hex(8)), { nil: undefined }),
    severityNumber: fc.option(fc.integer({ min: 1, max: 24 }), { nil: undefined }),
    severityText: fc.option(text, { nil: undefined }),
    body: fc.option(anyValue, { nil: undefined }),
    eventName: fc.option(text, { nil: undefined }),
    attributes: fc.dictionary(text, anyValue, { maxKeys: 4 }),
    resource,
    scope,
  })
  .map((r) => ({
    hrTime: r.time,
    hrTimeObserved: r.observed,
    spanContext: r.ids ? { traceId: r.ids[0], spanId: r.ids[1], traceFlags: 1 } : undefined,
    severityNumber: r.severityNumber,
    severityText: r.severityText,
    body: r.body,
    eventName: r.eventName,
    resource: r.resource,
    instrumentationScope: r.scope,
    attributes: r.attributes,
    droppedAttributesCount: 0,
  }));

describe("property: the SDK serializers' protobuf and JSON decode to the same model", () => {
  it('traces', () => {
    fc.assert(
      fc.property(fc.array(span, { minLength: 1, maxLength: 6 }), (spans) => {
        const json = JsonTraceSerializer.serializeRequest(spans)!;
        const fromProto = decodeOtlp('traces', ProtobufTraceSerializer.serializeRequest(spans)!, 'protobuf');
        expect(decodeOtlp('traces', json, 'json')).toEqual(fromProto);
        expect(decodeOtlp('traces', canonicalBytes(json), 'json')).toEqual(fromProto);
        const decoded = spansOf(fromProto);
        expect(decoded.map((s) => s.invalid)).toEqual(spans.map(() => undefined));
        expect(new Set(decoded.map((s) => `${s.traceId}/${s.spanId}/${s.name}`))).toEqual(
          new Set(spans.map((s) => `${s.spanContext().traceId}/${s.spanContext().spanId}/${s.name}`)),
        );
      }),
      { numRuns: 150, seed: 20261123 },
    );
  });

  it('logs, with nested bodies and bytes', () => {
    fc.assert(
      fc.property(fc.array(logRecord, { minLength: 1, maxLength: 6 }), (records) => {
        const json = JsonLogsSerializer.serializeRequest(records)!;
        const fromProto = decodeOtlp('logs', ProtobufLogsSerializer.serializeRequest(records)!, 'protobuf');
        expect(decodeOtlp('logs', json, 'json')).toEqual(fromProto);
        expect(decodeOtlp('logs', canonicalBytes(json), 'json')).toEqual(fromProto);
        expect(logsOf(fromProto)).toHaveLength(records.length);
      }),
      { numRuns: 150, seed: 20261124 },
    );
  });

  class CollectingReader extends MetricReader {
    protected override async onShutdown(): Promise<void> {}
    protected override async onForceFlush(): Promise<void> {}
  }

  const instrument = fc.constantFrom('counter', 'updown', 'gauge', 'histogram', 'exponential');
  const recording = fc.record({
    kind: instrument,
    value: fc.double({ min: 0, max: 1e6, noNaN: true }),
    attributes,
  });

  it('metrics of every SDK aggregation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(recording, { minLength: 1, maxLength: 12 }), async (recordings) => {
        const reader = new CollectingReader();
        const provider = new MeterProvider({
          readers: [reader],
          views: [
            { instrumentName: 'exponential', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } },
          ],
        });
        const meter = provider.getMeter('m', '1');
        const instruments = {
          counter: meter.createCounter('counter'),
          updown: meter.createUpDownCounter('updown'),
          gauge: meter.createGauge('gauge'),
          histogram: meter.createHistogram('histogram'),
          exponential: meter.createHistogram('exponential'),
        };
        for (const r of recordings) {
          const i = instruments[r.kind];
          if ('add' in i) i.add(r.value, r.attributes);
          else i.record(r.value, r.attributes);
        }
        const { resourceMetrics } = await reader.collect();
        await provider.shutdown();
        const json = JsonMetricsSerializer.serializeRequest(resourceMetrics)!;
        const fromProto = decodeOtlp(
          'metrics',
          ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!,
          'protobuf',
        );
        expect(decodeOtlp('metrics', json, 'json')).toEqual(fromProto);
        expect(decodeOtlp('metrics', canonicalBytes(json), 'json')).toEqual(fromProto);
        expect(new Set(metricsOf(fromProto).map((m) => m.name))).toEqual(
          new Set(recordings.map((r) => r.kind)),
        );
      }),
      { numRuns: 40, seed: 20261125 },
    );
  });
});
