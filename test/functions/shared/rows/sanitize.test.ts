import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { durationNs } from '../../../../functions/shared/rows/sanitize.js';

describe('durationNs', () => {
  it('is end - start exactly whenever the difference fits a double exactly', () => {
    const ns = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    fc.assert(
      fc.property(ns, fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), (start, delta) => {
        const end = start + delta;
        fc.pre(end < 2n ** 64n);
        expect(durationNs(end.toString(), start.toString())).toBe(Number(delta));
      }),
      { numRuns: 2000, seed: 11 },
    );
  });

  it('is 0 when the span ends before it starts, and handles times under a second', () => {
    expect(durationNs('1700000000000000000', '1700000000000000001')).toBe(0);
    expect(durationNs('999999999', '1')).toBe(999_999_998);
    expect(durationNs('1000000000', '999999999')).toBe(1);
    expect(durationNs('1763900000169762043', '1763899999000000000')).toBe(1_169_762_043);
  });
});
