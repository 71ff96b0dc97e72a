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
import type { ScalarType } from '../schema/columns.js';
import { mapType, scalarArrowType } from './arrow-schema.js';

/**
 * Builders that write model values (see schema/columns.ts) straight into Arrow buffers: typed
 * arrays and one UTF-8 byte buffer per string column, never a JS object per row (building Arrow
 * vectors row by row from objects was the slow part of an earlier attempt).
 */
export interface ValueBuilder {
  append(value: unknown): void;
  finish(): Data;
}

const TWO_32 = 4294967296;

function grow<T extends Int32Array | Uint32Array | Float64Array | Uint8Array>(arr: T, need: number): T {
  if (need <= arr.length) return arr;
  const Ctor = arr.constructor as new (n: number) => T;
  const next = new Ctor(Math.max(need, arr.length * 2));
  next.set(arr);
  return next;
}

class Utf8Builder implements ValueBuilder {
  private bytes = Buffer.allocUnsafe(4096);
  private pos = 0;
  private offsets = new Int32Array(1024);
  private n = 0;

  append(value: unknown): void {
    const s = typeof value === 'string' ? value : value == null ? '' : String(value);
    // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
    const need = this.pos + s.length * 3;
    if (need > this.bytes.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.bytes.length * 2));
      this.bytes.copy(next, 0, 0, this.pos);
      this.bytes = next;
    }
    // Short ASCII strings (ids, attribute keys, most values) are copied by a JS loop, which beats
    // a native Buffer.write call per string; the first non-ASCII unit hands over to Buffer.write.
    const bytes = this.bytes;
    let pos = this.pos;
    const len = s.length;
    let j = 0;
    for (; j < len; j++) {
      const code = s.charCodeAt(j);
      if (code > 0x7f) break;
      bytes[pos++] = code;
    }
    if (j < len) pos += bytes.write(s.slice(j), pos);
    this.pos = pos;
    this.n++;
    this.offsets = grow(this.offsets, this.n + 1);
    this.offsets[this.n] = this.pos;
  }

  finish(): Data {
    return makeData({
      type: new Utf8(),
      length: this.n,
      nullCount: 0,
      valueOffsets: this.offsets.subarray(0, this.n + 1),
      data: this.bytes.subarray(0, this.pos),
    });
  }
}

/** Int64 as two 32-bit words (little-endian), so no BigInt is made per value. */
class Int64Builder implements ValueBuilder {
  private words = new Uint32Array(2048);
  private n = 0;

  constructor(
    private readonly type: DataType,
    private readonly toNumber: (v: unknown) => number,
  ) {}

  append(value: unknown): void {
    const v = this.toNumber(value);
    this.words = grow(this.words, 2 * (this.n + 1));
    const hi = Math.floor(v / TWO_32);
    this.words[2 * this.n] = v - hi * TWO_32;
    this.words[2 * this.n + 1] = hi >>> 0;
    this.n++;
  }

  finish(): Data {
    const data = new BigInt64Array(this.words.buffer, 0, this.n);
    return makeData({ type: this.type as Int64, length: this.n, nullCount: 0, data });
  }
}

class Int32Builder implements ValueBuilder {
  private values = new Int32Array(1024);
  private n = 0;

  append(value: unknown): void {
    this.values = grow(this.values, this.n + 1);
    this.values[this.n++] = typeof value === 'number' ? value : Number(value ?? 0);
  }

  finish(): Data {
    return makeData({
      type: new Int32(),
      length: this.n,
      nullCount: 0,
      data: this.values.subarray(0, this.n),
    });
  }
}

class Float64Builder implements ValueBuilder {
  private values = new Float64Array(1024);
  private n = 0;

  append(value: unknown): void {
    this.values = grow(this.values, this.n + 1);
    // 'NaN' | 'Infinity' | '-Infinity' arrive as strings (JSON has no non-finite numbers).
    this.values[this.n++] = typeof value === 'number' ? value : Number(value ?? 0);
  }

  finish(): Data {
    return makeData({
      type: new Float64(),
      length: this.n,
      nullCount: 0,
      data: this.values.subarray(0, this.n),
    });
  }
}

class BoolBuilder implements ValueBuilder {
  private bits = new Uint8Array(128);
  private n = 0;

  append(value: unknown): void {
    this.bits = grow(this.bits, (this.n >> 3) + 1);
    if (value === true || value === 1) this.bits[this.n >> 3]! |= 1 << (this.n & 7);
    this.n++;
  }

  finish(): Data {
    return makeData({
      type: new Bool(),
      length: this.n,
      nullCount: 0,
      data: this.bits.subarray(0, (this.n + 7) >> 3),
    });
  }
}

