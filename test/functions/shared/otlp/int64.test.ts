import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  int64ToDecimal,
  jsonInt64,
  jsonUint64,
  uint64Of,
  uint64OfDecimal,
  uint64ToDecimal,
  uint64ToDecimalBigInt,
} from '../../../../functions/shared/otlp/int64.js';

const halves = (v: bigint): [number, number] => [Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn)];

describe('64-bit integers to exact decimal strings', () => {
  it('matches BigInt for every unsigned 64-bit value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => {
        expect(uint64ToDecimal(...halves(v))).toBe(v.toString());
        expect(uint64ToDecimalBigInt(...halves(v))).toBe(v.toString());
      }),
      { numRuns: 5000, seed: 1 },
    );
    for (const v of [
      0n,
      2n ** 53n - 1n,
      2n ** 53n,
      10n ** 19n - 1n,
      10n ** 19n,
      2n ** 64n - 1n,
      1_763_900_000_123_456_789n,
    ]) {
      expect(uint64ToDecimal(...halves(v))).toBe(v.toString());
    }
  });

  it('matches BigInt for signed values', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
        expect(int64ToDecimal(...halves(BigInt.asUintN(64, v)))).toBe(v.toString());
      }),
      { numRuns: 5000, seed: 2 },
    );
  });

  it('parses JSON int64 strings and numbers canonically, refusing what is not an integer in range', () => {
    expect(jsonInt64('007')).toBe('7');
    expect(jsonInt64('-0')).toBe('0');
    expect(jsonInt64(-12)).toBe('-12');
    expect(jsonInt64('9223372036854775807')).toBe('9223372036854775807');
    expect(jsonInt64('9223372036854775808')).toBeUndefined();
    expect(jsonInt64('1.5')).toBeUndefined();
    expect(jsonInt64(1.5)).toBeUndefined();
    expect(jsonInt64('')).toBeUndefined();
    expect(jsonInt64(true)).toBeUndefined();
    expect(jsonUint64('18446744073709551615')).toBe('18446744073709551615');
    expect(jsonUint64('18446744073709551616')).toBeUndefined();
    expect(jsonUint64(-1)).toBeUndefined();
    expect(jsonUint64(1.7639e18)).toBe('1763900000000000000');
  });
});

describe('Uint64: a number while exact, else the decimal string', () => {
  it('gives one representation per value, exact over the whole uint64 range', () => {
    const canonical = (v: bigint) => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
    fc.assert(
      fc.property(
        fc.oneof(
          fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          fc.bigInt({ min: 2n ** 53n - 3n, max: 2n ** 53n + 3n }),
          fc.constantFrom(0n, 2n ** 63n, 2n ** 64n - 1n),
        ),
        (v) => {
          expect(uint64Of(...halves(v))).toBe(canonical(v));
          expect(uint64OfDecimal(v.toString())).toBe(canonical(v));
        },
      ),
    );
  });
});
