import type { Allocator } from './arena.js';
import { ByteBuffer } from './byte-buffer.js';
import type { LeafSpec } from './parquet-schema.js';

/**
 * In-memory column chunks of one row group, filled by the shredder (shred.ts) and written out as
 * pages by column-chunk.ts: repetition/definition levels in byte arrays, values in typed arrays
 * or UTF-8 bytes, strings as dictionary ids. Nothing is allocated per value.
 *
 * Leaves are filled in input order and then `permute`d into file order (sorted rows): reading the
 * model values in sorted order chased pointers all over the heap (~45 % of the map and id
 * columns' time); moving typed-array segments afterwards is a fraction of that.
 */

/** A row boundary is recorded every this many rows; pages are cut only there. */
export const MARK_ROWS = 1024;

/** A dictionary whose page would exceed this falls back to PLAIN. */
export const MAX_DICTIONARY_BYTES = 2 * 1024 * 1024;

/** Most dictionary entries a chunk keeps before its ids stop fitting the hybrid encoder's 24 bits. */
const MAX_DICTIONARY = 1 << 24;

const NEVER = 2 ** 30;

/** First value count at which a dictionary of unknown final size is probed (then at each doubling). */
const PROBE_VALUES = 4096;

/**
 * Whether a dictionary of `entries` for `values` values is worth writing: not if it holds more than
 * half of them (a dictionary page plus ids then outweighs PLAIN) or its page would be too large.
 */
export function dictionaryWins(entries: number, dictionaryBytes: number, values: number): boolean {
  return dictionaryBytes <= MAX_DICTIONARY_BYTES && entries <= Math.max(64, values / 2);
}

/*
 * Growing copies of arrays. Plain functions on purpose: a closure over `this` in a hot method makes
 * V8 allocate a context on every call (measured: ~1 KB of garbage per row, a scavenge per column).
 */
function moreBytes(mem: Allocator, a: Uint8Array, need: number): Uint8Array {
  const next = mem.bytes(Math.max(need, a.length * 2));
  next.set(a);
  return next;
}

function moreInt32(mem: Allocator, a: Int32Array, need: number): Int32Array {
  const next = mem.int32(Math.max(need, a.length * 2));
  next.set(a);
  return next;
}

function moreFloat64(mem: Allocator, a: Float64Array, need: number): Float64Array {
  const next = mem.float64(Math.max(need, a.length * 2));
  next.set(a);
  return next;
}

/**
 * Repetition and definition levels of a repeated column, shared by its sibling leaves. All
 * arrays of a leaf come from `mem`: a column's leaves die once written, so the writer hands them
 * a scratch arena that it resets after each column (no garbage, no GC pressure per encode).
 */
export class Levels {
  rep: Uint8Array;
  def: Uint8Array;
  n = 0;
  /** Entry at which each input row starts (`rows` of them, then the end). */
  private starts: Int32Array;
  private rows = 0;
  /** After `permute`: the entry at each mark (every MARK_ROWS rows of file order). */
  markEntries: number[] = [];

  constructor(
    readonly maxRep: number,
    readonly maxDef: number,
    private readonly mem: Allocator,
    capacity: number,
    rowCount: number,
  ) {
    this.rep = mem.bytes(Math.max(16, capacity));
    this.def = mem.bytes(Math.max(16, capacity));
    this.starts = mem.int32(rowCount + 1);
  }

  /** Call before each input row's entries. */
  startRow(): void {
    this.starts[this.rows++] = this.n;
  }

  push(rep: number, def: number): void {
    if (this.n === this.rep.length) {
      this.rep = moreBytes(this.mem, this.rep, this.n + 1);
      this.def = moreBytes(this.mem, this.def, this.n + 1);
    }
    this.rep[this.n] = rep;
    this.def[this.n] = def;
    this.n++;
  }

  /**
   * Reorders whole rows into file order: row j of file order is the slot[j]-th row pushed; null
   * when rows were pushed in file order (only the marks are taken).
   */
  permute(slot: Uint32Array | null): void {
    const starts = this.starts;
    starts[this.rows] = this.n;
    if (!slot) {
      const marks: number[] = [];
      for (let j = 0; j < this.rows; j += MARK_ROWS) marks.push(starts[j]!);
      this.markEntries = marks;
      return;
    }
    const rep = this.mem.bytes(Math.max(16, this.n));
    const def = this.mem.bytes(Math.max(16, this.n));
    const marks: number[] = [];
    let p = 0;
    for (let j = 0; j < slot.length; j++) {
      if (j % MARK_ROWS === 0) marks.push(p);
      const k = slot[j]!;
      const end = starts[k + 1]!;
      for (let e = starts[k]!; e < end; e++) {
        rep[p] = this.rep[e]!;
        def[p++] = this.def[e]!;
      }
    }
    this.rep = rep;
    this.def = def;
    this.markEntries = marks;
  }
}

