import {
  type List,
  makeData,
  RecordBatch,
  Struct,
  type Struct as StructType,
  Table,
  tableToIPC,
} from 'apache-arrow';
import {
  Compression,
  EnabledStatistics,
  Table as WasmTable,
  type WriterProperties,
  WriterPropertiesBuilder,
  writeParquet,
} from 'parquet-wasm';
import type { ColumnBatch } from '../rows/batch.js';
import { TABLES, type TableName } from '../schema/columns.js';
import { Arena } from './arena.js';
import { arrowSchema } from './arrow-schema.js';
import {
  int64Data,
  nanosToMicros,
  nestedData,
  scalarData,
  subMicroNanos,
  withAllocator,
} from './column-builders.js';

export interface ParquetWriteOptions {
  /**
   * Rows per row group. Rows are sorted by ServiceName then time, so each row group covers a narrow
   * range of both and readers skip the rest by its min/max statistics.
   * @default 131072
   */
  readonly maxRowGroupRows?: number;
}

export class ParquetWriteError extends Error {
  override readonly name = 'ParquetWriteError';
}

export const DEFAULT_ROW_GROUP_ROWS = 131_072;

/**
 * Top-level string columns of random ids and free text: no statistics (their page ranges span
 * nearly everything, so they never let a reader skip) and no dictionary (nearly every value is
 * new, so it only costs hashing until it overflows).
 */
const HIGH_CARDINALITY = new Set([
  'TraceId',
  'SpanId',
  'ParentSpanId',
  'TraceState',
  'StatusMessage',
  'Body',
]);

/**
 * Writer properties of a table. Measured on 50k realistic spans (bench/parquet.ts), wasm writer
 * time and file size:
 * - dictionaries on every column (the default): 0.45 s, 55.1 bytes/span; off everywhere: 0.30 s,
 *   51.8: zstd already folds the repeated map keys and values of sorted rows, and dictionaries of
 *   random ids overflow and fall back anyway;
 * - min/max statistics on every leaf cost ~20 % of the writer, mostly the map strings', which no
 *   engine uses to skip;
 * - dictionaries back on for the low-cardinality top-level strings: same time, 49.9 bytes/span
 *   (and engines can prune by dictionary).
 * parquet-wasm addresses a column by a single path segment, so only top-level columns can be set
 * one by one; the global defaults are therefore the "off" side.
 */
export function writerProperties(table: TableName, maxRowGroupRows: number): WriterProperties {
  let b = new WriterPropertiesBuilder()
    .setCompression(Compression.ZSTD)
    .setDictionaryEnabled(false)
    .setStatisticsEnabled(EnabledStatistics.None)
    .setMaxRowGroupSize(maxRowGroupRows)
    .setCreatedBy('otlp-pipeline lake writer');
  for (const col of TABLES[table].columns) {
    if (col.type === 'nested' || col.type === 'map' || col.type.startsWith('array_')) continue;
    if (HIGH_CARDINALITY.has(col.name)) continue;
    b = b.setColumnStatisticsEnabled(col.name, EnabledStatistics.Page);
    if (col.type === 'string' || col.type === 'lowcard') b = b.setColumnDictionaryEnabled(col.name, true);
  }
  return b.build();
}

/** The non-empty batches of a file and their total row count. */
interface RowIndex {
  readonly parts: readonly ColumnBatch[];
  readonly total: number;
}

/** Values of a physical column in input order (batches concatenated). */
function inputValues(rows: RowIndex, name: string): readonly unknown[] {
  if (rows.parts.length === 1) return rows.parts[0]!.columns[name] ?? [];
  const out: unknown[] = new Array(rows.total);
  let k = 0;
  for (const b of rows.parts) {
    const col = b.columns[name];
    for (let i = 0; i < b.rowCount; i++) out[k++] = col?.[i];
  }
  return out;
}

/** Values of a physical column in file order. */
function gather(rows: RowIndex, order: Uint32Array, name: string): unknown[] {
  // Concatenating first keeps both loops monomorphic over one array (a lookup through a
  // (batch, row) index per value cost several times more with envelope-sized batches).
  const input = inputValues(rows, name);
  const out: unknown[] = new Array(order.length);
  for (let j = 0; j < order.length; j++) out[j] = input[order[j]!];
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
function sortOrder(table: TableName, rows: RowIndex): { order: Uint32Array; micros: Float64Array } {
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

/** Builds the Arrow table of `batches` (all of `table`), rows in file order. */
export function toArrowTable(table: TableName, batches: readonly ColumnBatch[]): Table {
  const schema = arrowSchema(table);
  const parts = batches.filter((b) => b.rowCount > 0);
  for (const b of parts) {
    if (b.table !== table) throw new ParquetWriteError(`a ${b.table} batch cannot go into a ${table} file`);
  }
  const rows: RowIndex = { parts, total: parts.reduce((n, b) => n + b.rowCount, 0) };
  const { order, micros } = sortOrder(table, rows);
  const timeColumn = TABLES[table].timeColumn;

  const children = TABLES[table].columns.map((col, ci) => {
    const field = schema.fields[ci]!;
    if (col.type === 'nested') {
      return nestedData(
        field.type as List<StructType>,
        col.fields.map((f) => f.type),
        col.fields.map((f) => gather(rows, order, `${col.name}.${f.name}`)),
      );
    }
    if (col.name === timeColumn) {
      // Parsed once for the sort; reused here in file order.
      const us = new Float64Array(order.length);
      for (let j = 0; j < order.length; j++) us[j] = micros[order[j]!]!;
      return int64Data(field.type, us);
    }
    return scalarData(col.type, gather(rows, order, col.name));
  });

  const struct = makeData({ type: new Struct(schema.fields), length: rows.total, nullCount: 0, children });
  return new Table(schema, new RecordBatch(schema, struct));
}

/** Scratch for the Arrow buffers of encodeParquet: they die at the IPC copy (see arena.ts). */
const scratch = new Arena();

/** Encodes rows of one table as a zstd Parquet file (whole file in memory; files are bounded). */
export function encodeParquet(
  table: TableName,
  batches: readonly ColumnBatch[],
  options: ParquetWriteOptions = {},
): Uint8Array {
  let ipc: Uint8Array;
  try {
    ipc = tableToIPC(
      withAllocator(scratch, () => toArrowTable(table, batches)),
      'stream',
    );
  } catch (cause) {
    if (cause instanceof ParquetWriteError) throw cause;
    throw new ParquetWriteError(`could not encode ${table} as Arrow`, { cause });
  } finally {
    // The IPC stream is a copy: the Arrow buffers in the scratch are dead from here on.
    scratch.reset();
  }
  try {
    const wasmTable = WasmTable.fromIPCStream(ipc);
    return writeParquet(
      wasmTable,
      writerProperties(table, options.maxRowGroupRows ?? DEFAULT_ROW_GROUP_ROWS),
    );
  } catch (cause) {
    throw new ParquetWriteError(`could not encode ${table} as Parquet`, { cause });
  }
}
