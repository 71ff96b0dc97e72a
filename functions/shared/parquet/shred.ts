import type { Column } from '../schema/columns.js';
import type { Allocator } from './arena.js';
import { type Leaf, Levels, MARK_ROWS, NumberLeaf, StringLeaf } from './leaves.js';
import type { LeafKind, LeafSpec } from './parquet-schema.js';
import { nanosToMicros } from './timestamps.js';

/**
 * Dremel shredding of model values (schema/columns.ts) into leaf columns: repetition and
 * definition levels for maps, arrays and nested LIST<STRUCT<…, MAP>> columns, values in file
 * order. Every field of the schema is REQUIRED, so definition levels only count repeated
 * ancestors: an empty map or list is one entry one level short of its leaves.
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

/** Rows of one row group: `order[r0..r1)` index the input values of every column. */
export interface RowRange {
  readonly order: Uint32Array;
  readonly from: number;
  readonly to: number;
}

/** Whether a string leaf should be dictionary-encoded (by its model field name). */
export type DictionaryPolicy = (fieldName: string) => boolean;

function newLeaf(
  spec: LeafSpec,
  levels: Levels | null,
  dictionary: boolean,
  capacity: number,
  mem: Allocator,
): Leaf {
  return spec.kind === 'string'
    ? new StringLeaf(spec, levels, dictionary, capacity, mem)
    : new NumberLeaf(spec, levels, capacity, mem);
}

/** The id of `s` at entry `c`: the previous map's id when its entry `c` was the same string. */
function cachedId(leaf: StringLeaf, strings: string[], ids: number[], c: number, s: string): number {
  if (strings[c] === s) return ids[c]!;
  const id = leaf.id(s);
  strings[c] = s;
  ids[c] = id;
  return id;
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

  constructor(
    private readonly levels: Levels,
    readonly keyLeaf: StringLeaf,
    readonly valueLeaf: StringLeaf,
    /** Definition (= repetition) level of an entry: 1 for a column, 2 inside a list. */
    private readonly depth: number,
  ) {}

  /** The entry of a row whose enclosing list is empty (no item, so no map). */
  noParent(): void {
    this.levels.push(0, 0);
  }

  /** One map; its first entry gets repetition level `firstRep`. */
  add(m: unknown, firstRep: number): void {
    const { levels, keyLeaf, valueLeaf, depth } = this;
    if (m === this.prevMap && this.prevCount > 0) {
      for (let c = 0; c < this.prevCount; c++) {
        levels.push(c === 0 ? firstRep : depth, depth);
        keyLeaf.pushId(this.keyIds[c]!);
        valueLeaf.pushId(this.valIds[c]!);
      }
      return;
    }
    let c = 0;
    if (m !== null && typeof m === 'object') {
      const rec = m as Record<string, unknown>;
      for (const k in rec) {
        const v = asString(rec[k]);
        levels.push(c === 0 ? firstRep : depth, depth);
        keyLeaf.pushId(cachedId(keyLeaf, this.keys, this.keyIds, c, k));
        valueLeaf.pushId(cachedId(valueLeaf, this.vals, this.valIds, c, v));
        c++;
      }
    }
    if (c === 0) levels.push(firstRep, depth - 1);
    this.prevMap = m;
    this.prevCount = c;
  }
}

function mapLeaves(
  specs: readonly LeafSpec[],
  levels: Levels,
  depth: number,
  capacity: number,
  mem: Allocator,
): MapShredder {
  const [keySpec, valueSpec] = specs as [LeafSpec, LeafSpec];
  return new MapShredder(
    levels,
    new StringLeaf(keySpec, levels, true, capacity, mem),
    new StringLeaf(valueSpec, levels, true, capacity, mem),
    depth,
  );
}

function shredFlat(
  leaf: Leaf,
  values: readonly unknown[],
  rows: RowRange,
  micros: Float64Array | undefined,
): void {
  const { order, from, to } = rows;
  if (leaf instanceof NumberLeaf) {
    const conv = numberOf(leaf.spec.kind);
    for (let j = from; j < to; j++) {
      if ((j - from) % MARK_ROWS === 0) leaf.mark();
      const i = order[j]!;
      leaf.push(micros ? micros[i]! : conv(values[i]));
    }
    return;
  }
  if (!leaf.dictionary) {
    for (let j = from; j < to; j++) {
      if ((j - from) % MARK_ROWS === 0) leaf.mark();
      leaf.push(asString(values[order[j]!]));
    }
    return;
  }
  // Sorted rows repeat values run after run (service, scope, span name): no lookup for a repeat.
  let prev: string | undefined;
  let prevId = 0;
  for (let j = from; j < to; j++) {
    if ((j - from) % MARK_ROWS === 0) leaf.mark();
    const s = asString(values[order[j]!]);
    if (s !== prev) {
      prevId = leaf.id(s);
      prev = s;
    }
    leaf.pushId(prevId);
  }
}

