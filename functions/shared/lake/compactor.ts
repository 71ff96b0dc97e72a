import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeParquet, ParquetReadError } from '../parquet/parquet-reader.js';
import { encodeParquet } from '../parquet/parquet-writer.js';
import type { ColumnBatch } from '../rows/batch.js';
import { ENVELOPE_ID_COLUMN, isTableName, type TableName } from '../schema/columns.js';
import {
  envelopeIdsKey,
  envelopeIdsPartitionPrefix,
  MANIFEST_PREFIX,
  manifestKey,
  manifestPartitionPrefix,
  type PartitionPath,
  parseStagingKey,
  partitionHourStart,
  publishedKey,
  publishedPartitionPrefix,
  STAGING_PREFIX,
  stagingPartitionPrefix,
} from './layout.js';
import type { ObjectInfo, ObjectStore } from './object-store.js';
import { checkParquetBytes, quarantine } from './quarantine.js';

/**
 * The compactor publishes staging files (invisible to Glue) as large visible parts.
 *
 * Per set of staging files: (1) put a manifest `_published/…/<hash>.json` naming the set and the
 * part, (2) put the part (one atomic put: readers see all of the set's rows or none), (3) delete the
 * staging files, (4) delete the manifest. A rerun after a crash finds the manifest: if its part
 * exists, step 2 happened, so it only finishes 3-4 and never publishes those rows again; if not,
 * the manifest is dropped and the files are published afresh. `<hash>` is derived from the set's
 * keys, so redoing the same set overwrites the same part. Readers therefore see each row exactly
 * once from the moment its part is put. Two compactors must not run at once (reserved concurrency
 * 1), or two different groupings of the same files could both be published.
 *
 * A staging file that is not a complete, readable Parquet file (0 bytes, truncated, a footer that
 * does not parse, or rows the reader rejects) is moved under `_quarantine/` with its reason and
 * the rest of its set is published: one bad file never holds up a partition. A partition that
 * fails for another reason (storage errors) is reported and the run goes on with the others.
 * Files written before a column was added to the model are read with that column's default (see
 * parquet-reader.ts), so a deploy that adds one never makes older staging files unreadable.
 *
 * Each (table, partition, envelope id) is published once: a client's resend of a request carries
 * the same envelope ids under new stream positions, so its rows reach staging again. Before a part
 * is put, the ids it holds are put beside it (`_envelope-ids/…/<hash>.txt.gz`, counted only while
 * part-<hash> exists); rows whose id an existing part or an earlier file of this run holds are left
 * out (dedupStep). A resend lands in the partitions of its original (partitions are by event time),
 * so this is exact per partition; rows that had no time of their own carry the receive time and
 * may land elsewhere (ADR 0005). Files from before EnvelopeId read it as '' (the default above),
 * which is no id: such rows are always kept.
 */

export interface CompactPartitionOptions {
  readonly table: TableName;
  readonly partition: PartitionPath;
  /** Stop adding files to a part once it reaches this many (compressed) bytes. */
  readonly targetBytes: number;
  /**
   * Only staging files written before this instant are published: later ones may still be
   * rewritten by a retry of their batch (see lake-writer.ts).
   */
  readonly stagedBefore: Date;
  /** Test hook: called between steps, to simulate a crash by throwing. */
  readonly onStep?: (step: 'manifest' | 'published' | 'staging-deleted') => void;
}

export interface QuarantinedFile {
  readonly key: string;
  readonly reason: string;
}

export interface PartitionCompaction {
  readonly published: readonly string[];
  /** Staging files consumed (published now or by a crashed earlier run). */
  readonly consumed: number;
  readonly rows: number;
  /** Rows left out: their envelope id was published already, or taken from an earlier file. */
  readonly duplicates: number;
  /** Staging files moved under `_quarantine/` because they could not be read. */
  readonly quarantined: readonly QuarantinedFile[];
}

export interface FailedPartition {
  readonly table: TableName;
  readonly partition: PartitionPath;
  readonly error: string;
}

export interface CompactLakeOptions {
  readonly now: Date;
  /** Must exceed the lake writer ESM's maximum record age (plus its function timeout). */
  readonly graceMs: number;
  readonly targetBytes: number;
}

export interface LakeCompaction {
  readonly partitions: number;
  readonly published: readonly string[];
  readonly consumed: number;
  readonly rows: number;
  readonly duplicates: number;
  readonly quarantined: readonly QuarantinedFile[];
  /** Partitions left for the next run, with the error that stopped each. */
  readonly failed: readonly FailedPartition[];
}

export class CompactionError extends Error {
  override readonly name = 'CompactionError';
}

interface Manifest {
  readonly part: string;
  readonly inputs: readonly string[];
}