/** Offsets of a list-like column (List, Map): offsets[i+1] - offsets[i] children for row i. */
class Offsets {
  values = new Int32Array(1024);
  n = 0;

  push(childCount: number): void {
    this.values = grow(this.values, this.n + 2);
    this.values[this.n + 1] = this.values[this.n]! + childCount;
    this.n++;
  }

  slice(): Int32Array {
    return this.values.subarray(0, this.n + 1);
  }
}

class MapBuilder implements ValueBuilder {
  private readonly offsets = new Offsets();
  private readonly keys = new Utf8Builder();
  private readonly vals = new Utf8Builder();

  append(value: unknown): void {
    let count = 0;
    if (value !== null && typeof value === 'object') {
      for (const k in value as Record<string, unknown>) {
        this.keys.append(k);
        this.vals.append((value as Record<string, unknown>)[k]);
        count++;
      }
    }
    this.offsets.push(count);
  }

  finish(): Data {
    const type = mapType();
    const entries = makeData({
      type: type.children[0]!.type,
      length: this.offsets.values[this.offsets.n]!,
      nullCount: 0,
      children: [this.keys.finish(), this.vals.finish()],
    });
    return makeData({
      type,
      length: this.offsets.n,
      nullCount: 0,
      valueOffsets: this.offsets.slice(),
      child: entries,
    });
  }
}

class ScalarListBuilder implements ValueBuilder {
  private readonly offsets = new Offsets();

  constructor(
    private readonly type: DataType,
    private readonly items: ValueBuilder,
  ) {}

  append(value: unknown): void {
    const arr = Array.isArray(value) ? value : [];
    for (const v of arr) this.items.append(v);
    this.offsets.push(arr.length);
  }

  finish(): Data {
    return makeData({
      type: this.type as List,
      length: this.offsets.n,
      nullCount: 0,
      valueOffsets: this.offsets.slice(),
      child: this.items.finish(),
    });
  }
}

const toNumber = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

/** '1700000000123456789' (ns) -> 1700000000123456 (µs): exact, as µs epochs stay below 2^53. */
export function nanosToMicros(v: unknown): number {
  if (typeof v === 'string') return v.length > 3 ? Number(v.slice(0, -3)) : 0;
  if (typeof v === 'number') return Math.floor(v / 1000);
  if (typeof v === 'bigint') return Number(v / 1000n);
  return 0;
}

export function scalarBuilder(type: ScalarType): ValueBuilder {
  switch (type) {
    case 'string':
    case 'lowcard':
      return new Utf8Builder();
    case 'timestamp_ns':
      return new Int64Builder(new TimestampMicrosecond('UTC'), nanosToMicros);
    case 'uint8':
    case 'int32':
      return new Int32Builder();
    case 'uint32':
    case 'uint64':
      return new Int64Builder(new Int64(), toNumber);
    case 'float64':
      return new Float64Builder();
    case 'bool':
      return new BoolBuilder();
    case 'map':
      return new MapBuilder();
    case 'array_float64':
      return new ScalarListBuilder(scalarArrowType(type), new Float64Builder());
    case 'array_uint64':
      return new ScalarListBuilder(scalarArrowType(type), new Int64Builder(new Int64(), toNumber));
  }
}

/**
 * A nested column (LIST<STRUCT<fields>>) fed from its flattened physical columns
 * (`Events.Timestamp`, `Events.Name`, …), each value an array with one element per item.
 */
export class NestedBuilder {
  private readonly offsets = new Offsets();
  private readonly fields: ValueBuilder[];

  constructor(
    private readonly type: List<Struct>,
    fieldTypes: readonly ScalarType[],
  ) {
    this.fields = fieldTypes.map(scalarBuilder);
  }

  /** `values[f]` is this row's array for field f. */
  append(values: readonly unknown[]): void {
    const first = values[0];
    const count = Array.isArray(first) ? first.length : 0;
    for (let f = 0; f < this.fields.length; f++) {
      const arr = values[f];
      const builder = this.fields[f]!;
      for (let j = 0; j < count; j++) builder.append(Array.isArray(arr) ? arr[j] : undefined);
    }
    this.offsets.push(count);
  }

  finish(): Data {
    const structType = this.type.valueType;
    const struct = makeData({
      type: structType,
      length: this.offsets.values[this.offsets.n]!,
      nullCount: 0,
      children: this.fields.map((b) => b.finish()),
    });
    return makeData({
      type: this.type,
      length: this.offsets.n,
      nullCount: 0,
      valueOffsets: this.offsets.slice(),
      child: struct,
    });
  }
}
