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
 * Repetition and definition levels of a repeated column, shared by its sibling leaves, and the
 * order its values move in. Only each group's value count is recorded while shredding (a row's
 * list, map or array; or a map inside an item of a nested column's list): every field is
 * REQUIRED, so the levels follow from the counts, and they are written out once, in file order,
 * by `permute`. All arrays come from `mem`: a column's leaves die once written, so the writer
 * hands them a scratch arena that it resets after each column (no garbage, no GC per encode).
 */
export class Levels {
  readonly maxRep: number;
  readonly maxDef: number;
  /** After `permute`: the levels in file order, `n` entries. */
  rep: Uint8Array;
  def: Uint8Array;
  n = 0;
  /** After `permute`: where each input row's values start in input order (then the end)… */
  rowFrom: Int32Array;
  /** …and in file order. */
  rowTo: Int32Array;
  /** After `permute`: (level entry, value) at every MARK_ROWS-th row of file order. */
  marks: number[] = [];
  /** Value at which each group starts (`groups` of them, then the end). */
  starts: Int32Array;
  private groups = 0;
  private empty = 0;

  constructor(
    private readonly mem: Allocator,
    capacity: number,
    /** The list whose items hold these groups (a map in a nested column), or null: one per row. */
    private readonly parent: Levels | null = null,
  ) {
    this.maxRep = this.maxDef = parent ? 2 : 1;
    this.starts = mem.int32(Math.max(16, capacity + 1));
    this.rep = this.def = EMPTY_BYTES;
    this.rowFrom = this.rowTo = EMPTY_INT32;
  }

  /** Ends the next group (a row's, or an item's in input order) with `count` values. */
  endGroup(count: number): void {
    const g = ++this.groups;
    if (g === this.starts.length) this.starts = moreInt32(this.mem, this.starts, g + 1);
    this.starts[g] = this.starts[g - 1]! + count;
    if (count === 0) this.empty++;
  }

  /** Lays out the levels of whole rows in file order: row j of file order is input row slot[j]. */
  permute(slot: Uint32Array): void {
    const starts = this.starts;
    const values = starts[this.groups]!;
    // A REQUIRED-only column: an empty group (or a row without items) is one entry one level short.
    const n = values + this.empty + (this.parent ? this.parent.empty : 0);
    const rep = this.mem.bytes(Math.max(16, n)).fill(this.maxRep, 0, n);
    const def = this.mem.bytes(Math.max(16, n)).fill(this.maxDef, 0, n);
    const rowTo = this.mem.int32(Math.max(16, slot.length));
    const marks: number[] = [];
    let e = 0;
    let v = 0;
    if (!this.parent) {
      for (let j = 0; j < slot.length; j++) {
        if (j % MARK_ROWS === 0) marks.push(e, v);
        const k = slot[j]!;
        const c = starts[k + 1]! - starts[k]!;
        rowTo[k] = v;
        rep[e] = 0;
        if (c === 0) def[e++] = 0;
        else {
          e += c;
          v += c;
        }
      }
      this.rowFrom = starts;
    } else {
      const items = this.parent.starts;
      for (let j = 0; j < slot.length; j++) {
        if (j % MARK_ROWS === 0) marks.push(e, v);
        const k = slot[j]!;
        const first = items[k]!;
        const last = items[k + 1]!;
        rowTo[k] = v;
        if (first === last) {
          rep[e] = 0;
          def[e++] = 0;
          continue;
        }
        for (let g = first; g < last; g++) {
          const c = starts[g + 1]! - starts[g]!;
          rep[e] = g === first ? 0 : 1;
          if (c === 0) def[e++] = 1;
          else {
            e += c;
            v += c;
          }
        }
      }
      // A row's values are those of its items, consecutive in input order too.
      const rowFrom = this.mem.int32(slot.length + 1);
      for (let k = 0; k <= slot.length; k++) rowFrom[k] = starts[items[k]!]!;
      this.rowFrom = rowFrom;
    }
    this.rep = rep;
    this.def = def;
    this.n = n;
    this.rowTo = rowTo;
    this.marks = marks;
  }
}

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_INT32 = new Int32Array(0);

