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
  WriterPropertiesBuilder,
  writeParquet,
} from 'parquet-wasm';
import type { ColumnBatch } from '../rows/batch.js';
import { TABLES, type TableName } from '../schema/columns.js';
import { arrowSchema } from './arrow-schema.js';
import { NestedBuilder, nanosToMicros, scalarBuilder } from './column-builders.js';

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
 * Row order of the file: ServiceName, then event time, then arrival order (stable sort), which is
 * deterministic for the same input, so a retried batch writes the same bytes.
 */
function sortOrder(table: TableName, batches: readonly ColumnBatch[], total: number): Uint32Array {
  const timeColumn = TABLES[table].timeColumn;
  const services: string[] = new Array(total);
  const times = new Float64Array(total);
  const nanos: unknown[] = new Array(total);
  let k = 0;
  for (const b of batches) {
    const svc = b.columns.ServiceName;
    const ts = b.columns[timeColumn];
    for (let i = 0; i < b.rowCount; i++, k++) {
      const s = svc?.[i];
      services[k] = typeof s === 'string' ? s : '';
      nanos[k] = ts?.[i];
      times[k] = nanosToMicros(nanos[k]);
    }
  }
  const order = Array.from({ length: total }, (_, i) => i);
  order.sort((a, b) => {
    const sa = services[a]!;
    const sb = services[b]!;
    if (sa !== sb) return sa < sb ? -1 : 1;
    const d = times[a]! - times[b]!;
    if (d !== 0) return d;
    // Same microsecond: the nanosecond strings decide (same length for any realistic epoch).
    const na = String(nanos[a] ?? '');
    const nb = String(nanos[b] ?? '');
    return na < nb ? -1 : na > nb ? 1 : 0;
  });
  return Uint32Array.from(order);
}

/** Builds the Arrow table of `batches` (all of `table`), rows in file order. */
export function toArrowTable(table: TableName, batches: readonly ColumnBatch[]): Table {
  const schema = arrowSchema(table);
  const parts = batches.filter((b) => b.rowCount > 0);
  for (const b of parts) {
    if (b.table !== table) throw new ParquetWriteError(`a ${b.table} batch cannot go into a ${table} file`);
  }
  const total = parts.reduce((n, b) => n + b.rowCount, 0);
  // Global row k -> (batch, row) without copying the batches.
  const batchOf = new Uint32Array(total);
  const rowOf = new Uint32Array(total);
  let k = 0;
  parts.forEach((b, bi) => {
    for (let i = 0; i < b.rowCount; i++, k++) {
      batchOf[k] = bi;
      rowOf[k] = i;
    }
  });
  const order = sortOrder(table, parts, total);

  const children = TABLES[table].columns.map((col, ci) => {
    const field = schema.fields[ci]!;
    if (col.type === 'nested') {
      const builder = new NestedBuilder(
        field.type as List<StructType>,
        col.fields.map((f) => f.type),
      );
      const names = col.fields.map((f) => `${col.name}.${f.name}`);
      const row: unknown[] = new Array(names.length);
      for (let j = 0; j < total; j++) {
        const g = order[j]!;
        const b = parts[batchOf[g]!]!;
        const r = rowOf[g]!;
        for (let f = 0; f < names.length; f++) row[f] = b.columns[names[f]!]?.[r];
        builder.append(row);
      }
      return builder.finish();
    }
    const builder = scalarBuilder(col.type);
    const columns = parts.map((b) => b.columns[col.name]);
    const only = columns.length === 1 ? columns[0] : undefined;
    if (only) {
      for (let j = 0; j < total; j++) builder.append(only[order[j]!]);
    } else {
      for (let j = 0; j < total; j++) {
        const g = order[j]!;
        builder.append(columns[batchOf[g]!]?.[rowOf[g]!]);
      }
    }
    return builder.finish();
  });

  const struct = makeData({ type: new Struct(schema.fields), length: total, nullCount: 0, children });
  return new Table(schema, new RecordBatch(schema, struct));
}

/** Encodes rows of one table as a zstd Parquet file (whole file in memory; files are bounded). */
export function encodeParquet(
  table: TableName,
  batches: readonly ColumnBatch[],
  options: ParquetWriteOptions = {},
): Uint8Array {
  const arrow = toArrowTable(table, batches);
  const props = new WriterPropertiesBuilder()
    .setCompression(Compression.ZSTD)
    .setStatisticsEnabled(EnabledStatistics.Page)
    .setMaxRowGroupSize(options.maxRowGroupRows ?? DEFAULT_ROW_GROUP_ROWS)
    .setCreatedBy('otlp-pipeline lake writer')
    .build();
  try {
    const wasmTable = WasmTable.fromIPCStream(tableToIPC(arrow, 'stream'));
    return writeParquet(wasmTable, props);
  } catch (cause) {
    throw new ParquetWriteError(`could not encode ${table} as Parquet`, { cause });
  }
}
