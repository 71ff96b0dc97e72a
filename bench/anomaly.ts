/**
 * How good is the `anomaly` rule kind's detector (functions/shared/alerts/anomaly.ts)?
 *
 * Synthetic seasonal series, minute by minute, with daily and weekly seasonality and realistic noise
 * (Poisson counts for request rates, Gaussian for a gauge), some with injected anomalies (spikes,
 * drops, level shifts). The detector runs as the scheduled evaluator would run it: every 5 minutes on
 * a 10-minute window, against hourly history limited to the hot retention, through the same state
 * machine (`for: 5m`). Reports precision, recall and detection delay per anomaly type, and false
 * alarms per week on clean series.
 *
 *   npx tsx bench/anomaly.ts [--weeks 5] [--retention-days 7] [--seeds 8]
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DAY_MS,
  type Direction,
  detectAnomaly,
  HOUR_MS,
  type HourlyPoint,
  PERIOD_MS,
  SENSITIVITY_Z,
  type Seasonality,
  type Sensitivity,
} from '../functions/shared/alerts/anomaly.js';
import { type AlertInstance, nextState } from '../functions/shared/alerts/state.js';

const MINUTE = 60_000;
const WEEK_MS = 7 * DAY_MS;

export type SeriesKind = 'busy-rate' | 'quiet-rate' | 'gauge';
export type AnomalyType = 'spike' | 'drop' | 'shift';

export interface Injected {
  readonly type: AnomalyType;
  readonly start: number;
  readonly end: number;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function gaussian(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

function poisson(lambda: number, r: () => number): number {
  if (lambda > 50) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gaussian(r)));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= r();
  } while (p > l);
  return k - 1;
}

/** Seasonal shape: a daily wave peaking mid-afternoon, quieter weekends. */
function seasonal(t: number): number {
  const hourOfDay = (t % DAY_MS) / HOUR_MS;
  const day = Math.floor(t / DAY_MS) % 7; // epoch day 0 was a Thursday: 2, 3 are Saturday, Sunday
  const daily = 1 + 0.7 * Math.sin((2 * Math.PI * (hourOfDay - 9)) / 24);
  const weekly = day === 2 || day === 3 ? 0.6 : 1;
  return daily * weekly;
}

const EFFECT: Record<AnomalyType, { readonly factor: number; readonly minutes: number }> = {
  spike: { factor: 3, minutes: 15 },
  drop: { factor: 0.3, minutes: 30 },
  shift: { factor: 1.6, minutes: 6 * 60 },
};

export interface SimOptions {
  readonly kind: SeriesKind;
  readonly weeks: number;
  readonly seed: number;
  /** Anomalies injected (0 = a clean series), after the warm-up. */
  readonly anomalies: number;
  /** No anomaly before this much of the series (the detector cannot judge yet). @default a week */
  readonly warmupMs?: number;
}

export interface Simulated {
  /** Per minute: the value (requests per second, or the gauge's mean) and its sample count. */
  readonly values: Float64Array;
  readonly counts: Float64Array;
  readonly injected: readonly Injected[];
  readonly startMs: number;
}

export function simulate(o: SimOptions): Simulated {
  const r = rng(o.seed);
  const minutes = o.weeks * 7 * 24 * 60;
  const startMs = Date.UTC(2026, 0, 5); // a Monday
  const injected: Injected[] = [];
  const types: AnomalyType[] = ['spike', 'drop', 'shift'];
  // Non-overlapping, a day apart at least, after the warm-up.
  const warmup = o.warmupMs ?? WEEK_MS;
  for (let i = 0; i < o.anomalies; i++) {
    const type = types[i % types.length]!;
    for (let attempt = 0; attempt < 100; attempt++) {
      const at = startMs + warmup + Math.floor(r() * (minutes * MINUTE - warmup - DAY_MS));
      const s = Math.floor(at / MINUTE) * MINUTE;
      const e = s + EFFECT[type].minutes * MINUTE;
      if (injected.every((x) => e + DAY_MS < x.start || s > x.end + DAY_MS)) {
        injected.push({ type, start: s, end: e });
        break;
      }
    }
  }
  const values = new Float64Array(minutes);
  const counts = new Float64Array(minutes);
  const base = o.kind === 'busy-rate' ? 20 : o.kind === 'quiet-rate' ? 0.5 : 50;
  for (let m = 0; m < minutes; m++) {
    const t = startMs + m * MINUTE;
    let factor = 1;
    for (const a of injected) if (t >= a.start && t < a.end) factor *= EFFECT[a.type].factor;
    const expected = base * seasonal(t) * factor;
    if (o.kind === 'gauge') {
      // Six samples a minute with 8% noise.
      let sum = 0;
      for (let k = 0; k < 6; k++) sum += expected * (1 + 0.08 * gaussian(r));
      values[m] = sum / 6;
      counts[m] = 6;
    } else {
      const n = poisson(expected * 60, r);
      values[m] = n / 60;
      counts[m] = n;
    }
  }
  return { values, counts, injected, startMs };
}