function shredMap(
  specs: readonly LeafSpec[],
  values: readonly unknown[],
  rows: RowRange,
  mem: Allocator,
): Leaf[] {
  const { order, from, to } = rows;
  const levels = new Levels(1, 1, mem, (to - from) * 8);
  const maps = mapLeaves(specs, levels, 1, (to - from) * 8, mem);
  for (let j = from; j < to; j++) {
    if ((j - from) % MARK_ROWS === 0) {
      maps.keyLeaf.mark();
      maps.valueLeaf.mark();
    }
    maps.add(values[order[j]!], 0);
  }
  return [maps.keyLeaf, maps.valueLeaf];
}

function shredArray(spec: LeafSpec, values: readonly unknown[], rows: RowRange, mem: Allocator): Leaf[] {
  const { order, from, to } = rows;
  const levels = new Levels(1, 1, mem, (to - from) * 4);
  const leaf = new NumberLeaf(spec, levels, (to - from) * 4, mem);
  const conv = numberOf(spec.kind);
  for (let j = from; j < to; j++) {
    if ((j - from) % MARK_ROWS === 0) leaf.mark();
    const arr = values[order[j]!];
    const k = Array.isArray(arr) ? arr.length : 0;
    if (k === 0) levels.push(0, 0);
    for (let t = 0; t < k; t++) {
      levels.push(t === 0 ? 0 : 1, 1);
      leaf.push(conv((arr as unknown[])[t]));
    }
  }
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
  rows: RowRange,
  dictionary: DictionaryPolicy,
  mem: Allocator,
): Leaf[] {
  const { order, from, to } = rows;
  const list = new Levels(1, 1, mem, to - from);
  const fields: NestedField[] = [];
  const leaves: Leaf[] = [];
  let s = 0;
  for (const f of col.fields) {
    if (f.type === 'map') {
      const maps = mapLeaves(specs.slice(s, s + 2), new Levels(2, 2, mem, to - from), 2, 256, mem);
      fields.push({ kind: 'map', maps });
      leaves.push(maps.keyLeaf, maps.valueLeaf);
      s += 2;
    } else {
      const spec = specs[s++]!;
      const leaf = newLeaf(spec, list, dictionary(f.name), 256, mem);
      fields.push({ kind: 'scalar', leaf, conv: numberOf(spec.kind) });
      leaves.push(leaf);
    }
  }
  const first = fieldValues[0] ?? [];
  for (let j = from; j < to; j++) {
    if ((j - from) % MARK_ROWS === 0) for (const leaf of leaves) leaf.mark();
    const row = order[j]!;
    const a = first[row];
    const k = Array.isArray(a) ? a.length : 0;
    if (k === 0) {
      list.push(0, 0);
      for (const f of fields) if (f.kind === 'map') f.maps.noParent();
      continue;
    }
    for (let t = 0; t < k; t++) list.push(t === 0 ? 0 : 1, 1);
    for (let fi = 0; fi < fields.length; fi++) {
      const f = fields[fi]!;
      const arr = fieldValues[fi]?.[row];
      const items = Array.isArray(arr) ? (arr as unknown[]) : [];
      if (f.kind === 'map') {
        for (let t = 0; t < k; t++) f.maps.add(items[t], t === 0 ? 0 : 1);
      } else if (f.leaf instanceof StringLeaf) {
        for (let t = 0; t < k; t++) f.leaf.push(asString(items[t]));
      } else {
        for (let t = 0; t < k; t++) f.leaf.push(f.conv(items[t]));
      }
    }
  }
  return leaves;
}

/**
 * The leaves of one column for one row group, in schema order. `input(name)` gives a physical
 * column's values in input order; `micros` is the time column already converted (for the sort).
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
  const leaf = newLeaf(specs[0]!, null, dictionary(col.name), rows.to - rows.from, mem);
  shredFlat(leaf, values, rows, micros);
  return [leaf];
}
