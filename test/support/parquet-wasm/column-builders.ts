import {
  Bool,
  type Data,
  type DataType,
  Float64,
  Int32,
  Int64,
  type List,
  makeData,
  type Struct,
  TimestampMicrosecond,
  Utf8,
} from 'apache-arrow';
import { type Allocator, heapAllocator } from '../../../functions/shared/parquet/arena.js';
import { nanosToMicros } from '../../../functions/shared/parquet/timestamps.js';
import type { ScalarType } from '../../../functions/shared/schema/columns.js';
import { mapType, scalarArrowType } from './arrow-schema.js';

/**
 * Arrow column data built straight from model values (see schema/columns.ts), already gathered in
 * file order: typed arrays sized once, and one UTF-8 byte buffer plus offsets per string column.
 * No JS object or BigInt is made per value, and no builder per row: the encode is dominated by
 * the per-value cost here and in the wasm writer, so every value costs a few plain loads/stores.
 */

const TWO_32 = 4294967296;

/**
 * Where the builders take their typed arrays from. Set only for the span of one synchronous
 * build (see withAllocator), so the builders need no allocator parameter threaded through.
 */
let alloc: Allocator = heapAllocator;

/** Runs `build` with every typed array of the builders taken from `allocator`. */
export function withAllocator<T>(allocator: Allocator, build: () => T): T {
  const previous = alloc;
  alloc = allocator;
  try {
    return build();
  } finally {
    alloc = previous;
  }
}

const toNumber = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

const asString = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));

/**
 * UTF-8 bytes and Int32 offsets of a string column, appended one string at a time. Short ASCII
 * strings (ids, attribute keys, most values) are copied by a JS loop, which beats a native call per
 * string (measured per short string: ~60-70 ns, vs ~90 for latin1Write and ~150 for
 * TextEncoder.encodeInto); the first non-ASCII code unit hands the rest to Buffer.write.
 */
export class Utf8Sink {
  private bytes: Buffer;
  private pos = 0;
  private offsets: Int32Array;
  private n = 0;

  constructor(expectedStrings = 1024, expectedBytes = expectedStrings * 16) {
    this.bytes = alloc.bytes(Math.max(64, expectedBytes));
    this.offsets = alloc.int32(expectedStrings + 1);
  }

  push(s: string): void {
    const len = s.length;
    // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
    if (this.pos + len * 3 > this.bytes.length) this.growBytes(this.pos + len * 3);
    const bytes = this.bytes;
    let pos = this.pos;
    let j = 0;
    for (; j < len; j++) {
      const code = s.charCodeAt(j);
      if (code > 0x7f) break;
      bytes[pos++] = code;
    }
    if (j < len) pos += bytes.write(j === 0 ? s : s.slice(j), pos);
    this.pos = pos;
    if (this.n + 2 > this.offsets.length) {
      const next = alloc.int32(this.offsets.length * 2);
      next.set(this.offsets);
      this.offsets = next;
    }
    this.offsets[++this.n] = pos;
  }

  /**
   * Appends a copy of the `count` strings starting at string `first`: one native byte copy
   * instead of a char loop per string (maps repeat the previous row's keys, and often values).
   */
  copyStrings(first: number, count: number): void {
    const from = this.offsets[first]!;
    const to = this.offsets[first + count]!;
    if (this.pos + (to - from) > this.bytes.length) this.growBytes(this.pos + (to - from));
    this.bytes.copyWithin(this.pos, from, to);
    const delta = this.pos - from;
    if (this.n + count + 1 > this.offsets.length) {
      const next = alloc.int32(Math.max(this.offsets.length * 2, this.n + count + 1));
      next.set(this.offsets);
      this.offsets = next;
    }
    for (let i = 1; i <= count; i++) this.offsets[this.n + i] = this.offsets[first + i]! + delta;
    this.n += count;
    this.pos += to - from;
  }

  private growBytes(need: number): void {
    const next = alloc.bytes(Math.max(need, this.bytes.length * 2));
    this.bytes.copy(next, 0, 0, this.pos);
    this.bytes = next;
  }

