import { SpanKind } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { JsonLogsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countItems } from '../../../../functions/ingest/ingest.js';
import { decodeOtlp } from '../../../../functions/shared/otlp/decode.js';
import { countJsonItems } from '../../../../functions/shared/otlp/prescan.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';
import { fixture } from '../../../support/fixtures.js';
import { canonicalBytes } from './support.js';

/**
 * The cheap OTLP/JSON item count the receiver gives the rate limiter before JSON.parse
 * (countJsonItems): held against what the decoder finds in the same body.
 */

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const decodedItems = (signal: Signal, body: string) => countItems(decodeOtlp(signal, body, 'json'));

const resource = resourceFromAttributes({ 'service.name': 'prescan' });

function sdkSpans(n: number, events: number, links: number): Uint8Array {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('prescan', '1.0.0');
  const first = tracer.startSpan('first');
  first.end();
  for (let i = 0; i < n - 1; i++) {
    const span = tracer.startSpan(`op ${i}`, {
      kind: SpanKind.CLIENT,
      // An attribute whose value spells a marker key must not count.
      attributes: { note: '"startTimeUnixNano":"1" "endTimeUnixNano":', i },
      links: Array.from({ length: links }, () => ({ context: first.spanContext() })),
    });
    for (let e = 0; e < events; e++) span.addEvent(`event ${e}`, { 'event.i': e });
    span.end();
  }
  return JsonTraceSerializer.serializeRequest(exporter.getFinishedSpans())!;
}

function sdkLogs(n: number): Uint8Array {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = provider.getLogger('prescan');
  for (let i = 0; i < n; i++) {
    logger.emit({ severityNumber: SeverityNumber.INFO, body: `"timeUnixNano": ${i}`, attributes: { i } });
  }
  return JsonLogsSerializer.serializeRequest(exporter.getFinishedLogRecords())!;
}

describe('countJsonItems', () => {
  it('counts spans and log records of the SDK’s own JSON exactly, events, links and look-alike strings aside', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 2 }),
        (n, events, links) => {
          const traces = text(sdkSpans(n, events, links));
          expect(countJsonItems('traces', traces)).toBe(n);
          expect(countJsonItems('traces', traces)).toBe(decodedItems('traces', traces));
          const logs = text(sdkLogs(n));
          expect(countJsonItems('logs', logs)).toBe(n);
          expect(countJsonItems('logs', logs)).toBe(decodedItems('logs', logs));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('counts the canonical (snake_case) spelling of the same requests alike', () => {
    const traces = canonicalBytes(sdkSpans(7, 2, 1));
    expect(text(traces)).toContain('"start_time_unix_nano"');
    expect(countJsonItems('traces', text(traces))).toBe(7);
    expect(countJsonItems('logs', text(canonicalBytes(sdkLogs(5))))).toBe(5);
  });

  it('agrees with the decoder on the OpenTelemetry examples, but for a gauge point without a start time (counted after the decode)', () => {
    for (const [signal, file] of [
      ['traces', 'otlp/trace.json'],
      ['logs', 'otlp/logs.json'],
    ] as const) {
      const body = fixture(file).toString('utf8');
      expect(countJsonItems(signal, body)).toBe(decodedItems(signal, body));
    }
    const metrics = fixture('otlp/metrics.json').toString('utf8');
    const decoded = decodeOtlp('metrics', metrics, 'json');
    let withoutStart = 0;
    if (decoded.signal === 'metrics')
      for (const rm of decoded.request.resourceMetrics)
        for (const sm of rm.scopeMetrics)
          for (const m of sm.metrics)
            for (const p of m.data?.dataPoints ?? []) if (p.startTimeUnixNano === '0') withoutStart++;
    expect(withoutStart).toBeGreaterThan(0);
    expect(countJsonItems('metrics', metrics)).toBe(countItems(decoded) - withoutStart);
  });

  it('is a lower bound: items without their marker keys are not counted', () => {
    const spans = (n: number, keys: string) =>
      `{"resourceSpans":[{"scopeSpans":[{"spans":[${Array.from({ length: n }, () => `{"name":"s"${keys}}`).join(',')}]}]}]}`;
    expect(countJsonItems('traces', spans(3, ''))).toBe(0);
    expect(decodedItems('traces', spans(3, ''))).toBe(3);
    // The most of any one marker: spans with only an end time still count.
    expect(countJsonItems('traces', spans(4, ',"endTimeUnixNano":"5"'))).toBe(4);
  });
});
