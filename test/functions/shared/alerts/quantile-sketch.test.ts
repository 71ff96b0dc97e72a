import { describe, expect, it } from 'vitest';
import { QuantileSketch } from '../../../../functions/shared/alerts/quantile-sketch.js';

/** The exact order statistic the sketch targets: rank min(floor(q n), n - 1) (ClickHouse quantileExact). */
function exact(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('quantile sketch', () => {
  it('stays within 1 % of the exact quantile over spans of 1 ns to 1 h, with zeros, for every q', () => {
    const rand = rng(7);
    let worst = 0;
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + Math.floor(rand() * 3000);
      const values = Array.from(
        { length: n },
        () => (rand() < 0.02 ? 0 : Math.round(10 ** (rand() * 12.5))), // 1 ns .. ~3e12 ns (53 min)
      );
      const sketch = new QuantileSketch();
      for (const v of values) sketch.add(v);
      for (const q of [0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
        const want = exact(values, q);
        const got = sketch.quantile(q)!;
        if (want === 0) expect(got).toBe(0);
        else worst = Math.max(worst, Math.abs(got - want) / want);
      }
    }
    expect(worst).toBeLessThanOrEqual(0.01 + 1e-12);
  });

  it('merging sketches of parts gives the sketch of the whole (slices and shards combine exactly)', () => {
    const rand = rng(11);
    const values = Array.from({ length: 5000 }, () => 1e6 * (20 + rand() * 480));
    const whole = new QuantileSketch();
    for (const v of values) whole.add(v);
    const merged = new QuantileSketch();
    for (let i = 0; i < values.length; i += 700) {
      const part = new QuantileSketch();
      for (const v of values.slice(i, i + 700)) part.add(v);
      merged.merge(JSON.parse(JSON.stringify(part.toJSON())));
    }
    expect(merged.count).toBe(whole.count);
    for (const q of [0.5, 0.95, 0.99]) expect(merged.quantile(q)).toBe(whole.quantile(q));
  });

  it('ignores negative and non-finite values and answers nothing when empty', () => {
    const s = new QuantileSketch();
    expect(s.quantile(0.5)).toBeUndefined();
    s.add(-1);
    s.add(Number.NaN);
    s.add(Number.POSITIVE_INFINITY);
    expect(s.count).toBe(0);
    s.add(42);
    expect(Math.abs(s.quantile(0.99)! - 42) / 42).toBeLessThanOrEqual(0.01);
    expect(() => new QuantileSketch(0)).toThrow(RangeError);
  });
});