  get length(): number {
    return this.n;
  }

  finish(): Data<Utf8> {
    return makeData({
      type: new Utf8(),
      length: this.n,
      nullCount: 0,
      valueOffsets: this.offsets.subarray(0, this.n + 1),
      data: this.bytes.subarray(0, this.pos),
    });
  }
}

/** Below this length a char loop beats the native copy of a repeated value. */
const COPY_MIN_CHARS = 12;

function utf8Data(values: readonly unknown[]): Data {
  const sink = new Utf8Sink(values.length);
  let prev = '';
  for (let i = 0; i < values.length; i++) {
    const s = asString(values[i]);
    // Rows sorted by service repeat long values (scope names, span names) run after run.
    if (i > 0 && s.length >= COPY_MIN_CHARS && s === prev) sink.copyStrings(i - 1, 1);
    else sink.push(s);
    prev = s;
  }
  return sink.finish();
}

/** Int64 from JS numbers as two 32-bit words each (little-endian): no BigInt per value. */
export function int64Data(type: DataType, numbers: ArrayLike<number>): Data {
  const n = numbers.length;
  const words = alloc.uint32(2 * n);
  for (let i = 0; i < n; i++) {
    const v = numbers[i]!;
    const hi = Math.floor(v / TWO_32);
    words[2 * i] = v - hi * TWO_32;
    words[2 * i + 1] = hi >>> 0;
  }
  return makeData({
    type: type as Int64,
    length: n,
    nullCount: 0,
    data: new BigInt64Array(words.buffer, words.byteOffset, n),
  });
}

function numbersOf(values: readonly unknown[], convert: (v: unknown) => number): Float64Array {
  const out = alloc.float64(values.length);
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]);
  return out;
}

function int32Data(values: readonly unknown[]): Data {
  const out = alloc.int32(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toNumber(values[i]);
  return makeData({ type: new Int32(), length: out.length, nullCount: 0, data: out });
}

function float64Data(values: readonly unknown[]): Data {
  // 'NaN' | 'Infinity' | '-Infinity' arrive as strings (JSON has no non-finite numbers).
  const out = numbersOf(values, toNumber);
  return makeData({ type: new Float64(), length: out.length, nullCount: 0, data: out });
}

function boolData(values: readonly unknown[]): Data {
  const bits = alloc.uint8((values.length + 7) >> 3);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === true || v === 1) bits[i >> 3]! |= 1 << (i & 7);
  }
  return makeData({ type: new Bool(), length: values.length, nullCount: 0, data: bits });
}

/** True when `a[0..n)` and `b[0..n)` hold equal strings (mostly the same internalized keys). */
function sameStrings(a: readonly string[], b: readonly string[], n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * MAP<string,string>: keys and values of all rows into two string sinks, cut by offsets. Rows of
 * one resource or one instrumentation repeat the previous row's keys (and resource attributes
 * their values too), so a row equal to the previous one is one block copy, not a loop per char.
 */
function mapData(values: readonly unknown[]): Data {
  const n = values.length;
  const offsets = alloc.int32(n + 1);
  // Spans carry ~10-20 attributes; the sinks grow if a batch carries more.
  const keys = new Utf8Sink(n * 8, n * 8 * 16);
  const vals = new Utf8Sink(n * 8, n * 8 * 16);
  let rowKeys: string[] = [];
  let rowVals: string[] = [];
  let prevKeys: string[] = [];
  let prevVals: string[] = [];
  let prevCount = -1;
  for (let i = 0; i < n; i++) {
    const m = values[i];
    let count = 0;
    if (m !== null && typeof m === 'object') {
      const rec = m as Record<string, unknown>;
      for (const k in rec) {
        rowKeys[count] = k;
        rowVals[count] = asString(rec[k]);
        count++;
      }
    }
    const start = offsets[i]!;
    if (count === prevCount && count > 0 && sameStrings(rowKeys, prevKeys, count)) {
      keys.copyStrings(start - count, count);
      if (sameStrings(rowVals, prevVals, count)) vals.copyStrings(start - count, count);
      else for (let j = 0; j < count; j++) vals.push(rowVals[j]!);
    } else {
      for (let j = 0; j < count; j++) {
        keys.push(rowKeys[j]!);
        vals.push(rowVals[j]!);
      }
    }
    offsets[i + 1] = start + count;
    const k = prevKeys;
    prevKeys = rowKeys;
    rowKeys = k;
    const v = prevVals;
    prevVals = rowVals;
    rowVals = v;
    prevCount = count;
  }
  const type = mapType();
  const entries = makeData({
    type: type.children[0]!.type,
    length: keys.length,
    nullCount: 0,
    children: [keys.finish(), vals.finish()],
  });
  return makeData({ type, length: n, nullCount: 0, valueOffsets: offsets, child: entries });
}