export interface DetectorRun {
  readonly episodes: readonly { readonly start: number; readonly end: number }[];
  readonly evaluations: number;
  readonly evaluatedMs: number;
}

export interface RunOptions {
  readonly sensitivity: Sensitivity;
  readonly seasonality: Seasonality;
  readonly direction?: Direction;
  readonly retentionDays: number;
  /** @default two periods */
  readonly minHistoryDays?: number;
  readonly windowMinutes?: number;
  readonly everyMinutes?: number;
  readonly forMinutes?: number;
}

/** Runs the detector over a simulated series as the scheduled evaluator would. */
export function runDetector(sim: Simulated, kind: SeriesKind, o: RunOptions): DetectorRun {
  const windowMin = o.windowMinutes ?? 10;
  const every = o.everyMinutes ?? 5;
  const minHistoryMs =
    o.minHistoryDays !== undefined ? o.minHistoryDays * DAY_MS : 2 * PERIOD_MS[o.seasonality];
  const hours: HourlyPoint[] = [];
  const totalMinutes = sim.values.length;
  // Hourly aggregates as the rollups hold them: a rate per second (or the gauge's mean).
  for (let h = 0; h * 60 + 60 <= totalMinutes; h++) {
    let sum = 0;
    for (let m = h * 60; m < h * 60 + 60; m++) sum += sim.values[m]!;
    hours.push({ t: sim.startMs + h * HOUR_MS, value: sum / 60 });
  }
  const episodes: { start: number; end: number }[] = [];
  let state: AlertInstance | undefined;
  let evaluations = 0;
  const firstEval = Math.ceil(minHistoryMs / MINUTE);
  for (let m = firstEval; m <= totalMinutes; m += every) {
    const now = sim.startMs + m * MINUTE;
    const completeHours = Math.floor(m / 60);
    const oldestHour = Math.max(0, completeHours - o.retentionDays * 24);
    const history = hours.slice(oldestHour, completeHours);
    let sum = 0;
    let n = 0;
    let sq = 0;
    for (let k = m - windowMin; k < m; k++) {
      sum += sim.values[k]!;
      sq += sim.values[k]! * sim.values[k]!;
      n += sim.counts[k]!;
    }
    const current = sum / windowMin;
    // The window's own noise, as the evaluator computes it: Poisson for counts, the standard error
    // of the mean for a gauge.
    const noise =
      kind === 'gauge'
        ? Math.sqrt(Math.max(0, sq / windowMin - current * current) / windowMin)
        : Math.sqrt(n) / (windowMin * 60);
    const v = detectAnomaly({
      history,
      nowMs: now,
      windowMs: windowMin * MINUTE,
      current,
      noise,
      direction: o.direction ?? 'both',
      z: SENSITIVITY_Z[o.sensitivity],
      minHistoryMs,
      seasonality: o.seasonality,
    });
    evaluations++;
    const step = nextState(
      state,
      { breached: v.breached, value: current },
      { forMs: (o.forMinutes ?? 5) * MINUTE, keepFiringForMs: 0 },
      now,
    );
    if (step.transition === 'firing') episodes.push({ start: now, end: Number.POSITIVE_INFINITY });
    if (step.transition === 'resolved') episodes[episodes.length - 1]!.end = now;
    state = step.state;
  }
  return { episodes, evaluations, evaluatedMs: evaluations * every * MINUTE };
}

export interface Score {
  readonly injected: number;
  readonly detected: number;
  readonly episodes: number;
  readonly truePositives: number;
  readonly delaysMin: number[];
  readonly byType: Record<AnomalyType, { injected: number; detected: number }>;
}

/** An anomaly is detected when an episode fires during it (or within 15 minutes after it ends). */
export function score(sim: Simulated, run: DetectorRun): Score {
  const byType: Score['byType'] = {
    spike: { injected: 0, detected: 0 },
    drop: { injected: 0, detected: 0 },
    shift: { injected: 0, detected: 0 },
  };
  const delaysMin: number[] = [];
  let detected = 0;
  for (const a of sim.injected) {
    byType[a.type].injected++;
    const hit = run.episodes.find((e) => e.start >= a.start && e.start <= a.end + 15 * MINUTE);
    if (hit) {
      detected++;
      byType[a.type].detected++;
      delaysMin.push((hit.start - a.start) / MINUTE);
    }
  }
  // An episode is a true positive when it starts during an anomaly or within an hour after it.
  const truePositives = run.episodes.filter((e) =>
    sim.injected.some((a) => e.start >= a.start && e.start <= a.end + HOUR_MS),
  ).length;
  return {
    injected: sim.injected.length,
    detected,
    episodes: run.episodes.length,
    truePositives,
    delaysMin,
    byType,
  };
}

