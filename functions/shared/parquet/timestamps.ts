/** Timestamps of the model (decimal nanosecond strings) as the lake stores them (µs). */

/** '1700000000123456789' (ns) -> 1700000000123456 (µs): exact, as µs epochs stay below 2^53. */
export function nanosToMicros(v: unknown): number {
  if (typeof v === 'string') {
    // Digits parsed in place: Number(v.slice(0, -3)) allocates a string per value.
    const end = v.length - 3;
    if (end <= 0) return 0;
    let n = 0;
    for (let i = 0; i < end; i++) {
      const d = v.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return finiteOrZero(Number(v.slice(0, -3)));
      n = n * 10 + d;
    }
    return n;
  }
  if (typeof v === 'number') return finiteOrZero(Math.floor(v / 1000));
  if (typeof v === 'bigint') return Number(v / 1000n);
  return 0;
}

/** The nanoseconds below the microsecond (0-999): the tie-break within one microsecond. */
export function subMicroNanos(v: unknown): number {
  if (typeof v === 'string') {
    const n = v.length;
    if (n < 4) return 0;
    const a = v.charCodeAt(n - 3) - 48;
    const b = v.charCodeAt(n - 2) - 48;
    const c = v.charCodeAt(n - 1) - 48;
    return a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9 ? a * 100 + b * 10 + c : 0;
  }
  if (typeof v === 'number') return Number.isFinite(v) ? ((v % 1000) + 1000) % 1000 : 0;
  if (typeof v === 'bigint') return Number(((v % 1000n) + 1000n) % 1000n);
  return 0;
}

const finiteOrZero = (n: number): number => (Number.isFinite(n) ? n : 0);