/** Input row k's values src[from[k]..from[k + 1]) to dst at to[k], for `rows` rows. */
function moveInt32Rows(
  src: Int32Array,
  dst: Int32Array,
  from: Int32Array,
  to: Int32Array,
  rows: number,
): Int32Array {
  for (let k = 0; k < rows; k++) {
    let p = to[k]!;
    const end = from[k + 1]!;
    for (let v = from[k]!; v < end; v++) dst[p++] = src[v]!;
  }
  return dst;
}

abstract class LeafBase {
  /** Values (not level entries) so far. */
  n = 0;
  /** After `permute`: row boundaries as (level entry, value) index pairs, the first at 0. */
  marks: number[] = [];

  constructor(
    readonly spec: LeafSpec,
    /** Null for a flat column (no levels: one value per row). */
    readonly levels: Levels | null,
    protected readonly mem: Allocator,
  ) {}

  /**
   * Reorders the values into file order: a flat leaf's by `slot` (value j of file order is value
   * slot[j]), a repeated leaf's by its Levels, permuted first.
   */
  permute(slot: Uint32Array): void {
    const levels = this.levels;
    if (levels) {
      this.moveRows(levels.rowFrom, levels.rowTo, slot);
      this.marks = levels.marks;
      return;
    }
    this.gather(slot);
    this.markFlat();
  }

  /** The marks of a flat leaf whose values are in file order. */
  protected markFlat(): void {
    const marks: number[] = [];
    for (let j = 0; j < this.n; j += MARK_ROWS) marks.push(j, j);
    this.marks = marks;
  }

  /** Value j of file order becomes value slot[j] (one value per row). */
  protected abstract gather(slot: Uint32Array): void;

