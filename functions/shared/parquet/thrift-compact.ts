import type { ByteBuffer } from './byte-buffer.js';

/**
 * A writer of the Thrift compact protocol, the encoding of Parquet's footer and page headers
 * (field headers carry the delta from the previous field id; integers are zigzag varints).
 * Structs are written field by field in increasing id order by the caller.
 */

/** Compact protocol element types. */
export const TType = {
  BoolTrue: 1,
  BoolFalse: 2,
  Byte: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  Double: 7,
  Binary: 8,
  List: 9,
  Set: 10,
  Map: 11,
  Struct: 12,
} as const;
export type TType = (typeof TType)[keyof typeof TType];

const encoder = new TextEncoder();

export class CompactWriter {
  private last = 0;
  private readonly stack: number[] = [];

  constructor(readonly out: ByteBuffer) {}

  private header(id: number, type: number): void {
    const delta = id - this.last;
    if (delta > 0 && delta <= 15) this.out.byte((delta << 4) | type);
    else {
      this.out.byte(type);
      this.out.zigzag(id);
    }
    this.last = id;
  }

  /** A thrift `byte` (i8): one raw byte in the compact protocol. */
  i8(id: number, v: number): this {
    this.header(id, TType.Byte);
    this.out.byte(v & 0xff);
    return this;
  }

  i32(id: number, v: number): this {
    this.header(id, TType.I32);
    this.out.zigzag(v);
    return this;
  }

  i64(id: number, v: number): this {
    this.header(id, TType.I64);
    this.out.zigzag(v);
    return this;
  }

  bool(id: number, v: boolean): this {
    this.header(id, v ? TType.BoolTrue : TType.BoolFalse);
    return this;
  }

  binary(id: number, v: Uint8Array): this {
    this.header(id, TType.Binary);
    this.out.varint(v.length);
    this.out.append(v);
    return this;
  }

  string(id: number, v: string): this {
    return this.binary(id, encoder.encode(v));
  }

  /** Opens a struct-valued field; close it with `end()`. */
  struct(id: number): this {
    this.header(id, TType.Struct);
    return this.begin();
  }

  /** Opens a struct that is a list element (no field header); close it with `end()`. */
  begin(): this {
    this.stack.push(this.last);
    this.last = 0;
    return this;
  }

  /** Writes the STOP of the innermost open struct. */
  end(): this {
    this.out.byte(0);
    this.last = this.stack.pop() ?? 0;
    return this;
  }

  /** A list-valued field's header; the caller writes `size` elements of `elementType` after it. */
  list(id: number, elementType: TType, size: number): this {
    this.header(id, TType.List);
    this.listHeader(elementType, size);
    return this;
  }

  private listHeader(elementType: TType, size: number): void {
    if (size < 15) this.out.byte((size << 4) | elementType);
    else {
      this.out.byte(0xf0 | elementType);
      this.out.varint(size);
    }
  }

  /** A list<i32> field (enums included). */
  i32List(id: number, values: readonly number[]): this {
    this.list(id, TType.I32, values.length);
    for (const v of values) this.out.zigzag(v);
    return this;
  }

  /** A list<string> field. */
  stringList(id: number, values: readonly string[]): this {
    this.list(id, TType.Binary, values.length);
    for (const v of values) {
      const b = encoder.encode(v);
      this.out.varint(b.length);
      this.out.append(b);
    }
    return this;
  }
}
