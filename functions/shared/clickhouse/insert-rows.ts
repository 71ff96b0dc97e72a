import { type ColumnBatch, MapJson } from '../rows/batch.js';
import { compareNs } from '../rows/sanitize.js';
import {
  ENVELOPE_ID_COLUMN,
  type PhysicalColumn,
  physicalColumns,
  type ScalarType,
  TABLE_NAMES,
  type TableName,
} from '../schema/columns.js';
import { absentValueOf } from '../schema/defaults.js';

/**
 * Row conversion for the hot writer (writer.ts holds the exactly-once protocol): an envelope's
 * column batches validated against the column model and turned into rows in physicalColumns
 * order, with where each row falls in time (its 15-minute cell) for the writer's existence lookup.
 */

/** Rows that do not fit the column model. */
export class RowValidationError extends Error {
  override readonly name = 'RowValidationError';
}

const FLOAT_WORDS = new Set(['NaN', 'Infinity', '-Infinity']);
const DIGITS = /^\d{1,20}$/;

/** Strips leading zeros (keeping one digit); most timestamps have none, so no regex runs. */
export function trimZeros(ns: string): string {
  return ns.length > 1 && ns.charCodeAt(0) === 48 ? ns.replace(/^0+(?=\d)/, '') : ns;
}

/**
 * Nanosecond decimal string -> `seconds.nanoseconds`, which DateTime64(9) parses exactly. The
 * seconds are padded to 10 digits: ClickHouse reads a shorter integer part as a date
 * (`0.000000000` fails with "Cannot read DateTime", so an absent start time, 0, was unwritable).
 */
export function toDateTime64(ns: string): string {
  const t = trimZeros(ns);
  if (t.length >= 19) return `${t.slice(0, -9)}.${t.slice(-9)}`;
  return `${t.slice(0, -9).padStart(10, '0')}.${t.slice(-9).padStart(9, '0')}`;
}

/** DateTime64(9) is an Int64 of nanoseconds: 2262-04-11T23:47:16.854775807Z at most. */
const DATETIME64_MAX_NS = '9223372036854775807';
const UINT64_MAX = '18446744073709551615';

/** Whether a string of 1-20 digits is at most `max` (a canonical decimal of the same width class). */
function fitsDecimal(digits: string, max: string): boolean {
  const t = trimZeros(digits);
  return t.length < max.length || (t.length === max.length && t <= max);
}

function isOlder(ns: string, cutoff: string): boolean {
  return compareNs(trimZeros(ns), cutoff) < 0;
}

function fail(table: string, column: string, row: number, what: string): never {
  throw new RowValidationError(`${table}.${column} row ${row}: ${what}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const INT_RANGES: Partial<Record<ScalarType, readonly [number, number]>> = {
  uint8: [0, 255],
  uint32: [0, 4_294_967_295],
  int32: [-2_147_483_648, 2_147_483_647],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

/**
 * Validates one in-memory value and returns what the JSON insert formats expect. One function per
 * type, chosen once per column: the hot loop allocates nothing but converted values.
 */
type Converter = (v: unknown, table: string, column: string, row: number) => unknown;

function intConverter(type: 'uint8' | 'uint32' | 'int32' | 'uint64'): Converter {
  const [lo, hi] = INT_RANGES[type]!;
  return (v, table, column, row) => {
    if (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi) return v;
    // uint64 past 2^53 travels as a decimal string (model.ts `Uint64`); ClickHouse parses it exactly.
    if (type === 'uint64' && typeof v === 'string' && DIGITS.test(v) && fitsDecimal(v, UINT64_MAX)) return v;
    return fail(table, column, row, `expected ${type}, got ${JSON.stringify(v)}`);
  };
}

const toUint64 = intConverter('uint64');

const toText: Converter = (v, table, column, row) => {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  return fail(table, column, row, `expected a string, got ${typeof v}`);
};

const toFloat64: Converter = (v, table, column, row) => {
  if (typeof v === 'number' || (typeof v === 'string' && FLOAT_WORDS.has(v))) return v;
  return fail(table, column, row, `expected a number, got ${JSON.stringify(v)}`);
};

/** An array of `element` values, checked in place (the elements need no conversion). */
function arrayOf(element: Converter): Converter {
  return (v, table, column, row) => {
    if (!Array.isArray(v)) return fail(table, column, row, 'expected an array of numbers');
    for (const x of v) element(x, table, column, row);
    return v;
  };
}

const CONVERTERS: Record<ScalarType, Converter> = {
  string: toText,
  lowcard: toText,
  timestamp_ns: (v, table, column, row) => {
    if (typeof v === 'string' && DIGITS.test(v)) {
      if (v.length >= 19 && !fitsDecimal(v, DATETIME64_MAX_NS))
        return fail(table, column, row, `nanoseconds ${v} are past DateTime64(9)'s 2262-04-11`);
      return toDateTime64(v);
    }
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return toDateTime64(String(v));
    return fail(table, column, row, `expected nanoseconds as a decimal string, got ${JSON.stringify(v)}`);
  },
  uint8: intConverter('uint8'),
  uint32: intConverter('uint32'),
  int32: intConverter('int32'),
  uint64: toUint64,
  float64: toFloat64,
  bool: (v, table, column, row) => {
    if (typeof v === 'boolean') return v;
    return fail(table, column, row, `expected a boolean, got ${JSON.stringify(v)}`);
  },
  map: (v, table, column, row) => {
    if (v === null || v === undefined) return {};
    // Its values were checked to be strings as the text was made (unpackEnvelope's mapsAsJson).
    if (v instanceof MapJson) return v;
    if (!isPlainObject(v)) return fail(table, column, row, 'expected a map of strings');
    for (const k in v) {
      if (Object.hasOwn(v, k) && typeof v[k] !== 'string')
        fail(table, column, row, 'map value is not a string');
    }
    return v;
  },
  array_float64: arrayOf(toFloat64),
  array_uint64: arrayOf(toUint64),
};