/** Copies whole rows' values from `src` (row k at starts[k]..starts[k + 1]) into `dst` in slot order. */
function moveRowValues<T extends Int32Array | Float64Array>(
  src: T,
  dst: T,
  slot: Uint32Array,
  starts: Int32Array,
  mark: (row: number, value: number) => void,
): T {
  let p = 0;
  for (let j = 0; j < slot.length; j++) {
    if (j % MARK_ROWS === 0) mark(j, p);
    const k = slot[j]!;
    const end = starts[k + 1]!;
    for (let v = starts[k]!; v < end; v++) dst[p++] = src[v]!;
  }
  return dst;
}

abstract class LeafBase {
  /** Values (not level entries) so far. */
  n = 0;
  /** After `permute`: row boundaries as (level entry, value) index pairs, the first at 0. */
  marks: number[] = [];
  /** Value at which each input row starts (repeated leaves only). */
  protected starts: Int32Array | null;
  private rows = 0;

  constructor(
    readonly spec: LeafSpec,
    /** Null for a flat column (no levels: one value per row). */
    readonly levels: Levels | null,
    protected readonly mem: Allocator,
    rowCount: number,
  ) {
    this.starts = levels ? mem.int32(rowCount + 1) : null;
  }

  /** Call before each input row's values (repeated leaves only). */
  startRow(): void {
    this.starts![this.rows++] = this.n;
  }

  /**
   * Reorders the values into file order (row j of file order is the slot[j]-th row pushed; null
   * when pushed in file order), recording marks. A repeated leaf needs its Levels permuted first.
   */
  permute(slot: Uint32Array | null): void {
    const marks: number[] = [];
    const starts = this.starts;
    if (!starts) {
      if (slot) this.gather(slot);
      for (let j = 0; j < this.n; j += MARK_ROWS) marks.push(j, j);
    } else {
      starts[this.rows] = this.n;
      const entries = this.levels!.markEntries;
      const mark = (j: number, value: number) => marks.push(entries[j / MARK_ROWS]!, value);
      if (slot) this.moveRows(slot, starts, mark);
      else for (let j = 0; j < this.rows; j += MARK_ROWS) mark(j, starts[j]!);
    }
    this.marks = marks;
  }

  /** One value per row: value j of file order is value slot[j]. */
  protected abstract gather(slot: Uint32Array): void;

  /** Whole rows' values, calling `mark` at each MARK_ROWS-th row with its first value's index. */
  protected abstract moveRows(
    slot: Uint32Array,
    starts: Int32Array,
    mark: (row: number, value: number) => void,
  ): void;
}

/**
 * A BYTE_ARRAY leaf. Dictionary mode: each distinct string is UTF-8 encoded once into the
 * dictionary page body (PLAIN: 4-byte length + bytes) and values are ids. Plain mode (random ids,
 * free text, or a dictionary that stopped paying): values go straight to PLAIN bytes.
 */
export class StringLeaf extends LeafBase {
  /** True while values are dictionary ids; false once PLAIN (never back). */
  dictionary: boolean;
  ids: Int32Array;
  readonly dict = new Map<string, number>();
  /** The dictionary page body; entry i starts at dictOffsets[i]. */
  readonly dictBytes: ByteBuffer;
  dictOffsets: Int32Array;
  /** PLAIN values (plain mode); value i at plain[offsets[i]..offsets[i + 1]). */
  plain: ByteBuffer;
  offsets: Int32Array;
  /** Value count at which the dictionary is next checked (small integers: a double field would box). */
  private probeAt: number;
  /** Entries past which a dictionary of known final size cannot win. */
  private readonly entryLimit: number;

  /**
   * @param values the leaf's final value count when known (flat columns): the dictionary is then
   * dropped the moment it exceeds what could win; otherwise it is probed at PROBE_VALUES values and
   * each doubling, and dropped once it holds more than half the values so far.
   */
  constructor(
    spec: LeafSpec,
    levels: Levels | null,
    dictionary: boolean,
    capacity: number,
    mem: Allocator,
    rowCount: number,
    private readonly values?: number,
  ) {
    super(spec, levels, mem, rowCount);
    const bytes = (n: number) => mem.bytes(n);
    this.dictionary = dictionary;
    this.ids = mem.int32(dictionary ? Math.max(16, capacity) : 16);
    this.dictBytes = new ByteBuffer(dictionary ? 4096 : 16, bytes);
    this.dictOffsets = mem.int32(dictionary ? 256 : 16);
    this.plain = new ByteBuffer(dictionary ? 16 : capacity * 40, bytes);
    this.offsets = mem.int32(dictionary ? 16 : capacity + 1);
    this.entryLimit = values === undefined ? NEVER : Math.max(64, values / 2);
    this.probeAt = values === undefined ? PROBE_VALUES : NEVER;
  }

  /** The dictionary id of `s`, adding it if new (dictionary mode only). */
  id(s: string): number {
    let id = this.dict.get(s);
    if (id === undefined) {
      id = this.dict.size;
      if (id >= MAX_DICTIONARY) throw new RangeError('dictionary too large');
      this.dict.set(s, id);
      if (id + 1 >= this.dictOffsets.length) {
        this.dictOffsets = moreInt32(this.mem, this.dictOffsets, id + 2);
      }
      this.dictOffsets[id] = this.dictBytes.pos;
      this.dictBytes.lengthPrefixedUtf8(s);
      this.dictOffsets[id + 1] = this.dictBytes.pos;
      // Checked by pushId, once this value is in.
      if (id >= this.entryLimit || this.dictBytes.pos > MAX_DICTIONARY_BYTES) this.probeAt = this.n + 1;
    }
    return id;
  }

