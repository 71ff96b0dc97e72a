import type { ColumnBatch } from '../rows/batch.js';
import { TABLES, type TableName } from '../schema/columns.js';
import { nanosToMicros, subMicroNanos } from './timestamps.js';

/**
 * The row order of a lake file (ServiceName, then event time, then arrival), shared by the
 * Parquet writer and the parquet-wasm baseline writer (test/support/parquet-wasm/wasm-writer.ts).
 */

/** The non-empty batches of a file and their total row count. */
export interface RowIndex {
  readonly parts: readonly ColumnBatch[];
  readonly total: number;
}

/** Values of a physical column in input order (batches concatenated). */
export function inputValues(rows: RowIndex, name: string): readonly unknown[] {
  if (rows.parts.length === 1) return rows.parts[0]!.columns[name] ?? [];
  const out: unknown[] = new Array(rows.total);
  let k = 0;
  for (const b of rows.parts) {
    const col = b.columns[name];
    for (let i = 0; i < b.rowCount; i++) out[k++] = col?.[i];
  }
  return out;
}

const TWO_32 = 4294967296;
const RADIX_BITS = 11;
const RADIX = 1 << RADIX_BITS;
const RADIX_MASK = RADIX - 1;
/** (word, shift) of each digit: lo bits 0-10, 11-21, 22-31, then hi bits 0-10, 11-20. */
const RADIX_PASSES: readonly (readonly [0 | 1, number])[] = [
  [0, 0],
  [0, 11],
  [0, 22],
  [1, 0],
  [1, 11],
];

/**
 * Stable LSD radix sort of row indices by non-negative integer keys below 2^53, 11 bits per pass,
 * skipping passes whose digit is the same for every key. A comparator sort of 50k rows took
 * ~10 % of the whole encode; this takes a few passes over typed arrays.
 */
function radixOrder(key: Float64Array): Uint32Array {
  const n = key.length;
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const h = Math.floor(key[i]! / TWO_32);
    hi[i] = h;
    lo[i] = key[i]! - h * TWO_32;
  }
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let next = new Uint32Array(n);
  const counts = new Uint32Array(RADIX);
  for (const [word, shift] of RADIX_PASSES) {
    const digits = word === 0 ? lo : hi;
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(digits[i]! >>> shift) & RADIX_MASK]!++;
    if (counts[(digits[0]! >>> shift) & RADIX_MASK] === n) continue;
    let sum = 0;
    for (let d = 0; d < RADIX; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const g = order[i]!;
      next[counts[(digits[g]! >>> shift) & RADIX_MASK]!++] = g;
    }
    const done = next;
    next = order;
    order = done;
  }
  return order;
}

/**
 * Row order of the file: ServiceName, then event time (µs, then the ns digits below), then arrival
 * order, which is deterministic for the same input, so a retried batch writes the same bytes.
 * One integer key per row when it fits in 2^53 (always, for hours of data and thousands of
 * services), radix-sorted; otherwise a comparator sort on the three parts.
 */
export function sortOrder(table: TableName, rows: RowIndex): { order: Uint32Array; micros: Float64Array } {
  const n = rows.total;
  const services = inputValues(rows, 'ServiceName');
  const times = inputValues(rows, TABLES[table].timeColumn);
  const micros = new Float64Array(n);
  const sub = new Uint16Array(n);
  const rank = new Uint32Array(n);
  const ranks = new Map<string, number>();
  let tMin = Number.POSITIVE_INFINITY;
  let tMax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const s = services[i];
    const name = typeof s === 'string' ? s : '';
    let r = ranks.get(name);
    if (r === undefined) {
      r = ranks.size;
      ranks.set(name, r);
    }
    rank[i] = r;
    const t = times[i];
    const us = nanosToMicros(t);
    micros[i] = us;
    sub[i] = subMicroNanos(t);
    if (us < tMin) tMin = us;
    if (us > tMax) tMax = us;
  }
  // Ranks in first-seen order -> ranks in string (UTF-16 code unit) order.
  const sortedRank = new Uint32Array(ranks.size);
  [...ranks.keys()].sort().forEach((name, i) => {
    sortedRank[ranks.get(name)!] = i;
  });
  for (let i = 0; i < n; i++) rank[i] = sortedRank[rank[i]!]!;
  if (n === 0) return { order: new Uint32Array(0), micros };
  const span = tMax - tMin + 1;
  if (ranks.size * span * 1000 < Number.MAX_SAFE_INTEGER) {
    const key = new Float64Array(n);
    for (let i = 0; i < n; i++) key[i] = (rank[i]! * span + (micros[i]! - tMin)) * 1000 + sub[i]!;
    return { order: radixOrder(key), micros };
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => rank[a]! - rank[b]! || micros[a]! - micros[b]! || sub[a]! - sub[b]! || a - b);
  return { order, micros };
}

/** The rows of one row group. */
export interface RowRange {
  /** Its input rows, ascending: the order the shredder reads them in (memory order). */
  readonly rows: Uint32Array;
  /** Its j-th row in file order is rows[slot[j]]. */
  readonly slot: Uint32Array;
}

/** Splits rows in file `order` into row groups of `size` rows. */
export function rowGroups(order: Uint32Array, size: number): RowRange[] {
  const n = order.length;
  if (n === 0) return [];
  if (n <= size) {
    const rows = new Uint32Array(n);
    for (let i = 0; i < n; i++) rows[i] = i;
    return [{ rows, slot: order }];
  }
  // position[i]: where input row i lands in file order; a stable counting sort by group then
  // lists each group's input rows in ascending order.
  const position = new Uint32Array(n);
  for (let j = 0; j < n; j++) position[order[j]!] = j;
  const count = Math.ceil(n / size);
  const cursor = new Uint32Array(count);
  for (let g = 0; g < count; g++) cursor[g] = g * size;
  const all = new Uint32Array(n);
  for (let i = 0; i < n; i++) all[cursor[Math.floor(position[i]! / size)]!++] = i;
  const groups: RowRange[] = [];
  for (let from = 0; from < n; from += size) {
    const rows = all.subarray(from, Math.min(n, from + size));
    const slot = new Uint32Array(rows.length);
    for (let k = 0; k < rows.length; k++) slot[position[rows[k]!]! - from] = k;
    groups.push({ rows, slot });
  }
  return groups;
}

/** The non-empty batches of `table` and their total row count (throws on another table's batch). */
export function rowIndex(
  table: TableName,
  batches: readonly ColumnBatch[],
  fail: (msg: string) => Error,
): RowIndex {
  const parts = batches.filter((b) => b.rowCount > 0);
  for (const b of parts) {
    if (b.table !== table) throw fail(`a ${b.table} batch cannot go into a ${table} file`);
  }
  return { parts, total: parts.reduce((n, b) => n + b.rowCount, 0) };
}
