import { describe, expect, it } from 'vitest';
import { evaluate, runDetector, simulate } from '../../../../bench/anomaly.js';
import {
  DAY_MS,
  detectAnomaly,
  HOUR_MS,
  type HourlyPoint,
  SENSITIVITY_Z,
} from '../../../../functions/shared/alerts/anomaly.js';

const NOW = Date.UTC(2026, 2, 4, 14, 0); // a Wednesday, 14:00
const profile = (t: number) => 100 * (1 + 0.5 * Math.sin((2 * Math.PI * ((t % DAY_MS) / HOUR_MS - 8)) / 24));

/** Hourly history of `days` days before NOW, from `f`, with a deterministic +-2% wiggle. */
function history(days: number, f: (t: number) => number = profile): HourlyPoint[] {
  const out: HourlyPoint[] = [];
  for (let t = NOW - days * DAY_MS; t < NOW; t += HOUR_MS) {
    const wiggle = 1 + 0.02 * Math.sin(t / HOUR_MS);
    out.push({ t, value: f(t + HOUR_MS / 2) * wiggle });
  }
  return out;
}

const judge = (current: number, extra: Partial<Parameters<typeof detectAnomaly>[0]> = {}) =>
  detectAnomaly({
    history: history(5),
    nowMs: NOW,
    windowMs: 10 * 60_000,
    current,
    direction: 'both',
    z: SENSITIVITY_Z.medium,
    minHistoryMs: 2 * DAY_MS,
    seasonality: 'daily',
    ...extra,
  });

describe('the seasonal detector', () => {
  it('expects the value of this time of day and lets the usual wiggle through', () => {
    const expected = profile(NOW - 5 * 60_000);
    const v = judge(expected * 1.03);
    expect(v.ready).toBe(true);
    expect(v.baseline).toBeCloseTo(expected, -1);
    expect(v.breached).toBe(false);
  });

  it('flags a spike and a drop, each only in the direction asked for', () => {
    const expected = profile(NOW - 5 * 60_000);
    expect(judge(expected * 2).breached).toBe(true);
    expect(judge(expected * 0.4).breached).toBe(true);
    expect(judge(expected * 2, { direction: 'down' }).breached).toBe(false);
    expect(judge(expected * 0.4, { direction: 'up' }).breached).toBe(false);
  });

  it('judges nothing before the minimum history', () => {
    const v = judge(1_000_000, { history: history(1) });
    expect(v.ready).toBe(false);
    expect(v.breached).toBe(false);
    expect(judge(1_000_000, { history: history(5), minHistoryMs: 6 * DAY_MS }).breached).toBe(false);
  });

  it("the window's own sampling noise widens the band (a 10-minute count of a quiet series)", () => {
    const expected = profile(NOW - 5 * 60_000);
    expect(judge(expected * 1.4).breached).toBe(true);
    expect(judge(expected * 1.4, { noise: expected * 0.2 }).breached).toBe(false);
  });

  it('a series that touches zero is judged by differences, not ratios', () => {
    const zeroish = (t: number) => Math.max(0, profile(t) - 100);
    const v = judge(200, { history: history(5, zeroish) });
    expect(v.ready).toBe(true);
    expect(v.breached).toBe(true);
    expect(judge(zeroish(NOW - 5 * 60_000), { history: history(5, zeroish) }).breached).toBe(false);
  });

  it('follows a new level after a few hours instead of firing for days', () => {
    // The last 3 hours (and the current window) run at 1.5x: the level carries it.
    const shifted = history(5).map((p) => (p.t >= NOW - 3 * HOUR_MS ? { ...p, value: p.value * 1.5 } : p));
    const v = judge(profile(NOW - 5 * 60_000) * 1.5, { history: shifted });
    expect(v.breached).toBe(false);
  });
});

describe('measured on synthetic seasonal series (bench/anomaly.ts)', () => {
  it('weekly seasonality at medium sensitivity: finds injected spikes, drops and level shifts, rarely cries wolf', () => {
    const r = evaluate('busy-rate', 'medium', {
      weeks: 4,
      seeds: 1,
      retentionDays: 35,
      seasonality: 'weekly',
      anomalies: 6,
    });
    expect(r.recall).toBeGreaterThanOrEqual(5 / 6);
    expect(r.falseAlarmsPerWeek).toBeLessThanOrEqual(1);
  }, 120_000);

  it('daily seasonality cannot know the weekend: its first hours are false alarms', () => {
    // The documented limit of daily seasonality (and why weekly is the default).
    const clean = simulate({ kind: 'busy-rate', weeks: 2, seed: 7, anomalies: 0 });
    const run = runDetector(clean, 'busy-rate', {
      sensitivity: 'medium',
      retentionDays: 7,
      seasonality: 'daily',
    });
    const weekdays = run.episodes.map((e) => new Date(e.start).getUTCDay());
    expect(weekdays.length).toBeGreaterThan(0);
    expect(weekdays.every((d) => d === 6 || d === 1)).toBe(true);
  }, 120_000);
});
