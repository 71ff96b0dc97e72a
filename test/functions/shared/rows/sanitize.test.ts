import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveRowLimits } from '../../../../functions/shared/rows/limits.js';
import { compileRedaction } from '../../../../functions/shared/rows/redact.js';
import {
  beyondStoredRange,
  durationNs,
  MAX_STORED_NS,
  Sanitizer,
} from '../../../../functions/shared/rows/sanitize.js';
import { kv, RECV } from './model-builders.js';

describe('durationNs and the stored range, over the whole uint64 domain', () => {
  const u64 = fc.oneof(
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fc.bigInt({ min: BigInt(MAX_STORED_NS) - 2n, max: BigInt(MAX_STORED_NS) + 2n }),
    fc.constantFrom(0n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 10n ** 18n, 10n ** 19n),
  );

  it('durationNs is end - start exactly (a decimal string past 2^53), 0 when end <= start', () => {
    fc.assert(
      fc.property(u64, u64, (start, end) => {
        const d = end > start ? end - start : 0n;
        expect(durationNs(end.toString(), start.toString())).toBe(
          d <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(d) : d.toString(),
        );
      }),
    );
  });

  it('beyondStoredRange is exactly "later than 2^53 µs"', () => {
    fc.assert(
      fc.property(u64, (t) => {
        expect(beyondStoredRange(t.toString())).toBe(t > BigInt(MAX_STORED_NS));
      }),
    );
  });
});

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

describe('Sanitizer.attributes', () => {
  // A few key sequences, each used by several maps with other values (the path that copies a known
  // map's shape), with limits small enough that drops, cuts, repeats and the per-map cap all happen.
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'route', 'password', 'k'.repeat(12), '__proto__');
  const value = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constant('mail me: jane@example.com'),
    fc.integer(),
  );
  const maps = fc
    .tuple(
      fc.array(fc.array(key, { maxLength: 6 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.array(value, { minLength: 6, maxLength: 6 })), { maxLength: 12 }),
    )
    .map(([sequences, uses]) =>
      uses.map(([which, values]) => sequences[which % sequences.length]!.map((k, i) => kv(k, values[i]!))),
    );
  const limits = resolveRowLimits({
    maxAttributesPerMap: 4,
    maxAttributeKeyBytes: 8,
    maxAttributeValueBytes: 16,
  });
  const redactor = compileRedaction();

  it('gives every map what a fresh sanitizer gives it, whatever maps came before', () => {
    fc.assert(
      fc.property(maps, (lists) => {
        const shared = new Sanitizer(limits, redactor, RECV);
        const expected = new Sanitizer(limits, redactor, RECV);
        for (const list of lists) {
          const fresh = new Sanitizer(limits, redactor, RECV).attributes(list);
          const got = shared.attributes(list);
          expect(Object.entries(got)).toEqual(Object.entries(fresh));
          expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
          expected.attributes(list);
        }
        // Counting is unchanged too: the same as one sanitizer that never took the shortcut would count.
        expect(shared.truncated).toEqual(expected.truncated);
        expect(shared.redacted).toEqual(expected.redacted);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps values apart when the same keys repeat', () => {
    const s = new Sanitizer(limits, redactor, RECV);
    const first = s.attributes([kv('a', '1'), kv('b', 'x')]);
    const second = s.attributes([kv('a', '2'), kv('b', 'jane@example.com')]);
    expect(first).toEqual({ a: '1', b: 'x' });
    expect(second.a).toBe('2');
    expect(second.b).toMatch(/^sha256:/);
    expect(s.redacted.matches).toEqual({ email: 1 });
  });
});
