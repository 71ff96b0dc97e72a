import { describe, expect, it } from 'vitest';
import { decodeOtlp, OtlpDecodeError } from '../../../../functions/shared/otlp/decode.js';
import { fixture, fixtureNames } from '../../../support/fixtures.js';
import { itemsOf, logsOf, metricsOf, signalOf, spansOf } from './support.js';

describe('OTLP/JSON examples of opentelemetry-proto (otlp/)', () => {
  it('decodes trace.json: upper-case hex ids lowered, kind, times, attributes', () => {
    const r = decodeOtlp('traces', fixture('otlp/trace.json'), 'json');
    const [span] = spansOf(r);
    expect(span).toMatchObject({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      parentSpanId: 'eee19b7ec3c1b173',
      name: "I'm a server span",
      kind: 2,
      startTimeUnixNano: '1544712660000000000',
      endTimeUnixNano: '1544712661000000000',
      attributes: [{ key: 'my.span.attr', value: { t: 'string', v: 'some value' } }],
    });
    expect(span?.invalid).toBeUndefined();
    if (r.signal !== 'traces') throw new Error('signal');
    const rs = r.request.resourceSpans[0]!;
    expect(rs.resource.attributes).toEqual([
      { key: 'service.name', value: { t: 'string', v: 'my.service' } },
    ]);
    expect(rs.scopeSpans[0]?.scope).toEqual({
      name: 'my.library',
      version: '1.0.0',
      attributes: [{ key: 'my.scope.attribute', value: { t: 'string', v: 'some scope attribute' } }],
      droppedAttributesCount: 0,
    });
  });

  it('decodes logs.json with every attribute value kind', () => {
    const [log] = logsOf(decodeOtlp('logs', fixture('otlp/logs.json'), 'json'));
    expect(log).toMatchObject({
      timeUnixNano: '1544712660300000000',
      observedTimeUnixNano: '1544712660300000000',
      severityNumber: 10,
      severityText: 'Information',
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      body: { t: 'string', v: 'Example log record' },
    });
    expect(log?.attributes).toEqual([
      { key: 'string.attribute', value: { t: 'string', v: 'some string' } },
      { key: 'boolean.attribute', value: { t: 'bool', v: true } },
      { key: 'int.attribute', value: { t: 'int', v: '10' } },
      { key: 'double.attribute', value: { t: 'double', v: 637.704 } },
      {
        key: 'array.attribute',
        value: {
          t: 'array',
          v: [
            { t: 'string', v: 'many' },
            { t: 'string', v: 'values' },
          ],
        },
      },
      {
        key: 'map.attribute',
        value: { t: 'kvlist', v: [{ key: 'some.map.key', value: { t: 'string', v: 'some value' } }] },
      },
    ]);
  });

  it('decodes metrics.json: sum, gauge, histogram and exponential histogram', () => {
    const metrics = metricsOf(decodeOtlp('metrics', fixture('otlp/metrics.json'), 'json'));
    expect(metrics.map((m) => [m.name, m.data?.type])).toEqual([
      ['my.counter', 'sum'],
      ['my.gauge', 'gauge'],
      ['my.histogram', 'histogram'],
      ['my.exponential.histogram', 'exponential_histogram'],
    ]);
    expect(metrics[0]?.data).toMatchObject({
      aggregationTemporality: 1,
      isMonotonic: true,
      dataPoints: [{ value: 5, startTimeUnixNano: '1544712660300000000' }],
    });
    expect(metrics[1]?.data?.dataPoints[0]).toMatchObject({ value: 10, startTimeUnixNano: '0' });
    expect(metrics[2]?.data?.dataPoints[0]).toMatchObject({
      count: 2,
      sum: 2,
      bucketCounts: [1, 1],
      explicitBounds: [1],
      min: 0,
      max: 2,
    });
    expect(metrics[3]?.data?.dataPoints[0]).toMatchObject({
      count: 3,
      sum: 10,
      scale: 0,
      zeroCount: 1,
      positive: { offset: 1, bucketCounts: [0, 2] },
      negative: { offset: 0, bucketCounts: [] },
      min: 0,
      max: 5,
    });
  });
});

