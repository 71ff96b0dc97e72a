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
import { Arena } from '../../../functions/shared/parquet/arena.js';
import {
  DEFAULT_ROW_GROUP_ROWS,
  HIGH_CARDINALITY,
  ParquetWriteError,
  type ParquetWriteOptions,
} from '../../../functions/shared/parquet/parquet-writer.js';
import {
  inputValues,
  type RowIndex,
  rowIndex,
  sortOrder,
} from '../../../functions/shared/parquet/row-order.js';
import type { ColumnBatch } from '../../../functions/shared/rows/batch.js';
import { TABLES, type TableName } from '../../../functions/shared/schema/columns.js';
import { arrowSchema } from './arrow-schema.js';
import { int64Data, nestedData, scalarData, withAllocator } from './column-builders.js';

/**
 * The previous lake writer, kept as the baseline of bench/parquet.ts: an Arrow table built from
 * the batches (column-builders.ts), written by parquet-wasm (arrow-rs compiled to WebAssembly).
 * The lake writes with parquet-writer.ts; this path writes the same schema and row order.
 */

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

/** Values of a physical column in file order. */
function gather(rows: RowIndex, order: Uint32Array, name: string): unknown[] {
  // Concatenating first keeps both loops monomorphic over one array (a lookup through a
  // (batch, row) index per value cost several times more with envelope-sized batches).
  const input = inputValues(rows, name);
  const out: unknown[] = new Array(order.length);
  for (let j = 0; j < order.length; j++) out[j] = input[order[j]!];
  return out;
}

/** Builds the Arrow table of `batches` (all of `table`), rows in file order. */
export function toArrowTable(table: TableName, batches: readonly ColumnBatch[]): Table {
  const schema = arrowSchema(table);
  const rows = rowIndex(table, batches, (msg) => new ParquetWriteError(msg));
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

/** Scratch for the Arrow buffers of encodeParquetWasm: they die at the IPC copy (see arena.ts). */
const scratch = new Arena();

/** Encodes rows of one table as a zstd Parquet file (whole file in memory; files are bounded). */
export function encodeParquetWasm(
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
