import { positionEnvelopeId, type UnpackedEnvelope } from '../envelope/envelope.js';
import { encodeParquet } from '../parquet/parquet-writer.js';
import type { ColumnBatch } from '../rows/batch.js';
import { ENVELOPE_ID_COLUMN, SAMPLE_RATE_COLUMN, TABLES, type TableName } from '../schema/columns.js';
import { usageRecordOf } from '../usage/usage.js';
import {
  nanosToMillis,
  type PartitionPath,
  parseStagingName,
  partitionOf,
  stagingKey,
  stagingPartitionPrefix,
  usageKey,
} from './layout.js';
import type { ObjectInfo, ObjectStore } from './object-store.js';
import { checkStoredParquet, quarantine } from './quarantine.js';

/**
 * The lake writer's use-case: envelopes of one stream batch -> one staging Parquet file per
 * (table, partition, shard), keyed `<shard>-<firstSeq>-<lastSeq>`.
 *
 * Exactly once across retries. A Kinesis batch (and each bisected half, and each restart from a
 * reported failure) is a contiguous run of one shard's records. Invariant: for every staging file
 * F of (table, partition, shard) with range [a, b], every record of that shard with a sequence
 * number in [a, b] has all its rows of that partition in some staging file. It holds for a new
 * file because its records form a contiguous run of the batch, each one either written into it,
 * skipped because an existing file's range holds it (so, by the invariant, its rows are written),
 * or without rows for the partition. So before writing, a record whose sequence number lies in an
 * existing file's range is skipped: a retried identical batch writes nothing, and a bisected or
 * restarted retry writes only what no earlier attempt did. Files are written atomically (one put).
 * A file counts only if it is a complete Parquet file (magic at both ends, a footer that parses,
 * row counts that agree, chunks inside the file; checked from its two ends, see quarantine.ts):
 * an incomplete one (s3rver's non-atomic put cut by a crash) satisfies nothing, so its records
 * are rewritten and the file is moved under `_quarantine/` with its reason and the rewrite's key.
 * The compactor removes staging files only once they are older than a grace longer than the
 * ESM's maximum record age, i.e. once no retry of their records can happen any more.
 *
 * Across client resends (the same request sent again: same content, new sequence numbers) the key
 * is the envelope's content id, written into every row's EnvelopeId: a batch holding an envelope
 * id twice writes it once, and the compactor publishes each (table, partition, id) once.
 */

export interface DecodedRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  /** When Kinesis received the record; the partition time of rows that carry no time. */
  readonly arrivalMs?: number;
  readonly envelope: UnpackedEnvelope;
}

export interface LakeWriteResult {
  /** Keys written, in order. */
  readonly files: readonly string[];
  readonly rowsWritten: number;
  /** Rows of records an earlier attempt had already written. */
  readonly rowsSkipped: number;
  /**
   * Staging files found incomplete (0 bytes, truncated, a footer that does not parse) whose
   * records this attempt rewrote; each is overwritten or moved under `_quarantine/`.
   */
  readonly replaced: readonly string[];
  /** Usage objects written (`_usage/…`, layout.ts), one per tenant and day in the batch. */
  readonly usageFiles?: readonly string[];
}

export interface LakeWriterOptions {
  /** Partitions written at once (S3 latency overlaps with encoding). @default 4 */
  readonly concurrency?: number;
}

export class LakeWriteError extends Error {
  override readonly name = 'LakeWriteError';
}

interface Contribution {
  readonly seq: bigint;
  readonly envelopeId: string;
  readonly batch: ColumnBatch;
}

interface Group {
  readonly table: TableName;
  readonly partition: PartitionPath;
  readonly shardId: string;
  readonly contributions: Contribution[];
}

function take(batch: ColumnBatch, rows: readonly number[]): ColumnBatch {
  const columns: Record<string, unknown[]> = {};
  for (const [name, values] of Object.entries(batch.columns)) columns[name] = rows.map((r) => values[r]);
  return { table: batch.table, rowCount: rows.length, columns };
}

