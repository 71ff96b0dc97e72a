import { describe, expect, it } from 'vitest';
import { decodeOtlp, OtlpDecodeError } from '../../../../functions/shared/otlp/decode.js';
import { rowAt } from '../../../../functions/shared/rows/batch.js';
import { flatten } from '../../../../functions/shared/rows/flatten.js';
import { resolveRowLimits } from '../../../../functions/shared/rows/limits.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';
import { fixture, fixtureNames } from '../../../support/fixtures.js';

// The OpenTelemetry example requests are stamped 2018-12-13T14:51:00Z.
const FIXTURE_RECEIVED = '1544712661000000000';

const signalOf = (name: string): Signal =>
  name.startsWith('log') ? 'logs' : name.startsWith('metric') ? 'metrics' : 'traces';

describe('flatten decoded fixtures', () => {
  it('maps the OpenTelemetry example trace to the expected row', () => {
    const otlp = decodeOtlp('traces', fixture('otlp/trace.json'), 'json');
    const result = flatten({ tenant: 'acme', otlp, receivedAtNs: FIXTURE_RECEIVED });
    expect(result.accepted).toBe(1);
    expect(rowAt(result.batches[0]!, 0)).toMatchObject({
      TenantId: 'acme',
      Timestamp: '1544712660000000000',
      TraceId: '5b8efff798038103d269b633813fc60c',
      SpanId: 'eee19b7ec3c1b174',
      ParentSpanId: 'eee19b7ec3c1b173',
      SpanName: "I'm a server span",
      SpanKind: 'Server',
      ServiceName: 'my.service',
      ScopeName: 'my.library',
      SpanAttributes: { 'my.span.attr': 'some value' },
      Duration: 1_000_000_000,
      StatusCode: 'Unset',
    });
  });

  it('stringifies the example log attributes of every type', () => {
    const otlp = decodeOtlp('logs', fixture('otlp/logs.json'), 'json');
    const row = rowAt(flatten({ tenant: 'acme', otlp, receivedAtNs: FIXTURE_RECEIVED }).batches[0]!, 0);
    expect(row.Body).toBe('Example log record');
    expect(row.LogAttributes).toEqual({
      'string.attribute': 'some string',
      'boolean.attribute': 'true',
      'int.attribute': '10',
      'double.attribute': '637.704',
      'array.attribute': '["many","values"]',
      'map.attribute': '{"some.map.key":"some value"}',
    });
  });

  it('spreads the example metrics over their tables', () => {
    const otlp = decodeOtlp('metrics', fixture('otlp/metrics.json'), 'json');
    const result = flatten({ tenant: 'acme', otlp, receivedAtNs: FIXTURE_RECEIVED });
    expect(result.batches.map((b) => [b.table, b.rowCount])).toEqual([
      ['otel_metrics_gauge', 1],
      ['otel_metrics_sum', 1],
      ['otel_metrics_histogram', 1],
      ['otel_metrics_exponential_histogram', 1],
    ]);
  });

  it('rejects the example data when it arrives years later: older than the hot retention', () => {
    const otlp = decodeOtlp('traces', fixture('otlp/trace.json'), 'json');
    const result = flatten({ tenant: 'acme', otlp, receivedAtNs: '1790000000000000000' });
    expect(result).toMatchObject({
      accepted: 0,
      batches: [],
      message: '1 span rejected: 1 timestamp older than the 7-day hot retention',
    });
  });

  it('gives the same rows for the protobuf and JSON encodings of each otlp2parquet fixture', () => {
    // Fixture times span years: widen the window so only the mapping is compared.
    const limits = resolveRowLimits({ hotRetentionDays: 100_000, maxFutureSkewMs: 3650 * 86_400_000 });
    const pbs = fixtureNames('otlp2parquet').filter((n) => n.endsWith('.pb'));
    let compared = 0;
    for (const pb of pbs) {
      const json = pb.replace(/\.pb$/, '.json');
      if (!fixtureNames('otlp2parquet').includes(json)) continue;
      const signal = signalOf(pb);
      const a = flatten(
        {
          tenant: 't',
          otlp: decodeOtlp(signal, fixture(`otlp2parquet/${pb}`), 'protobuf'),
          receivedAtNs: '1790000000000000000',
        },
        { limits },
      );
      const b = flatten(
        {
          tenant: 't',
          otlp: decodeOtlp(signal, fixture(`otlp2parquet/${json}`), 'json'),
          receivedAtNs: '1790000000000000000',
        },
        { limits },
      );
      expect(a.rejected, pb).toBe(0);
      expect(a.accepted, pb).toBeGreaterThan(0);
      expect(b.batches, pb).toEqual(a.batches);
      compared++;
    }
    expect(compared).toBe(7);
  });

  it('counts items the decoder marked invalid as rejected, with the decoder reason', () => {
    let counted = 0;
    for (const name of fixtureNames('otlp2parquet/invalid')) {
      let otlp: ReturnType<typeof decodeOtlp>;
      try {
        otlp = decodeOtlp(signalOf(name), fixture(`otlp2parquet/invalid/${name}`), 'json');
      } catch (err) {
        expect(err).toBeInstanceOf(OtlpDecodeError); // the whole request is a 400, nothing to flatten
        continue;
      }
      const result = flatten({ tenant: 't', otlp, receivedAtNs: '1790000000000000000' });
      expect(result.accepted, name).toBe(0);
      expect(result.rejected, name).toBeGreaterThan(0);
      expect(result.message, name).toMatch(/rejected: 1 (unknown|traceId)/);
      counted++;
    }
    expect(counted).toBeGreaterThanOrEqual(4);
  });
});