  /**
   * Moves each input row's values, from[k]..from[k + 1], to file order at to[k]: read in input
   * order, so only the writes jump (a gather in file order missed the cache on every row).
   */
  protected abstract moveRows(from: Int32Array, to: Int32Array, slot: Uint32Array): void;
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
    private readonly values?: number,
  ) {
    super(spec, levels, mem);
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

  /** Takes a flat PLAIN leaf's `n` values, already in file order (instead of push and permute). */
  setPlain(plain: ByteBuffer, offsets: Int32Array, n: number): void {
    this.plain = plain;
    this.offsets = offsets;
    this.n = n;
    this.markFlat();
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
    const from = this.dictOffsets;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += from[this.ids[i]! + 1]! - from[this.ids[i]!]!;
    this.concatRuns(this.dictBytes.bytes, from, this.ids, n, bytes);
    this.dict.clear();
    this.dictBytes.reset();
  }

  protected gather(slot: Uint32Array): void {
    const n = this.n;
    if (this.dictionary) {
      const from = this.ids;
      const ids = this.mem.int32(Math.max(16, n));
      for (let j = 0; j < n; j++) ids[j] = from[slot[j]!]!;
      this.ids = ids;
      return;
    }
    this.concatRuns(this.plain.bytes, this.offsets, slot, n, this.plain.pos);
  }

  /**
   * Makes the PLAIN values the byte runs `pick[0..n)` of `src` (run i is `at[i]` to `at[i + 1]`),
   * one after another; `bytes` is their total length.
   */
  private concatRuns(
    src: Uint8Array,
    at: Int32Array,
    pick: ArrayLike<number>,
    n: number,
    bytes: number,
  ): void {
    const plain = new ByteBuffer(bytes, (k) => this.mem.bytes(k));
    const offsets = this.mem.int32(Math.max(16, n + 1));
    const dst = plain.bytes;
    let p = 0;
    for (let j = 0; j < n; j++) {
      const i = pick[j]!;
      const end = at[i + 1]!;
      for (let a = at[i]!; a < end; a++) dst[p++] = src[a]!;
      offsets[j + 1] = p;
    }
    plain.pos = p;
    this.plain = plain;
    this.offsets = offsets;
  }

  protected moveRows(from: Int32Array, to: Int32Array, slot: Uint32Array): void {
    const rows = slot.length;
    if (this.dictionary) {
      this.ids = moveInt32Rows(this.ids, this.mem.int32(Math.max(16, this.n)), from, to, rows);
      return;
    }
    // A row's PLAIN values are consecutive bytes too: each row's byte start in file order first.
    const src = this.plain.bytes;
    const offsets = this.offsets;
    const byteTo = this.mem.int32(Math.max(16, rows));
    let b = 0;
    for (let j = 0; j < rows; j++) {
      const k = slot[j]!;
      byteTo[k] = b;
      b += offsets[from[k + 1]!]! - offsets[from[k]!]!;
    }
    const plain = new ByteBuffer(b, (size) => this.mem.bytes(size));
    const moved = this.mem.int32(Math.max(16, this.n + 1));
    const dst = plain.bytes;
    for (let k = 0; k < rows; k++) {
      const first = from[k]!;
      const last = from[k + 1]!;
      const begin = offsets[first]!;
      const shift = byteTo[k]! - begin;
      let p = to[k]!;
      for (let v = first; v < last; v++) moved[++p] = offsets[v + 1]! + shift;
      let d = byteTo[k]!;
      const end = offsets[last]!;
      for (let a = begin; a < end; a++) dst[d++] = src[a]!;
    }
    plain.pos = b;
    this.plain = plain;
    this.offsets = moved;
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A fixed-width leaf (INT32, INT64, DOUBLE, BOOLEAN): values as float64 until written. A uint64
 * leaf keeps values past 2^53 (never negative otherwise) exactly in `wide`, its slot in `values`
 * holding -(index + 1): the values move between slots as doubles, and small negative integers
 * move exactly, so the common small case costs nothing extra.
 */
export class NumberLeaf extends LeafBase {
  values: Float64Array;
  readonly wide: bigint[] = [];

  constructor(spec: LeafSpec, levels: Levels | null, capacity: number, mem: Allocator) {
    super(spec, levels, mem);
    this.values = mem.float64(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.n === this.values.length) this.values = moreFloat64(this.mem, this.values, this.n + 1);
    this.values[this.n++] = v;
  }

  /** A model uint64 (schema/columns.ts: a number below 2^53, else a decimal string). */
  pushUint64(v: unknown): void {
    if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) {
      this.push(v);
      return;
    }
    let b: bigint;
    try {
      b = BigInt(typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? v : 0);
    } catch {
      throw new RangeError(`not a uint64: ${JSON.stringify(v)}`);
    }
    if (b < 0n || b > 0xffffffffffffffffn) throw new RangeError(`not a uint64: ${String(v)}`);
    if (b <= MAX_SAFE) this.push(Number(b));
    else {
      this.wide.push(b);
      this.push(-this.wide.length);
    }
  }

  protected gather(slot: Uint32Array): void {
    const n = this.n;
    const from = this.values;
    const values = this.mem.float64(Math.max(16, n));
    for (let j = 0; j < n; j++) values[j] = from[slot[j]!]!;
    this.values = values;
  }

  protected moveRows(from: Int32Array, to: Int32Array, slot: Uint32Array): void {
    const src = this.values;
    const dst = this.mem.float64(Math.max(16, this.n));
    for (let k = 0; k < slot.length; k++) {
      let p = to[k]!;
      const end = from[k + 1]!;
      for (let v = from[k]!; v < end; v++) dst[p++] = src[v]!;
    }
    this.values = dst;
  }
}

export type Leaf = StringLeaf | NumberLeaf;