export interface Report {
  readonly sensitivity: Sensitivity;
  readonly kind: SeriesKind;
  readonly precision: number;
  readonly recall: number;
  readonly falseAlarmsPerWeek: number;
  readonly medianDelayMin: number;
  readonly byType: Record<AnomalyType, { injected: number; detected: number }>;
}

export function evaluate(
  kind: SeriesKind,
  sensitivity: Sensitivity,
  o: { weeks: number; seeds: number; retentionDays: number; seasonality: Seasonality; anomalies?: number },
): Report {
  let tp = 0;
  let episodes = 0;
  let injected = 0;
  let detected = 0;
  let falseEpisodes = 0;
  let cleanMs = 0;
  const delays: number[] = [];
  const byType: Report['byType'] = {
    spike: { injected: 0, detected: 0 },
    drop: { injected: 0, detected: 0 },
    shift: { injected: 0, detected: 0 },
  };
  for (let seed = 1; seed <= o.seeds; seed++) {
    const warmupMs = 2 * PERIOD_MS[o.seasonality];
    const dirty = simulate({ kind, weeks: o.weeks, seed, anomalies: o.anomalies ?? 9, warmupMs });
    const s = score(
      dirty,
      runDetector(dirty, kind, { sensitivity, retentionDays: o.retentionDays, seasonality: o.seasonality }),
    );
    tp += s.truePositives;
    episodes += s.episodes;
    injected += s.injected;
    detected += s.detected;
    delays.push(...s.delaysMin);
    for (const t of ['spike', 'drop', 'shift'] as const) {
      byType[t].injected += s.byType[t].injected;
      byType[t].detected += s.byType[t].detected;
    }
    const clean = simulate({ kind, weeks: o.weeks, seed: seed + 1000, anomalies: 0 });
    const run = runDetector(clean, kind, {
      sensitivity,
      retentionDays: o.retentionDays,
      seasonality: o.seasonality,
    });
    falseEpisodes += run.episodes.length;
    cleanMs += run.evaluatedMs;
  }
  delays.sort((a, b) => a - b);
  return {
    sensitivity,
    kind,
    precision: episodes === 0 ? 1 : tp / episodes,
    recall: injected === 0 ? 1 : detected / injected,
    falseAlarmsPerWeek: falseEpisodes / (cleanMs / WEEK_MS),
    medianDelayMin: delays.length ? delays[delays.length >> 1]! : Number.NaN,
    byType,
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      weeks: { type: 'string', default: '6' },
      seeds: { type: 'string', default: '4' },
    },
  });
  const weeks = Number(values.weeks);
  const seeds = Number(values.seeds);
  // Daily seasonality within the default 7-day hot retention; weekly with rollups kept 35 days.
  const configs = [
    { seasonality: 'weekly', retentionDays: 35 },
    { seasonality: 'daily', retentionDays: 7 },
  ] as const;
  console.log(
    `anomaly detector: ${seeds} seeds x ${weeks} weeks per series kind (and as many clean ones), ` +
      'evaluated every 5 min on a 10-min window, for: 5m, from two periods of history on',
  );
  console.log(
    '| seasonality (history) | series | sensitivity | precision | recall | spike | drop | shift | median delay | false alarms/week |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const c of configs) {
    for (const kind of ['busy-rate', 'quiet-rate', 'gauge'] as const) {
      for (const sensitivity of ['low', 'medium', 'high'] as const) {
        const r = evaluate(kind, sensitivity, { weeks, seeds, ...c });
        const t = (x: { injected: number; detected: number }) => `${x.detected}/${x.injected}`;
        console.log(
          `| ${c.seasonality} (${c.retentionDays} d) | ${kind} | ${sensitivity} | ${r.precision.toFixed(2)} | ` +
            `${r.recall.toFixed(2)} | ${t(r.byType.spike)} | ${t(r.byType.drop)} | ${t(r.byType.shift)} | ` +
            `${r.medianDelayMin} min | ${r.falseAlarmsPerWeek.toFixed(2)} |`,
        );
      }
    }
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main();
