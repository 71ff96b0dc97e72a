import { Buffer } from 'node:buffer';
import { type DecodeCaps, OtlpDecodeError, tooManyAttributes, tooManyItems } from './decode-error.js';
import { int64ToDecimal, uint64Of } from './int64.js';

/**
 * A cursor over protobuf wire bytes (https://protobuf.dev/programming-guides/encoding/), written
 * for OTLP decoding: every read checks the buffer's bounds and throws OtlpDecodeError, and
 * per-item problems (invalid UTF-8, ids of the wrong length) are recorded in `problem` for the
 * message decoders to attach to the enclosing item instead of failing the request.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_SGROUP = 3;
export const WIRE_EGROUP = 4;
export const WIRE_I32 = 5;

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

/** ignoreBOM keeps a leading U+FEFF: inside a protobuf string it is data, not a byte-order mark. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Node's Buffer has native slicers (older than TextDecoder, and faster for short ASCII). */
interface NodeSlicers {
  latin1Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
}

export const INVALID_UTF8 = 'a string field is not valid UTF-8';

/**
 * Short ASCII strings decoded lately, by a hash of their bytes: attribute keys and most values
 * (methods, routes, hosts, service names) repeat across items and requests. Handing back the same
 * string object saves the allocation and, more, lets every later Map/Set lookup and property
 * write (sanitation, redaction's caches, the envelope's dictionaries) reuse its cached hash and
 * internalized form instead of hashing a fresh copy each time. One slot per hash, last writer
 * wins; module-wide, so a warm Lambda keeps it between requests. 4,096 slots × 48 bytes.
 */
const INTERN_MAX_BYTES = 48;
const INTERN_SLOTS = 4096;
const INTERN_SLOT_MASK = INTERN_SLOTS - 1;
const interned: (string | undefined)[] = new Array(INTERN_SLOTS).fill(undefined);
const internedLength = new Uint8Array(INTERN_SLOTS);
const internedBytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX_BYTES);
/** The same memory as words (slots start on multiples of 4), for `sameBytes`. */
const internedWords = new Int32Array(internedBytes.buffer);
/** Int32Array reads in the platform's byte order; DataView reads must match it. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Per byte, its two lowercase hex digits as char codes: low 8 bits the first, high 8 the second. */
const HEX_PAIRS = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  const digits = '0123456789abcdef';
  HEX_PAIRS[i] = digits.charCodeAt(i >>> 4) | (digits.charCodeAt(i & 15) << 8);
}

/**
 * Eight bytes as 16 hex digits. One fromCharCode call is about half the cost of Buffer#hexSlice
 * (a call into C++) for a string this short, and ids are three of every span's fields.
 */
function hex8(buf: Uint8Array, at: number): string {
  const a = HEX_PAIRS[buf[at]!]!;
  const b = HEX_PAIRS[buf[at + 1]!]!;
  const c = HEX_PAIRS[buf[at + 2]!]!;
  const d = HEX_PAIRS[buf[at + 3]!]!;
  const e = HEX_PAIRS[buf[at + 4]!]!;
  const f = HEX_PAIRS[buf[at + 5]!]!;
  const g = HEX_PAIRS[buf[at + 6]!]!;
  const h = HEX_PAIRS[buf[at + 7]!]!;
  return String.fromCharCode(
    a & 0xff,
    a >>> 8,
    b & 0xff,
    b >>> 8,
    c & 0xff,
    c >>> 8,
    d & 0xff,
    d >>> 8,
    e & 0xff,
    e >>> 8,
    f & 0xff,
    f >>> 8,
    g & 0xff,
    g >>> 8,
    h & 0xff,
    h >>> 8,
  );
}

/**
 * Sixteen bytes as 32 hex digits, one flat string. Unrolled like hex8 on purpose: with the Map
 * insert every trace id meets next, 173 ns against 241 for a loop plus fromCharCode.apply and 371
 * for hex8 + hex8 (a cons string, flattened at the first hash); Node 22.
 */
