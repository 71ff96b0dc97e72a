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

/**
 * An attribute map (a `map` column's value) held as the JSON text JSON.stringify gives its object,
 * byte for byte. Only the hot writer asks for it (`unpackEnvelope(data, { mapsAsJson: true })`):
 * its insert text needs nothing but that text, which the envelope's transposed map columns give
 * without an object per row to build and stringify again (docs/decisions/0004). Everything else
 * (flatten, the lake writer, the stream evaluator) sees maps as plain objects.
 */
export class MapJson {
  readonly json: string;
  constructor(json: string) {
    this.json = flatString(json);
  }
}

/**
 * `s`, which V8 now holds as one flat string. A string built with `+=` is a chain of its pieces
 * that every later read walks again: the insert text joins a resource's map into each of its rows'
 * lines. ToNumber flattens its argument in place, and the comparison keeps the optimizing compiler
 * from dropping the call as unused, which Node 22's does to a bare `s.charCodeAt(0)`: there the
 * writer's row text cost ~1.2 µs/span more (docs/decisions/0004).
 */
export function flatString(s: string): string {
  return Number(s) === 0 && s.length === 0 ? '' : s;
}

/** Characters a JSON string must escape (a lone surrogate included, as JSON.stringify does). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON must escape
export const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON.stringify writes it; most need no escape and skip the call. */
export function stringJson(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
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
