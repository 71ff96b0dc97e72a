/**
 * The console's time range: relative expressions (`now`, `now-15m`, `now-7d`) or absolute times
 * (RFC 3339, epoch ms), as the query API accepts them. The range lives in the URL as typed, so a
 * link to `now-1h` stays a moving window; each refresh resolves it once, so every panel of a page
 * asks the API for the same instants.
 */

export interface TimeRange {
  readonly from: string;
  readonly to: string;
}

export interface ResolvedRange {
  readonly fromMs: number;
  readonly toMs: number;
}

export const DEFAULT_RANGE: TimeRange = { from: 'now-1h', to: 'now' };

/** The picker's relative choices, shortest first. */
export const RELATIVE_PRESETS: readonly { readonly from: string; readonly label: string }[] = [
  { from: 'now-5m', label: 'Last 5 minutes' },
  { from: 'now-15m', label: 'Last 15 minutes' },
  { from: 'now-1h', label: 'Last hour' },
  { from: 'now-6h', label: 'Last 6 hours' },
  { from: 'now-24h', label: 'Last 24 hours' },
  { from: 'now-2d', label: 'Last 2 days' },
  { from: 'now-7d', label: 'Last 7 days' },
];

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const RELATIVE = /^now(?:-(\d{1,7})([smhdw]))?$/;
const EPOCH_MS = /^\d{10,16}$/;
// RFC 3339 with a zone, or a local `YYYY-MM-DDTHH:mm` as <input type="datetime-local"> gives.
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?$/i;

export class TimeRangeError extends Error {
  override readonly name = 'TimeRangeError';
}

/** Milliseconds since the epoch of one end of the range; throws TimeRangeError on anything else. */
export function parseTime(expr: string, nowMs: number): number {
  const s = expr.trim();
  const rel = RELATIVE.exec(s);
  if (rel) return rel[1] === undefined ? nowMs : nowMs - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  if (EPOCH_MS.test(s)) return Number(s);
  if (ISO.test(s)) {
    const ms = Date.parse(s);
    if (Number.isFinite(ms)) return ms;
  }
  throw new TimeRangeError(`"${expr}" is not a time: use now, now-15m, now-7d, an ISO time or epoch ms`);
}

export function resolveRange(range: TimeRange, nowMs: number): ResolvedRange {
  const fromMs = parseTime(range.from, nowMs);
  const toMs = parseTime(range.to, nowMs);
  if (fromMs >= toMs)
    throw new TimeRangeError(`the range must start before it ends (${range.from} .. ${range.to})`);
  return { fromMs, toMs };
}

export function isRelative(expr: string): boolean {
  return RELATIVE.test(expr.trim());
}

/** Milliseconds of a step such as `30s`, `5m`, `1h`, `1d`; NaN for anything else. */
export function parseDurationMs(step: string): number {
  const m = /^(\d{1,7})([smhdw])$/.exec(step.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : Number.NaN;
}

/** A duration in ms as the shortest exact unit: 900000 -> "15m", 90000 -> "90s". */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms)}ms`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** UTC `YYYY-MM-DD HH:mm:ss`, for labels and tables (the console shows UTC throughout). */
export function formatInstant(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** How the picker's button names a range: a preset's label, "Last 90s", or the two instants. */
export function describeRange(range: TimeRange, nowMs: number): string {
  const preset = RELATIVE_PRESETS.find((p) => p.from === range.from);
  if (range.to === 'now' && preset) return preset.label;
  if (range.to === 'now' && isRelative(range.from))
    return `Last ${formatDuration(nowMs - parseTime(range.from, nowMs))}`;
  const { fromMs, toMs } = resolveRange(range, nowMs);
  return `${formatInstant(fromMs)} → ${formatInstant(toMs)} UTC`;
}

/** An absolute range as the URL keeps it (ISO, second precision), e.g. after zooming a chart. */
export function absoluteRange(fromMs: number, toMs: number): TimeRange {
  const iso = (ms: number) => new Date(Math.round(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return { from: iso(fromMs), to: iso(toMs) };
}

/** A wider range around the same end: the action offered when a range holds no data. */
export function widerRange(range: TimeRange, nowMs: number): TimeRange {
  const { fromMs, toMs } = resolveRange(range, nowMs);
  const span = toMs - fromMs;
  const next = RELATIVE_PRESETS.find((p) => nowMs - parseTime(p.from, nowMs) > span);
  if (range.to === 'now' && next) return { from: next.from, to: 'now' };
  return absoluteRange(toMs - span * 4, toMs);
}

/** A narrower range at the same end: the action offered when a query timed out. */
export function narrowerRange(range: TimeRange, nowMs: number): TimeRange {
  const { fromMs, toMs } = resolveRange(range, nowMs);
  const span = toMs - fromMs;
  const shorter = [...RELATIVE_PRESETS].reverse().find((p) => nowMs - parseTime(p.from, nowMs) < span);
  if (range.to === 'now' && shorter) return { from: shorter.from, to: 'now' };
  return absoluteRange(toMs - Math.max(60_000, span / 4), toMs);
}

/**
 * A step (`1m`, `5m`, `1h`) giving at most `maxPoints` buckets, for histograms the console asks for;
 * at least `minStepMs` (routes answered from the per-minute rollups take whole minutes only).
 */
export function stepFor(range: ResolvedRange, maxPoints = 120, minStepMs = 0): string {
  const steps = [
    10_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, 86_400_000,
  ].filter((s) => s >= minStepMs);
  const span = range.toMs - range.fromMs;
  const step = steps.find((s) => span / s <= maxPoints) ?? steps[steps.length - 1]!;
  return formatDuration(step);
}
