/**
 * Anomaly detection for the `anomaly` rule kind: is the value of the current window unusual for this
 * time of day (or of the week)?
 *
 * A seasonal robust z-score, chosen over a fitted model (Holt-Winters, Prophet-style regressions)
 * because it needs no training state between evaluations, learns from the hourly rollups the hot
 * tier already keeps, and stays sane when the history itself holds anomalies:
 *
 * - **Baseline**: the median of the series at the same time of day on each previous day (or the same
 *   time of week on each previous week, once two weeks of history exist), read from hourly values
 *   interpolated at the minute. A median of k references ignores up to (k-1)/2 anomalous days.
 * - **Scale**: how far the series usually strays from its own baseline: 1.4826 x the median absolute
 *   deviation of the seasonal residuals of the most recent complete hours, combined with the current
 *   window's own sampling noise (a 10-minute count is noisier than an hourly one; the caller knows the
 *   count behind it), and floored at a fraction of the baseline so a flat series does not page on a
 *   1% wiggle.
 * - **Score** = (current - baseline) / scale; the rule breaches when the score passes the
 *   sensitivity's bound in the rule's direction. Nothing breaches before `minHistoryMs` of history.
 *
 * Measured on synthetic seasonal series with injected spikes, drops and level shifts: see
 * `bench/anomaly.ts` and docs/alerting.md.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
export const WEEK_MS = 7 * DAY_MS;

/** Score bounds per sensitivity, chosen with bench/anomaly.ts (false alarms per week vs recall). */
export const SENSITIVITY_Z = { low: 6, medium: 4.5, high: 3.5 } as const;
export type Sensitivity = keyof typeof SENSITIVITY_Z;
export type Direction = 'up' | 'down' | 'both';
export type Seasonality = 'daily' | 'weekly';
export const PERIOD_MS: Readonly<Record<Seasonality, number>> = { daily: DAY_MS, weekly: WEEK_MS };

/** References needed for a profile: two previous days, or two previous weeks. */
export const MIN_PERIODS = 2;
/** At most this many previous periods are referenced (older ones add little and cost reads). */
export const MAX_PERIODS = 8;
/** The floor of the scale, as a fraction of the baseline. */
export const RELATIVE_FLOOR = 0.05;
/** Residuals of this many recent hours give the scale. */
export const SCALE_HOURS = 72;
/** The level is taken from this many complete hours before the window. */
export const LEVEL_HOURS = 3;

/** One hourly value: `t` is the hour's start (epoch ms). */
export interface HourlyPoint {
  readonly t: number;
  readonly value: number;
}

export interface AnomalyInput {
  /** Hourly values of complete hours before `nowMs` (any order; later duplicates win). */
  readonly history: readonly HourlyPoint[];
  /** The end of the current window (epoch ms). */
  readonly nowMs: number;
  /** The window the current value covers (its middle is compared with the baseline). */
  readonly windowMs: number;
  /** The current window's value, in the same unit as the history. */
  readonly current: number;
  /** The current value's own sampling standard deviation, if known (Poisson, binomial). @default 0 */
  readonly noise?: number;
  readonly direction: Direction;
  /** The score bound (e.g. SENSITIVITY_Z.medium). */
  readonly z: number;
  /** History needed before anything can breach. */
  readonly minHistoryMs: number;
  /** Weekly needs two weeks of history before it can judge; daily needs two days. */
  readonly seasonality: Seasonality;
  /** An absolute floor of the scale, in the series' unit. @default 0 */
  readonly absoluteFloor?: number;
}

export interface AnomalyVerdict {
  /** Enough history to judge (otherwise never breached). */
  readonly ready: boolean;
  readonly period: Seasonality;
  readonly historyMs: number;
  readonly baseline: number;
  readonly scale: number;
  readonly score: number;
  /** The band outside which the value breaches. */
  readonly lower: number;
  readonly upper: number;
  readonly breached: boolean;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The hourly series as a lookup with linear interpolation between hour middles. */
class HourlySeries {
  private readonly byHour = new Map<number, number>();
  readonly oldest: number;
  /** Every value > 0: the level and the residuals are ratios, not differences. */
  readonly positive: boolean;
  /** Profiles computed during one detection (one period per instance). */
  readonly profiles = new Map<number, number | undefined>();

  constructor(points: readonly HourlyPoint[]) {
    let oldest = Number.POSITIVE_INFINITY;
    let positive = true;
    for (const p of points) {
      if (!Number.isFinite(p.value)) continue;
      if (p.value <= 0) positive = false;
      const h = Math.floor(p.t / HOUR_MS) * HOUR_MS;
      this.byHour.set(h, p.value);
      if (h < oldest) oldest = h;
    }
    this.oldest = oldest;
    this.positive = positive;
  }

  get(hour: number): number | undefined {
    return this.byHour.get(hour);
  }

