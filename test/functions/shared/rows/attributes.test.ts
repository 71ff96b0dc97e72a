import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anyValueToString, formatDouble } from '../../../../functions/shared/rows/attributes.js';
import { kv, val } from './model-builders.js';

describe('anyValueToString (pdata AsString)', () => {
  it('renders scalars as the Collector does', () => {
    expect(anyValueToString(val('plain'))).toBe('plain');
    expect(anyValueToString(val(true))).toBe('true');
    expect(anyValueToString(val(false))).toBe('false');
    expect(anyValueToString({ t: 'int', v: '-9223372036854775808' })).toBe('-9223372036854775808');
    expect(anyValueToString(undefined)).toBe('');
  });

  it('renders doubles in the shortest round-trip form with exponents where Go uses them', () => {
    const cases: [number, string][] = [
      [0.1 + 0.2, '0.30000000000000004'],
      [1.5, '1.5'],
      [100, '100'],
      [1e21, '1e+21'],
      [1e20, '100000000000000000000'],
      [1e-7, '1e-7'],
      [0.000001, '0.000001'],
      [-0, '-0'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
    ];
    for (const [v, expected] of cases) expect(anyValueToString({ t: 'double', v })).toBe(expected);
  });

  it('renders bytes as base64', () => {
    expect(anyValueToString({ t: 'bytes', v: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) })).toBe('3q2+7w==');
  });

  it('renders arrays and kvlists as compact JSON, keys sorted, last duplicate wins, int64 exact', () => {
    const value = val({
      t: 'kvlist',
      v: [
        kv(
          'z',
          val({ t: 'array', v: [val('s"q'), { t: 'int', v: '9007199254740993' }, val(2.5), val(false)] }),
        ),
        kv(
          'a',
          val({ t: 'kvlist', v: [kv('x', undefined), kv('b', { t: 'bytes', v: new Uint8Array([1]) })] }),
        ),
        kv('m', 'first'),
        kv('m', 'second'),
        kv('n', { t: 'double', v: Number.NaN }),
      ],
    });
    expect(anyValueToString(value)).toBe(
      '{"a":{"b":"AQ==","x":null},"m":"second","n":"NaN","z":["s\\"q",9007199254740993,2.5,false]}',
    );
    expect(anyValueToString(val({ t: 'array', v: [] }))).toBe('[]');
    expect(anyValueToString(val({ t: 'kvlist', v: [] }))).toBe('{}');
  });

  it('leaves out kvlist keys the key policy drops, at any depth', () => {
    const value = val({
      t: 'array',
      v: [
        val({
          t: 'kvlist',
          v: [
            kv('user', 'u'),
            kv('password', 'p'),
            kv('inner', val({ t: 'kvlist', v: [kv('password', 'q')] })),
          ],
        }),
      ],
    });
    expect(anyValueToString(value, { drop: (k) => k === 'password' })).toBe('[{"inner":{},"user":"u"}]');
  });
});

describe('formatDouble', () => {
  it('prints exactly what String() prints for short decimals, random doubles and the edges', () => {
    const shortDecimals = fc
      .tuple(fc.integer({ min: -(10 ** 15), max: 10 ** 15 }), fc.integer({ min: 0, max: 8 }))
      .map(([n, f]) => n / 10 ** f);
    const anyDouble = fc.double({ noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(fc.oneof(shortDecimals, anyDouble), (v) => {
        expect(formatDouble(v)).toBe(Object.is(v, -0) ? '-0' : String(v));
      }),
      { numRuns: 20_000 },
    );
    for (const v of [
      0.5,
      -0.5,
      1e-6,
      5e-7,
      1.25,
      99.9,
      1234.5,
      0.1 + 0.2,
      123456789.123456,
      1e14 + 0.5,
      0.000123,
    ])
      expect(formatDouble(v)).toBe(String(v));
  });
});
