import type { TableName } from '../schema/columns.js';

/**
 * Rows of one table, held column by column: `columns[name][i]` is row i's value of the physical
 * column `name` (see schema/columns.ts for the value of each logical type). Columnar because the
 * envelope compresses better that way and the Parquet writer builds Arrow vectors from columns.
 */
export interface ColumnBatch {
  readonly table: TableName;
  rowCount: number;
  readonly columns: Record<string, unknown[]>;
}

/** Row `i` of a batch as an object keyed by physical column name (tests, JSONEachRow). */
export function rowAt(batch: ColumnBatch, i: number): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [name, values] of Object.entries(batch.columns)) row[name] = values[i];
  return row;
}

export function* rows(batch: ColumnBatch): Generator<Record<string, unknown>> {
  for (let i = 0; i < batch.rowCount; i++) yield rowAt(batch, i);
}
