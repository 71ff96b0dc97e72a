import { describe, expect, it } from 'vitest';
import {
  absoluteRange,
  describeRange,
  formatDuration,
  narrowerRange,
  parseTime,
  resolveRange,
  stepFor,
  TimeRangeError,
  widerRange,
} from '../../console/src/lib/time-range.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');

describe('console time range', () => {
  it('parses relative expressions in every unit the API accepts', () => {
    expect(parseTime('now', NOW)).toBe(NOW);
    expect(parseTime('now-15m', NOW)).toBe(NOW - 15 * 60_000);
    expect(parseTime('now-90s', NOW)).toBe(NOW - 90_000);
    expect(parseTime('now-6h', NOW)).toBe(NOW - 6 * 3_600_000);
    expect(parseTime('now-7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseTime('now-2w', NOW)).toBe(NOW - 14 * 86_400_000);
  });

  it('parses absolute RFC 3339 times (with zone, fraction, or as a datetime-local input) and epoch ms', () => {
    expect(parseTime('2026-12-07T11:00:00Z', NOW)).toBe(Date.parse('2026-12-07T11:00:00Z'));
    expect(parseTime('2026-12-07T11:00:00.123456789+01:00', NOW)).toBe(
      Date.parse('2026-12-07T10:00:00.123Z'),
    );
    expect(parseTime('1765000000000', NOW)).toBe(1765000000000);
    expect(Number.isFinite(parseTime('2026-12-07T11:00', NOW))).toBe(true);
  });

  it.each(['', 'yesterday', 'now+5m', 'now-5', 'now-5y', '2026-13-45T99:00:00Z', '12', 'now - 5m'])(
    'rejects %j with a message saying what is accepted',
    (expr) => {
      expect(() => parseTime(expr, NOW)).toThrow(TimeRangeError);
      expect(() => parseTime(expr, NOW)).toThrow(/now-15m/);
    },
  );

  it('rejects a range that ends before it starts', () => {
    expect(() => resolveRange({ from: 'now', to: 'now-1h' }, NOW)).toThrow(/start before it ends/);
    expect(resolveRange({ from: 'now-1h', to: 'now' }, NOW)).toEqual({ fromMs: NOW - 3_600_000, toMs: NOW });
  });

  it('names ranges for the picker: presets, other relative spans, absolute instants in UTC', () => {
    expect(describeRange({ from: 'now-15m', to: 'now' }, NOW)).toBe('Last 15 minutes');
    expect(describeRange({ from: 'now-90s', to: 'now' }, NOW)).toBe('Last 90s');
    expect(describeRange({ from: '2026-12-07T10:00:00Z', to: '2026-12-07T11:30:00Z' }, NOW)).toBe(
      '2026-12-07 10:00:00 → 2026-12-07 11:30:00 UTC',
    );
  });

  it('round-trips an absolute range through the URL form', () => {
    const r = absoluteRange(NOW - 3_600_000, NOW);
    expect(r).toEqual({ from: '2026-12-07T11:00:00Z', to: '2026-12-07T12:00:00Z' });
    expect(resolveRange(r, 0)).toEqual({ fromMs: NOW - 3_600_000, toMs: NOW });
  });

  it('offers a wider range when empty and a narrower one after a timeout', () => {
    expect(widerRange({ from: 'now-15m', to: 'now' }, NOW)).toEqual({ from: 'now-1h', to: 'now' });
    expect(narrowerRange({ from: 'now-7d', to: 'now' }, NOW)).toEqual({ from: 'now-2d', to: 'now' });
    const abs = narrowerRange(absoluteRange(NOW - 8 * 3_600_000, NOW), NOW);
    expect(resolveRange(abs, NOW)).toEqual({ fromMs: NOW - 2 * 3_600_000, toMs: NOW });
  });

  it('formats durations with the largest exact unit and picks steps within the point budget', () => {
    expect(formatDuration(900_000)).toBe('15m');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(stepFor({ fromMs: 0, toMs: 3_600_000 })).toBe('30s');
    expect(stepFor({ fromMs: 0, toMs: 300_000 })).toBe('10s');
    expect(stepFor({ fromMs: 0, toMs: 7 * 86_400_000 })).toBe('3h');
    expect(stepFor({ fromMs: 0, toMs: 86_400_000 }, 300)).toBe('5m');
    // Routes read from the per-minute rollups take whole minutes.
    expect(stepFor({ fromMs: 0, toMs: 300_000 }, 120, 60_000)).toBe('1m');
    expect(stepFor({ fromMs: 0, toMs: 7 * 86_400_000 }, 120, 60_000)).toBe('3h');
  });
});

describe('console step durations', () => {
  it('parses the steps the API takes and rejects others', async () => {
    const { parseDurationMs } = await import('../../console/src/lib/time-range.js');
    expect([
      parseDurationMs('30s'),
      parseDurationMs('5m'),
      parseDurationMs('1h'),
      parseDurationMs('1d'),
    ]).toEqual([30_000, 300_000, 3_600_000, 86_400_000]);
    expect(parseDurationMs('5')).toBeNaN();
    expect(parseDurationMs('m5')).toBeNaN();
  });
});
