import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BucketsSpec,
  counts,
  DAY_NS,
  Domain,
  expectedCounts,
  type Format,
  HOUR_NS,
  type Items,
  type LogSpec,
  MAX_STORED_NS,
  mismatches,
  type Num,
  type PointSpec,
  roundTrip,
  type SpanSpec,
  U64_MAX,
} from './domain-support.js';
import type { Text } from './domain-wire.js';

/**
 * Acknowledged => stored, exactly, in both tiers: generated OTLP requests over the whole domain of
 * each field (absent, zero, extremes, out of range, invalid encodings), in protobuf and OTLP/JSON,
 * through the real receiver, then the hot writer into embedded ClickHouse and the lake writer into
 * Parquet read back by DuckDB. Every item is either rejected (and counted) or reads back from both
 * engines as the rules of docs/decisions/0002 say, value by value (uint64 as exact decimals).
 */

let domain: Domain;
beforeAll(async () => {
  domain = await Domain.start();
});
afterAll(async () => {
  await domain?.close();
});

const RUNS = 5;

function arbitraries(received: bigint, format: Format) {
  const P63 = 1n << 63n;
  const P53 = 1n << 53n;
  const time: fc.Arbitrary<bigint | undefined> = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 2 },
    { arbitrary: fc.constant(0n), weight: 2 },
    // Within the accepted window (kept an hour clear of the 7-day edge: the tables' TTL counts
    // from the real clock while the test runs).
    { arbitrary: fc.bigInt(received - 7n * DAY_NS + HOUR_NS, received + HOUR_NS), weight: 8 },
    { arbitrary: fc.bigInt(1n, received - 7n * DAY_NS - 1n), weight: 1 },
    { arbitrary: fc.bigInt(received + HOUR_NS + 1n, U64_MAX), weight: 1 },
    {
      arbitrary: fc.constantFrom(1n, P53, MAX_STORED_NS, MAX_STORED_NS + 1n, P63 - 1n, P63, U64_MAX),
      weight: 2,
    },
  );
  const uint64: fc.Arbitrary<bigint> = fc.oneof(
    fc.constantFrom(0n, 1n, P53 - 1n, P53, P53 + 1n, P63 - 1n, P63, U64_MAX),
    fc.bigInt(0n, 1000n),
    fc.bigInt(0n, U64_MAX),
  );
  const double: fc.Arbitrary<number> = fc.oneof(
    fc.double(),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, Number.MIN_VALUE),
  );
  const num: fc.Arbitrary<Num> = fc.oneof(
    fc.constant(undefined),
    double.map((asDouble) => ({ asDouble })),
    fc.bigInt(-P63, P63 - 1n).map((asInt) => ({ asInt })),
  );
  // Letters, non-ASCII, a whole surrogate pair and both halves alone (a cut emoji).
  const units = fc.constantFrom('a', 'Z', ' ', 'é', '日', '😀', '\ud83d', '\ude00');
  const valid = fc.array(units, { maxLength: 6 }).map((u): Text => ({ text: u.join('') }));
  const invalid = fc
    .constantFrom([0xff], [0xc0, 0x80], [0x61, 0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80])
    .map((b): Text => ({ invalidUtf8: Uint8Array.from(b) }));
  const text: fc.Arbitrary<Text> =
    format === 'json' ? valid : fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: invalid, weight: 1 });
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  const buckets: fc.Arbitrary<BucketsSpec | undefined> = opt(
    fc.record({ offset: int32, counts: fc.array(uint64, { maxLength: 4 }) }),
  );

  const span = fc.record({
    ids: fc.constantFrom<SpanSpec['ids']>('ok', 'ok', 'ok', 'ok', 'empty-trace', 'short-span'),
    start: time,
    end: time,
    name: text,
    events: fc.array(fc.record({ time, name: text }), { maxLength: 3 }),
  });
  const log = fc.record({ time, observed: time, body: text });
  const base = { start: time, time };
  const point = fc.oneof(
    fc.record({
      type: fc.constantFrom('gauge' as const, 'sum' as const),
      ...base,
      value: num,
      exemplars: fc.array(fc.record({ time, value: num }), { maxLength: 3 }),
    }),
    fc.record({
      type: fc.constant('histogram' as const),
      ...base,
      count: opt(uint64),
      sum: opt(double),
      bucketCounts: fc.array(uint64, { maxLength: 4 }),
      bounds: fc.array(double, { maxLength: 3 }),
      min: opt(double),
      max: opt(double),
    }),
    fc.record({
      type: fc.constant('exponential_histogram' as const),
      ...base,
      count: opt(uint64),
      sum: opt(double),
      scale: int32,
      zeroCount: opt(uint64),
      positive: buckets,
      negative: buckets,
      min: opt(double),
      max: opt(double),
      zeroThreshold: opt(double),
    }),
    fc.record({
      type: fc.constant('summary' as const),
      ...base,
      count: opt(uint64),
      sum: opt(double),
      quantiles: fc.array(fc.record({ q: double, v: double }), { maxLength: 3 }),
    }),
  );
  const numbered = <T>(a: fc.Arbitrary<T>) =>
    fc.array(a, { minLength: 1, maxLength: 12 }).map((list) => list.map((x, item) => ({ ...x, item })));
  return {
    traces: numbered(span).map((items): Items => ({ signal: 'traces', items: items as SpanSpec[] })),
    logs: numbered(log).map((items): Items => ({ signal: 'logs', items: items as LogSpec[] })),
    metrics: numbered(point).map((items): Items => ({ signal: 'metrics', items: items as PointSpec[] })),
  };
}

describe.each<Format>(['protobuf', 'json'])(
  'acknowledged => stored exactly by both writers (%s)',
  (format) => {
    it.each(['traces', 'logs', 'metrics'] as const)(
      '%s: every item is rejected and counted, or reads back exactly from ClickHouse and from the lake',
      async (signal) => {
        const arb = arbitraries(domain.receivedNs, format)[signal];
        await fc.assert(
          fc.asyncProperty(arb, async (items) => {
            const r = await roundTrip(domain, items, format);
            expect(r.outcome.response.status).toBe(200);
            const got = counts(r);
            expect(got.accepted + got.rejected).toBe(items.items.length);
            expect(got).toEqual(expectedCounts(r));
            expect(mismatches(r)).toEqual({});
          }),
          { numRuns: RUNS },
        );
      },
      // A failure shrinks through many more round trips than a pass makes.
      180_000,
    );
  },
);
