import type { Allocator } from './arena.js';
import { ByteBuffer } from './byte-buffer.js';
import type { LeafSpec } from './parquet-schema.js';

/**
 * In-memory column chunks of one row group, filled by the shredder (shred.ts) and written out as
 * pages by column-chunk.ts: repetition/definition levels in byte arrays, values in typed arrays
 * or UTF-8 bytes, strings as dictionary ids. Nothing is allocated per value.
 */

/** A row boundary is recorded every this many rows; pages are cut only there. */
export const MARK_ROWS = 4096;

/**
 * Repetition and definition levels of a repeated column, shared by its sibling leaves. All
 * arrays of a leaf come from `mem`: a column's leaves die once written, so the writer hands them
 * a scratch arena that it resets after each column (no garbage, no GC pressure per encode).
 */
export class Levels {
  rep: Uint8Array;
  def: Uint8Array;
  n = 0;

  constructor(
    readonly maxRep: number,
    readonly maxDef: number,
    private readonly mem: Allocator,
    capacity = 1024,
  ) {
    this.rep = mem.bytes(Math.max(16, capacity));
    this.def = mem.bytes(Math.max(16, capacity));
  }

  push(rep: number, def: number): void {
    if (this.n === this.rep.length) {
      const rep2 = this.mem.bytes(this.n * 2);
      rep2.set(this.rep);
      this.rep = rep2;
      const def2 = this.mem.bytes(this.n * 2);
      def2.set(this.def);
      this.def = def2;
    }
    this.rep[this.n] = rep;
    this.def[this.n] = def;
    this.n++;
  }
}

abstract class LeafBase {
  /** Values (not level entries) so far. */
  n = 0;
  /** Row boundaries: (level entry, value, byte) index triples, the first at 0. */
  readonly marks: number[] = [];

  constructor(
    readonly spec: LeafSpec,
    /** Null for a flat column (no levels: one value per row). */
    readonly levels: Levels | null,
    protected readonly mem: Allocator,
  ) {}

  /** Records a row boundary (call before the row's values). */
  mark(): void {
    this.marks.push(this.levels ? this.levels.n : this.n, this.n, this.bytePos());
  }

  protected bytePos(): number {
    return 0;
  }
}

/** Most dictionary entries a chunk keeps before its ids stop fitting the hybrid encoder's 24 bits. */
const MAX_DICTIONARY = 1 << 24;

/**
 * A BYTE_ARRAY leaf. Dictionary mode: each distinct string is UTF-8 encoded once into the
 * dictionary page body (PLAIN: 4-byte length + bytes) and values are ids. Plain mode (random ids,
 * free text): values go straight to PLAIN bytes.
 */
export class StringLeaf extends LeafBase {
  ids: Int32Array;
  readonly dict = new Map<string, number>();
  /** The dictionary page body; entry i starts at dictOffsets[i]. */
  readonly dictBytes: ByteBuffer;
  dictOffsets: Int32Array;
  /** PLAIN values (plain mode). */
  readonly plain: ByteBuffer;

  constructor(
    spec: LeafSpec,
    levels: Levels | null,
    readonly dictionary: boolean,
    capacity: number,
    mem: Allocator,
  ) {
    super(spec, levels, mem);
    const bytes = (n: number) => mem.bytes(n);
    this.ids = mem.int32(dictionary ? Math.max(16, capacity) : 0);
    this.dictBytes = new ByteBuffer(dictionary ? 4096 : 16, bytes);
    this.dictOffsets = mem.int32(dictionary ? 256 : 0);
    this.plain = new ByteBuffer(dictionary ? 16 : capacity * 40, bytes);
  }

  protected override bytePos(): number {
    return this.plain.pos;
  }

  /** The dictionary id of `s`, adding it if new. */
  id(s: string): number {
    let id = this.dict.get(s);
    if (id === undefined) {
      id = this.dict.size;
      if (id >= MAX_DICTIONARY) throw new RangeError('dictionary too large');
      this.dict.set(s, id);
      if (id + 1 >= this.dictOffsets.length) {
        const next = this.mem.int32(this.dictOffsets.length * 2);
        next.set(this.dictOffsets);
        this.dictOffsets = next;
      }
      this.dictOffsets[id] = this.dictBytes.pos;
      this.dictBytes.lengthPrefixedUtf8(s);
      this.dictOffsets[id + 1] = this.dictBytes.pos;
    }
    return id;
  }

  pushId(id: number): void {
    if (this.n === this.ids.length) {
      const next = this.mem.int32(Math.max(1024, this.n * 2));
      next.set(this.ids);
      this.ids = next;
    }
    this.ids[this.n++] = id;
  }

  push(s: string): void {
    if (this.dictionary) this.pushId(this.id(s));
    else {
      this.plain.lengthPrefixedUtf8(s);
      this.n++;
    }
  }
}

/** A fixed-width leaf (INT32, INT64, DOUBLE, BOOLEAN): values as float64 until written. */
export class NumberLeaf extends LeafBase {
  values: Float64Array;

  constructor(spec: LeafSpec, levels: Levels | null, capacity: number, mem: Allocator) {
    super(spec, levels, mem);
    this.values = mem.float64(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.n === this.values.length) {
      const next = this.mem.float64(this.n * 2);
      next.set(this.values);
      this.values = next;
    }
    this.values[this.n++] = v;
  }
}

export type Leaf = StringLeaf | NumberLeaf;