/** The insert value of a column a row lacks: the model's absent value, as the converter sends it. */
function defaultValue(col: PhysicalColumn): unknown {
  return col.type === 'timestamp_ns' ? toDateTime64('0') : absentValueOf(col);
}

export interface TableLayout {
  readonly columns: readonly PhysicalColumn[];
  readonly index: ReadonlyMap<string, number>;
  readonly timeColumn: number;
  readonly tenantColumn: number;
  readonly envelopeIdColumn: number;
}

export const LAYOUTS = new Map<TableName, TableLayout>(
  TABLE_NAMES.map((t) => {
    const columns = physicalColumns(t);
    const index = new Map(columns.map((c, i) => [c.name, i]));
    const time = t === 'otel_traces' || t === 'otel_logs' ? 'Timestamp' : 'TimeUnix';
    return [
      t,
      {
        columns,
        index,
        timeColumn: index.get(time)!,
        tenantColumn: index.get('TenantId')!,
        envelopeIdColumn: index.get(ENVELOPE_ID_COLUMN)!,
      },
    ];
  }),
);

/** Converted rows of one envelope: per table, rows as arrays in physicalColumns order. */
export type EnvelopeRows = Map<TableName, unknown[][]>;

/**
 * The value of every empty nested array: rows without events or links (most spans) share it, so
 * the insert text encodes it once per run of such rows, not once per row and column.
 */
const NO_ITEMS: readonly unknown[] = Object.freeze([]);

/** No value yet (a value is never this object). */
const NOT_CONVERTED = Symbol('not converted');

/** Converts a nested column's array; returns the input array itself when no element changed. */
function convertItems(
  convert: Converter,
  items: readonly unknown[],
  table: string,
  column: string,
  row: number,
): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const x = items[i];
    const y = convert(x, table, column, row);
    if (out) out[i] = y;
    else if (y !== x) {
      out = items.slice(0, i);
      out[i] = y;
    }
  }
  return out ?? (items as unknown[]);
}

/** Rows per 15-minute cell of event time: fine enough that a cell never straddles two partitions. */
export const CELL_SECONDS = 900;

/** Where an envelope's rows of one table fall in time: what the existence lookup needs. */
export interface TableRowsInfo {
  /** Per kept row (same order as the converted rows): its cell, or -1 for a row carrying the receive time. */
  readonly cells: number[];
  /** Every row of the envelope in this table, expired ones included, receive-time rows excluded: count per cell. */
  readonly cellRows: Map<number, number>;
  /** Rows carrying the envelope's receive time, expired ones included. */
  filledRows: number;
  /** Earliest and latest event time of the rows (nanoseconds, decimal without leading zeros). */
  min: string;
  max: string;
}

function cellOf(ns: string): number {
  return ns.length > 9 ? Math.floor(Number(ns.slice(0, -9)) / CELL_SECONDS) : 0;
}

/**
 * Validates and converts an envelope's batches into insertable rows, dropping rows older than
 * `cutoffNs`; every row gets `envelopeId` as its EnvelopeId. Throws RowValidationError when a row
 * does not fit the column model. `tables` says where the rows fall in time (see TableRowsInfo).
 */