function hex16(buf: Uint8Array, at: number): string {
  const a = HEX_PAIRS[buf[at]!]!;
  const b = HEX_PAIRS[buf[at + 1]!]!;
  const c = HEX_PAIRS[buf[at + 2]!]!;
  const d = HEX_PAIRS[buf[at + 3]!]!;
  const e = HEX_PAIRS[buf[at + 4]!]!;
  const f = HEX_PAIRS[buf[at + 5]!]!;
  const g = HEX_PAIRS[buf[at + 6]!]!;
  const h = HEX_PAIRS[buf[at + 7]!]!;
  const i = HEX_PAIRS[buf[at + 8]!]!;
  const j = HEX_PAIRS[buf[at + 9]!]!;
  const k = HEX_PAIRS[buf[at + 10]!]!;
  const l = HEX_PAIRS[buf[at + 11]!]!;
  const m = HEX_PAIRS[buf[at + 12]!]!;
  const n = HEX_PAIRS[buf[at + 13]!]!;
  const o = HEX_PAIRS[buf[at + 14]!]!;
  const p = HEX_PAIRS[buf[at + 15]!]!;
  return String.fromCharCode(
    a & 0xff,
    a >>> 8,
    b & 0xff,
    b >>> 8,
    c & 0xff,
    c >>> 8,
    d & 0xff,
    d >>> 8,
    e & 0xff,
    e >>> 8,
    f & 0xff,
    f >>> 8,
    g & 0xff,
    g >>> 8,
    h & 0xff,
    h >>> 8,
    i & 0xff,
    i >>> 8,
    j & 0xff,
    j >>> 8,
    k & 0xff,
    k >>> 8,
    l & 0xff,
    l >>> 8,
    m & 0xff,
    m >>> 8,
    n & 0xff,
    n >>> 8,
    o & 0xff,
    o >>> 8,
    p & 0xff,
    p >>> 8,
  );
}

function truncated(): OtlpDecodeError {
  return new OtlpDecodeError('malformed protobuf: message truncated');
}

export class ProtoReader {
  readonly buf: Uint8Array;
  /** The same memory as a Buffer, for Node's native latin1 and hex slicing. */
  private readonly bytes: Buffer & NodeSlicers;
  private readonly view: DataView;
  readonly len: number;
  pos = 0;
  /** The high 32 bits of the last varint read by `varint()` (the return value is the low 32). */
  hi = 0;
  /** The first problem met in the item being decoded; see the module comment. */
  problem: string | undefined = undefined;
  /** Items and attributes (nested entries) decoded so far, against the request's caps. */
  private items = 0;
  private attributes = 0;
  private readonly maxItems: number;
  private readonly maxAttributes: number;

  constructor(
    buf: Uint8Array,
    readonly maxDepth: number,
    caps?: DecodeCaps,
  ) {
    this.maxItems = caps?.maxItems ?? Number.POSITIVE_INFINITY;
    this.maxAttributes = caps?.maxAttributes ?? Number.POSITIVE_INFINITY;
    this.buf = buf;
    this.len = buf.length;
    this.bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength) as Buffer & NodeSlicers;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Counts one item (span, log record, data point); throws OtlpLimitError past the cap. */
  item(): void {
    if (++this.items > this.maxItems) throw tooManyItems(this.maxItems);
  }

  /** Counts one attribute or other nested entry; throws OtlpLimitError past the cap. */
  attribute(): void {
    if (++this.attributes > this.maxAttributes) throw tooManyAttributes(this.maxAttributes);
  }

  /** A varint's low 32 bits, unsigned; its high 32 bits are left in `hi`. */
  varint(): number {
    const buf = this.buf;
    const len = this.len;
    let pos = this.pos;
    if (pos >= len) throw truncated();
    let b = buf[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      this.hi = 0;
      return b;
    }
    let lo = b & 0x7f;
    for (let shift = 7; shift < 28; shift += 7) {
      if (pos >= len) throw truncated();
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = 0;
        return lo >>> 0;
      }
    }
    // The fifth byte straddles the halves: 4 bits low, 3 bits high.
    if (pos >= len) throw truncated();
    b = buf[pos++]!;
    lo |= (b & 0x0f) << 28;
    let hi = (b & 0x7f) >> 4;
    if (b < 0x80) {
      this.pos = pos;
      this.hi = hi;
      return lo >>> 0;
    }
    for (let shift = 3; shift < 32; shift += 7) {
      if (pos >= len) throw truncated();
      b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    throw new OtlpDecodeError('malformed protobuf: varint longer than 10 bytes');
  }