function parseManifest(bytes: Uint8Array | undefined): Manifest | undefined {
  if (!bytes) return undefined;
  try {
    const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<Manifest>;
    if (typeof m.part === 'string' && Array.isArray(m.inputs) && m.inputs.every((k) => typeof k === 'string'))
      return { part: m.part, inputs: m.inputs };
  } catch {
    // An unreadable manifest is treated as absent: its part is recomputed from staging.
  }
  return undefined;
}

/** A staging file's rows, or why it cannot be read (then it is quarantined, not retried). */
function readStaging(
  table: TableName,
  body: Uint8Array,
): { ok: true; batch: ColumnBatch } | { ok: false; reason: string } {
  const check = checkParquetBytes(body);
  if (!check.ok) return check;
  try {
    const batch = decodeParquet(table, body);
    if (batch.rowCount !== check.rows) {
      return { ok: false, reason: `read ${batch.rowCount} rows, the footer says ${check.rows}` };
    }
    return { ok: true, batch };
  } catch (e) {
    if (!(e instanceof ParquetReadError)) throw e;
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
    return { ok: false, reason: `${e.message}${cause}` };
  }
}

function setHash(keys: readonly string[]): string {
  return createHash('sha256').update(keys.join('\n')).digest('hex').slice(0, 24);
}

