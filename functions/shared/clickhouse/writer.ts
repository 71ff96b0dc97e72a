import { createHash } from 'node:crypto';
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import type { ColumnBatch } from '../rows/batch.js';
import {
  type PhysicalColumn,
  physicalColumns,
  type ScalarType,
  TABLE_NAMES,
  type TableName,
} from '../schema/columns.js';
import { DEFAULT_HOT_RETENTION_DAYS, ident, qualified, WRITE_LEDGER_TABLE } from './ddl.js';

/**
 * Writes a stream consumer's batch to ClickHouse: one insert per table per batch, exactly once per
 * (table, stream record) as far as ClickHouse allows. See docs/decisions/0004 for the reasoning:
 *
 * 1. Rows are validated against the column model first; an envelope whose rows do not fit is
 *    rejected whole (dead-letter it) rather than failing every retry of its batch.
 * 2. The ledger (`otel_write_ledger`: which (table, stream, shard, sequence) are written) is read for
 *    the batch; envelopes already written to a table are left out of that table's insert. This
 *    catches redeliveries with a different composition (bisected batches, checkpointed retries).
 * 3. Each table's insert carries `insert_deduplication_token` = table + shard + sequence range + a
 *    hash of exactly which records it holds, so an identical retry (same batch again, or a crash
 *    after the insert) is dropped by ClickHouse. Transient failures are retried in-process with the
 *    same token before giving up.
 * 4. After a table's insert, its ledger rows are written. What remains: an insert committed, then the
 *    invocation died before the ledger write, and the records come back in a different composition.
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
  readonly batches: readonly ColumnBatch[];
}

export interface RejectedEnvelope {
  readonly position: StreamPosition;
  readonly reason: string;
}

export interface WriteStats {
  readonly rowsInserted: number;
  /** Rows left out because the ledger says an earlier attempt wrote them. */
  readonly rowsAlreadyWritten: number;
  /** Rows older than the hot retention: TTL would drop them; the lake keeps them. */
  readonly rowsExpired: number;
  /** Data inserts issued (at most one per table). */
  readonly inserts: number;
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
  override readonly name = 'ClickHouseWriteError';
  constructor(
    message: string,
    readonly table: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
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
  /** @default 'JSONCompactEachRow' (the faster one: see bench/clickhouse.ts) */
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

function defaultValue(type: ScalarType): unknown {
  switch (type) {
    case 'string':
    case 'lowcard':
      return '';
    case 'timestamp_ns':
      return '0000000000.000000000';
    case 'float64':
    case 'uint8':
    case 'uint32':
    case 'int32':
    case 'uint64':
      return 0;
    case 'bool':
      return false;
    case 'map':
      return {};
    case 'array_float64':
    case 'array_uint64':
      return [];
  }
}

interface TableLayout {
  readonly columns: readonly PhysicalColumn[];
  readonly index: ReadonlyMap<string, number>;
  readonly timeColumn: number;
  readonly tenantColumn: number;
}

const LAYOUTS = new Map<TableName, TableLayout>(
  TABLE_NAMES.map((t) => {
    const columns = physicalColumns(t);
    const index = new Map(columns.map((c, i) => [c.name, i]));
    const time = t === 'otel_traces' || t === 'otel_logs' ? 'Timestamp' : 'TimeUnix';
    return [t, { columns, index, timeColumn: index.get(time)!, tenantColumn: index.get('TenantId')! }];
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

/**
 * Validates and converts an envelope's batches into insertable rows, dropping rows older than
 * `cutoffNs`. Throws RowValidationError when a row does not fit the column model.
 */
export function convertEnvelope(
  tenant: string,
  batches: readonly ColumnBatch[],
  cutoffNs: string,
): { rows: EnvelopeRows; expired: number } {
  const out: EnvelopeRows = new Map();
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
          ? Array.from({ length: lengths?.[r] ?? 0 }, () => defaultValue(col.type))
          : defaultValue(col.type);
      }
    }
    const timeSource = batch.columns[layout.columns[layout.timeColumn]!.name];
    let old = 0;
    for (let r = 0; r < n; r++) {
      rows[r]![layout.tenantColumn] = tenant;
      const ts = timeSource?.[r];
      if (typeof ts === 'string' && isOlder(ts, cutoffNs)) old++;
    }
    expired += old;
    let kept = rows;
    if (old > 0) {
      kept = [];
      for (let r = 0; r < n; r++) {
        const ts = timeSource?.[r];
        if (typeof ts !== 'string' || !isOlder(ts, cutoffNs)) kept.push(rows[r]!);
      }
    }
    if (kept.length > 0) {
      const list = out.get(table);
      if (list) for (const row of kept) list.push(row);
      else out.set(table, kept);
    }
  }
  return { rows: out, expired };
}

const positionKey = (p: StreamPosition) => `${p.stream}\u0000${p.shardId}\u0000${p.sequenceNumber}`;

/** The dedup token of one table insert: readable prefix, and a hash of exactly which records. */
export function deduplicationToken(table: string, positions: readonly StreamPosition[]): string {
  const hash = createHash('sha256').update(table);
  for (const p of positions) hash.update(`\u0001${positionKey(p)}`);
  const first = positions[0];
  const last = positions[positions.length - 1];
  const range = first && last ? `${first.shardId}:${first.sequenceNumber}-${last.sequenceNumber}` : 'empty';
  return `${table}:${range}:${positions.length}:${hash.digest('hex').slice(0, 32)}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Prepared {
  readonly item: PositionedEnvelope;
  readonly rows: EnvelopeRows;
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
        const { rows, expired } = convertEnvelope(item.tenant, item.batches, cutoffNs);
        prepared.push({ item, rows });
        rowsExpired += expired;
      } catch (err) {
        if (!(err instanceof RowValidationError)) throw err;
        rejected.push({
          position: item.position,
          reason: `rows do not fit the column model: ${err.message}`,
        });
      }
    }

    // (table, position) pairs done: from the ledger, then from this run's inserts.
    const done = new Set<string>();
    let rowsInserted = 0;
    let rowsAlreadyWritten = 0;
    let inserts = 0;
    let error: ClickHouseWriteError | undefined;
    try {
      const positions = prepared.map((p) => p.item.position);
      for (const key of await this.retrying(WRITE_LEDGER_TABLE, () => this.readLedger(positions)))
        done.add(key);
      for (const table of TABLE_NAMES) {
        const included: Prepared[] = [];
        for (const p of prepared) {
          const rows = p.rows.get(table);
          if (!rows) continue;
          if (done.has(`${table}\u0000${positionKey(p.item.position)}`)) rowsAlreadyWritten += rows.length;
          else included.push(p);
        }
        if (included.length === 0) continue;
        const positions = included.map((p) => p.item.position);
        const token = deduplicationToken(table, positions);
        const rows = included.flatMap((p) => p.rows.get(table)!);
        await this.retrying(table, () => this.insertRows(table, rows, token));
        inserts++;
        rowsInserted += rows.length;
        await this.retrying(WRITE_LEDGER_TABLE, () => this.writeLedger(table, positions, token));
        for (const p of positions) done.add(`${table}\u0000${positionKey(p)}`);
      }
    } catch (err) {
      error =
        err instanceof ClickHouseWriteError
          ? err
          : new ClickHouseWriteError('ClickHouse write failed', WRITE_LEDGER_TABLE, { cause: err });
    }

    const written: StreamPosition[] = [];
    const pending: StreamPosition[] = [];
    for (const p of prepared) {
      const complete = [...p.rows.keys()].every((t) => done.has(`${t}\u0000${positionKey(p.item.position)}`));
      (complete ? written : pending).push(p.item.position);
    }
    return {
      written,
      rejected,
      pending,
      ...(error ? { error } : {}),
      stats: { rowsInserted, rowsAlreadyWritten, rowsExpired, inserts },
    };
  }

  private async retrying<T>(table: string, run: () => Promise<T>): Promise<T> {
    let last: unknown;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      if (attempt > 0) await sleep(this.retryDelayMs * 2 ** (attempt - 1));
      try {
        return await run();
      } catch (err) {
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

  private async insertRows(table: TableName, rows: unknown[][], token: string): Promise<void> {
    const layout = LAYOUTS.get(table)!;
    const common = {
      table: qualified(table, this.database),
      clickhouse_settings: this.insertSettings(token),
    };
    if (this.format === 'JSONCompactEachRow') {
      await this.client.insert({
        ...common,
        values: rows,
        format: 'JSONCompactEachRow',
        columns: layout.columns.map((c) => ident(c.name)) as [string, ...string[]],
      });
      return;
    }
    const objects = rows.map((row) => {
      const o: Record<string, unknown> = {};
      layout.columns.forEach((c, i) => {
        o[c.name] = row[i];
      });
      return o;
    });
    await this.client.insert({ ...common, values: objects, format: 'JSONEachRow' });
  }

  private async readLedger(positions: readonly StreamPosition[]): Promise<string[]> {
    const byShard = new Map<string, StreamPosition[]>();
    for (const p of positions) {
      const k = `${p.stream}\u0000${p.shardId}`;
      const list = byShard.get(k);
      if (list) list.push(p);
      else byShard.set(k, [p]);
    }
    const keys: string[] = [];
    for (const list of byShard.values()) {
      const { stream, shardId } = list[0]!;
      const rs = await this.client.query({
        query: `SELECT DISTINCT TableName, SequenceNumber FROM ${qualified(WRITE_LEDGER_TABLE, this.database)}
                WHERE Stream = {stream:String} AND ShardId = {shard:String}
                  AND SequenceNumber IN {seqs:Array(String)}`,
        query_params: { stream, shard: shardId, seqs: list.map((p) => p.sequenceNumber) },
        // 10,000 sequence numbers do not fit a URL: send them in the body when long.
        use_multipart_params_auto: true,
        format: 'JSONEachRow',
      });
      for (const r of await rs.json<{ TableName: string; SequenceNumber: string }>()) {
        keys.push(
          `${r.TableName}\u0000${positionKey({ stream, shardId, sequenceNumber: r.SequenceNumber })}`,
        );
      }
    }
    return keys;
  }

  private async writeLedger(
    table: TableName,
    positions: readonly StreamPosition[],
    token: string,
  ): Promise<void> {
    await this.client.insert({
      table: qualified(WRITE_LEDGER_TABLE, this.database),
      values: positions.map((p) => ({
        Stream: p.stream,
        ShardId: p.shardId,
        SequenceNumber: p.sequenceNumber,
        TableName: table,
      })),
      format: 'JSONEachRow',
      clickhouse_settings: { ...this.insertSettings(`ledger:${token}`) },
    });
  }
}
