import { QueryParameterError } from './errors.js';

/**
 * Time expressions of the `from`/`to` parameters: RFC 3339 (`2026-11-23T07:00:00Z`, fraction up to
 * nanoseconds, any offset), epoch milliseconds (`1795417200000`, what a browser's Date gives), or
 * relative to now (`now`, `now-15m`, `now-1h`, `now-7d`; units s, m, h, d, w). Times are carried as bigint nanoseconds since the epoch, the precision of the hot tier.
 */

export const NS_PER_MS = 1_000_000n;
export const NS_PER_SECOND = 1_000_000_000n;
export const NS_PER_HOUR = 3_600n * NS_PER_SECOND;

export interface TimeRange {
  /** Inclusive, nanoseconds since the epoch. */
  readonly fromNs: bigint;
  /** Exclusive, nanoseconds since the epoch. */
  readonly toNs: bigint;
}

export interface RangeDefaults {
  /** `from` when absent: this long before `to`. */
  readonly defaultLookbackMs: number;
  /** Longest allowed `to - from`. */
  readonly maxRangeMs: number;
}

const RELATIVE = /^now(?:([+-])(\d{1,6})([smhdw]))?$/;
/** Epoch milliseconds: up to 15 digits (year 33658), so the nanoseconds stay within Int64. */
const EPOCH_MS = /^\d{1,15}$/;
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Parses one time expression; `parameter` names it in the error. */
export function parseTime(input: string, nowMs: number, parameter: string): bigint {
  const value = input.trim();
  const rel = RELATIVE.exec(value);
  if (rel) {
    const [, sign, amount, unit] = rel;
    const offset = sign ? Number(amount) * UNIT_MS[unit!]! * (sign === '-' ? -1 : 1) : 0;
    return BigInt(nowMs + offset) * NS_PER_MS;
  }
  if (EPOCH_MS.test(value)) return BigInt(value) * NS_PER_MS;
  const m = RFC3339.exec(value);
  if (!m) {
    throw new QueryParameterError(
      parameter,
      `expected RFC 3339 (2026-11-23T07:00:00Z), epoch milliseconds or a relative time (now, now-15m, now-1h, now-7d), got ${JSON.stringify(input.slice(0, 64))}`,
    );
  }
  const [, y, mo, d, h, mi, s, frac, zone, zsign, zh, zm] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(ms);
  // Date.UTC rolls 2026-02-31 over to March: reject instead of answering for another day.
  if (
    Number.isNaN(ms) ||
    check.getUTCDate() !== Number(d) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    throw new QueryParameterError(
      parameter,
      `not a valid date and time: ${JSON.stringify(input.slice(0, 64))}`,
    );
  }
  let offsetMs = 0;
  if (zone !== 'Z' && zone !== 'z')
    offsetMs = (Number(zh) * 60 + Number(zm)) * 60_000 * (zsign === '-' ? -1 : 1);
  const fracNs = frac ? BigInt(frac.padEnd(9, '0')) : 0n;
  return BigInt(ms - offsetMs) * NS_PER_MS + fracNs;
}

/** Resolves `from`/`to` (both optional) into a bounded range. */
export function resolveRange(
  from: string | undefined,
  to: string | undefined,
  nowMs: number,
  defaults: RangeDefaults,
): TimeRange {
  const toNs = to === undefined ? BigInt(nowMs) * NS_PER_MS : parseTime(to, nowMs, 'to');
  const fromNs =
    from === undefined
      ? toNs - BigInt(defaults.defaultLookbackMs) * NS_PER_MS
      : parseTime(from, nowMs, 'from');
  if (fromNs >= toNs) throw new QueryParameterError('from', 'must be before to');
  if (toNs - fromNs > BigInt(defaults.maxRangeMs) * NS_PER_MS) {
    throw new QueryParameterError(
      'from',
      `the range from..to may span at most ${formatDuration(defaults.maxRangeMs)}`,
    );
  }
  return { fromNs, toNs };
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} days`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hours`;
  if (ms % 60_000 === 0) return `${ms / 60_000} minutes`;
  return `${ms / 1000} seconds`;
}

/** RFC 3339 with milliseconds (what JSON clients parse); the exact nanoseconds travel beside it. */
export function isoOf(ns: bigint): string {
  return new Date(Number(ns / NS_PER_MS)).toISOString();
}

export function floorToHour(ns: bigint): bigint {
  return (ns / NS_PER_HOUR) * NS_PER_HOUR;
}

export function ceilToHour(ns: bigint): bigint {
  const f = floorToHour(ns);
  return f === ns ? f : f + NS_PER_HOUR;
}

/** Every UTC (dt, hour) partition the range touches, in order. */
export function hoursOf(range: TimeRange): { dt: string; hour: number }[] {
  const out: { dt: string; hour: number }[] = [];
  for (let h = floorToHour(range.fromNs); h < range.toNs; h += NS_PER_HOUR) {
    const iso = new Date(Number(h / NS_PER_MS)).toISOString();
    out.push({ dt: iso.slice(0, 10), hour: Number(iso.slice(11, 13)) });
  }
  return out;
}