export function convertEnvelope(
  tenant: string,
  batches: readonly ColumnBatch[],
  cutoffNs: string,
  envelopeId = '',
  receivedAtNs?: string,
): { rows: EnvelopeRows; expired: number; tables: Map<TableName, TableRowsInfo> } {
  const out: EnvelopeRows = new Map();
  const tables = new Map<TableName, TableRowsInfo>();
  const filledAt = receivedAtNs === undefined ? undefined : trimZeros(receivedAtNs);
  let expired = 0;
  for (const batch of batches) {
    const table = batch.table;
    const layout = LAYOUTS.get(table);
    if (!layout) throw new RowValidationError(`unknown table ${String(table)}`);
    const n = batch.rowCount;
    const width = layout.columns.length;
    const rows: unknown[][] = new Array(n);
    for (let r = 0; r < n; r++) rows[r] = new Array<unknown>(width);
    const seen = new Uint8Array(width);
    const nestedLengths = new Map<string, number[]>();
    for (const name in batch.columns) {
      const values = batch.columns[name]!;
      const ci = layout.index.get(name);
      if (ci === undefined) throw new RowValidationError(`${table} has no column ${name}`);
      if (values.length !== n)
        throw new RowValidationError(`${table}.${name} has ${values.length} values for ${n} rows`);
      seen[ci] = 1;
      const col = layout.columns[ci]!;
      const convert = CONVERTERS[col.type];
      if (col.nestedIn) {
        const lengths = nestedLengths.get(col.nestedIn) ?? [];
        nestedLengths.set(col.nestedIn, lengths);
        for (let r = 0; r < n; r++) {
          const v = values[r];
          if (!Array.isArray(v)) fail(table, name, r, 'expected an array (nested column)');
          const known = lengths[r];
          if (known === undefined) lengths[r] = v.length;
          else if (known !== v.length)
            fail(table, name, r, `length differs from other ${col.nestedIn} fields`);
          rows[r]![ci] = v.length === 0 ? NO_ITEMS : convertItems(convert, v, table, name, r);
        }
      } else {
        // A value identical to the one above it (a dictionary column's rows, a resource's map
        // object on each of its spans) is converted once per run: converters are pure.
        let last: unknown = NOT_CONVERTED;
        let converted: unknown;
        for (let r = 0; r < n; r++) {
          const v = values[r];
          if (v !== last) {
            converted = convert(v, table, name, r);
            last = v;
          }
          rows[r]![ci] = converted;
        }
      }
    }
    for (let ci = 0; ci < width; ci++) {
      if (seen[ci]) continue;
      const col = layout.columns[ci]!;
      // An absent nested field gets one default per item of its siblings, so the arrays line up.
      const lengths = col.nestedIn ? nestedLengths.get(col.nestedIn) : undefined;
      // One value for every row (converted values are never changed afterwards; the insert text
      // encodes a value met again by reference).
      const absent = defaultValue(col);
      for (let r = 0; r < n; r++) {
        const items = lengths?.[r] ?? 0;
        rows[r]![ci] = !col.nestedIn
          ? absent
          : items === 0
            ? NO_ITEMS
            : Array.from({ length: items }, () => absent);
      }
    }
    const timeSource = batch.columns[layout.columns[layout.timeColumn]!.name];
    let info = tables.get(table);
    const kept: unknown[][] = [];
    for (let r = 0; r < n; r++) {
      const row = rows[r]!;
      row[layout.tenantColumn] = tenant;
      // The header's id is authoritative, as the tenant is (a payload value would be overwritten).
      row[layout.envelopeIdColumn] = envelopeId;
      const ts = timeSource?.[r];
      const ns = trimZeros(typeof ts === 'string' ? ts : typeof ts === 'number' ? String(ts) : '0');
      if (!info) {
        info = { cells: [], cellRows: new Map(), filledRows: 0, min: ns, max: ns };
        tables.set(table, info);
      } else {
        if (compareNs(ns, info.min) < 0) info.min = ns;
        if (compareNs(ns, info.max) > 0) info.max = ns;
      }
      const filled = ns === filledAt;
      const cell = filled ? -1 : cellOf(ns);
      if (filled) info.filledRows++;
      else info.cellRows.set(cell, (info.cellRows.get(cell) ?? 0) + 1);
      if (typeof ts === 'string' && isOlder(ns, cutoffNs)) {
        expired++;
        continue;
      }
      kept.push(row);
      info.cells.push(cell);
    }
    if (kept.length > 0) {
      const list = out.get(table);
      if (list) for (const row of kept) list.push(row);
      else out.set(table, kept);
    }
  }
  return { rows: out, expired, tables };
}
