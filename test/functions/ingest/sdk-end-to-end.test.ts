import { SeverityNumber } from '@opentelemetry/api-logs';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../../functions/shared/rows/batch.js';
import { type Pipeline, type ReadEnvelope, startPipeline } from './pipeline.js';

/**
 * The official OpenTelemetry SDK exporters (protobuf for traces and metrics, JSON for logs) sending
 * to the ingest handler behind the local gateway; rows are read back from kinesalite and unpacked.
 */

/** Records each export's result while leaving the exporter itself untouched. */
function recordResults<T>(exporter: {
  export(items: T, cb: (r: ExportResult) => void): void;
}): ExportResult[] {
  const results: ExportResult[] = [];
  const original = exporter.export.bind(exporter);
  exporter.export = (items, cb) =>
    original(items, (result) => {
      results.push(result);
      cb(result);
    });
  return results;
}

function rowsOf(envelopes: readonly ReadEnvelope[], table: string): Record<string, unknown>[] {
  return envelopes.flatMap((e) =>
    e.envelope.batches.filter((b) => b.table === table).flatMap((b) => [...rows(b)]),
  );
}

describe('OpenTelemetry SDK -> gateway -> ingest -> Kinesis', () => {
  let pipeline: Pipeline;
  const resource = resourceFromAttributes({ 'service.name': 'shop-api', 'deployment.environment': 'test' });

  beforeAll(async () => {
    pipeline = await startPipeline({ tenantId: 'acme' });
  });
  afterAll(async () => {
    await pipeline.close();
  });

  it('stores traces sent with the protobuf exporter (gzip) as otel_traces rows of the key tenant', async () => {
    process.env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION = 'gzip';
    const exporter = new OTLPTraceExporter({
      url: `${pipeline.url}/v1/traces`,
      headers: { Authorization: `Bearer ${pipeline.apiKey}` },
    });
    delete process.env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION;
    const results = recordResults(exporter);
    const provider = new TracerProvider({
      resource,
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const tracer = provider.getTracer('e2e', '1.2.3');

    const parent = tracer.startSpan('checkout', { attributes: { 'order.id': '42', 'cart.items': 3 } });
    const parentCtx = parent.spanContext();
    const { trace, context } = await import('@opentelemetry/api');
    const child = tracer.startSpan(
      'charge card',
      { attributes: { 'payment.provider': 'acme-pay' } },
      trace.setSpan(context.active(), parent),
    );
    child.addEvent('card declined', { attempt: 1 });
    child.end();
    parent.end();
    await provider.forceFlush();
    await provider.shutdown();

    expect(results.map((r) => r.code)).toEqual([ExportResultCode.SUCCESS, ExportResultCode.SUCCESS]);
    const spans = rowsOf(await pipeline.readEnvelopes(), 'otel_traces');
    expect(spans.map((s) => s.SpanName).sort()).toEqual(['charge card', 'checkout']);
    const checkout = spans.find((s) => s.SpanName === 'checkout')!;
    const charge = spans.find((s) => s.SpanName === 'charge card')!;
    expect(checkout).toMatchObject({
      TenantId: 'acme',
      ServiceName: 'shop-api',
      TraceId: parentCtx.traceId,
      SpanId: parentCtx.spanId,
      ScopeName: 'e2e',
      ScopeVersion: '1.2.3',
      SpanAttributes: { 'order.id': '42', 'cart.items': '3' },
    });
    expect(checkout.ResourceAttributes).toMatchObject({ 'deployment.environment': 'test' });
    expect(charge).toMatchObject({
      TenantId: 'acme',
      TraceId: parentCtx.traceId,
      ParentSpanId: parentCtx.spanId,
    });
    expect(charge['Events.Name']).toEqual(['card declined']);
    expect(charge['Events.Attributes']).toEqual([{ attempt: '1' }]);
  });

  it('stores logs sent with the JSON exporter as otel_logs rows', async () => {
    const exporter = new OTLPLogExporter({
      url: `${pipeline.url}/v1/logs`,
      headers: { Authorization: `Bearer ${pipeline.apiKey}` },
    });
    const results = recordResults(exporter);
    const provider = new LoggerProvider({
      resource,
      processors: [new SimpleLogRecordProcessor({ exporter })],
    });
    const logger = provider.getLogger('e2e-logs');

    logger.emit({
      body: 'payment failed',
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      attributes: { 'order.id': '42' },
    });
    logger.emit({ body: 'retrying', severityNumber: SeverityNumber.INFO, severityText: 'INFO' });
    await provider.forceFlush();
    await provider.shutdown();

    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => r.code === ExportResultCode.SUCCESS)).toBe(true);
    const logs = rowsOf(await pipeline.readEnvelopes(), 'otel_logs');
    expect(logs.map((l) => l.Body).sort()).toEqual(['payment failed', 'retrying']);
    expect(logs.find((l) => l.Body === 'payment failed')).toMatchObject({
      TenantId: 'acme',
      ServiceName: 'shop-api',
      SeverityText: 'ERROR',
      SeverityNumber: SeverityNumber.ERROR,
      ScopeName: 'e2e-logs',
      LogAttributes: { 'order.id': '42' },
    });
  });

  it('stores metrics sent with the protobuf exporter as sum, histogram and gauge rows', async () => {
    const exporter = new OTLPMetricExporter({
      url: `${pipeline.url}/v1/metrics`,
      headers: { Authorization: `Bearer ${pipeline.apiKey}` },
    });
    const results = recordResults(exporter);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ resource, readers: [reader] });
    const meter = provider.getMeter('e2e-metrics');

    meter.createCounter('orders.placed').add(3, { region: 'eu' });
    const latency = meter.createHistogram('checkout.latency', { unit: 'ms' });
    for (const v of [12, 30, 250]) latency.record(v, { route: '/checkout' });
    meter.createGauge('queue.depth').record(7);
    await provider.forceFlush();
    await provider.shutdown();

    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => r.code === ExportResultCode.SUCCESS)).toBe(true);
    const envelopes = await pipeline.readEnvelopes();
    const sums = rowsOf(envelopes, 'otel_metrics_sum').filter((r) => r.MetricName === 'orders.placed');
    const histograms = rowsOf(envelopes, 'otel_metrics_histogram').filter(
      (r) => r.MetricName === 'checkout.latency',
    );
    const gauges = rowsOf(envelopes, 'otel_metrics_gauge').filter((r) => r.MetricName === 'queue.depth');
    // forceFlush then shutdown may export twice: every export carries the same cumulative values.
    expect(sums.length).toBeGreaterThanOrEqual(1);
    for (const s of sums) {
      expect(s).toMatchObject({ TenantId: 'acme', ServiceName: 'shop-api', Value: 3, IsMonotonic: true });
      expect(s.Attributes).toEqual({ region: 'eu' });
    }
    expect(histograms.length).toBeGreaterThanOrEqual(1);
    expect(histograms[0]).toMatchObject({ Count: 3, Sum: 292, Min: 12, Max: 250, MetricUnit: 'ms' });
    expect(gauges.length).toBeGreaterThanOrEqual(1);
    expect(gauges[0]).toMatchObject({ Value: 7, TenantId: 'acme' });
    for (const e of envelopes) expect(e.envelope.header.tenant).toBe('acme');
  });
});
