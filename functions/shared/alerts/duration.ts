import * as z from 'zod';

/** Durations in rule files: an integer and a unit, `30s`, `5m`, `6h`, `7d`; `0` or `0s` for none. */
const DURATION = /^(\d{1,6})(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = DURATION.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** The shortest spelling of a whole number of seconds, e.g. 3_600_000 -> `1h`. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

/** A zod field taking `5m` and giving milliseconds. */
export function duration(what: string, bounds: { min?: number; max?: number } = {}) {
  return z.union([z.string(), z.literal(0)]).transform((v, ctx) => {
    const ms = parseDuration(String(v));
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${what}: expected a duration such as 30s, 5m, 1h, 7d` });
      return z.NEVER;
    }
    if (bounds.min !== undefined && ms < bounds.min) {
      ctx.addIssue({ code: 'custom', message: `${what}: at least ${formatDuration(bounds.min)}` });
      return z.NEVER;
    }
    if (bounds.max !== undefined && ms > bounds.max) {
      ctx.addIssue({ code: 'custom', message: `${what}: at most ${formatDuration(bounds.max)}` });
      return z.NEVER;
    }
    return ms;
  });
}
