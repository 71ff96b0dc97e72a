import type { ByteBuffer } from './byte-buffer.js';

/**
 * Parquet value and level encodings used by the writer: the RLE/bit-packed hybrid (levels and
 * dictionary ids) and PLAIN for fixed-width values. All from typed arrays, in one pass.
 */

/** Bits needed to hold every value in 0..max. */
export function bitWidth(max: number): number {
  return max <= 0 ? 0 : 32 - Math.clz32(max);
}

/** The most bit-packed groups one run holds with a one-byte header ((63 << 1) | 1 = 127). */
const MAX_GROUPS = 63;

/** Whether values[i..i + 8) exist and are all equal (an RLE run may start at i). */
function eightEqual(values: ArrayLike<number>, i: number, to: number): boolean {
  if (i + 8 > to) return false;
  const v = values[i];
  for (let k = 1; k < 8; k++) if (values[i + k] !== v) return false;
  return true;
}

/**
 * Bit-packs the 8 values from i (zeros past `to`) at bytes[pos]; returns the position after.
 * Up to 4 bits a value, the group is one 32-bit word; wider values go through a bit stream.
 */
function packGroup(
  bytes: Uint8Array,
  pos: number,
  values: ArrayLike<number>,
  i: number,
  to: number,
  width: number,
): number {
  const full = i + 8 <= to;
  if (width <= 4 && full) {
    let word = 0;
    for (let k = 0; k < 8; k++) word |= values[i + k]! << (k * width);
    for (let b = 0; b < width; b++) bytes[pos++] = word >>> (8 * b);
    return pos;
  }
  let acc = 0;
  let bits = 0;
  for (let k = 0; k < 8; k++) {
    const x = full || i + k < to ? values[i + k]! : 0;
    acc |= x << bits;
    bits += width;
    while (bits >= 8) {
      bytes[pos++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  return pos;
}

/**
 * Appends values[from..to) in the RLE/bit-packed hybrid encoding, `width` bits per value
 * (1..24), without a length prefix: runs of 8 or more equal values become RLE runs, the rest
 * bit-packed groups of 8 (the last group padded with zeros; readers stop at the value count).
 */
export function writeHybrid(
  out: ByteBuffer,
  values: ArrayLike<number>,
  from: number,
  to: number,
  width: number,
): void {
  if (width < 1 || width > 24) throw new RangeError(`bit width must be 1..24, got ${width}`);
  const valueBytes = (width + 7) >> 3;
  let i = from;
  while (i < to) {
    const v = values[i]!;
    let j = i + 1;
    while (j < to && values[j] === v) j++;
    if (j - i >= 8) {
      out.varint((j - i) * 2);
      out.ensure(valueBytes);
      for (let b = 0; b < valueBytes; b++) out.bytes[out.pos++] = (v >>> (8 * b)) & 0xff;
      i = j;
      continue;
    }
    out.ensure(1 + MAX_GROUPS * width);
    const bytes = out.bytes;
    const header = out.pos;
    let pos = header + 1;
    let groups = 0;
    do {
      pos = packGroup(bytes, pos, values, i, to, width);
      i += 8;
      groups++;
    } while (i < to && groups < MAX_GROUPS && !eightEqual(values, i, to));
    bytes[header] = (groups << 1) | 1;
    out.pos = pos;
  }
}

/** A data page v1 level section: 4-byte little-endian length, then the hybrid encoding. */
export function writeLevels(
  out: ByteBuffer,
  levels: Uint8Array,
  from: number,
  to: number,
  maxLevel: number,
): void {
  out.ensure(4);
  const at = out.pos;
  out.pos += 4;
  writeHybrid(out, levels, from, to, bitWidth(maxLevel));
  const n = out.pos - at - 4;
  out.bytes[at] = n;
  out.bytes[at + 1] = n >>> 8;
  out.bytes[at + 2] = n >>> 16;
  out.bytes[at + 3] = n >>> 24;
}

/** Dictionary ids of a data page: one byte of bit width, then the hybrid encoding. */
export function writeDictionaryIds(
  out: ByteBuffer,
  ids: Int32Array,
  from: number,
  to: number,
  dictionarySize: number,
): void {
  const width = Math.max(1, bitWidth(dictionarySize - 1));
  out.byte(width);
  writeHybrid(out, ids, from, to, width);
}

const TWO_32 = 4294967296;

/** PLAIN INT64 of integers below 2^53 in magnitude. */
export function writePlainInt64(out: ByteBuffer, values: Float64Array, from: number, to: number): void {
  out.ensure((to - from) * 8);
  const b = out.bytes;
  let p = out.pos;
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    const hi = Math.floor(v / TWO_32);
    const lo = v - hi * TWO_32;
    b[p] = lo;
    b[p + 1] = lo >>> 8;
    b[p + 2] = lo >>> 16;
    b[p + 3] = lo >>> 24;
    b[p + 4] = hi;
    b[p + 5] = hi >>> 8;
    b[p + 6] = hi >>> 16;
    b[p + 7] = hi >>> 24;
    p += 8;
  }
  out.pos = p;
}

/** PLAIN INT64 of a uint64 leaf: a negative value -(i + 1) stands for `wide[i]` (leaves.ts). */
export function writePlainUint64(
  out: ByteBuffer,
  values: Float64Array,
  from: number,
  to: number,
  wide: readonly bigint[],
): void {
  if (wide.length === 0) {
    writePlainInt64(out, values, from, to);
    return;
  }
  out.ensure((to - from) * 8);
  const b = out.bytes;
  let p = out.pos;
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    let lo: number;
    let hi: number;
    if (v >= 0) {
      hi = Math.floor(v / TWO_32);
      lo = v - hi * TWO_32;
    } else {
      const w = wide[-v - 1]!;
      lo = Number(w & 0xffffffffn);
      hi = Number(w >> 32n);
    }
    b[p] = lo;
    b[p + 1] = lo >>> 8;
    b[p + 2] = lo >>> 16;
    b[p + 3] = lo >>> 24;
    b[p + 4] = hi;
    b[p + 5] = hi >>> 8;
    b[p + 6] = hi >>> 16;
    b[p + 7] = hi >>> 24;
    p += 8;
  }
  out.pos = p;
}

/** PLAIN INT32 (values truncated to 32-bit signed, as Int32Array stores them). */
export function writePlainInt32(out: ByteBuffer, values: Float64Array, from: number, to: number): void {
  out.ensure((to - from) * 4);
  const b = out.bytes;
  let p = out.pos;
  for (let i = from; i < to; i++) {
    const v = values[i]! | 0;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    p += 4;
  }
  out.pos = p;
}

/** PLAIN DOUBLE (IEEE 754 little-endian, as the platform stores Float64Array: x64 and arm64). */
export function writePlainDouble(out: ByteBuffer, values: Float64Array, from: number, to: number): void {
  out.append(new Uint8Array(values.buffer, values.byteOffset + from * 8, (to - from) * 8));
}

/** PLAIN BOOLEAN: one bit per value, least significant bit first. */
export function writePlainBoolean(out: ByteBuffer, values: Float64Array, from: number, to: number): void {
  const n = to - from;
  out.ensure((n + 7) >> 3);
  const b = out.bytes;
  const p = out.pos;
  b.fill(0, p, p + ((n + 7) >> 3));
  for (let i = 0; i < n; i++) if (values[from + i] !== 0) b[p + (i >> 3)]! |= 1 << (i & 7);
  out.pos = p + ((n + 7) >> 3);
}
