import { describe, expect, it } from 'vitest';
import { rng } from '../../../../bench/workload.js';
import { ProtoReader } from '../../../../functions/shared/otlp/protobuf-reader.js';

/** One length-delimited field per string: tag byte, length varint (< 128 here), bytes. */
function fields(strings: readonly string[]): Uint8Array {
  const parts: number[] = [];
  for (const s of strings) {
    const bytes = Buffer.from(s, 'utf8');
    parts.push(0x0a, bytes.length, ...bytes);
  }
  return Uint8Array.from(parts);
}

function readAll(buf: Uint8Array, count: number): string[] {
  const r = new ProtoReader(buf, 32);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    r.varint();
    out.push(r.string());
  }
  return out;
}

describe('ProtoReader strings', () => {
  it('decodes every string exactly, across many short strings that share interning slots', () => {
    // 20,000 distinct strings of the same few lengths into 4,096 slots: collisions are certain.
    const next = rng(7);
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789._-/';
    const strings: string[] = [];
    const seen = new Set<string>();
    while (strings.length < 20_000) {
      const len = 1 + Math.floor(next() * 48);
      let s = '';
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(next() * alphabet.length)];
      if (!seen.has(s)) {
        seen.add(s);
        strings.push(s);
      }
    }
    // Twice over, so the second pass reads through slots the first one filled.
    expect(readAll(fields(strings), strings.length)).toEqual(strings);
    expect(readAll(fields(strings), strings.length)).toEqual(strings);
  });

  it('tells apart strings that differ in one byte only, at either end or inside', () => {
    const base = 'http.response.status_code';
    const variants = [
      base,
      `X${base.slice(1)}`,
      `${base.slice(0, -1)}X`,
      `${base.slice(0, 12)}X${base.slice(13)}`,
    ];
    const order = [...variants, ...variants.reverse(), base, base];
    expect(readAll(fields(order), order.length)).toEqual(order);
  });

  it('keeps non-ASCII and long strings exact, and flags invalid UTF-8 on the item', () => {
    const strings = ['grüße', 'キー', 'a'.repeat(49), `${'b'.repeat(60)}é`, 'grüße'];
    expect(readAll(fields(strings), strings.length)).toEqual(strings);
    const bad = new ProtoReader(Uint8Array.from([0x0a, 2, 0xc3, 0x28]), 32);
    bad.varint();
    expect(bad.string()).toBe('');
    expect(bad.problem).toBe('a string field is not valid UTF-8');
  });

  it('keeps a leading U+FEFF: in a protobuf string it is a character, not a byte-order mark', () => {
    const strings = ['\uFEFF', '\uFEFFkey', '\uFEFF\uFEFF', 'a\uFEFF'];
    expect(readAll(fields(strings), strings.length)).toEqual(strings);
  });

  it('writes ids as lowercase hex of 8 and 16 bytes', () => {
    const id16 = Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 5) & 0xff);
    const r = new ProtoReader(Uint8Array.from([0x0a, 16, ...id16, 0x12, 8, ...id16.subarray(0, 8)]), 32);
    r.varint();
    expect(r.id(16, 'trace_id')).toBe(Buffer.from(id16).toString('hex'));
    r.varint();
    expect(r.id(8, 'span_id')).toBe(Buffer.from(id16.subarray(0, 8)).toString('hex'));
  });
});
