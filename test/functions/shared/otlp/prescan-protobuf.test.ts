import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OtlpLimitError } from '../../../../functions/shared/otlp/decode-error.js';
import { countProtobufItems } from '../../../../functions/shared/otlp/prescan.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';
import { OtlpTypes } from '../../../support/otlp-proto.js';

/**
 * The protobuf pre-count against requests encoded by protobufjs (an independent encoder): the
 * number of items the generator put in is the oracle.
 */

const METRIC_DATA = ['gauge', 'sum', 'histogram', 'exponential_histogram', 'summary'] as const;
const attrs = fc.array(
  fc.record({
    key: fc.string({ maxLength: 4 }),
    value: fc.record({ string_value: fc.string({ maxLength: 4 }) }),
  }),
  { maxLength: 2 },
);
/** n items under random resources and scopes, each list possibly empty. */
const nested = <T>(item: fc.Arbitrary<T>) =>
  fc.array(fc.array(fc.array(item, { maxLength: 4 }), { maxLength: 3 }), { maxLength: 3 });

const span = fc.record({
  name: fc.string({ maxLength: 6 }),
  attributes: attrs,
  start_time_unix_nano: fc.constant('1'),
});
const log = fc.record({ severity_text: fc.string({ maxLength: 4 }), attributes: attrs });
const metric = fc.record({
  name: fc.string({ maxLength: 4 }),
  kind: fc.constantFrom(...METRIC_DATA),
  points: fc.integer({ min: 0, max: 4 }),
});

type Built = { signal: Signal; wire: Uint8Array; items: number };

const traces: fc.Arbitrary<Built> = nested(span).map((rs) => ({
  signal: 'traces',
  items: rs.flat(2).length,
  wire: OtlpTypes.traces
    .encode(
      OtlpTypes.traces.fromObject({
        resource_spans: rs.map((ss) => ({
          resource: { attributes: [{ key: 'service.name', value: { string_value: 's' } }] },
          scope_spans: ss.map((spans) => ({ scope: { name: 'x' }, spans })),
          schema_url: 'u',
        })),
      }),
    )
    .finish(),
}));

const logs: fc.Arbitrary<Built> = nested(log).map((rl) => ({
  signal: 'logs',
  items: rl.flat(2).length,
  wire: OtlpTypes.logs
    .encode(
      OtlpTypes.logs.fromObject({
        resource_logs: rl.map((sl) => ({ scope_logs: sl.map((log_records) => ({ log_records })) })),
      }),
    )
    .finish(),
}));

const metrics: fc.Arbitrary<Built> = nested(metric).map((rm) => ({
  signal: 'metrics',
  items: rm.flat(2).reduce((n, m) => n + m.points, 0),
  wire: OtlpTypes.metrics
    .encode(
      OtlpTypes.metrics.fromObject({
        resource_metrics: rm.map((sm) => ({
          scope_metrics: sm.map((ms) => ({
            metrics: ms.map((m) => ({
              name: m.name,
              unit: 'ms',
              [m.kind]: {
                data_points: Array.from({ length: m.points }, (_, i) => ({ time_unix_nano: String(i + 1) })),
              },
            })),
          })),
        })),
      }),
    )
    .finish(),
}));

const requests = fc.oneof(traces, logs, metrics);

describe('countProtobufItems', () => {
  it('counts exactly the spans, log records and data points protobufjs encoded', () => {
    fc.assert(
      fc.property(requests, ({ signal, wire, items }) => {
        expect(countProtobufItems(signal, wire, 1_000_000)).toBe(items);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses past the cap (OtlpLimitError) and not at it', () => {
    fc.assert(
      fc.property(requests, ({ signal, wire, items }) => {
        expect(countProtobufItems(signal, wire, items)).toBe(items);
        if (items > 0) expect(() => countProtobufItems(signal, wire, items - 1)).toThrow(OtlpLimitError);
      }),
      { numRuns: 200 },
    );
  });

  it('counts a cut-off body as far as it goes: never more than the whole, never an error', () => {
    fc.assert(
      fc.property(requests, fc.double({ min: 0, max: 1, noNaN: true }), ({ signal, wire, items }, at) => {
        const cut = wire.subarray(0, Math.floor(wire.length * at));
        const n = countProtobufItems(signal, cut, 1_000_000);
        expect(n).toBeGreaterThanOrEqual(0);
        expect(n).toBeLessThanOrEqual(items);
      }),
      { numRuns: 300 },
    );
  });
});
