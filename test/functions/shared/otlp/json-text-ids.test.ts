import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeOtlp, jsonText, OtlpDecodeError } from '../../../../functions/shared/otlp/decode.js';
import { hexCase } from '../../../../functions/shared/otlp/json/common.js';
import { spansOf } from './support.js';

/**
 * The ASCII fast path of jsonText and the table-driven hex id check, each against an independent
 * oracle: WHATWG TextDecoder (fatal) for the text, a regex and Buffer's hex codec for the ids.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** What TextDecoder makes of `bytes`: its text, or 'invalid'. */
function decoderOracle(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return 'invalid';
  }
}

function jsonTextOrInvalid(bytes: Uint8Array): string {
  try {
    return jsonText(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(OtlpDecodeError);
    return 'invalid';
  }
}

/** `bytes` as a view in the middle of a larger buffer, its neighbours bytes of every kind. */
function inTheMiddle(bytes: Uint8Array): Uint8Array {
  const whole = new Uint8Array(bytes.length + 6);
  whole.set([0xff, 0xc3, 0x22], 0);
  whole.set(bytes, 3);
  whole.set([0xe2, 0x80, 0xff], bytes.length + 3);
  return whole.subarray(3, 3 + bytes.length);
}

describe('jsonText', () => {
  it('reads every single byte as TextDecoder does (ASCII as itself, the rest refused)', () => {
    for (let b = 0; b < 256; b++) {
      const bytes = Uint8Array.of(b);
      expect(jsonTextOrInvalid(bytes)).toBe(decoderOracle(bytes));
      expect(jsonTextOrInvalid(inTheMiddle(bytes))).toBe(decoderOracle(bytes));
    }
  });

  it('reads arbitrary bytes, views at an offset and UTF-8 text (BOM, lone surrogates) as TextDecoder does', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: 'grapheme-ascii' }),
      fc.string({
        unit: fc.constantFrom('a', '"', '\\', '\u0000', '\u007f', '\u0080', '\ud83d', '\ude00', '😀'),
      }),
    );
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ min: 0, max: 0x7f, maxLength: 64 }),
      text.map((s) => new TextEncoder().encode(s)),
      text.map((s) => new TextEncoder().encode(`\ufeff${s}`)),
    );
    fc.assert(
      fc.property(body, fc.boolean(), (bytes, offset) => {
        const view = offset ? inTheMiddle(bytes) : bytes;
        expect(jsonTextOrInvalid(view)).toBe(decoderOracle(bytes));
      }),
      { numRuns: 2000, seed: 16 },
    );
  });

  it('strips a leading BOM as TextDecoder does, and keeps one after the start', () => {
    expect(jsonText(new TextEncoder().encode('\ufeff{"a":1}'))).toBe('{"a":1}');
    expect(jsonText(new TextEncoder().encode('{"a":"\ufeff"}'))).toBe('{"a":"\ufeff"}');
  });
});

const HEX = /^[0-9a-fA-F]*$/;
const hexOracle = (s: string) => (HEX.test(s) ? (/[A-F]/.test(s) ? 3 : 1) : 0);

describe('hex ids', () => {
  it('tells every UTF-16 code unit as the regex does', () => {
    for (let c = 0; c <= 0xffff; c++) {
      const s = String.fromCharCode(c);
      expect(hexCase(s)).toBe(hexOracle(s));
      expect(hexCase(`0a${s}F`)).toBe(hexOracle(`0a${s}F`));
    }
    expect(hexCase('')).toBe(1);
  });

  it('tells arbitrary strings, mostly hex, as the regex does', () => {
    const unit = fc.oneof(
      fc.constantFrom(...'0123456789abcdefABCDEF'),
      fc.constantFrom('g', 'G', '/', ':', '@', '`', ' ', '\u0000', 'ａ', '٣', '\ud800'),
    );
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40 }), (s) => {
        expect(hexCase(s)).toBe(hexOracle(s));
      }),
      { numRuns: 3000, seed: 16 },
    );
  });

  it('decodes trace and span ids in any case to lowercase hex, and marks the span of any other character', () => {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const idChars = fc.constantFrom(...'0123456789abcdefABCDEFgzG ~é\u0000');
    fc.assert(
      fc.property(
        fc.string({ unit: idChars, minLength: 32, maxLength: 32 }),
        fc.string({ unit: idChars, minLength: 16, maxLength: 16 }),
        (traceId, spanId) => {
          const [span] = spansOf(
            decodeOtlp(
              'traces',
              enc({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId, spanId, name: 's' }] }] }] }),
              'json',
            ),
          );
          const valid = HEX.test(traceId) && HEX.test(spanId);
          if (!valid) {
            expect(span!.invalid).toMatch(/(traceId|spanId) must be/);
            return;
          }
          expect(span!.invalid).toBeUndefined();
          // Buffer's hex codec as the oracle: the bytes the id names, written back in lowercase.
          expect(span!.traceId).toBe(Buffer.from(traceId, 'hex').toString('hex'));
          expect(span!.spanId).toBe(Buffer.from(spanId, 'hex').toString('hex'));
        },
      ),
      { numRuns: 1000, seed: 16 },
    );
  });
});
