import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { decodeOtlp } from '../../../../functions/shared/otlp/decode.js';
import type { OtlpRequest } from '../../../../functions/shared/otlp/model.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';
import { canonicalBytes, logsOf, metricsOf, spansOf } from './support.js';

const resource = resourceFromAttributes({
  'service.name': 'checkout',
  'service.version': '1.2.3',
  'process.pid': 42,
});

/** Decodes the SDK's protobuf and JSON (and its canonical-mapping rewrite): all must agree. */
function decodeAll(signal: Signal, protobuf: Uint8Array, json: Uint8Array): OtlpRequest {
  const fromProto = decodeOtlp(signal, protobuf, 'protobuf');
  expect(decodeOtlp(signal, json, 'json')).toEqual(fromProto);
  expect(decodeOtlp(signal, canonicalBytes(json), 'json')).toEqual(fromProto);
  return fromProto;
}

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

describe('SDK data through the official serializers', () => {
  it('traces: spans of a TracerProvider decode the same from protobuf and JSON, as the SDK made them', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({
      resource,
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const tracer = provider.getTracer('shop-http', '0.9.0');
    const parent = tracer.startSpan('GET /cart', {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'http.server.duration': 12.5,
        'cache.hit': false,
        tags: ['a', 'b'],
        codes: [1, 2, 3],
      },
    });
    const ctx = trace.setSpan(ROOT_CONTEXT, parent);
    const child = tracer.startSpan(
      'SELECT carts',
      { kind: SpanKind.CLIENT, links: [{ context: parent.spanContext() }] },
      ctx,
    );
    child.addEvent('exception', { 'exception.message': 'deadlock, retrying ✓' });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'deadlock' });
    child.end();
    parent.end();
    const spans = exporter.getFinishedSpans();
    const decoded = spansOf(
      decodeAll(
        'traces',
        ProtobufTraceSerializer.serializeRequest(spans)!,
        JsonTraceSerializer.serializeRequest(spans)!,
      ),
    );
    expect(decoded.map((s) => s.name)).toEqual(['SELECT carts', 'GET /cart']);
    const [c, p] = decoded;
    expect(c).toMatchObject({
      traceId: parent.spanContext().traceId,
      spanId: child.spanContext().spanId,
      parentSpanId: parent.spanContext().spanId,
      kind: 3,
      status: { code: 2, message: 'deadlock' },
      events: [
        {
          name: 'exception',
          attributes: [{ key: 'exception.message', value: { t: 'string', v: 'deadlock, retrying ✓' } }],
        },
      ],
      links: [{ traceId: parent.spanContext().traceId, spanId: parent.spanContext().spanId }],
    });
    expect(p?.attributes).toEqual([
      { key: 'http.request.method', value: { t: 'string', v: 'GET' } },
      { key: 'http.response.status_code', value: { t: 'int', v: '200' } },
      { key: 'http.server.duration', value: { t: 'double', v: 12.5 } },
      { key: 'cache.hit', value: { t: 'bool', v: false } },
      {
        key: 'tags',
        value: {
          t: 'array',
          v: [
            { t: 'string', v: 'a' },
            { t: 'string', v: 'b' },
          ],
        },
      },
      { key: 'codes', value: { t: 'array', v: [1, 2, 3].map((n) => ({ t: 'int', v: `${n}` })) } },
    ]);
    const sdkParent = spans[1]!;
    const ns = BigInt(sdkParent.startTime[0]) * 1_000_000_000n + BigInt(sdkParent.startTime[1]);
    expect(p?.startTimeUnixNano).toBe(ns.toString());
    expect(p?.flags).toBe(0x101);
    await provider.shutdown();
  });

  it('logs: records of a LoggerProvider with structured bodies and bytes', async () => {
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({
      resource,
      processors: [new SimpleLogRecordProcessor({ exporter })],
    });
    const logger = provider.getLogger('pino', '9.5.0');
    logger.emit({
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: { msg: 'slow request', ms: 1234, tags: ['x', 1.5, true], raw: new Uint8Array([1, 2, 3]) },
      attributes: { 'user.id': 'u-1', nested: { a: { b: 'c' } } },
      eventName: 'request.slow',
    });
    logger.emit({ body: 'plain line', severityNumber: SeverityNumber.INFO });
    const records = exporter.getFinishedLogRecords();
    const logs = logsOf(
      decodeAll(
        'logs',
        ProtobufLogsSerializer.serializeRequest(records)!,
        JsonLogsSerializer.serializeRequest(records)!,
      ),
    );
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatchObject({ severityNumber: 13, severityText: 'WARN', eventName: 'request.slow' });
    expect(logs[0]?.body).toEqual({
      t: 'kvlist',
      v: [
        { key: 'msg', value: { t: 'string', v: 'slow request' } },
        { key: 'ms', value: { t: 'int', v: '1234' } },
        {
          key: 'tags',
          value: {
            t: 'array',
            v: [
              { t: 'string', v: 'x' },
              { t: 'double', v: 1.5 },
              { t: 'bool', v: true },
            ],
          },
        },
        { key: 'raw', value: { t: 'bytes', v: new Uint8Array([1, 2, 3]) } },
      ],
    });
    expect(logs[0]?.attributes[1]).toEqual({
      key: 'nested',
      value: {
        t: 'kvlist',
        v: [{ key: 'a', value: { t: 'kvlist', v: [{ key: 'b', value: { t: 'string', v: 'c' } }] } }],
      },
    });
    expect(logs[1]).toMatchObject({ body: { t: 'string', v: 'plain line' }, severityNumber: 9, traceId: '' });
    await provider.shutdown();
  });

  it('metrics: counters, up-down counters, gauges, histograms and exponential histograms', async () => {
    const reader = new CollectingReader();
    const provider = new MeterProvider({
      resource,
      readers: [reader],
      views: [
        { instrumentName: 'latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } },
      ],
    });
    const meter = provider.getMeter('shop-metrics', '1.0.0');
    meter
      .createCounter('orders', { unit: '{order}', description: 'Orders placed' })
      .add(3, { country: 'FR' });
    meter.createUpDownCounter('queue.depth').add(-2);
    meter.createGauge('cpu', { unit: '1' }).record(0.75, { core: 1 });
    const latency = meter.createHistogram('latency', { unit: 'ms' });
    for (const v of [1, 7, 30, 900]) latency.record(v, { route: '/cart' });
    const exp = meter.createHistogram('latency.exp', { unit: 'ms' });
    for (const v of [0, 0.5, 3, 3, 1000]) exp.record(v);
    const { resourceMetrics } = await reader.collect();
    const metrics = metricsOf(
      decodeAll(
        'metrics',
        ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!,
        JsonMetricsSerializer.serializeRequest(resourceMetrics)!,
      ),
    );
    const byName = new Map(metrics.map((m) => [m.name, m.data]));
    expect(byName.get('orders')).toMatchObject({
      type: 'sum',
      isMonotonic: true,
      aggregationTemporality: 2,
      dataPoints: [{ value: 3, attributes: [{ key: 'country', value: { t: 'string', v: 'FR' } }] }],
    });
    expect(byName.get('queue.depth')).toMatchObject({
      type: 'sum',
      isMonotonic: false,
      dataPoints: [{ value: -2 }],
    });
    expect(byName.get('cpu')).toMatchObject({ type: 'gauge', dataPoints: [{ value: 0.75 }] });
    expect(byName.get('latency')).toMatchObject({
      type: 'histogram',
      dataPoints: [{ count: 4, sum: 938, min: 1, max: 900 }],
    });
    const h = byName.get('latency');
    expect(
      h?.type === 'histogram' && h.dataPoints[0]?.bucketCounts.reduce((a: number, b) => a + Number(b), 0),
    ).toBe(4);
    expect(byName.get('latency.exp')).toMatchObject({
      type: 'exponential_histogram',
      dataPoints: [{ count: 5, sum: 1006.5, zeroCount: 1, min: 0, max: 1000 }],
    });
    await provider.shutdown();
  });
});
