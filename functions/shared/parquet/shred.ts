import type { Column } from '../schema/columns.js';
import type { Allocator } from './arena.js';
import { ByteBuffer } from './byte-buffer.js';
import { type Leaf, Levels, NumberLeaf, StringLeaf } from './leaves.js';
import type { LeafKind, LeafSpec } from './parquet-schema.js';
import type { RowRange } from './row-order.js';
import { nanosToMicros } from './timestamps.js';

/**
 * Dremel shredding of model values (schema/columns.ts) into leaf columns: repetition and
 * definition levels for maps, arrays and nested LIST<STRUCT<…, MAP>> columns, values in file
 * order. Every field of the schema is REQUIRED, so definition levels only count repeated
 * ancestors: an empty map or list is one entry one level short of its leaves.
 *
 * Rows are read in input order (the order their values sit in memory) and the leaves then
 * permuted into file order (leaves.ts).
 */

const asString = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));

const toNumber = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

const toBool = (v: unknown): number => (v === true || v === 1 ? 1 : 0);

/** Converter of a model value to the number a fixed-width leaf stores. */
function numberOf(kind: LeafKind): (v: unknown) => number {
  if (kind === 'timestamp') return nanosToMicros;
  if (kind === 'bool') return toBool;
  // 'NaN' | 'Infinity' | '-Infinity' arrive as strings (JSON has no non-finite numbers).
  return toNumber;
}

/** Whether a string leaf should be dictionary-encoded (by its model field name). */
export type DictionaryPolicy = (fieldName: string) => boolean;

function newLeaf(
  spec: LeafSpec,
  levels: Levels | null,
  dictionary: boolean,
  capacity: number,
  mem: Allocator,
  rowCount: number,
): Leaf {
  // A flat leaf has one value per row: its dictionary can be judged against the final count.
  return spec.kind === 'string'
    ? new StringLeaf(spec, levels, dictionary, capacity, mem, levels ? undefined : rowCount)
    : new NumberLeaf(spec, levels, capacity, mem);
}

/**
 * Appends `s` at entry `c`: with the previous map's id when its entry `c` was the same string.
 * The cache is only read in dictionary mode, which a leaf never returns to.
 */
function pushCached(leaf: StringLeaf, strings: string[], ids: number[], c: number, s: string): void {
  if (!leaf.dictionary) {
    leaf.push(s);
    return;
  }
  if (strings[c] !== s) {
    strings[c] = s;
    ids[c] = leaf.id(s);
  }
  leaf.pushId(ids[c]!);
}

/**
 * The keys and values of maps into two dictionary leaves. Rows of one resource or scope repeat
 * the previous row's keys (and often values): an entry equal to the previous map's entry at the
 * same position reuses its dictionary id without a hash lookup, and the very same map object
 * (resource attributes shared by a resource's spans) reuses them all.
 */
class MapShredder {
  private prevMap: unknown;
  private prevCount = 0;
  private readonly keys: string[] = [];
  private readonly keyIds: number[] = [];
  private readonly vals: string[] = [];
  private readonly valIds: number[] = [];
  readonly keyLeaf: StringLeaf;
  readonly valueLeaf: StringLeaf;

  constructor(
    /** One group per map. */
    private readonly levels: Levels,
    specs: readonly LeafSpec[],
    capacity: number,
    mem: Allocator,
  ) {
    this.keyLeaf = new StringLeaf(specs[0]!, levels, true, capacity, mem);
    this.valueLeaf = new StringLeaf(specs[1]!, levels, true, capacity, mem);
  }

  permute(slot: Uint32Array): void {
    this.levels.permute(slot);
    this.keyLeaf.permute(slot);
    this.valueLeaf.permute(slot);
  }

  /** One map (the next group of the levels). */
  add(m: unknown): void {
    const { keyLeaf, valueLeaf } = this;
    if (m === this.prevMap && this.prevCount > 0 && keyLeaf.dictionary && valueLeaf.dictionary) {
      for (let c = 0; c < this.prevCount; c++) {
        keyLeaf.pushId(this.keyIds[c]!);
        valueLeaf.pushId(this.valIds[c]!);
      }
      this.levels.endGroup(this.prevCount);
      return;
    }
    let c = 0;
    if (m !== null && typeof m === 'object') {
      const rec = m as Record<string, unknown>;
      for (const k in rec) {
        pushCached(keyLeaf, this.keys, this.keyIds, c, k);
        pushCached(valueLeaf, this.vals, this.valIds, c, asString(rec[k]));
        c++;
      }
    }
    this.levels.endGroup(c);
    this.prevMap = m;
    this.prevCount = c;
  }
}

