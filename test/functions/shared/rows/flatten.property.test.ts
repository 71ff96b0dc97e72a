import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnyValue, KeyValue, Metric, OtlpRequest } from '../../../../functions/shared/otlp/model.js';
import { flatten } from '../../../../functions/shared/rows/flatten.js';
import { resolveRowLimits } from '../../../../functions/shared/rows/limits.js';
import { payloadColumns, SIGNAL_TABLES } from '../../../../functions/shared/schema/columns.js';
import {
  at,
  DAY_MS,
  expPoint,
  histogramPoint,
  logRecord,
  logs,
  metric,
  metrics,
  numberPoint,
  RECV,
  span,
  summaryPoint,
  traces,
} from './model-builders.js';

// Small caps so the random models hit them often.
const limits = resolveRowLimits({
  maxAttributesPerMap: 4,
  maxAttributeKeyBytes: 8,
  maxAttributeValueBytes: 16,
  maxLogBodyBytes: 24,
  maxSpanEvents: 2,
  maxSpanLinks: 2,
  maxNameBytes: 8,
});

const anyValue: fc.Arbitrary<AnyValue> = fc.letrec<{ v: AnyValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary' }).map((v): AnyValue => ({ t: 'string', v })),
    fc.boolean().map((v): AnyValue => ({ t: 'bool', v })),
    fc
      .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
      .map((v): AnyValue => ({ t: 'int', v: v.toString() })),
    fc.double().map((v): AnyValue => ({ t: 'double', v })),
    fc.uint8Array({ maxLength: 8 }).map((v): AnyValue => ({ t: 'bytes', v })),
    fc.array(tie('v'), { maxLength: 3 }).map((v): AnyValue => ({ t: 'array', v })),
    fc
      .array(fc.record({ key: fc.string(), value: fc.option(tie('v'), { nil: undefined }) }), {
        maxLength: 3,
      })
      .map((v): AnyValue => ({ t: 'kvlist', v })),
  ),
})).v;

const keyValues: fc.Arbitrary<KeyValue[]> = fc.array(
  fc.record({
    key: fc.oneof(
      fc.constantFrom('service.name', 'password', 'k', 'user.email', '__proto__'),
      fc.string({ unit: 'binary' }),
    ),
    value: fc.option(anyValue, { nil: undefined }),
  }),
  { maxLength: 7 },
);

const time = fc.oneof(
  fc.constant('0'),
  fc.constantFrom(at(-8 * DAY_MS), at(2 * 3_600_000), 'x1'),
  fc.integer({ min: -6 * DAY_MS, max: 3_500_000 }).map(at),
);
const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: n, maxLength: n });
const invalid = fc.option(fc.constantFrom('bad id', 'invalid UTF-8'), { nil: undefined, freq: 4 });

const spanArb = fc
  .record({
    traceId: fc.oneof(hex(32), fc.constant('')),
    spanId: fc.oneof(hex(16), fc.constant('')),
    name: fc.string({ unit: 'binary' }),
    kind: fc.integer({ min: 0, max: 7 }),
    startTimeUnixNano: time,
    endTimeUnixNano: time,
    attributes: keyValues,
    events: fc.array(
      fc.record({
        timeUnixNano: time,
        name: fc.string(),
        attributes: keyValues,
        droppedAttributesCount: fc.constant(0),
      }),
      { maxLength: 3 },
    ),
    links: fc.array(
      fc.record({
        traceId: hex(32),
        spanId: hex(16),
        traceState: fc.string(),
        attributes: keyValues,
        droppedAttributesCount: fc.constant(0),
        flags: fc.constant(0),
      }),
      { maxLength: 3 },
    ),
    status: fc.record({ code: fc.integer({ min: 0, max: 3 }), message: fc.string({ unit: 'binary' }) }),
    invalid,
  })
  .map(({ invalid: why, ...over }) => span(why === undefined ? over : { ...over, invalid: why }));

const logArb = fc
  .record({
    timeUnixNano: time,
    observedTimeUnixNano: time,
    body: fc.option(anyValue, { nil: undefined }),
    attributes: keyValues,
    flags: fc.nat(),
    invalid,
  })
  .map(({ invalid: why, ...over }) => logRecord(why === undefined ? over : { ...over, invalid: why }));