  /** Appends a value by id; may end dictionary mode (check `dictionary` before the next id). */
  pushId(id: number): void {
    if (this.n === this.ids.length) this.ids = moreInt32(this.mem, this.ids, this.n + 1);
    this.ids[this.n++] = id;
    if (this.n >= this.probeAt) this.probe();
  }

  push(s: string): void {
    if (this.dictionary) {
      this.pushId(this.id(s));
      return;
    }
    this.plain.lengthPrefixedUtf8(s);
    if (this.n + 1 >= this.offsets.length) {
      this.offsets = moreInt32(this.mem, this.offsets, this.n + 2);
    }
    this.offsets[++this.n] = this.plain.pos;
  }

  private probe(): void {
    const final = this.values;
    if (!dictionaryWins(this.dict.size, this.dictBytes.pos, final ?? this.n)) this.dropDictionary();
    else this.probeAt = final === undefined ? this.n * 2 : NEVER;
  }

  /** Turns the ids so far into PLAIN values and goes on in plain mode. */
  dropDictionary(): void {
    if (!this.dictionary) return;
    this.dictionary = false;
    this.probeAt = NEVER;
    const n = this.n;
    const src = this.dictBytes.bytes;
    const from = this.dictOffsets;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += from[this.ids[i]! + 1]! - from[this.ids[i]!]!;
    const plain = new ByteBuffer(bytes, (k) => this.mem.bytes(k));
    const offsets = this.mem.int32(Math.max(16, n + 1));
    const dst = plain.bytes;
    let p = 0;
    for (let i = 0; i < n; i++) {
      const id = this.ids[i]!;
      const end = from[id + 1]!;
      for (let b = from[id]!; b < end; b++) dst[p++] = src[b]!;
      offsets[i + 1] = p;
    }
    plain.pos = p;
    this.plain = plain;
    this.offsets = offsets;
    this.dict.clear();
    this.dictBytes.reset();
  }

  protected gather(slot: Uint32Array): void {
    if (this.dictionary) {
      const ids = this.mem.int32(Math.max(16, slot.length));
      for (let j = 0; j < slot.length; j++) ids[j] = this.ids[slot[j]!]!;
      this.ids = ids;
      return;
    }
    this.movePlain(slot, null, () => {});
  }

  protected moveRows(
    slot: Uint32Array,
    starts: Int32Array,
    mark: (row: number, value: number) => void,
  ): void {
    if (!this.dictionary) {
      this.movePlain(slot, starts, mark);
      return;
    }
    this.ids = moveRowValues(this.ids, this.mem.int32(Math.max(16, this.n)), slot, starts, mark);
  }

  /** PLAIN bytes by rows (`starts`) or one value per row (null). */
  private movePlain(
    slot: Uint32Array,
    starts: Int32Array | null,
    mark: (row: number, value: number) => void,
  ): void {
    const src = this.plain.bytes;
    const from = this.offsets;
    const plain = new ByteBuffer(this.plain.pos, (k) => this.mem.bytes(k));
    const offsets = this.mem.int32(Math.max(16, this.n + 1));
    const dst = plain.bytes;
    let p = 0;
    let v = 0;
    for (let j = 0; j < slot.length; j++) {
      if (j % MARK_ROWS === 0) mark(j, v);
      const k = slot[j]!;
      const first = starts ? starts[k]! : k;
      const last = starts ? starts[k + 1]! : k + 1;
      for (let i = first; i < last; i++) {
        const end = from[i + 1]!;
        for (let b = from[i]!; b < end; b++) dst[p++] = src[b]!;
        offsets[++v] = p;
      }
    }
    plain.pos = p;
    this.plain = plain;
    this.offsets = offsets;
  }
}

/** A fixed-width leaf (INT32, INT64, DOUBLE, BOOLEAN): values as float64 until written. */
export class NumberLeaf extends LeafBase {
  values: Float64Array;

  constructor(spec: LeafSpec, levels: Levels | null, capacity: number, mem: Allocator, rowCount: number) {
    super(spec, levels, mem, rowCount);
    this.values = mem.float64(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.n === this.values.length) this.values = moreFloat64(this.mem, this.values, this.n + 1);
    this.values[this.n++] = v;
  }

  protected gather(slot: Uint32Array): void {
    const values = this.mem.float64(Math.max(16, slot.length));
    for (let j = 0; j < slot.length; j++) values[j] = this.values[slot[j]!]!;
    this.values = values;
  }

  protected moveRows(
    slot: Uint32Array,
    starts: Int32Array,
    mark: (row: number, value: number) => void,
  ): void {
    this.values = moveRowValues(this.values, this.mem.float64(Math.max(16, this.n)), slot, starts, mark);
  }
}

export type Leaf = StringLeaf | NumberLeaf;
