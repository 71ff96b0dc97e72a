/**
 * 64-bit integers as two uint32 halves, converted to exact decimal strings: OTLP times are
 * nanoseconds since the epoch (~1.7e18), beyond a double's 2^53. The protobuf reader converts
 * fixed64 times with DataView.getBigUint64 instead, which bench/decode.ts measured fastest for
 * that case; these serve int64 varints (attribute ints, mostly small: the first branch).
 */

const PAD = ['', '0', '00', '000', '0000', '00000', '000000', '0000000', '00000000'];

/** The unsigned 64-bit integer `hi * 2^32 + lo` as a decimal string. */
export function uint64ToDecimal(lo: number, hi: number): string {
  // Below 2^53 a double holds the value exactly.
  if (hi <= 0x1fffff) return `${hi * 4294967296 + lo}`;
  // Split hi into 16-bit halves and the value into (top, bottom) around 1e9, every partial
  // product staying below 2^53: 2^48 = 281474·1e9 + 976710656 and 2^32 = 4·1e9 + 294967296.
  const h1 = hi >>> 16;
  const h0 = hi & 0xffff;
  let bottom = h1 * 976710656 + h0 * 294967296 + lo;
  const carry = Math.floor(bottom / 1e9);
  bottom -= carry * 1e9;
  const top = h1 * 281474 + h0 * 4 + carry;
  const s = `${bottom}`;
  return `${top}${PAD[9 - s.length] ?? ''}${s}`;
}

/** The two's-complement signed 64-bit integer `hi:lo` as a decimal string. */
export function int64ToDecimal(lo: number, hi: number): string {
  if ((hi & 0x80000000) === 0) return uint64ToDecimal(lo, hi);
  const nlo = (~lo + 1) >>> 0;
  const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
  return `-${uint64ToDecimal(nlo, nhi)}`;
}

/** The same conversion through BigInt, for the benchmark (bench/decode.ts) and tests. */
export function uint64ToDecimalBigInt(lo: number, hi: number): string {
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
// Up to 18 digits always fits int64 and 19 digits always fits uint64: no range check needed.
const SHORT_INT = /^-?(?:0|[1-9]\d{0,17})$/;
const SHORT_UINT = /^(?:0|[1-9]\d{0,18})$/;
const LONG_INT = /^-?\d+$/;
const LONG_UINT = /^\d+$/;

/**
 * A JSON int64 (string or number) as a canonical decimal string, or undefined when it is not an
 * integer in range. Numbers beyond 2^53 have already lost precision in JSON.parse; they are taken
 * as the double they became.
 */
export function jsonInt64(v: unknown): string | undefined {
  if (typeof v === 'string') {
    if (SHORT_INT.test(v)) return v === '-0' ? '0' : v;
    if (!LONG_INT.test(v)) return undefined;
    const n = BigInt(v);
    return n >= INT64_MIN && n <= INT64_MAX ? n.toString() : undefined;
  }
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return `${v === 0 ? 0 : v}`;
    if (!Number.isInteger(v)) return undefined;
    const n = BigInt(v);
    return n >= INT64_MIN && n <= INT64_MAX ? n.toString() : undefined;
  }
  return undefined;
}

/** A JSON uint64 (string or number) as a canonical decimal string, or undefined. */
export function jsonUint64(v: unknown): string | undefined {
  if (typeof v === 'string') {
    if (SHORT_UINT.test(v)) return v;
    if (!LONG_UINT.test(v)) return undefined;
    const n = BigInt(v);
    return n <= UINT64_MAX ? n.toString() : undefined;
  }
  if (typeof v === 'number') {
    if (v < 0) return undefined;
    if (Number.isSafeInteger(v)) return `${v}`;
    if (!Number.isInteger(v)) return undefined;
    const n = BigInt(v);
    return n <= UINT64_MAX ? n.toString() : undefined;
  }
  return undefined;
}

/**
 * The canonical Uint64 of `hi * 2^32 + lo` (model.ts): a number below 2^53, else a decimal string.
 */
export function uint64Of(lo: number, hi: number): number | string {
  return hi <= 0x1fffff ? hi * 4294967296 + lo : uint64ToDecimal(lo, hi);
}

/** The canonical Uint64 of a canonical decimal string (no sign, no leading zeros). */
export function uint64OfDecimal(s: string): number | string {
  // 15 digits are always below 2^53; 16 are below it up to 9007199254740991.
  if (s.length < 16 || (s.length === 16 && s <= '9007199254740991')) return Number(s);
  return s;
}