describe('otlp2parquet test data: protobuf and the canonical JSON mapping', () => {
  const pairs = fixtureNames('otlp2parquet')
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .filter((base) => fixtureNames('otlp2parquet').includes(`${base}.pb`));

  it('has .pb/.json pairs to compare', () => {
    expect(pairs).toEqual([
      'metrics_exponential_histogram',
      'metrics_gauge',
      'metrics_histogram',
      'metrics_mixed',
      'metrics_sum',
      'metrics_summary',
      'trace',
    ]);
  });

  it.each(pairs)('%s: the .pb and the canonical .json decode to the same model, all valid', (base) => {
    const signal = signalOf(base);
    const fromPb = decodeOtlp(signal, fixture(`otlp2parquet/${base}.pb`), 'protobuf');
    const fromJson = decodeOtlp(signal, fixture(`otlp2parquet/${base}.json`), 'json');
    expect(fromJson).toEqual(fromPb);
    expect(itemsOf(fromPb).length).toBeGreaterThan(0);
    expect(itemsOf(fromPb).filter((i) => i.invalid !== undefined)).toEqual([]);
  });

  it('trace.json: base64 ids become hex, enum names become numbers', () => {
    const spans = spansOf(decodeOtlp('traces', fixture('otlp2parquet/trace.json'), 'json'));
    expect(spans[0]).toMatchObject({
      traceId: Buffer.from('nXmxo38xgBzRGmcG+0DWvQ==', 'base64').toString('hex'),
      spanId: Buffer.from('3lYkOenBuCM=', 'base64').toString('hex'),
      parentSpanId: Buffer.from('V1JoRpA7sT4=', 'base64').toString('hex'),
      name: 'router frontend egress',
      kind: 3,
      startTimeUnixNano: '1760738064624462000',
      endTimeUnixNano: '1760738064628483000',
    });
    expect(spans[0]?.attributes[0]).toEqual({ key: 'http.protocol', value: { t: 'string', v: 'HTTP/1.1' } });
  });

  it('log.json: severity names, envoy access-log bodies', () => {
    const logs = logsOf(decodeOtlp('logs', fixture('otlp2parquet/log.json'), 'json'));
    expect(logs[0]).toMatchObject({
      severityNumber: 9,
      severityText: 'INFO',
      timeUnixNano: '1760741572254301000',
    });
    expect(logs[0]?.body).toMatchObject({ t: 'string' });
    expect(logs[0]?.body?.v).toContain('GET /api/products/LS4PSXUNUM HTTP/1.1');
    expect(logs.every((l) => l.invalid === undefined)).toBe(true);
  });

  it('logs.pb and traces.pb: larger exports decode whole, with real ids and attributes', () => {
    const logs = logsOf(decodeOtlp('logs', fixture('otlp2parquet/logs.pb'), 'protobuf'));
    expect(logs.length).toBeGreaterThan(50);
    expect(logs.every((l) => l.invalid === undefined && l.timeUnixNano !== '0')).toBe(true);
    const spans = spansOf(decodeOtlp('traces', fixture('otlp2parquet/traces.pb'), 'protobuf'));
    expect(spans.length).toBeGreaterThan(10);
    for (const s of spans) {
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(BigInt(s.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(s.startTimeUnixNano));
      expect(s.name).not.toBe('');
    }
  });

  it('metrics: histogram, summary and int sums carry the exact values', () => {
    const hist = metricsOf(decodeOtlp('metrics', fixture('otlp2parquet/metrics_histogram.pb'), 'protobuf'));
    expect(hist[0]).toMatchObject({ name: 'http.server.duration' });
    expect(hist[0]?.data).toMatchObject({
      type: 'histogram',
      aggregationTemporality: 2,
      dataPoints: [
        {
          count: 1543,
          sum: 45120.5,
          bucketCounts: [23, 342, 687, 398, 78, 15],
          explicitBounds: [10, 25, 50, 100, 250],
          min: 2.3,
          max: 421.8,
          attributes: [
            { key: 'http.method', value: { t: 'string', v: 'GET' } },
            { key: 'http.route', value: { t: 'string', v: '/api/users' } },
            { key: 'http.status_code', value: { t: 'int', v: '200' } },
          ],
        },
        { count: 892 },
      ],
    });
    const summary = metricsOf(decodeOtlp('metrics', fixture('otlp2parquet/metrics_summary.pb'), 'protobuf'));
    expect(summary[0]?.data?.dataPoints[0]).toMatchObject({
      count: 8534,
      sum: 45892134,
      quantileValues: [
        { quantile: 0, value: 128 },
        { quantile: 0.5, value: 4512 },
        { quantile: 0.9, value: 12834 },
        { quantile: 0.95, value: 18923 },
        { quantile: 0.99, value: 45123 },
        { quantile: 1, value: 98234 },
      ],
    });
    const gauge = metricsOf(decodeOtlp('metrics', fixture('otlp2parquet/metrics_gauge.pb'), 'protobuf'));
    expect(gauge[1]?.data?.dataPoints[0]).toMatchObject({ value: 8589934592 });
  });
});

describe('otlp2parquet/invalid: rejected whole or item by item, never a crash', () => {
  const expected: Record<string, RegExp | { invalid: RegExp }> = {
    'log_invalid_severity.json': { invalid: /unknown severity number "INVALID_SEVERITY_VALUE"/ },
    'malformed.json': /malformed JSON/,
    'metrics_invalid_temporality.json': {
      invalid: /unknown aggregation temporality "INVALID_TEMPORALITY_VALUE"/,
    },
    'trace_invalid_base64.json': { invalid: /traceId must be 16 bytes/ },
    'trace_invalid_kind.json': { invalid: /unknown span kind "SPAN_KIND_INVALID_TYPE"/ },
    'trace_mixed_encoding.json': { invalid: /traceId must be 16 bytes/ },
  };

  it('covers every file of the directory', () => {
    expect(fixtureNames('otlp2parquet/invalid')).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s', (file, outcome) => {
    const decode = () => decodeOtlp(signalOf(file), fixture(`otlp2parquet/invalid/${file}`), 'json');
    if (outcome instanceof RegExp) {
      expect(decode).toThrow(OtlpDecodeError);
      expect(decode).toThrow(outcome);
    } else {
      const items = itemsOf(decode());
      expect(items.length).toBe(1);
      expect(items[0]?.invalid).toMatch(outcome.invalid);
    }
  });
});