/** Splits an envelope's batch by partition (usually it all falls in one hour). */
function splitByPartition(
  tenant: string,
  batch: ColumnBatch,
  arrivalMs: number,
): Map<PartitionPath, ColumnBatch> {
  const times = batch.columns[TABLES[batch.table].timeColumn] ?? [];
  const rowsOf = new Map<PartitionPath, number[]>();
  const cache = new Map<number, PartitionPath>();
  for (let i = 0; i < batch.rowCount; i++) {
    const ms = nanosToMillis(times[i]) || arrivalMs;
    const hour = Math.floor(ms / 3_600_000);
    let p = cache.get(hour);
    if (p === undefined) {
      p = partitionOf(tenant, ms);
      cache.set(hour, p);
    }
    const list = rowsOf.get(p);
    if (list) list.push(i);
    else rowsOf.set(p, [i]);
  }
  const out = new Map<PartitionPath, ColumnBatch>();
  for (const [p, rows] of rowsOf) out.set(p, rows.length === batch.rowCount ? batch : take(batch, rows));
  return out;
}

/**
 * The batch with every row's EnvelopeId set (the payload does not carry it: one id per envelope).
 * Spans get no SampleRate column: the encoder writes the model's absent value, 1, for every row,
 * as the lake keeps every span (ADR 0009), even were an envelope to carry another weight.
 */
function withEnvelopeId(batch: ColumnBatch, id: string): ColumnBatch {
  const columns = { ...batch.columns, [ENVELOPE_ID_COLUMN]: new Array<string>(batch.rowCount).fill(id) };
  if (batch.table === 'otel_traces' && SAMPLE_RATE_COLUMN in columns) delete columns[SAMPLE_RATE_COLUMN];
  return { ...batch, columns };
}

function group(records: readonly DecodedRecord[]): Group[] {
  const groups = new Map<string, Group>();
  for (const r of records) {
    const seq = BigInt(r.sequenceNumber);
    const envelopeId = r.envelope.header.id ?? positionEnvelopeId(r.shardId, r.sequenceNumber);
    for (const raw of r.envelope.batches) {
      if (raw.rowCount === 0) continue;
      const batch = withEnvelopeId(raw, envelopeId);
      const parts = splitByPartition(r.envelope.header.tenant, batch, r.arrivalMs ?? Date.now());
      for (const [partition, rows] of parts) {
        const id = `${batch.table}/${partition}/${r.shardId}`;
        const g = groups.get(id) ?? { table: batch.table, partition, shardId: r.shardId, contributions: [] };
        groups.set(id, g);
        g.contributions.push({ seq, envelopeId, batch: rows });
      }
    }
  }
  return [...groups.values()];
}

interface StagedFile {
  readonly info: ObjectInfo;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
}

async function stagedFiles(store: ObjectStore, g: Group): Promise<StagedFile[]> {
  const prefix = stagingPartitionPrefix(g.table, g.partition);
  const out: StagedFile[] = [];
  for (const info of await store.list(`${prefix}${g.shardId}-`)) {
    const parsed = parseStagingName(info.key.slice(prefix.length));
    if (parsed && parsed.shardId === g.shardId) out.push({ info, ...parsed });
  }
  return out;
}

interface GroupWrite {
  readonly key?: string;
  readonly written: number;
  readonly skipped: number;
  readonly replaced: readonly string[];
}