  get size(): number {
    return this.byHour.size;
  }

  /** The value at `t`, interpolated between the middles of the hours around it; undefined if neither exists. */
  at(t: number): number | undefined {
    const x = t - HOUR_MS / 2;
    const h0 = Math.floor(x / HOUR_MS) * HOUR_MS;
    const a = this.byHour.get(h0);
    const b = this.byHour.get(h0 + HOUR_MS);
    if (a === undefined) return b;
    if (b === undefined) return a;
    const f = (x - h0) / HOUR_MS;
    return a + (b - a) * f;
  }

  hours(): IterableIterator<[number, number]> {
    return this.byHour.entries();
  }
}

/** Median of the references at `t - k * period` for k = 1..; undefined with fewer than MIN_PERIODS. */
function seasonalProfile(series: HourlySeries, t: number, period: number): number | undefined {
  const memo = series.profiles.get(t);
  if (memo !== undefined || series.profiles.has(t)) return memo;
  const refs: number[] = [];
  for (let k = 1; k <= MAX_PERIODS; k++) {
    const u = t - k * period;
    if (u < series.oldest) break;
    const v = series.at(u);
    if (v !== undefined) refs.push(v);
  }
  const profile = refs.length >= MIN_PERIODS ? median(refs) : undefined;
  series.profiles.set(t, profile);
  return profile;
}

/**
 * The expected value at `t`: the seasonal profile scaled (or shifted, for a series that can be zero
 * or negative) by the level of the LEVEL_HOURS complete hours before `before`. The level follows what
 * the profile cannot know: a weekend on daily seasonality, a holiday, last week's deploy; an anomaly
 * lasting longer than those hours becomes the new level, and the alert resolves.
 */
function expected(
  series: HourlySeries,
  t: number,
  before: number,
  period: number,
  multiplicative: boolean,
): number | undefined {
  const profile = seasonalProfile(series, t, period);
  if (profile === undefined) return undefined;
  const ratios: number[] = [];
  const last = Math.floor(before / HOUR_MS) * HOUR_MS - HOUR_MS;
  for (let h = last; h > last - LEVEL_HOURS * HOUR_MS; h -= HOUR_MS) {
    const v = series.get(h);
    const p = seasonalProfile(series, h + HOUR_MS / 2, period);
    if (v === undefined || p === undefined) continue;
    if (multiplicative) {
      if (p > 0) ratios.push(v / p);
    } else ratios.push(v - p);
  }
  if (ratios.length === 0) return profile;
  const level = median(ratios);
  return multiplicative ? profile * level : profile + level;
}

export function detectAnomaly(input: AnomalyInput): AnomalyVerdict {
  const series = new HourlySeries(input.history);
  const historyMs = series.size === 0 ? 0 : Math.max(0, input.nowMs - series.oldest);
  const period = input.seasonality;
  const periodMs = PERIOD_MS[period];
  const multiplicative = series.positive;
  const mid = input.nowMs - input.windowMs / 2;
  const baseline = expected(series, mid, input.nowMs, periodMs, multiplicative);

  // Residuals of recent complete hours against what the same method expected of them.
  const residuals: number[] = [];
  const since = input.nowMs - SCALE_HOURS * HOUR_MS;
  for (const [h, v] of series.hours()) {
    if (h < since) continue;
    const e = expected(series, h + HOUR_MS / 2, h, periodMs, multiplicative);
    if (e === undefined) continue;
    residuals.push(multiplicative ? (e > 0 ? v / e - 1 : 0) : v - e);
  }
  const ready = baseline !== undefined && historyMs >= input.minHistoryMs && residuals.length >= 12;
  if (!ready || baseline === undefined) {
    return {
      ready: false,
      period,
      historyMs,
      baseline: baseline ?? Number.NaN,
      scale: Number.NaN,
      score: 0,
      lower: Number.NEGATIVE_INFINITY,
      upper: Number.POSITIVE_INFINITY,
      breached: false,
    };
  }
  const center = median(residuals);
  const mad = median(residuals.map((r) => Math.abs(r - center)));
  // Relative residuals for a multiplicative series: the spread scales with the baseline.
  const spread = 1.4826 * mad * (multiplicative ? Math.abs(baseline) : 1);
  const noise = input.noise ?? 0;
  const scale = Math.max(
    Math.sqrt(spread * spread + noise * noise),
    RELATIVE_FLOOR * Math.abs(baseline),
    input.absoluteFloor ?? 0,
    Number.EPSILON,
  );
  const score = (input.current - baseline) / scale;
  const lower = baseline - input.z * scale;
  const upper = baseline + input.z * scale;
  const breached =
    (input.direction !== 'down' && input.current > upper) ||
    (input.direction !== 'up' && input.current < lower);
  return { ready, period, historyMs, baseline, scale, score, lower, upper, breached };
}