const pointOver = fc.record({ timeUnixNano: time, attributes: keyValues, invalid });
const metricArb: fc.Arbitrary<Metric> = fc.oneof(
  fc
    .array(pointOver, { maxLength: 3 })
    .map((ps) => metric('g', { type: 'gauge', dataPoints: ps.map((p) => numberPoint(clean(p))) })),
  fc.array(pointOver, { maxLength: 3 }).map((ps) =>
    metric('s', {
      type: 'sum',
      aggregationTemporality: 2,
      isMonotonic: true,
      dataPoints: ps.map((p) => numberPoint(clean(p))),
    }),
  ),
  fc.array(pointOver, { maxLength: 3 }).map((ps) =>
    metric('h', {
      type: 'histogram',
      aggregationTemporality: 1,
      dataPoints: ps.map((p) => histogramPoint(clean(p))),
    }),
  ),
  fc.array(pointOver, { maxLength: 3 }).map((ps) =>
    metric('e', {
      type: 'exponential_histogram',
      aggregationTemporality: 1,
      dataPoints: ps.map((p) => expPoint(clean(p))),
    }),
  ),
  fc
    .array(pointOver, { maxLength: 3 })
    .map((ps) => metric('q', { type: 'summary', dataPoints: ps.map((p) => summaryPoint(clean(p))) })),
  fc.constant(metric('none', undefined)),
);

function clean<T extends { invalid: string | undefined }>(p: T): Omit<T, 'invalid'> & { invalid?: string } {
  const { invalid: why, ...rest } = p;
  return why === undefined ? rest : { ...rest, invalid: why };
}

const request: fc.Arbitrary<{ otlp: OtlpRequest; items: number }> = fc.oneof(
  fc
    .tuple(fc.array(spanArb, { maxLength: 6 }), keyValues)
    .map(([s, r]) => ({ otlp: traces(s, r), items: s.length })),
  fc
    .tuple(fc.array(logArb, { maxLength: 6 }), keyValues)
    .map(([l, r]) => ({ otlp: logs(l, r), items: l.length })),
  fc.tuple(fc.array(metricArb, { maxLength: 4 }), keyValues).map(([m, r]) => ({
    otlp: metrics(m, r),
    items: m.reduce((n, x) => n + (x.data?.dataPoints.length ?? 0), 0),
  })),
);

describe('flatten over random models', () => {
  it('keeps every column of every table, aligned, counts every item once, and stamps the tenant', () => {
    fc.assert(
      fc.property(request, fc.constantFrom('acme', 't-2'), ({ otlp, items }, tenant) => {
        const result = flatten({ tenant, otlp, receivedAtNs: RECV }, { limits });
        expect(result.accepted + result.rejected).toBe(items);
        expect(Object.values(result.rejections).reduce((a, b) => a + b, 0)).toBe(result.rejected);
        expect(result.message === undefined).toBe(result.rejected === 0);
        let rows = 0;
        for (const batch of result.batches) {
          expect(SIGNAL_TABLES[otlp.signal]).toContain(batch.table);
          expect(Object.keys(batch.columns)).toEqual(payloadColumns(batch.table).map((c) => c.name));
          for (const values of Object.values(batch.columns)) expect(values).toHaveLength(batch.rowCount);
          expect(new Set(batch.columns.TenantId)).toEqual(new Set([tenant]));
          for (const attrs of batch.columns[
            batch.table.startsWith('otel_metrics')
              ? 'Attributes'
              : batch.table === 'otel_logs'
                ? 'LogAttributes'
                : 'SpanAttributes'
          ] ?? []) {
            const map = attrs as Record<string, string>;
            expect(Object.keys(map).length).toBeLessThanOrEqual(limits.maxAttributesPerMap);
            expect(map).not.toHaveProperty('password');
            for (const [k, v] of Object.entries(map)) {
              expect(Buffer.byteLength(k)).toBeLessThanOrEqual(limits.maxAttributeKeyBytes);
              expect(Buffer.byteLength(v)).toBeLessThanOrEqual(limits.maxAttributeValueBytes);
            }
          }
          rows += batch.rowCount;
        }
        expect(rows).toBe(result.accepted);
      }),
      { numRuns: 150 },
    );
  });
});
