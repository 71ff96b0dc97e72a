import { describe, expect, it } from 'vitest';
import { type HistogramPart, histogramQuantile } from '../../../../functions/shared/query/histogram.js';

/**
 * The percentile estimate against a brute-force oracle: each bucket's count spread as many evenly
 * spaced points over its interval (what "linear interpolation inside the bucket" means), all parts
 * pooled and sorted, the value at rank q·n read off.
 */
function oracle(parts: HistogramPart[], q: number, perUnit = 2000): number {
  const points: number[] = [];
  for (const p of parts) {
    const first = p.bounds[0]!;
    const last = p.bounds[p.bounds.length - 1]!;
    const lo = p.min !== null && p.min <= first ? p.min : Math.min(first, 0);
    const hi = p.max !== null && p.max >= last ? p.max : last;
    p.counts.forEach((c, i) => {
      const a = i === 0 ? lo : p.bounds[i - 1]!;
      const b = i === p.bounds.length ? hi : p.bounds[i]!;
      const n = c * perUnit;
      for (let k = 1; k <= n; k++) points.push(a + ((b - a) * k) / n);
    });
  }
  points.sort((x, y) => x - y);
  return points[Math.max(0, Math.ceil(q * points.length) - 1)]!;
}

describe('histogramQuantile', () => {
  it('interpolates linearly inside the bucket holding the rank', () => {
    const part = { bounds: [10, 20], counts: [2, 6, 2], min: 0, max: 30 };
    expect(histogramQuantile([part], 0.5)).toBeCloseTo(15, 9);
    expect(histogramQuantile([part], 0.2)).toBeCloseTo(10, 9);
    expect(histogramQuantile([part], 0.9)).toBeCloseTo(25, 9);
  });

  it('matches the oracle for parts with different bounds (a mixture)', () => {
    const parts: HistogramPart[] = [
      { bounds: [5, 10, 50], counts: [3, 0, 7, 1], min: 1, max: 80 },
      { bounds: [8, 25, 100], counts: [4, 5, 2, 1], min: null, max: null },
    ];
    for (const q of [0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]) {
      expect(histogramQuantile(parts, q)).toBeCloseTo(oracle(parts, q), 2);
    }
  });

  it('starts the first bucket at 0 (or the minimum) and ends the last at the maximum (or the last bound)', () => {
    expect(histogramQuantile([{ bounds: [10], counts: [4, 0], min: null, max: null }], 0.5)).toBeCloseTo(
      5,
      9,
    );
    expect(histogramQuantile([{ bounds: [10], counts: [4, 0], min: 6, max: null }], 0.5)).toBeCloseTo(8, 9);
    expect(histogramQuantile([{ bounds: [10], counts: [0, 4], min: null, max: null }], 0.99)).toBe(10);
    expect(histogramQuantile([{ bounds: [10], counts: [0, 4], min: null, max: 20 }], 0.5)).toBeCloseTo(15, 9);
  });

  it('is null without counts and ignores malformed parts', () => {
    expect(histogramQuantile([], 0.5)).toBeNull();
    expect(histogramQuantile([{ bounds: [1, 2], counts: [0, 0, 0], min: null, max: null }], 0.5)).toBeNull();
    expect(histogramQuantile([{ bounds: [1, 2], counts: [5], min: null, max: null }], 0.5)).toBeNull();
  });
});