/**
 * A flat PLAIN string leaf (random ids, free text) written straight into file order while its
 * strings are read in input order (the order they sit in memory): lengths first, then each
 * string's bytes at its final place. Reading in file order was a cache miss per string, and
 * moving the bytes afterwards cost more than encoding them. Takes every string as ASCII (one byte
 * per UTF-16 code unit), as ids are; false at the first that is not, leaving the leaf as it was.
 */
function plainInFileOrder(
  leaf: StringLeaf,
  values: readonly unknown[],
  range: RowRange,
  mem: Allocator,
): boolean {
  const { rows, slot } = range;
  const n = rows.length;
  // Per input row: its length, then where its entry starts.
  const at = mem.int32(Math.max(16, n));
  for (let k = 0; k < n; k++) at[k] = asString(values[rows[k]!]).length;
  const offsets = mem.int32(Math.max(16, n + 1));
  let total = 0;
  for (let j = 0; j < n; j++) {
    const k = slot[j]!;
    const len = at[k]!;
    at[k] = total;
    total += 4 + len;
    offsets[j + 1] = total;
  }
  const plain = new ByteBuffer(total, (size) => mem.bytes(size));
  const b = plain.bytes;
  for (let k = 0; k < n; k++) {
    const s = asString(values[rows[k]!]);
    const len = s.length;
    let p = at[k]!;
    b[p] = len;
    b[p + 1] = len >>> 8;
    b[p + 2] = len >>> 16;
    b[p + 3] = len >>> 24;
    p += 4;
    for (let i = 0; i < len; i++) {
      const code = s.charCodeAt(i);
      if (code > 0x7f) return false;
      b[p++] = code;
    }
  }
  plain.pos = total;
  leaf.setPlain(plain, offsets, n);
  return true;
}

function shredFlat(
  leaf: Leaf,
  values: readonly unknown[],
  range: RowRange,
  micros: Float64Array | undefined,
  mem: Allocator,
  absent: number | undefined,
): void {
  const { rows, slot } = range;
  const n = rows.length;
  if (leaf instanceof NumberLeaf) {
    if (micros) for (let k = 0; k < n; k++) leaf.push(micros[rows[k]!]!);
    else if (leaf.spec.kind === 'uint64')
      for (let k = 0; k < n; k++) leaf.pushUint64(values[rows[k]!] ?? absent);
    else if (absent !== undefined) {
      // A column with its own absent value (SampleRate: 1) where a batch lacks it: that value, as
      // ClickHouse's DEFAULT and the Parquet reader give, not the type's 0.
      const conv = numberOf(leaf.spec.kind);
      for (let k = 0; k < n; k++) {
        const v = values[rows[k]!];
        leaf.push(v === undefined ? absent : conv(v));
      }
    } else {
      const conv = numberOf(leaf.spec.kind);
      for (let k = 0; k < n; k++) leaf.push(conv(values[rows[k]!]));
    }
  } else if (!leaf.dictionary && plainInFileOrder(leaf, values, range, mem)) {
    return;
  } else {
    // Repeats (service, scope, span name) reuse the previous id without a lookup.
    let prev: string | undefined;
    let prevId = 0;
    for (let k = 0; k < n; k++) {
      const s = asString(values[rows[k]!]);
      if (!leaf.dictionary) leaf.push(s);
      else {
        if (s !== prev) {
          prevId = leaf.id(s);
          prev = s;
        }
        leaf.pushId(prevId);
      }
    }
  }
  leaf.permute(slot);
}

function shredMap(
  specs: readonly LeafSpec[],
  values: readonly unknown[],
  range: RowRange,
  mem: Allocator,
): Leaf[] {
  const { rows, slot } = range;
  const n = rows.length;
  const maps = new MapShredder(new Levels(mem, n), specs, n * 8, mem);
  for (let k = 0; k < n; k++) maps.add(values[rows[k]!]);
  maps.permute(slot);
  return [maps.keyLeaf, maps.valueLeaf];
}