  /** int32 and enum fields: negative values arrive sign-extended to 64 bits; keep the low 32. */
  int32(): number {
    return this.varint() | 0;
  }

  sint32(): number {
    const v = this.varint();
    return (v >>> 1) ^ -(v & 1);
  }

  /** uint64 varint as a Uint64 (model.ts): a number below 2^53, else an exact decimal string. */
  uint64(): number | string {
    const lo = this.varint();
    return uint64Of(lo, this.hi);
  }

  /** int64 varint as an exact decimal string. */
  int64Decimal(): string {
    const lo = this.varint();
    return int64ToDecimal(lo, this.hi);
  }

  bool(): boolean {
    return (this.varint() | this.hi) !== 0;
  }

  fixed32(): number {
    const pos = this.pos;
    if (pos + 4 > this.len) throw truncated();
    this.pos = pos + 4;
    return this.view.getUint32(pos, true);
  }

  /** fixed64 as an exact decimal string (times in nanoseconds). */
  fixed64Decimal(): string {
    const pos = this.pos;
    if (pos + 8 > this.len) throw truncated();
    this.pos = pos + 8;
    // One BigInt read and toString: faster here than two-uint32 arithmetic (see bench/decode.ts).
    return this.view.getBigUint64(pos, true).toString();
  }

  /** fixed64 as a Uint64 (model.ts): counts, exact to 2^64-1 and a plain number below 2^53. */
  fixed64Uint(): number | string {
    const pos = this.pos;
    if (pos + 8 > this.len) throw truncated();
    this.pos = pos + 8;
    return uint64Of(this.view.getUint32(pos, true), this.view.getUint32(pos + 4, true));
  }

  /** sfixed64 as a double. */
  sfixed64Number(): number {
    const pos = this.pos;
    if (pos + 8 > this.len) throw truncated();
    this.pos = pos + 8;
    return this.view.getInt32(pos + 4, true) * 4294967296 + this.view.getUint32(pos, true);
  }

  double(): number {
    const pos = this.pos;
    if (pos + 8 > this.len) throw truncated();
    this.pos = pos + 8;
    return this.view.getFloat64(pos, true);
  }

  /** Reads a length prefix and returns where the delimited bytes end. */
  lenEnd(): number {
    const n = this.varint();
    if (this.hi !== 0 || n > this.len - this.pos) throw truncated();
    return this.pos + n;
  }

  /** Called after a message's field loop: a field that ran past the message's end is malformed. */
  finish(end: number, message: string): void {
    if (this.pos !== end) {
      throw new OtlpDecodeError(`malformed protobuf: a field of ${message} overruns the message`);
    }
  }

  string(): string {
    const end = this.lenEnd();
    const start = this.pos;
    this.pos = end;
    const n = end - start;
    if (n === 0) return '';
    const buf = this.buf;
    if (n > INTERN_MAX_BYTES) {
      for (let i = start; i < end; i++) {
        if (buf[i]! >= 0x80) return this.utf8(start, end);
      }
      // Pure ASCII: latin1 decoding is the same and needs no validation.
      return this.bytes.latin1Slice(start, end);
    }
    // Short: hand back the string last decoded from the same bytes if there is one (see
    // `interned`). The slot comes from the length and three words (first, middle, last; every byte
    // below 4), so a hit costs that and one compare. Single sampled bytes made ids like user-0042
    // share slots (5x the misses); words at both ends tell them apart. Bytes equal to an entry's
    // are ASCII, as every entry is.
    let h = Math.imul(n, 0x9e3779b1);
    if (n >= 4) {
      const view = this.view;
      h = Math.imul(h ^ view.getInt32(start, true), 0x85ebca6b);
      h = Math.imul(h ^ view.getInt32(start + ((n - 4) >>> 1), true), 0xc2b2ae35);
      h = Math.imul(h ^ view.getInt32(end - 4, true), 0x27d4eb2f);
    } else {
      for (let k = start; k < end; k++) h = Math.imul(h ^ buf[k]!, 0x85ebca6b);
    }
    h ^= h >>> 15;
    const slot = (h ^ (h >>> 16)) & INTERN_SLOT_MASK;
    const base = slot * INTERN_MAX_BYTES;
    if (internedLength[slot] === n && this.sameBytes(base, start, n)) return interned[slot]!;
    for (let i = start; i < end; i++) {
      if (buf[i]! >= 0x80) return this.utf8(start, end);
    }
    const str = this.bytes.latin1Slice(start, end);
    internedBytes.set(buf.subarray(start, end), base);
    internedLength[slot] = n;
    interned[slot] = str;
    return str;
  }