/** Offsets of per-row arrays and their items flattened into one array. */
function flatten(values: readonly unknown[]): { offsets: Int32Array; items: unknown[] } {
  const offsets = alloc.int32(values.length + 1);
  const items: unknown[] = [];
  for (let i = 0; i < values.length; i++) {
    const arr = values[i];
    if (Array.isArray(arr)) for (let j = 0; j < arr.length; j++) items.push(arr[j]);
    offsets[i + 1] = items.length;
  }
  return { offsets, items };
}

/** Arrow data of one scalar column from its values in file order. */
export function scalarData(type: ScalarType, values: readonly unknown[]): Data {
  switch (type) {
    case 'string':
    case 'lowcard':
      return utf8Data(values);
    case 'timestamp_ns':
      return int64Data(new TimestampMicrosecond('UTC'), numbersOf(values, nanosToMicros));
    case 'uint8':
    case 'int32':
      return int32Data(values);
    case 'uint32':
    case 'uint64':
      return int64Data(new Int64(), numbersOf(values, toNumber));
    case 'float64':
      return float64Data(values);
    case 'bool':
      return boolData(values);
    case 'map':
      return mapData(values);
    case 'array_float64':
    case 'array_uint64': {
      const { offsets, items } = flatten(values);
      return makeData({
        type: scalarArrowType(type) as List,
        length: values.length,
        nullCount: 0,
        valueOffsets: offsets,
        child: scalarData(type === 'array_float64' ? 'float64' : 'uint64', items),
      });
    }
  }
}

/**
 * A nested column (LIST<STRUCT<fields>>) from its flattened physical columns (`Events.Timestamp`,
 * `Events.Name`, …) in file order, each value an array with one element per item. The first
 * field's array gives each row's item count; a shorter array of another field reads as absent.
 */
export function nestedData(
  type: List<Struct>,
  fieldTypes: readonly ScalarType[],
  fieldValues: readonly (readonly unknown[])[],
): Data {
  const first = fieldValues[0] ?? [];
  const n = first.length;
  const offsets = alloc.int32(n + 1);
  for (let i = 0; i < n; i++) {
    const arr = first[i];
    offsets[i + 1] = offsets[i]! + (Array.isArray(arr) ? arr.length : 0);
  }
  const total = offsets[n]!;
  // Most rows have no items: visit only the others (each visit is a likely cache miss).
  const full: number[] = [];
  for (let i = 0; i < n; i++) if (offsets[i + 1]! > offsets[i]!) full.push(i);
  const children = fieldTypes.map((ft, f) => {
    const rows = fieldValues[f] ?? [];
    const items: unknown[] = new Array(total);
    for (const i of full) {
      const arr = rows[i];
      const a = offsets[i]!;
      const count = offsets[i + 1]! - a;
      for (let j = 0; j < count; j++) items[a + j] = Array.isArray(arr) ? arr[j] : undefined;
    }
    return scalarData(ft, items);
  });
  const struct = makeData({ type: type.valueType, length: total, nullCount: 0, children });
  return makeData({ type, length: n, nullCount: 0, valueOffsets: offsets, child: struct });
}