function shredArray(spec: LeafSpec, values: readonly unknown[], range: RowRange, mem: Allocator): Leaf[] {
  const { rows, slot } = range;
  const n = rows.length;
  const levels = new Levels(mem, n);
  const leaf = new NumberLeaf(spec, levels, n * 4, mem);
  const conv = numberOf(spec.kind);
  const wide = spec.kind === 'uint64';
  for (let k = 0; k < n; k++) {
    const arr = values[rows[k]!];
    const len = Array.isArray(arr) ? arr.length : 0;
    if (wide) for (let t = 0; t < len; t++) leaf.pushUint64((arr as unknown[])[t]);
    else for (let t = 0; t < len; t++) leaf.push(conv((arr as unknown[])[t]));
    levels.endGroup(len);
  }
  levels.permute(slot);
  leaf.permute(slot);
  return [leaf];
}

/** A field of a nested column: a scalar leaf, or the two leaves of a map. */
type NestedField =
  | { readonly kind: 'scalar'; readonly leaf: Leaf; readonly conv: (v: unknown) => number }
  | { readonly kind: 'map'; readonly maps: MapShredder };

/**
 * LIST<STRUCT<fields>> from one physical column per field (`Events.Name`, …), each value an array
 * with one element per item. The first field's array gives each row's item count; a shorter
 * array of another field reads as absent ('' or 0), as in the Arrow writer.
 */
function shredNested(
  col: Extract<Column, { type: 'nested' }>,
  specs: readonly LeafSpec[],
  fieldValues: readonly (readonly unknown[])[],
  range: RowRange,
  dictionary: DictionaryPolicy,
  mem: Allocator,
): Leaf[] {
  const { rows, slot } = range;
  const n = rows.length;
  const list = new Levels(mem, n);
  const fields: NestedField[] = [];
  const leaves: Leaf[] = [];
  let s = 0;
  for (const f of col.fields) {
    if (f.type === 'map') {
      const maps = new MapShredder(new Levels(mem, 256, list), specs.slice(s, s + 2), 256, mem);
      fields.push({ kind: 'map', maps });
      leaves.push(maps.keyLeaf, maps.valueLeaf);
      s += 2;
    } else {
      const spec = specs[s++]!;
      const leaf = newLeaf(spec, list, dictionary(f.name), 256, mem, n);
      fields.push({ kind: 'scalar', leaf, conv: numberOf(spec.kind) });
      leaves.push(leaf);
    }
  }
  const first = fieldValues[0] ?? [];
  for (let r = 0; r < n; r++) {
    const row = rows[r]!;
    const a = first[row];
    const k = Array.isArray(a) ? a.length : 0;
    list.endGroup(k);
    if (k === 0) continue;
    for (let fi = 0; fi < fields.length; fi++) {
      const f = fields[fi]!;
      const arr = fieldValues[fi]?.[row];
      const items = Array.isArray(arr) ? (arr as unknown[]) : [];
      if (f.kind === 'map') {
        for (let t = 0; t < k; t++) f.maps.add(items[t]);
      } else if (f.leaf instanceof StringLeaf) {
        for (let t = 0; t < k; t++) f.leaf.push(asString(items[t]));
      } else if (f.leaf.spec.kind === 'uint64') {
        for (let t = 0; t < k; t++) f.leaf.pushUint64(items[t]);
      } else {
        for (let t = 0; t < k; t++) f.leaf.push(f.conv(items[t]));
      }
    }
  }
  list.permute(slot);
  for (const f of fields) {
    if (f.kind === 'map') f.maps.permute(slot);
    else f.leaf.permute(slot);
  }
  return leaves;
}

/**
 * The leaves of one column for one row group, in schema order and file order. `input(name)` gives
 * a physical column's values in input order; `micros` is the time column already converted (for
 * the sort), also in input order.
 */
export function shredColumn(
  col: Column,
  specs: readonly LeafSpec[],
  input: (name: string) => readonly unknown[],
  rows: RowRange,
  dictionary: DictionaryPolicy,
  mem: Allocator,
  micros?: Float64Array,
): Leaf[] {
  if (col.type === 'nested') {
    return shredNested(
      col,
      specs,
      col.fields.map((f) => input(`${col.name}.${f.name}`)),
      rows,
      dictionary,
      mem,
    );
  }
  const values = input(col.name);
  if (col.type === 'map') return shredMap(specs, values, rows, mem);
  if (col.type === 'array_float64' || col.type === 'array_uint64') {
    return shredArray(specs[0]!, values, rows, mem);
  }
  const leaf = newLeaf(specs[0]!, null, dictionary(col.name), rows.rows.length, mem, rows.rows.length);
  shredFlat(leaf, values, rows, micros, mem, col.absent);
  return [leaf];
}
