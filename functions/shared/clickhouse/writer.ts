import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import { positionEnvelopeId } from '../envelope/envelope.js';
import type { ColumnBatch } from '../rows/batch.js';
import {
  ENVELOPE_ID_COLUMN,
  type PhysicalColumn,
  physicalColumns,
  type ScalarType,
  TABLE_NAMES,
  type TableName,
} from '../schema/columns.js';
import { absentValueOf } from '../schema/defaults.js';
import { DEFAULT_HOT_RETENTION_DAYS, ident, qualified } from './ddl.js';
import { type ClickHouseFailure, classifyClickHouseError } from './errors.js';

/**
 * Writes a stream consumer's batch to ClickHouse: one insert per table per batch, each envelope's
 * rows stored once per table whatever the delivery (a byte-identical client resend, a bisected or
 * checkpointed redelivery, a crash after an insert). See docs/decisions/0004 for the reasoning:
 *
 * 1. Rows are validated against the column model first; an envelope whose rows do not fit is
 *    rejected whole (dead-letter it) rather than failing every retry of its batch.
 * 2. Dedup is keyed by content: every row carries its envelope's id (`EnvelopeId`, the same for a
 *    resend of the same request). One query (UNION ALL over the tables) asks which of the batch's
 *    ids each table already holds, in which 15-minute cells of event time and how many rows; the rows
 *    already there are left out. The bookkeeping is the rows themselves, written by the same insert,
 *    so no window remains between an insert and a record of it. Cells matter because an insert that
 *    failed may have committed some partitions (one part per partition, each atomic) and not others.
 * 3. Each table's insert carries `insert_deduplication_token` = a hash of exactly which envelopes
 *    (and which of their cells) it holds, so an identical retry whose response was lost is dropped by
 *    ClickHouse. Transient failures are retried in-process with the same token before giving up.
 * 4. The same envelope id twice in one batch (an original and its resend) is inserted once.
 * 5. Only outages are retried (errors.ts tells them apart). When ClickHouse refuses the data itself,
 *    the table's insert is bisected by envelope to reject just the refused envelopes (`isolating`).
 */

export interface StreamPosition {
  /** Stream name (several streams may share shard ids). */
  readonly stream: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
}

export interface PositionedEnvelope {
  readonly position: StreamPosition;
  /** The tenant from the envelope header: authoritative for every row's TenantId. */
  readonly tenant: string;
  /**
   * The envelope's content id (header `id`): every row's EnvelopeId. Absent (an envelope written
   * before ids existed), an id from the stream position is used (positionEnvelopeId).
   */
  readonly id?: string;
  /** Header `receivedAtNs`: rows with exactly this time had none and carry the receive time. */
  readonly receivedAtNs?: string;
  readonly batches: readonly ColumnBatch[];
}

export interface RejectedEnvelope {
  readonly position: StreamPosition;
  readonly reason: string;
  /** For metrics: rows that do not fit the column model, or rows ClickHouse refused. */
  readonly reasonClass: RejectionClass;
}

export type RejectionClass = 'invalid-rows' | 'clickhouse-refused';

export interface WriteStats {
  readonly rowsInserted: number;
  /** `rowsInserted` by tenant (the per-tenant rows metric). */
  readonly rowsInsertedByTenant: ReadonlyMap<string, number>;
  /** Rows left out because the table already holds them (an earlier attempt, a resend, a duplicate in the batch). */
  readonly rowsAlreadyWritten: number;
  /** Rows older than the hot retention: TTL would drop them; the lake keeps them. */
  readonly rowsExpired: number;
  /** Data inserts issued: one per table, plus the halves tried when ClickHouse refused data. */
  readonly inserts: number;
  /** Round trips to ClickHouse: the one lookup (when any row is to be written) plus the inserts. */
  readonly roundTrips: number;
}

