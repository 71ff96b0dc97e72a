/**
 * A growable little-endian byte buffer: the one output primitive of the Parquet encoder (page
 * bodies, Thrift headers, the file). Plain numbers only; no BigInt, no object per value.
 */

const TWO_32 = 4294967296;

/** Where a buffer takes its memory from (see arena.ts: a scratch reused across encodes). */
export type ByteSource = (length: number) => Uint8Array;

const heap: ByteSource = (n) => new Uint8Array(n);

export class ByteBuffer {
  bytes: Uint8Array;
  pos = 0;

  constructor(
    capacity = 64 * 1024,
    private readonly source: ByteSource = heap,
  ) {
    this.bytes = source(Math.max(16, capacity));
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.bytes.length) return;
    const next = this.source(Math.max(this.pos + n, this.bytes.length * 2));
    next.set(this.bytes.subarray(0, this.pos));
    this.bytes = next;
  }

  reset(): void {
    this.pos = 0;
  }

  byte(b: number): void {
    this.ensure(1);
    this.bytes[this.pos++] = b;
  }

  append(src: Uint8Array): void {
    this.ensure(src.length);
    this.bytes.set(src, this.pos);
    this.pos += src.length;
  }

  /** Unsigned LEB128 varint of a non-negative integer below 2^53. */
  varint(n: number): void {
    this.ensure(8);
    const b = this.bytes;
    let pos = this.pos;
    while (n >= 0x80) {
      b[pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    b[pos++] = n;
    this.pos = pos;
  }

  /** Zigzag varint of an integer of magnitude below 2^52 (Thrift compact i16/i32/i64). */
  zigzag(n: number): void {
    this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  int32(v: number): void {
    this.ensure(4);
    const b = this.bytes;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.pos = p + 4;
  }

  /** An integer below 2^53 in magnitude as INT64 (two's complement, little-endian). */
  int64(v: number): void {
    const hi = Math.floor(v / TWO_32);
    this.int32(v - hi * TWO_32);
    this.int32(hi);
  }

  /**
   * UTF-8 of `s`; returns its byte length. ASCII is copied by a JS loop (ids, keys and most
   * values are short ASCII, where a native call per string costs more); the first non-ASCII code
   * unit hands the rest to TextEncoder.encodeInto.
   */
  utf8(s: string): number {
    const len = s.length;
    // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
    this.ensure(len * 3);
    const b = this.bytes;
    const start = this.pos;
    let pos = start;
    let j = 0;
    for (; j < len; j++) {
      const code = s.charCodeAt(j);
      if (code > 0x7f) break;
      b[pos++] = code;
    }
    if (j < len) pos += encoder.encodeInto(j === 0 ? s : s.slice(j), b.subarray(pos)).written;
    this.pos = pos;
    return pos - start;
  }

  /** PLAIN BYTE_ARRAY: 4-byte length, then the UTF-8 bytes. */
  lengthPrefixedUtf8(s: string): void {
    this.ensure(4);
    const at = this.pos;
    this.pos += 4;
    const n = this.utf8(s);
    const b = this.bytes;
    b[at] = n;
    b[at + 1] = n >>> 8;
    b[at + 2] = n >>> 16;
    b[at + 3] = n >>> 24;
  }

  /** A view of the bytes written so far (invalid after the next write that grows the buffer). */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.pos);
  }

  /** A copy of the bytes written so far (never a view, even over a Buffer). */
  toBytes(): Uint8Array {
    return new Uint8Array(this.bytes.subarray(0, this.pos));
  }
}

const encoder = new TextEncoder();