/** Greedy, in key order, so the same files always form the same sets. */
function groupBySize(files: readonly ObjectInfo[], targetBytes: number): ObjectInfo[][] {
  const out: ObjectInfo[][] = [];
  let current: ObjectInfo[] = [];
  let bytes = 0;
  for (const f of files) {
    if (current.length > 0 && bytes + f.size > targetBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(f);
    bytes += f.size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Envelope ids of the partition's published parts (those whose part exists). */
async function publishedIds(
  store: ObjectStore,
  table: TableName,
  partition: PartitionPath,
  partKeys: ReadonlySet<string>,
): Promise<Set<string>> {
  const ids = new Set<string>();
  const prefix = envelopeIdsPartitionPrefix(table, partition);
  for (const o of await store.list(prefix)) {
    const hash = o.key.slice(prefix.length).replace(/\.txt\.gz$/, '');
    // Written before its part: without the part, a crash came between, and the ids are not published.
    if (!partKeys.has(publishedKey(table, partition, hash))) continue;
    const body = await store.get(o.key);
    if (!body) continue;
    for (const id of gunzipSync(body).toString('utf8').split('\n')) if (id) ids.add(id);
  }
  return ids;
}

/**
 * The dedup step: leaves out rows whose envelope id is in `seen` (published, or taken from an
 * earlier file of this run), then adds this file's ids to `seen`. Rows without an id are always
 * kept: files from before EnvelopeId read it as '' (its default), which is no id, so such rows
 * are never dropped as duplicates of each other.
 */
export function dedupStep(
  batch: ColumnBatch,
  seen: Set<string>,
): { batch: ColumnBatch; dropped: number; added: string[] } {
  const ids = batch.columns[ENVELOPE_ID_COLUMN];
  if (!ids) return { batch, dropped: 0, added: [] };
  const keep: number[] = [];
  const mine = new Set<string>();
  for (let i = 0; i < batch.rowCount; i++) {
    const raw = ids[i];
    const id = typeof raw === 'string' && raw !== '' ? raw : undefined;
    if (id !== undefined && seen.has(id)) continue;
    keep.push(i);
    if (id !== undefined) mine.add(id);
  }
  for (const id of mine) seen.add(id);
  const added = [...mine];
  if (keep.length === batch.rowCount) return { batch, dropped: 0, added };
  const columns: Record<string, unknown[]> = {};
  for (const [name, values] of Object.entries(batch.columns)) columns[name] = keep.map((i) => values[i]);
  return {
    batch: { table: batch.table, rowCount: keep.length, columns },
    dropped: batch.rowCount - keep.length,
    added,
  };
}

export async function compactPartition(
  store: ObjectStore,
  options: CompactPartitionOptions,
): Promise<PartitionCompaction> {
  const { table, partition } = options;
  const step = options.onStep ?? (() => {});
  const [staging, manifests, parts] = await Promise.all([
    store.list(stagingPartitionPrefix(table, partition)),
    store.list(manifestPartitionPrefix(table, partition)),
    store.list(publishedPartitionPrefix(table, partition)),
  ]);
  const partKeys = new Set(parts.map((p) => p.key));
  const pending = new Map(staging.map((s) => [s.key, s]));
  let consumed = 0;

  // Finish what a crashed run started.
  for (const m of manifests) {
    const manifest = parseManifest(await store.get(m.key));
    if (manifest && partKeys.has(manifest.part)) {
      const left = manifest.inputs.filter((k) => pending.has(k));
      if (left.length > 0) await store.delete(left);
      for (const k of left) pending.delete(k);
      consumed += left.length;
    }
    await store.delete([m.key]);
  }

  const eligible = [...pending.values()]
    .filter((f) => f.key.endsWith('.parquet') && f.lastModified.getTime() < options.stagedBefore.getTime())
    .sort((a, b) => (a.key < b.key ? -1 : 1));
  const published: string[] = [];
  const quarantined: QuarantinedFile[] = [];
  let rows = 0;
  let duplicates = 0;
  const seen =
    eligible.length > 0 ? await publishedIds(store, table, partition, partKeys) : new Set<string>();
  for (const set of groupBySize(eligible, options.targetBytes)) {
    // The readable files of the set, and their rows not published yet.
    const inputs: string[] = [];
    const batches: ColumnBatch[] = [];
    const partIds = new Set<string>();
    for (const f of set) {
      const body = await store.get(f.key);
      if (!body) throw new CompactionError(`staging file ${f.key} vanished during compaction`);
      const read = readStaging(table, body);
      if (!read.ok) {
        await quarantine(store, { key: f.key, reason: read.reason, size: body.length, by: 'compactor' });
        quarantined.push({ key: f.key, reason: read.reason });
        continue;
      }
      inputs.push(f.key);
      const { batch, dropped, added } = dedupStep(read.batch, seen);
      duplicates += dropped;
      for (const id of added) partIds.add(id);
      if (batch.rowCount > 0) batches.push(batch);
    }
    if (inputs.length === 0) continue;
    if (batches.length === 0) {
      // Every row was published already: nothing to put, only the staging files to retire.
      await store.delete(inputs);
      consumed += inputs.length;
      continue;
    }
    // The set is named by the files actually published, so a rerun after a crash (the bad files
    // already moved aside) finds the same hash.
    const hash = setHash(inputs);
    const part = publishedKey(table, partition, hash);
    const mKey = manifestKey(table, partition, hash);
    await store.put(
      mKey,
      Buffer.from(JSON.stringify({ part, inputs } satisfies Manifest)),
      'application/json',
    );
    step('manifest');
    await store.put(
      envelopeIdsKey(table, partition, hash),
      gzipSync(Buffer.from([...partIds].join('\n'))),
      'application/gzip',
    );
    await store.put(part, encodeParquet(table, batches), 'application/vnd.apache.parquet');
    step('published');
    await store.delete(inputs);
    step('staging-deleted');
    await store.delete([mKey]);
    published.push(part);
    consumed += inputs.length;
    rows += batches.reduce((n, b) => n + b.rowCount, 0);
  }
  return { published, consumed, rows, duplicates, quarantined };
}

/**
 * One scheduled run: every partition whose hour ended more than `graceMs` ago, and which has
 * staging files or leftover manifests, is compacted.
 */
export async function compactLake(store: ObjectStore, options: CompactLakeOptions): Promise<LakeCompaction> {
  const stagedBefore = new Date(options.now.getTime() - options.graceMs);
  const partitions = new Map<string, { table: TableName; partition: PartitionPath }>();
  const consider = (table: string, partition: PartitionPath) => {
    const start = partitionHourStart(partition);
    if (!isTableName(table) || start === undefined) return;
    if (start + 3_600_000 + options.graceMs > options.now.getTime()) return; // hour still open
    partitions.set(`${table}/${partition}`, { table, partition });
  };
  for (const o of await store.list(STAGING_PREFIX)) {
    const p = parseStagingKey(o.key);
    if (p) consider(p.table, p.partition);
  }
  for (const o of await store.list(MANIFEST_PREFIX)) {
    const parts = o.key.slice(MANIFEST_PREFIX.length).split('/');
    if (parts.length === 5) consider(parts[0]!, parts.slice(1, 4).join('/'));
  }
  const published: string[] = [];
  const quarantined: QuarantinedFile[] = [];
  const failed: FailedPartition[] = [];
  let consumed = 0;
  let rows = 0;
  let duplicates = 0;
  for (const { table, partition } of [...partitions.values()].sort((a, b) =>
    `${a.table}/${a.partition}` < `${b.table}/${b.partition}` ? -1 : 1,
  )) {
    try {
      const r = await compactPartition(store, {
        table,
        partition,
        targetBytes: options.targetBytes,
        stagedBefore,
      });
      published.push(...r.published);
      quarantined.push(...r.quarantined);
      consumed += r.consumed;
      rows += r.rows;
      duplicates += r.duplicates;
    } catch (e) {
      // Every step is idempotent: the next run resumes this partition; the others go on now.
      failed.push({ table, partition, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
  return { partitions: partitions.size, published, consumed, rows, duplicates, quarantined, failed };
}
