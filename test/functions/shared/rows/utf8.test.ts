import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { truncateUtf8 } from '../../../../functions/shared/rows/utf8.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

describe('truncateUtf8', () => {
  it('keeps a string within the cap unchanged', () => {
    expect(truncateUtf8('héllo', 6)).toBe('héllo');
    expect(truncateUtf8('', 0)).toBe('');
  });

  it('never splits a code point: 2-, 3- and 4-byte characters and surrogate pairs', () => {
    expect(truncateUtf8('aé', 2)).toBe('a'); // é is 2 bytes
    expect(truncateUtf8('a€', 3)).toBe('a'); // € is 3 bytes
    expect(truncateUtf8('a😀b', 4)).toBe('a'); // 😀 is 4 bytes, 2 UTF-16 units
    expect(truncateUtf8('a😀b', 5)).toBe('a😀');
    expect(truncateUtf8('😀😀', 7)).toBe('😀');
  });

  it('result is valid UTF-8, within the cap, a prefix of the input, and as long as possible', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.nat(400), (s, cap) => {
        const t = truncateUtf8(s, cap);
        const encoded = Buffer.from(t, 'utf8');
        const valid = strictDecoder.decode(encoded) === t;
        const maximal =
          t === s || encoded.length + bytes(String.fromCodePoint(s.codePointAt(t.length)!)) > cap;
        return valid && encoded.length <= cap && s.startsWith(t) && maximal;
      }),
      { numRuns: 300 },
    );
  });
});
