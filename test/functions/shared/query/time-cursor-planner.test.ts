import { describe, expect, it } from 'vitest';
import { CursorCodec } from '../../../../functions/shared/query/cursor.js';
import { QueryParameterError } from '../../../../functions/shared/query/errors.js';
import {
  mergeMetricBuckets,
  mergeServices,
  mergeTraceSummaries,
} from '../../../../functions/shared/query/merge.js';
import { hotBoundaryNs, planTiers } from '../../../../functions/shared/query/planner.js';
import { hoursOf, parseTime, resolveRange } from '../../../../functions/shared/query/time.js';

const NOW = Date.parse('2026-11-23T07:30:00Z');
const ns = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;
const LIMITS = { defaultLookbackMs: 3_600_000, maxRangeMs: 31 * 86_400_000 };

describe('time expressions', () => {
  it.each([
    ['now', ns('2026-11-23T07:30:00Z')],
    ['now-15m', ns('2026-11-23T07:15:00Z')],
    ['now-1h', ns('2026-11-23T06:30:00Z')],
    ['now-7d', ns('2026-11-16T07:30:00Z')],
    ['2026-11-23T07:00:00Z', ns('2026-11-23T07:00:00Z')],
    ['2026-11-23T09:00:00+02:00', ns('2026-11-23T07:00:00Z')],
    ['2026-11-23T07:00:00.123456789Z', ns('2026-11-23T07:00:00Z') + 123_456_789n],
    [String(Date.parse('2026-11-23T07:00:00.250Z')), ns('2026-11-23T07:00:00.250Z')],
    ['0', 0n],
  ])('%s', (input, expected) => {
    expect(parseTime(input, NOW, 'from')).toBe(expected);
  });

  it.each([
    'yesterday',
    'now-1y',
    '2026-13-01T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2026-11-23',
    "now'; DROP",
    '-1795417200000',
    '1795417200000.5',
    '1234567890123456',
  ])('rejects %s naming the parameter', (input) => {
    expect(() => parseTime(input, NOW, 'to')).toThrow(QueryParameterError);
    expect(() => parseTime(input, NOW, 'to')).toThrow(/'to'/);
  });

  it('defaults to the last hour and bounds the range', () => {
    expect(resolveRange(undefined, undefined, NOW, LIMITS)).toEqual({
      fromNs: ns('2026-11-23T06:30:00Z'),
      toNs: ns('2026-11-23T07:30:00Z'),
    });
    expect(() => resolveRange('now-40d', undefined, NOW, LIMITS)).toThrow(/at most 31 days/);
    expect(() => resolveRange('now', 'now-1h', NOW, LIMITS)).toThrow(/before to/);
  });

  it('lists the UTC hour partitions a range touches', () => {
    const hours = hoursOf({ fromNs: ns('2026-11-22T22:30:00Z'), toNs: ns('2026-11-23T01:00:00Z') });
    expect(hours).toEqual([
      { dt: '2026-11-22', hour: 22 },
      { dt: '2026-11-22', hour: 23 },
      { dt: '2026-11-23', hour: 0 },
    ]);
  });
});

describe('cursors', () => {
  const ctx = { tenant: 'acme', endpoint: 'searchLogs', params: { q: 'x', from: 'now-1h' } };
  const pos = { fromNs: 1n, toNs: 2n, key: ['123', '1'] };

  it('round-trips for the same tenant and query', () => {
    const codec = new CursorCodec('0123456789abcdef', () => NOW);
    expect(codec.decode(ctx, codec.encode(ctx, pos))).toEqual(pos);
  });

  it('rejects another tenant, another query, another secret, an altered or an expired cursor', () => {
    const codec = new CursorCodec('0123456789abcdef', () => NOW);
    const c = codec.encode(ctx, pos);
    expect(() => codec.decode({ ...ctx, tenant: 'globex' }, c)).toThrow(/'cursor'/);
    expect(() => codec.decode({ ...ctx, params: { q: 'y', from: 'now-1h' } }, c)).toThrow(/another query/);
    expect(() => new CursorCodec('another-secret-0000', () => NOW).decode(ctx, c)).toThrow(/signature/);
    const flipped = `${c.slice(0, 5)}${c[5] === 'A' ? 'B' : 'A'}${c.slice(6)}`;
    expect(() => codec.decode(ctx, flipped)).toThrow(/'cursor'/);
    expect(() => new CursorCodec('0123456789abcdef', () => NOW + 2 * 86_400_000).decode(ctx, c)).toThrow(
      /expired/,
    );
  });
});

describe('tier planning', () => {
  const boundary = hotBoundaryNs(NOW, 7);

  it('puts the split one hour inside the hot retention, on the hour', () => {
    expect(boundary).toBe(ns('2026-11-16T08:00:00Z'));
  });

  it('sends recent ranges to the hot tier, old ones to the lake and splits spanning ones', () => {
    const recent = { fromNs: ns('2026-11-23T06:00:00Z'), toNs: ns('2026-11-23T07:00:00Z') };
    const old = { fromNs: ns('2026-11-01T00:00:00Z'), toNs: ns('2026-11-02T00:00:00Z') };
    const spanning = { fromNs: ns('2026-11-10T00:00:00Z'), toNs: ns('2026-11-23T00:00:00Z') };
    expect(planTiers(recent, boundary, true)).toEqual({ hot: recent });
    expect(planTiers(old, boundary, true)).toEqual({ cold: old });
    expect(planTiers(spanning, boundary, true)).toEqual({
      hot: { fromNs: boundary, toNs: spanning.toNs },
      cold: { fromNs: spanning.fromNs, toNs: boundary },
    });
    expect(planTiers(old, boundary, false)).toEqual({ hot: old });
  });
});

describe('tier merge', () => {
  it('counts a trace seen by both tiers once, from its earliest span', () => {
    const hot = [
      {
        traceId: 't',
        startTimeUnixNano: '200',
        serviceName: 'b',
        operation: 'y',
        maxDurationNanos: '5',
        spanCount: 2,
        errorCount: 0,
      },
    ];
    const cold = [
      {
        traceId: 't',
        startTimeUnixNano: '100',
        serviceName: 'a',
        operation: 'x',
        maxDurationNanos: '9',
        spanCount: 1,
        errorCount: 1,
      },
    ];
    expect(mergeTraceSummaries(hot, cold)).toEqual([
      {
        traceId: 't',
        startTimeUnixNano: '100',
        serviceName: 'a',
        operation: 'x',
        maxDurationNanos: '9',
        spanCount: 3,
        errorCount: 1,
      },
    ]);
  });

  it('adds the partial aggregates of a step bucket cut by the split', () => {
    const b = { metricType: 'gauge' as const, serviceName: 's', bucketMs: 0 };
    expect(
      mergeMetricBuckets(
        [{ ...b, sum: 3, count: 2, min: 1, max: 2 }],
        [{ ...b, sum: 5, count: 1, min: 5, max: 5 }],
      ),
    ).toEqual([{ ...b, sum: 8, count: 3, min: 1, max: 5 }]);
  });

  it('adds requests and errors of a service and weights its quantiles by requests', () => {
    const merged = mergeServices(
      [{ serviceName: 's', requests: 3, errors: 1, quantilesNs: [10, 20, 30] }],
      [{ serviceName: 's', requests: 1, errors: 0, quantilesNs: [50, 60, 70] }],
    );
    expect(merged).toEqual([{ serviceName: 's', requests: 4, errors: 1, quantilesNs: [20, 30, 40] }]);
  });
});
