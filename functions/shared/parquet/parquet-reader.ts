import { isAscii } from 'node:buffer';
import { type Data, tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import type { ColumnBatch } from '../rows/batch.js';
import { physicalColumns, type ScalarType, TABLES, type TableName } from '../schema/columns.js';
import { absentValue, absentValueOf } from '../schema/defaults.js';

/**
 * Reads a lake Parquet file back into a ColumnBatch (values per schema/columns.ts), so the
 * compactor can merge and re-sort files with the same writer. Timestamps come back at the
 * microsecond precision they were stored with ('…123456000').
 *
 * Schema evolution: a column of the model that a file lacks (written before the column was added)
 * reads as its absent value (schema/defaults.ts) in every row, and a field added to a nested column
 * as that value in every item; fields are found by name, not position. Columns the model no
 * longer has are ignored.
 */

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export class ParquetReadError extends Error {
  override readonly name = 'ParquetReadError';
}

/**
 * Pushes the strings of rows `from`..`to` of a Utf8 vector onto `out`. An all-ASCII run (ids, most
 * attributes) is decoded once and cut with String#slice, which stays in JS; a call into C++ per
 * value cost more than the rest of reading a file.
 */
function pushStrings(data: Data, from: number, to: number, out: unknown[]): void {
  const offsets = data.valueOffsets as Int32Array;
  const bytes = data.values as Uint8Array;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = offsets[data.offset + from]!;
  const end = offsets[data.offset + to]!;
  if (isAscii(buf.subarray(start, end))) {
    const all = buf.toString('latin1', start, end);
    for (let i = from; i < to; i++) {
      out.push(all.slice(offsets[data.offset + i]! - start, offsets[data.offset + i + 1]! - start));
    }
    return;
  }
  for (let i = from; i < to; i++) {
    const a = offsets[data.offset + i]!;
    const b = offsets[data.offset + i + 1]!;
    out.push(a === b ? '' : buf.toString('utf8', a, b));
  }
}

/** Values of a flat child (list items, map keys/values) from index `from` to `to`. */
function scalarSlice(type: ScalarType, data: Data, from: number, to: number): unknown[] {
  const out: unknown[] = [];
  switch (type) {
    case 'string':
    case 'lowcard':
      pushStrings(data, from, to, out);
      return out;
    case 'timestamp_ns': {
      const v = data.values as BigInt64Array;
      for (let i = from; i < to; i++) out.push(`${v[data.offset + i]}000`);
      return out;
    }
    case 'uint32': {
      const v = data.values as BigInt64Array;
      for (let i = from; i < to; i++) out.push(Number(v[data.offset + i]));
      return out;
    }
    case 'uint64': {
      // Unsigned whatever the array's signedness; past 2^53 as a decimal string (model `Uint64`).
      const v = data.values as BigInt64Array | BigUint64Array;
      for (let i = from; i < to; i++) {
        const x = BigInt.asUintN(64, v[data.offset + i]!);
        out.push(x <= MAX_SAFE ? Number(x) : x.toString());
      }
      return out;
    }
    case 'uint8':
    case 'int32':
    case 'float64': {
      const v = data.values as Int32Array | Float64Array;
      for (let i = from; i < to; i++) out.push(v[data.offset + i]);
      return out;
    }
    case 'bool': {
      const v = data.values as Uint8Array;
      for (let i = from; i < to; i++) {
        const bit = data.offset + i;
        out.push(((v[bit >> 3]! >> (bit & 7)) & 1) === 1);
      }
      return out;
    }
    case 'map': {
      // Keys and values of all rows decoded in one pass each, then cut by the offsets.
      const offsets = data.valueOffsets as Int32Array;
      const entries = data.children[0]!;
      const a0 = offsets[data.offset + from]!;
      const b0 = offsets[data.offset + to]!;
      const keys = scalarSlice('string', entries.children[0]!, entries.offset + a0, entries.offset + b0);
      const vals = scalarSlice('string', entries.children[1]!, entries.offset + a0, entries.offset + b0);
      for (let i = from; i < to; i++) {
        const a = offsets[data.offset + i]! - a0;
        const b = offsets[data.offset + i + 1]! - a0;
        const m: Record<string, string> = {};
        for (let j = a; j < b; j++) m[keys[j] as string] = vals[j] as string;
        out.push(m);
      }
      return out;
    }
    case 'array_float64':
    case 'array_uint64': {
      const offsets = data.valueOffsets as Int32Array;
      const a0 = offsets[data.offset + from]!;
      const items = scalarSlice(
        type === 'array_float64' ? 'float64' : 'uint64',
        data.children[0]!,
        a0,
        offsets[data.offset + to]!,
      );
      for (let i = from; i < to; i++) {
        out.push(items.slice(offsets[data.offset + i]! - a0, offsets[data.offset + i + 1]! - a0));
      }
      return out;
    }
  }
}

/** `n` absent values of `type`: fresh objects for maps and arrays, so no two rows share one. */
function absentColumn(type: ScalarType, n: number): unknown[] {
  const out: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = absentValue(type);
  return out;
}

/** Decodes a lake Parquet file of `table` (written by encodeParquet) into one batch. */
export function decodeParquet(table: TableName, bytes: Uint8Array): ColumnBatch {
  let arrow: ReturnType<typeof tableFromIPC>;
  try {
    arrow = tableFromIPC(readParquet(bytes).intoIPCStream());
  } catch (cause) {
    throw new ParquetReadError(`not a readable Parquet file for ${table}`, { cause });
  }
  const columns: Record<string, unknown[]> = {};
  if (arrow.numRows === 0) {
    // A file of no rows has no record batch, so its vectors have no data to walk.
    for (const c of physicalColumns(table)) columns[c.name] = [];
    return { table, rowCount: 0, columns };
  }
  const n = arrow.numRows;
  for (const col of TABLES[table].columns) {
    const vector = arrow.getChild(col.name);
    if (col.type !== 'nested') {
      if (!vector) {
        columns[col.name] =
          col.absent !== undefined ? new Array(n).fill(absentValueOf(col)) : absentColumn(col.type, n);
        continue;
      }
      const out: unknown[] = [];
      for (const data of vector.data) {
        if (col.type === 'string' || col.type === 'lowcard') pushStrings(data, 0, data.length, out);
        else for (const v of scalarSlice(col.type, data, 0, data.length)) out.push(v);
      }
      columns[col.name] = out;
      continue;
    }
    if (!vector) {
      // No such nested column in the file: no items in any row.
      for (const f of col.fields) columns[`${col.name}.${f.name}`] = Array.from({ length: n }, () => []);
      continue;
    }
    const outs = col.fields.map(() => [] as unknown[]);
    for (const data of vector.data) {
      const offsets = data.valueOffsets as Int32Array;
      const struct = data.children[0]!;
      const present = new Map<string, number>(
        (struct.type.children as { name: string }[]).map((f, i) => [f.name, i]),
      );
      const a0 = offsets[data.offset]!;
      const b0 = offsets[data.offset + data.length]!;
      col.fields.forEach((f, fi) => {
        // Every item of the chunk at once, then one array per row.
        const at = present.get(f.name);
        const items =
          at === undefined
            ? absentColumn(f.type, b0 - a0)
            : scalarSlice(f.type, struct.children[at]!, struct.offset + a0, struct.offset + b0);
        const out = outs[fi]!;
        for (let i = 0; i < data.length; i++) {
          out.push(items.slice(offsets[data.offset + i]! - a0, offsets[data.offset + i + 1]! - a0));
        }
      });
    }
    col.fields.forEach((f, fi) => {
      columns[`${col.name}.${f.name}`] = outs[fi]!;
    });
  }
  return { table, rowCount: arrow.numRows, columns };
}