export interface WriteResult {
  /** Every row of these is in ClickHouse (written now or by an earlier attempt). */
  readonly written: StreamPosition[];
  /** Never writable (rows do not fit the column model): dead-letter them. */
  readonly rejected: RejectedEnvelope[];
  /** Not (fully) written because ClickHouse failed: redeliver them. */
  readonly pending: StreamPosition[];
  /** Why `pending` is not empty. */
  readonly error?: ClickHouseWriteError;
  readonly stats: WriteStats;
}

/** The port the hot writer depends on. */
export interface TelemetryWriter {
  write(envelopes: readonly PositionedEnvelope[]): Promise<WriteResult>;
}

export class ClickHouseWriteError extends Error {
  override readonly name: string = 'ClickHouseWriteError';
  constructor(
    message: string,
    readonly table: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** ClickHouse refused the rows themselves (a parse, type or range error): retrying cannot help. */
export class ClickHouseDataError extends ClickHouseWriteError {
  override readonly name = 'ClickHouseDataError';
  constructor(
    table: string,
    readonly failure: ClickHouseFailure,
    options?: ErrorOptions,
  ) {
    super(`${table}: ClickHouse refused the data (${failure.reasonClass})`, table, options);
  }
}

/** Rows that do not fit the column model. */
export class RowValidationError extends Error {
  override readonly name = 'RowValidationError';
}

export type InsertFormat = 'JSONEachRow' | 'JSONCompactEachRow';

export interface ClickHouseWriterOptions {
  readonly database?: string;
  /** Rows older than this many days are not inserted. @default DEFAULT_HOT_RETENTION_DAYS */
  readonly hotRetentionDays?: number;
  /** Attempts per insert (same token each time). @default 3 */
  readonly attempts?: number;
  /** Delay before the 2nd attempt, doubled after. @default 200 */
  readonly retryDelayMs?: number;
  /**
   * 'JSONCompactEachRow': rows encoded by the writer (RowText), a shared value once per run, sent
   * as a byte stream; 'JSONEachRow': row objects encoded by the client (the slower reference).
   * @default 'JSONCompactEachRow'
   */
  readonly format?: InsertFormat;
  /** @default Date.now */
  readonly now?: () => number;
}

const NS_PER_MS = 1_000_000n;
const DAY_MS = 86_400_000;
const FLOAT_WORDS = new Set(['NaN', 'Infinity', '-Infinity']);
const DIGITS = /^\d{1,20}$/;

/** Strips leading zeros (keeping one digit); most timestamps have none, so no regex runs. */
function trimZeros(ns: string): string {
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
  const t = trimZeros(ns);
  return t.length < cutoff.length || (t.length === cutoff.length && t < cutoff);
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

interface TableLayout {
  readonly columns: readonly PhysicalColumn[];
  readonly index: ReadonlyMap<string, number>;
  readonly timeColumn: number;
  readonly tenantColumn: number;
  readonly envelopeIdColumn: number;
}

const LAYOUTS = new Map<TableName, TableLayout>(
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
type EnvelopeRows = Map<TableName, unknown[][]>;

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

/** Orders two decimal strings without leading zeros numerically. */
function compareNs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
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
          rows[r]![ci] = convertItems(convert, v, table, name, r);
        }
      } else {
        for (let r = 0; r < n; r++) rows[r]![ci] = convert(values[r], table, name, r);
      }
    }
    for (let ci = 0; ci < width; ci++) {
      if (seen[ci]) continue;
      const col = layout.columns[ci]!;
      // An absent nested field gets one default per item of its siblings, so the arrays line up.
      const lengths = col.nestedIn ? nestedLengths.get(col.nestedIn) : undefined;
      for (let r = 0; r < n; r++) {
        rows[r]![ci] = col.nestedIn
          ? Array.from({ length: lengths?.[r] ?? 0 }, () => defaultValue(col))
          : defaultValue(col);
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

/**
 * The dedup token of one table insert: a hash of exactly which envelopes it holds and which of
 * their cells it leaves out (`parts`, one string per envelope), so equal tokens mean equal rows.
 */
export function deduplicationToken(table: string, parts: readonly string[]): string {
  const hash = createHash('sha256').update(table);
  for (const part of parts) hash.update(`\u0001${part}`);
  return `${table}:${parts.length}:${hash.digest('hex').slice(0, 32)}`;
}

/**
 * How far from a receive-time row's own time its envelope's earlier copy is looked for: a resend
 * was received at another time (the client's retries, the stream's redelivery). A resend later than
 * this after its original would store those rows again (ADR 0004).
 */
export const RESEND_LOOKBACK_MS = 86_400_000;
const RESEND_LOOKBACK_NS = BigInt(RESEND_LOOKBACK_MS) * NS_PER_MS;
/** DateTime64(9)'s range as Int64 nanoseconds (fromUnixTimestamp64Nano's argument). */
const MAX_INT64 = 9_223_372_036_854_775_807n;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Most row text one insert carries (a part may pass it by one row, or by a cell that must stay
 * whole): bounds what an insert costs the writer however much resource attributes repeat across
 * rows; batches of ordinary rows stay one insert.
 */
export const MAX_INSERT_BYTES = 16 * 1024 * 1024;

/** Text handed to the client per stream chunk: large, so request compression runs on few big writes. */
const CHUNK_CHARS = 512 * 1024;

/**
 * The insert body's format. The rows are JSONCompactEachRow text that the writer encodes itself,
 * sent as CustomSeparated with the JSON escaping rule and JSONCompactEachRow's delimiters (the same
 * per-value JSON parser on the server): the client takes a raw format as a byte stream, where a
 * JSON format would make it stringify each row object again.
 */
const JSON_ROWS_FORMAT = 'CustomSeparated';
const JSON_ROWS_SETTINGS: ClickHouseSettings = {
  format_custom_escaping_rule: 'JSON',
  format_custom_field_delimiter: ',',
  format_custom_row_before_delimiter: '[',
  format_custom_row_after_delimiter: ']\n',
  format_custom_row_between_delimiter: '',
  format_custom_result_before_delimiter: '',
  format_custom_result_after_delimiter: '',
};

/**
 * A value's text at least this long is kept as one Buffer and sent by reference at every row that
 * repeats it: a resource's attribute map costs its bytes once in memory, however many rows carry it.
 */
const SHARED_TEXT_CHARS = 16 * 1024;

/** Characters a JSON string must escape (a lone surrogate included, as JSON.stringify does). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A value as JSON.stringify writes it: what the client's JSON formats send (NaN as null, an absent
 * value as null), so both encodings store the same. The common cases skip the call.
 */
function jsonText(v: unknown): string {
  if (typeof v === 'string') return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (v === undefined) return 'null';
  if (Array.isArray(v) && v.length === 0) return '[]';
  return JSON.stringify(v) ?? 'null';
}

/** One insert's body as it is built: small text joined into large chunks, large shared values as is. */
class BodyWriter {
  readonly chunks: Buffer[] = [];
  /** Characters of row text written (the measure of a part's size). */
  chars = 0;
  bytes = 0;
  private pending = '';

  text(s: string): void {
    this.pending += s;
    this.chars += s.length;
    if (this.pending.length >= CHUNK_CHARS) this.flush();
  }

  shared(b: Buffer, chars: number): void {
    this.flush();
    this.chunks.push(b);
    this.bytes += b.byteLength;
    this.chars += chars;
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(this.pending);
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    this.pending = '';
  }
}

/**
 * Writes rows as JSONCompactEachRow lines. A value equal to the one above it in its column is not
 * encoded again: rows of one resource share its attribute map object (and service name, scope…),
 * so 1,000 rows under 250 KB of resource attributes stringify them once, not 1,000 times, and a
 * large one is held once (SHARED_TEXT_CHARS).
 */
export class RowText {
  private readonly last: unknown[];
  private readonly lastText: string[];
  private readonly lastBuffer: (Buffer | undefined)[];

  constructor(width: number) {
    this.last = new Array<unknown>(width).fill(RowText);
    this.lastText = new Array<string>(width).fill('');
    this.lastBuffer = new Array<Buffer | undefined>(width).fill(undefined);
  }

  write(row: readonly unknown[], out: BodyWriter): void {
    // The line is built here and handed over once (or around a shared value): one call per row.
    let s = '[';
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (i > 0) s += ',';
      if (v !== this.last[i]) {
        const text = jsonText(v);
        this.last[i] = v;
        this.lastText[i] = text;
        this.lastBuffer[i] = text.length >= SHARED_TEXT_CHARS ? Buffer.from(text) : undefined;
      }
      const shared = this.lastBuffer[i];
      if (shared) {
        out.text(s);
        out.shared(shared, this.lastText[i]!.length);
        s = '';
      } else s += this.lastText[i]!;
    }
    out.text(`${s}]\n`);
  }
}

/** One insert: rows [start, end) as JSONCompactEachRow text in chunks (a shared chunk may repeat). */
export interface InsertPart {
  readonly start: number;
  readonly end: number;
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
}

/**
 * `rows` as consecutive inserts of about `maxBytes` of text each, encoded one part at a time (the
 * caller holds one part, never the whole batch's text). A part is cut only where `mayCutBefore`
 * allows, once it holds `maxBytes`. The cuts depend only on the rows, so a retry of the same rows
 * is cut the same way and each part's dedup token matches.
 */
export function* encodeParts(
  rows: readonly (readonly unknown[])[],
  maxBytes: number,
  mayCutBefore: (row: number) => boolean = () => true,
): Generator<InsertPart> {
  const text = new RowText(rows[0]?.length ?? 0);
  let start = 0;
  do {
    const out = new BodyWriter();
    let end = start;
    for (; end < rows.length; end++) {
      if (end > start && out.chars >= maxBytes && mayCutBefore(end)) break;
      text.write(rows[end]!, out);
    }
    out.flush();
    yield { start, end, chunks: out.chunks, bytes: out.bytes };
    start = end;
  } while (start < rows.length);
}

interface Prepared {
  readonly item: PositionedEnvelope;
  readonly id: string;
  /** tenant + id: ids are per tenant (the tenant is hashed into them; this keeps it so regardless). */
  readonly key: string;
  readonly rows: EnvelopeRows;
  readonly tables: Map<TableName, TableRowsInfo>;
}

/** One envelope's rows still to insert into one table, and its part of the dedup token. */
interface TableEntry {
  readonly prepared: Prepared;
  readonly part: string;
  /** Its fresh rows, cell by cell (cell -1: rows carrying the receive time). */
  readonly runs: readonly { readonly cell: number; readonly rows: unknown[][] }[];
}

/** The runs of `entry` that `found` does not hold yet (all of them without a lookup answer). */
function stillMissing(
  table: TableName,
  entry: TableEntry,
  found: ReadonlyMap<string, Found>,
): TableEntry['runs'] {
  const there = alreadyThere(
    entry.prepared.tables.get(table)!,
    found.get(`${table}\u0000${entry.prepared.key}`),
  );
  if (there.cells.size === 0) return entry.runs;
  return entry.runs.filter((r) => (r.cell < 0 ? !there.filled : !there.cells.has(r.cell)));
}

/** What a table already holds of one envelope: rows per cell of event time. */
type Found = Map<number, number>;

/** A table's candidates for the lookup: envelope ids, tenants and the time range to search. */
interface LookupSpec {
  readonly table: TableName;
  readonly ids: Set<string>;
  readonly tenants: Set<string>;
  lo: bigint;
  hi: bigint;
}

/**
 * Which rows of `info`'s envelope the table holds already, given what the lookup found. A partition
 * is written whole or not at all, so a found cell holds all the envelope's rows of that cell; rows
 * carrying the receive time sit elsewhere in an earlier copy, and are there when the found rows
 * outnumber those the cells account for.
 */
function alreadyThere(
  info: TableRowsInfo,
  found: Found | undefined,
): { cells: Set<number>; filled: boolean } {
  if (!found || found.size === 0) return { cells: new Set(), filled: false };
  let total = 0;
  let inCells = 0;
  for (const [cell, count] of found) {
    total += count;
    inCells += info.cellRows.get(cell) ?? 0;
  }
  return { cells: new Set(found.keys()), filled: info.filledRows > 0 && total - inCells >= info.filledRows };
}

export class ClickHouseTelemetryWriter implements TelemetryWriter {
  private readonly database?: string;
  private readonly retentionDays: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly format: InsertFormat;
  private readonly now: () => number;

  constructor(
    private readonly client: ClickHouseClient,
    options: ClickHouseWriterOptions = {},
  ) {
    this.database = options.database;
    this.retentionDays = options.hotRetentionDays ?? DEFAULT_HOT_RETENTION_DAYS;
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.retryDelayMs = options.retryDelayMs ?? 200;
    this.format = options.format ?? 'JSONCompactEachRow';
    this.now = options.now ?? Date.now;
  }

  async write(envelopes: readonly PositionedEnvelope[]): Promise<WriteResult> {
    // Clamped at the epoch: a retention reaching before 1970 would give a negative cutoff, which
    // the digit-string comparison in isOlder would read as "every row is older".
    const cutoffMs = Math.max(0, this.now() - this.retentionDays * DAY_MS);
    const cutoffNs = (BigInt(cutoffMs) * NS_PER_MS).toString();
    const rejected: RejectedEnvelope[] = [];
    const prepared: Prepared[] = [];
    let rowsExpired = 0;
    for (const item of envelopes) {
      try {
        const id = item.id ?? positionEnvelopeId(item.position.shardId, item.position.sequenceNumber);
        const { rows, expired, tables } = convertEnvelope(
          item.tenant,
          item.batches,
          cutoffNs,
          id,
          item.receivedAtNs,
        );
        prepared.push({ item, id, key: `${item.tenant}\u0000${id}`, rows, tables });
        rowsExpired += expired;
      } catch (err) {
        if (!(err instanceof RowValidationError)) throw err;
        rejected.push({
          position: item.position,
          reason: `rows do not fit the column model: ${err.message}`,
          reasonClass: 'invalid-rows',
        });
      }
    }

    // (table, envelope id) pairs whose rows are all in the table: found there, or inserted now.
    const done = new Set<string>();
    // Envelopes (by key) whose rows ClickHouse refused: rejected whole, with every copy of them in
    // the batch, and left out of later tables' inserts.
    const refused = new Map<string, { readonly reason: string }>();
    let rowsInserted = 0;
    const rowsInsertedByTenant = new Map<string, number>();
    let rowsAlreadyWritten = 0;
    let inserts = 0;
    let roundTrips = 0;
    let error: ClickHouseWriteError | undefined;
    try {
      let found = new Map<string, Found>();
      if (prepared.some((p) => p.rows.size > 0)) {
        found = await this.retrying('lookup', () => this.lookup(prepared));
        roundTrips++;
      }
      for (const table of TABLE_NAMES) {
        const entries: TableEntry[] = [];
        const taken = new Set<string>();
        for (const p of prepared) {
          const mine = p.rows.get(table);
          if (!mine || refused.has(p.key)) continue;
          const id = p.key;
          if (taken.has(id) || done.has(`${table}\u0000${id}`)) {
            // The same envelope earlier in this batch (an original and its resend): once is enough.
            rowsAlreadyWritten += mine.length;
            continue;
          }
          taken.add(id);
          const info = p.tables.get(table)!;
          const there = alreadyThere(info, found.get(`${table}\u0000${id}`));
          // Fresh rows grouped by cell: an insert split by size is cut only between cells, so each
          // cell of an envelope is in one insert, written whole or not at all (what the lookup's
          // per-cell answer relies on).
          const byCell = new Map<number, unknown[][]>();
          for (const [r, row] of mine.entries()) {
            const cell = info.cells[r]!;
            if (there.cells.size > 0 && (cell < 0 ? there.filled : there.cells.has(cell))) continue;
            const list = byCell.get(cell);
            if (list) list.push(row);
            else byCell.set(cell, [row]);
          }
          const runs = [...byCell].map(([cell, rows]) => ({ cell, rows }));
          let freshRows = 0;
          for (const r of runs) freshRows += r.rows.length;
          rowsAlreadyWritten += mine.length - freshRows;
          if (runs.length === 0) {
            done.add(`${table}\u0000${id}`);
            continue;
          }
          const part =
            there.cells.size === 0
              ? id
              : `${id}\u0002${[...there.cells].sort().join(',')}\u0002${there.filled}`;
          entries.push({ prepared: p, part, runs });
        }
        if (entries.length === 0) continue;
        const insertGroup = async (candidates: readonly TableEntry[], afterRefusal: boolean) => {
          let group: readonly TableEntry[] = candidates;
          if (afterRefusal) {
            // A refused insert may still have committed rows: a materialized view can refuse them
            // after the table's part was written. Ask again, so a half never writes them twice.
            const found = await this.retrying('lookup', () =>
              this.lookup(
                candidates.map((e) => e.prepared),
                table,
              ),
            );
            roundTrips++;
            const missing: TableEntry[] = [];
            for (const e of candidates) {
              const runs = stillMissing(table, e, found);
              if (runs.length === 0) done.add(`${table}\u0000${e.prepared.key}`);
              else if (runs.length === e.runs.length) missing.push(e);
              else missing.push({ ...e, part: `${e.part}\u0003${runs.map((r) => r.cell).join(',')}`, runs });
            }
            if (missing.length === 0) return;
            group = missing;
          }
          const token = deduplicationToken(
            table,
            group.map((e) => e.part),
          );
          const rows: unknown[][] = [];
          const cuts = new Set<number>();
          for (const e of group) {
            for (const run of e.runs) {
              cuts.add(rows.length);
              for (const row of run.rows) rows.push(row);
            }
          }
          inserts++;
          roundTrips++;
          await this.retrying(table, () => this.insertRows(table, rows, token, (i) => cuts.has(i)));
          rowsInserted += rows.length;
          for (const e of group) {
            done.add(`${table}\u0000${e.prepared.key}`);
            const tenant = e.prepared.item.tenant;
            let n = rowsInsertedByTenant.get(tenant) ?? 0;
            for (const run of e.runs) n += run.rows.length;
            rowsInsertedByTenant.set(tenant, n);
          }
        };
        for (const [entry, failure] of await this.isolating(table, entries, insertGroup)) {
          refused.set(entry.prepared.key, {
            reason: `ClickHouse refused its ${table} rows (code ${failure.code} ${failure.reasonClass}): ${failure.message.slice(0, 2000)}`,
          });
        }
      }
    } catch (err) {
      error =
        err instanceof ClickHouseWriteError
          ? err
          : new ClickHouseWriteError('ClickHouse write failed', 'lookup', { cause: err });
    }

    const written: StreamPosition[] = [];
    const pending: StreamPosition[] = [];
    for (const p of prepared) {
      const refusal = refused.get(p.key);
      if (refusal) {
        rejected.push({
          position: p.item.position,
          reason: refusal.reason,
          reasonClass: 'clickhouse-refused',
        });
        continue;
      }
      const complete = [...p.rows.keys()].every((t) => done.has(`${t}\u0000${p.key}`));
      (complete ? written : pending).push(p.item.position);
    }
    return {
      written,
      rejected,
      pending,
      ...(error ? { error } : {}),
      stats: { rowsInserted, rowsInsertedByTenant, rowsAlreadyWritten, rowsExpired, inserts, roundTrips },
    };
  }

  /**
   * Runs `insert` on all of `group`; when ClickHouse refuses the data, halves the group and tries
   * each half (its own dedup token), down to single envelopes: k refused envelopes among n cost
   * O(k log n) inserts, and every other envelope is written in this invocation. Returns the refused
   * envelopes with why. An outage propagates: the caller reports pending.
   */
  private async isolating<T>(
    table: string,
    group: readonly T[],
    insert: (group: readonly T[], afterRefusal: boolean) => Promise<void>,
  ): Promise<Map<T, ClickHouseFailure>> {
    const refused = new Map<T, ClickHouseFailure>();
    const attempt = async (part: readonly T[], afterRefusal: boolean): Promise<void> => {
      try {
        await insert(part, afterRefusal);
      } catch (err) {
        if (!(err instanceof ClickHouseDataError) || err.table !== table) throw err;
        if (part.length === 1) {
          refused.set(part[0]!, err.failure);
          return;
        }
        const half = Math.ceil(part.length / 2);
        await attempt(part.slice(0, half), true);
        await attempt(part.slice(half), true);
      }
    };
    await attempt(group, false);
    return refused;
  }

  /** Retries outages with backoff (same token each time); a data error is thrown at once. */
  private async retrying<T>(table: string, run: () => Promise<T>): Promise<T> {
    let last: unknown;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      if (attempt > 0) await sleep(this.retryDelayMs * 2 ** (attempt - 1));
      try {
        return await run();
      } catch (err) {
        const failure = classifyClickHouseError(err);
        if (failure.kind === 'data') throw new ClickHouseDataError(table, failure, { cause: err });
        last = err;
      }
    }
    throw new ClickHouseWriteError(`${table}: ClickHouse failed ${this.attempts} times`, table, {
      cause: last,
    });
  }

  private insertSettings(token: string): ClickHouseSettings {
    return {
      insert_deduplicate: 1,
      insert_deduplication_token: token,
      // Without this, a deduplicated retry would still add its rows to the rollups a second time.
      deduplicate_blocks_in_dependent_materialized_views: 1,
      // Dedup by token needs synchronous inserts; batching is done by the event source already.
      async_insert: 0,
      // Late or skewed timestamps can span many days; warn instead of failing the batch forever.
      throw_on_max_partitions_per_insert_block: 0,
    };
  }

  /**
   * Inserts `rows` as one insert, or as several of about MAX_INSERT_BYTES of text each (cut only
   * where `mayCutBefore` allows), each deduplicated by `<token>/<part>`. Text is encoded a part at a
   * time and streamed in large chunks: rows of one resource share its attribute map, but each row's
   * text repeats it (1,000 rows under 250 KB of resource attributes are 250 MB of text), so the
   * writer never holds more than one part's text.
   */
  private async insertRows(
    table: TableName,
    rows: unknown[][],
    token: string,
    mayCutBefore?: (row: number) => boolean,
  ): Promise<void> {
    let n = 0;
    for (const part of encodeParts(rows, MAX_INSERT_BYTES, mayCutBefore)) {
      const whole = n === 0 && part.end === rows.length;
      await this.insertPart(table, rows, part, whole ? token : `${token}/${n}`);
      n++;
    }
  }

  private async insertPart(
    table: TableName,
    rows: unknown[][],
    part: InsertPart,
    token: string,
  ): Promise<void> {
    const layout = LAYOUTS.get(table)!;
    if (this.format === 'JSONCompactEachRow') {
      await this.client.insert({
        table: qualified(table, this.database),
        columns: layout.columns.map((c) => ident(c.name)) as [string, ...string[]],
        // A fresh stream per attempt (retries call this again).
        values: Readable.from(part.chunks, { objectMode: false }),
        format: JSON_ROWS_FORMAT,
        clickhouse_settings: { ...this.insertSettings(token), ...JSON_ROWS_SETTINGS },
      });
      return;
    }
    // The client's own JSON encoding, row objects: the reference the tests hold ours to.
    function* objects(): Generator<Record<string, unknown>> {
      for (let r = part.start; r < part.end; r++) {
        const row = rows[r]!;
        const o: Record<string, unknown> = {};
        layout.columns.forEach((c, i) => {
          o[c.name] = row[i];
        });
        yield o;
      }
    }
    await this.client.insert({
      table: qualified(table, this.database),
      values: Readable.from(objects(), { objectMode: true, highWaterMark: 16 }),
      format: 'JSONEachRow',
      clickhouse_settings: this.insertSettings(token),
    });
  }

  /**
   * One round trip for every table: which of the batch's envelope ids each table holds, with rows
   * per cell. Filtered by tenant and the rows' time range (partition pruning; the primary key leads
   * with TenantId), then by the EnvelopeId bloom filter. Rows carrying the receive time widen the
   * range by RESEND_LOOKBACK_MS both ways: an earlier copy carries its own receive time.
   */
  private async lookup(prepared: readonly Prepared[], only?: TableName): Promise<Map<string, Found>> {
    const specs = new Map<TableName, LookupSpec>();
    for (const p of prepared) {
      for (const table of p.rows.keys()) {
        if (only !== undefined && table !== only) continue;
        const info = p.tables.get(table)!;
        let lo = BigInt(info.min);
        let hi = BigInt(info.max);
        if (info.filledRows > 0) {
          lo -= RESEND_LOOKBACK_NS;
          hi += RESEND_LOOKBACK_NS;
        }
        const spec = specs.get(table);
        if (!spec) {
          specs.set(table, { table, ids: new Set([p.id]), tenants: new Set([p.item.tenant]), lo, hi });
          continue;
        }
        spec.ids.add(p.id);
        spec.tenants.add(p.item.tenant);
        if (lo < spec.lo) spec.lo = lo;
        if (hi > spec.hi) spec.hi = hi;
      }
    }
    const selects: string[] = [];
    const params: Record<string, unknown> = {};
    [...specs.values()].forEach((spec, i) => {
      const time = ident(LAYOUTS.get(spec.table)!.columns[LAYOUTS.get(spec.table)!.timeColumn]!.name);
      selects.push(
        `SELECT {t${i}:String} AS t, TenantId AS tenant, EnvelopeId AS id, intDiv(toUnixTimestamp(${time}), ${CELL_SECONDS}) AS cell, count() AS n
         FROM ${qualified(spec.table, this.database)}
         WHERE TenantId IN {tenants${i}:Array(String)}
           AND ${time} >= fromUnixTimestamp64Nano({lo${i}:Int64}) AND ${time} <= fromUnixTimestamp64Nano({hi${i}:Int64})
           AND EnvelopeId IN {ids${i}:Array(String)}
         GROUP BY tenant, id, cell`,
      );
      params[`t${i}`] = spec.table;
      params[`tenants${i}`] = [...spec.tenants];
      params[`lo${i}`] = (spec.lo < 0n ? 0n : spec.lo).toString();
      params[`hi${i}`] = (spec.hi > MAX_INT64 ? MAX_INT64 : spec.hi).toString();
      params[`ids${i}`] = [...spec.ids];
    });
    const out = new Map<string, Found>();
    if (selects.length === 0) return out;
    const rs = await this.client.query({
      query: selects.join('\nUNION ALL\n'),
      query_params: params,
      // 10,000 envelope ids do not fit a URL: send them in the body when long.
      use_multipart_params_auto: true,
      format: 'JSONEachRow',
    });
    type Row = { t: string; tenant: string; id: string; cell: number | string; n: number | string };
    for (const r of await rs.json<Row>()) {
      const key = `${r.t}\u0000${r.tenant}\u0000${r.id}`;
      const cells = out.get(key) ?? new Map<number, number>();
      out.set(key, cells);
      cells.set(Number(r.cell), (cells.get(Number(r.cell)) ?? 0) + Number(r.n));
    }
    return out;
  }
}