  /** Whether the interned bytes at `base` equal the `n` bytes at `start`: a word at a time. */
  private sameBytes(base: number, start: number, n: number): boolean {
    const view = this.view;
    const word = base >>> 2;
    let k = 0;
    for (; k + 4 <= n; k += 4) {
      if (internedWords[word + (k >>> 2)] !== view.getInt32(start + k, LITTLE_ENDIAN)) return false;
    }
    const buf = this.buf;
    for (; k < n; k++) if (internedBytes[base + k] !== buf[start + k]) return false;
    return true;
  }

  private utf8(start: number, end: number): string {
    try {
      return utf8.decode(this.buf.subarray(start, end));
    } catch {
      this.problem ??= INVALID_UTF8;
      return '';
    }
  }

  /** A copy of a bytes field, so the model does not pin the request buffer. */
  bytesCopy(): Uint8Array {
    const end = this.lenEnd();
    const start = this.pos;
    this.pos = end;
    return this.buf.slice(start, end);
  }

  /** A trace or span id: '' when empty, lowercase hex when `size` bytes, else a problem. */
  id(size: number, field: string): string {
    const end = this.lenEnd();
    const start = this.pos;
    this.pos = end;
    const n = end - start;
    if (n === size) {
      if (n === 8) return hex8(this.buf, start);
      if (n === 16) return hex16(this.buf, start);
      return this.bytes.hexSlice(start, end);
    }
    if (n === 0) return '';
    this.problem ??= `${field} must be ${size} bytes`;
    return '';
  }

  /**
   * Skips a field this decoder does not read. A known field (its bit set in `known`) with an
   * unexpected wire type is malformed input; unknown fields of any wire type are skipped.
   */
  skip(tag: number, known: number, message: string): void {
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw new OtlpDecodeError(`malformed protobuf: field number 0 in ${message}`);
    if (field < 32 && (known & (1 << field)) !== 0) {
      throw new OtlpDecodeError(
        `malformed protobuf: field ${field} of ${message} has wire type ${WIRE_NAMES[wire] ?? wire}`,
      );
    }
    this.skipValue(field, wire);
  }

  private skipValue(field: number, wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        if (this.pos + 8 > this.len) throw truncated();
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.pos = this.lenEnd();
        return;
      case WIRE_I32:
        if (this.pos + 4 > this.len) throw truncated();
        this.pos += 4;
        return;
      case WIRE_SGROUP:
        this.skipGroup(field);
        return;
      case WIRE_EGROUP:
        throw new OtlpDecodeError('malformed protobuf: unexpected end-group');
      default:
        throw new OtlpDecodeError(`malformed protobuf: invalid wire type ${wire}`);
    }
  }

  /** Deprecated groups: skipped iteratively to their matching end-group, nesting bounded. */
  private skipGroup(field: number): void {
    const open = [field];
    while (open.length > 0) {
      const tag = this.varint();
      const f = tag >>> 3;
      const wire = tag & 7;
      if (f === 0) throw new OtlpDecodeError('malformed protobuf: field number 0 in a group');
      if (wire === WIRE_EGROUP) {
        if (open.pop() !== f) throw new OtlpDecodeError('malformed protobuf: mismatched end-group');
      } else if (wire === WIRE_SGROUP) {
        if (open.length >= this.maxDepth) {
          throw new OtlpDecodeError(`nesting deeper than ${this.maxDepth} levels`);
        }
        open.push(f);
      } else {
        this.skipValue(f, wire);
      }
    }
  }
}