async function writeGroup(store: ObjectStore, g: Group): Promise<GroupWrite> {
  // Only files whose range holds one of these records matter; on a first delivery there are none,
  // so the check below costs a retry only.
  const holds = (f: StagedFile) => g.contributions.some((c) => c.seq >= f.firstSeq && c.seq <= f.lastSeq);
  const candidates = (await stagedFiles(store, g)).filter(holds);
  const checks = await Promise.all(candidates.map((f) => checkStoredParquet(store, f.info)));
  const covering: StagedFile[] = [];
  const broken: { file: StagedFile; reason: string }[] = [];
  candidates.forEach((f, i) => {
    const check = checks[i];
    // Gone since the listing: only the compactor removes staging files, past the grace, when no
    // retry of their records can come (see above); counting it keeps a published row single.
    if (check === undefined || check.ok) covering.push(f);
    else broken.push({ file: f, reason: check.reason });
  });
  const fresh: Contribution[] = [];
  // An envelope's rows of one table and partition are one contribution: a second one with the same
  // id is a resend in the same batch (the compactor would drop it anyway).
  const ids = new Set<string>();
  let skipped = 0;
  for (const c of g.contributions) {
    if (covering.some((f) => c.seq >= f.firstSeq && c.seq <= f.lastSeq) || ids.has(c.envelopeId))
      skipped += c.batch.rowCount;
    else {
      fresh.push(c);
      ids.add(c.envelopeId);
    }
  }
  if (fresh.length === 0) return { written: 0, skipped, replaced: [] };
  let first = fresh[0]!.seq;
  let last = first;
  for (const c of fresh) {
    if (c.seq < first) first = c.seq;
    if (c.seq > last) last = c.seq;
  }
  const key = stagingKey({
    table: g.table,
    partition: g.partition,
    shardId: g.shardId,
    firstSeq: first,
    lastSeq: last,
  });
  const body = encodeParquet(
    g.table,
    fresh.map((c) => c.batch),
  );
  await store.put(key, body, 'application/vnd.apache.parquet');
  // The broken files' records of this batch are now in `key`: move them aside (after the put, so a
  // crash in between leaves the records stored; a broken file left behind is quarantined by the
  // next attempt or the compactor). One under the same key was overwritten by the put itself.
  const replaced: string[] = [];
  for (const { file, reason } of broken) {
    replaced.push(file.info.key);
    if (file.info.key === key) continue;
    await quarantine(store, {
      key: file.info.key,
      reason,
      size: file.info.size,
      by: 'lake-writer',
      replacedBy: key,
    });
  }
  return { key, written: fresh.reduce((n, c) => n + c.batch.rowCount, 0), skipped, replaced };
}

/** Writes the records' rows to staging; throws (so the batch is retried) if any put fails. */
export async function writeToLake(
  store: ObjectStore,
  records: readonly DecodedRecord[],
  options: LakeWriterOptions = {},
): Promise<LakeWriteResult> {
  const groups = group(records);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const files: string[] = [];
  let rowsWritten = 0;
  let rowsSkipped = 0;
  const replaced: string[] = [];
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const g = groups[next++]!;
      try {
        const r = await writeGroup(store, g);
        if (r.key) files.push(r.key);
        rowsWritten += r.written;
        rowsSkipped += r.skipped;
        replaced.push(...r.replaced);
      } catch (e) {
        failures.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
  if (failures.length > 0) {
    throw new LakeWriteError(`${failures.length} of ${groups.length} lake partitions failed to write`, {
      cause: failures[0],
    });
  }
  files.sort();
  replaced.sort();
  const usageFiles = await writeUsage(store, records);
  return { files, rowsWritten, rowsSkipped, replaced, ...(usageFiles.length > 0 && { usageFiles }) };
}

/**
 * The usage of the requests whose first envelope is in this batch, per tenant and UTC day, as JSON
 * lines under `_usage/` (the lake's copy of the usage table; Athena reads it with a JSON SerDe).
 * Keyed by the batch's shard and sequence range like the staging files, so a retried batch
 * overwrites; a redelivery in another range repeats lines, which carry the envelope id to count once.
 */
async function writeUsage(store: ObjectStore, records: readonly DecodedRecord[]): Promise<string[]> {
  const groups = new Map<
    string,
    { tenant: string; day: string; shardId: string; seqs: bigint[]; lines: string[] }
  >();
  for (const r of records) {
    const u = usageRecordOf(
      r.envelope.header,
      positionEnvelopeId(r.shardId, r.sequenceNumber),
      r.arrivalMs ?? Date.now(),
    );
    if (u === undefined) continue;
    const id = `${u.tenant}/${u.day}/${r.shardId}`;
    const g = groups.get(id) ?? { tenant: u.tenant, day: u.day, shardId: r.shardId, seqs: [], lines: [] };
    groups.set(id, g);
    g.seqs.push(BigInt(r.sequenceNumber));
    g.lines.push(JSON.stringify(u));
  }
  const keys: string[] = [];
  for (const g of groups.values()) {
    let first = g.seqs[0]!;
    let last = first;
    for (const q of g.seqs) {
      if (q < first) first = q;
      if (q > last) last = q;
    }
    const key = usageKey(g.tenant, g.day, g.shardId, first, last);
    await store.put(key, new TextEncoder().encode(`${g.lines.join('\n')}\n`), 'application/x-ndjson');
    keys.push(key);
  }
  return keys.sort();
}
