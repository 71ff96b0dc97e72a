import type { ColumnBatch } from '../rows/batch.js';
import { TABLES, type TableName } from '../schema/columns.js';
import { Arena } from './arena.js';
import { ByteBuffer } from './byte-buffer.js';
import { type ChunkMeta, writeChunk } from './column-chunk.js';
import { tableSchema, writeSchemaElements } from './parquet-schema.js';
import { inputValues, rowGroups, rowIndex, sortOrder } from './row-order.js';
import { shredColumn } from './shred.js';
import { CompactWriter, TType } from './thrift-compact.js';
import { zstdCompress } from './zstd.js';

/**
 * The lake's Parquet writer: a Parquet encoder written for the column model, from the columnar
 * batches straight to pages (no Arrow in between). Rows sorted by ServiceName then time; row
 * groups of DEFAULT_ROW_GROUP_ROWS; data pages v1 of ~PAGE_BYTES (192 KB); ZSTD; dictionary encoding for every
 * string but random ids and free text (map keys and values included), PLAIN otherwise; min/max
 * statistics per column chunk (no page index) on the top-level columns readers filter by. See ADR 0005 for the measurements.
 */

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
 * String fields of random ids and free text (top-level, or inside Links/Exemplars): no statistics
 * (their ranges span nearly everything, so they never let a reader skip) and no dictionary (nearly
 * every value is new, so it only costs hashing until it falls back).
 */
export const HIGH_CARDINALITY: ReadonlySet<string> = new Set([
  'TraceId',
  'SpanId',
  'ParentSpanId',
  'TraceState',
  'StatusMessage',
  'Body',
]);

const CREATED_BY = 'otlp-pipeline lake writer';
const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // PAR1
const ZSTD = 6;

interface RowGroupMeta {
  readonly rows: number;
  readonly offset: number;
  readonly chunks: readonly ChunkMeta[];
}

/**
 * Scratch of the leaves of one column, reset once the column is written, and of the file being
 * built: memory reused across columns and encodes instead of ~1 KB of fresh typed arrays per row,
 * which V8 answered with full mark-compacts of the heap holding the input (see arena.ts).
 */
const scratch = new Arena();
const FILE_SCRATCH_MAX = 64 * 1024 * 1024;
let fileScratch = new ByteBuffer(1024 * 1024);

const dictionaryFor = (fieldName: string): boolean => !HIGH_CARDINALITY.has(fieldName);

function writeColumnChunk(w: CompactWriter, c: ChunkMeta): void {
  const spec = c.leaf.spec;
  w.begin().i64(2, c.dictionaryPageOffset ?? c.dataPageOffset);
  w.struct(3)
    .i32(1, spec.physical)
    .i32List(2, c.encodings)
    .stringList(3, spec.path)
    .i32(4, ZSTD)
    .i64(5, c.numValues)
    .i64(6, c.uncompressedBytes)
    .i64(7, c.compressedBytes)
    .i64(9, c.dataPageOffset);
  if (c.dictionaryPageOffset !== undefined) w.i64(11, c.dictionaryPageOffset);
  if (c.statistics) {
    w.struct(12).i64(3, 0).binary(5, c.statistics.max).binary(6, c.statistics.min).end();
  }
  w.end().end();
}

function writeFooter(
  out: ByteBuffer,
  table: TableName,
  numRows: number,
  groups: readonly RowGroupMeta[],
): void {
  const start = out.pos;
  const w = new CompactWriter(out);
  const schema = tableSchema(table);
  const leafCount = schema.leaves.reduce((n, l) => n + l.length, 0);
  w.begin().i32(1, 1);
  writeSchemaElements(w, schema);
  w.i64(3, numRows);
  w.list(4, TType.Struct, groups.length);
  for (const g of groups) {
    w.begin().list(1, TType.Struct, g.chunks.length);
    for (const c of g.chunks) writeColumnChunk(w, c);
    const uncompressed = g.chunks.reduce((n, c) => n + c.uncompressedBytes, 0);
    const compressed = g.chunks.reduce((n, c) => n + c.compressedBytes, 0);
    w.i64(2, uncompressed).i64(3, g.rows).i64(5, g.offset).i64(6, compressed).end();
  }
  w.string(6, CREATED_BY);
  // column_orders: TYPE_ORDER for every leaf, so readers trust min_value/max_value.
  w.list(7, TType.Struct, leafCount);
  for (let i = 0; i < leafCount; i++) w.begin().struct(1).end().end();
  w.end();
  out.int32(out.pos - start);
  out.append(MAGIC);
}

/** Encodes rows of one table as a zstd Parquet file (whole file in memory; files are bounded). */
export function encodeParquet(
  table: TableName,
  batches: readonly ColumnBatch[],
  options: ParquetWriteOptions = {},
): Uint8Array {
  const groupRows = options.maxRowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
  if (!Number.isInteger(groupRows) || groupRows < 1) {
    throw new ParquetWriteError(`\`maxRowGroupRows\` must be a positive integer, got: ${groupRows}`);
  }
  const rows = rowIndex(table, batches, (msg) => new ParquetWriteError(msg));
  try {
    const { order, micros } = sortOrder(table, rows);
    const def = TABLES[table];
    const schema = tableSchema(table);
    // Each physical column concatenated once (a no-op for a single batch), on first use.
    const inputs = new Map<string, readonly unknown[]>();
    const input = (name: string): readonly unknown[] => {
      let v = inputs.get(name);
      if (!v) {
        v = inputValues(rows, name);
        inputs.set(name, v);
      }
      return v;
    };
    const out = fileScratch;
    out.reset();
    out.append(MAGIC);
    const groups: RowGroupMeta[] = [];
    for (const range of rowGroups(order, groupRows)) {
      const offset = out.pos;
      const chunks: ChunkMeta[] = [];
      def.columns.forEach((col, ci) => {
        const micro = col.name === def.timeColumn ? micros : undefined;
        const leaves = shredColumn(col, schema.leaves[ci]!, input, range, dictionaryFor, scratch, micro);
        const stats =
          col.type !== 'nested' &&
          col.type !== 'map' &&
          !col.type.startsWith('array_') &&
          !HIGH_CARDINALITY.has(col.name);
        for (const leaf of leaves) chunks.push(writeChunk(out, leaf, zstdCompress, stats));
        scratch.reset();
      });
      groups.push({ rows: range.rows.length, offset, chunks });
    }
    writeFooter(out, table, rows.total, groups);
    return out.toBytes();
  } catch (cause) {
    throw new ParquetWriteError(`could not encode ${table} as Parquet`, { cause });
  } finally {
    scratch.reset();
    // A one-off huge file (compaction) should not pin its size in memory.
    if (fileScratch.bytes.length > FILE_SCRATCH_MAX) fileScratch = new ByteBuffer(1024 * 1024);
  }
}
