import { positionEnvelopeId, type UnpackedEnvelope } from '../envelope/envelope.js';
import { encodeParquet } from '../parquet/parquet-writer.js';
import type { ColumnBatch } from '../rows/batch.js';
import { ENVELOPE_ID_COLUMN, TABLES, type TableName } from '../schema/columns.js';
import {
  nanosToMillis,
  type PartitionPath,
  parseStagingName,
  partitionOf,
  stagingKey,
  stagingPartitionPrefix,
} from './layout.js';
import type { ObjectStore } from './object-store.js';

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

/** The batch with every row's EnvelopeId set (the payload does not carry it: one id per envelope). */
function withEnvelopeId(batch: ColumnBatch, id: string): ColumnBatch {
  return {
    ...batch,
    columns: { ...batch.columns, [ENVELOPE_ID_COLUMN]: new Array<string>(batch.rowCount).fill(id) },
  };
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

async function existingRanges(store: ObjectStore, g: Group): Promise<[bigint, bigint][]> {
  const prefix = stagingPartitionPrefix(g.table, g.partition);
  const ranges: [bigint, bigint][] = [];
  for (const o of await store.list(`${prefix}${g.shardId}-`)) {
    const parsed = parseStagingName(o.key.slice(prefix.length));
    if (parsed && parsed.shardId === g.shardId) ranges.push([parsed.firstSeq, parsed.lastSeq]);
  }
  return ranges;
}

async function writeGroup(
  store: ObjectStore,
  g: Group,
): Promise<{ key?: string; written: number; skipped: number }> {
  const ranges = await existingRanges(store, g);
  const fresh: Contribution[] = [];
  // An envelope's rows of one table and partition are one contribution: a second one with the same
  // id is a resend in the same batch (the compactor would drop it anyway).
  const ids = new Set<string>();
  let skipped = 0;
  for (const c of g.contributions) {
    if (ranges.some(([a, b]) => c.seq >= a && c.seq <= b) || ids.has(c.envelopeId))
      skipped += c.batch.rowCount;
    else {
      fresh.push(c);
      ids.add(c.envelopeId);
    }
  }
  if (fresh.length === 0) return { written: 0, skipped };
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
  return { key, written: fresh.reduce((n, c) => n + c.batch.rowCount, 0), skipped };
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
  return { files, rowsWritten, rowsSkipped };
}
