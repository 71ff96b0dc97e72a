import { createHash } from 'node:crypto';
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import { positionEnvelopeId } from '../envelope/envelope.js';
import { type ColumnBatch, MapJson } from '../rows/batch.js';
import { TABLE_NAMES, type TableName } from '../schema/columns.js';
import { DEFAULT_HOT_RETENTION_DAYS, ident, qualified } from './ddl.js';
import { type ClickHouseFailure, classifyClickHouseError } from './errors.js';
import {
  CELL_SECONDS,
  convertEnvelope,
  type EnvelopeRows,
  LAYOUTS,
  RowValidationError,
  type TableRowsInfo,
} from './insert-rows.js';
import {
  encodeParts,
  type InsertPart,
  JSON_ROWS_FORMAT,
  JSON_ROWS_SETTINGS,
  MAX_INSERT_BYTES,
} from './insert-text.js';
import { type ClickHouseRequests, clickHouseRequests } from './requests.js';

// Row conversion and insert encoding live in their own modules; their names stay reachable here.
export {
  CELL_SECONDS,
  convertEnvelope,
  RowValidationError,
  type TableRowsInfo,
  toDateTime64,
} from './insert-rows.js';
export { encodeParts, type InsertPart, MAX_INSERT_BYTES, RowText } from './insert-text.js';

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

const NS_PER_MS = 1_000_000n;
const DAY_MS = 86_400_000;

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
  private readonly requests: ClickHouseRequests;

  /** `client`: a ClickHouse client (its cheapest port is used, requests.ts) or the port itself. */
  constructor(client: ClickHouseClient | ClickHouseRequests, options: ClickHouseWriterOptions = {}) {
    this.requests = clickHouseRequests(client);
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
      await this.requests.insertText({
        table: qualified(table, this.database),
        columns: layout.columns.map((c) => ident(c.name)),
        chunks: part.chunks,
        format: JSON_ROWS_FORMAT,
        settings: { ...this.insertSettings(token), ...JSON_ROWS_SETTINGS },
      });
      return;
    }
    // The client's own JSON encoding, row objects: the reference the tests hold ours to.
    function* objects(): Generator<Record<string, unknown>> {
      for (let r = part.start; r < part.end; r++) {
        const row = rows[r]!;
        const o: Record<string, unknown> = {};
        layout.columns.forEach((c, i) => {
          const v = row[i];
          o[c.name] = v instanceof MapJson ? JSON.parse(v.json) : v;
        });
        yield o;
      }
    }
    await this.requests.insertObjects({
      table: qualified(table, this.database),
      objects: objects(),
      settings: this.insertSettings(token),
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
    type Row = { t: string; tenant: string; id: string; cell: number | string; n: number | string };
    // One JSON document; 10,000 envelope ids do not fit a URL, so long parameters go in the body.
    const rows = await this.requests.rows<Row>({ query: selects.join('\nUNION ALL\n'), params });
    for (const r of rows) {
      const key = `${r.t}\u0000${r.tenant}\u0000${r.id}`;
      const cells = out.get(key) ?? new Map<number, number>();
      out.set(key, cells);
      cells.set(Number(r.cell), (cells.get(Number(r.cell)) ?? 0) + Number(r.n));
    }
    return out;
  }
}
