import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DeadLetter, DeadLetterSink } from '../../../../functions/shared/dead-letter/dead-letter.js';
import { packEnvelopes, unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import type { DecodedRecord } from '../../../../functions/shared/lake/lake-writer.js';
import type { ObjectStore } from '../../../../functions/shared/lake/object-store.js';
import { S3ObjectStore } from '../../../../functions/shared/lake/s3-object-store.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';

/** s3rver on loopback with one bucket, the real S3 client and the S3 ObjectStore on it. */
export interface LakeHarness {
  readonly dir: string;
  readonly emulators: Emulators;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly store: S3ObjectStore;
  close(): Promise<void>;
}

export async function startLake(): Promise<LakeHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'lake-test-'));
  const emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  // s3rver checks signatures against its one built-in key pair.
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: emulators.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  const bucket = 'lake';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    dir,
    emulators,
    s3,
    bucket,
    store: new S3ObjectStore(s3, bucket),
    async close() {
      s3.destroy();
      await emulators.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export class MemoryDeadLetterSink implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  async put(letters: readonly DeadLetter[]): Promise<void> {
    this.letters.push(...letters);
  }
}

/** One stream record per envelope, as the ESM would hand them over (sequence numbers from `firstSeq`). */
export function records(
  tenant: string,
  signal: Signal,
  batchesPerRecord: readonly ColumnBatch[][],
  options: { shardId?: string; firstSeq?: bigint } = {},
): { shardId: string; sequenceNumber: string; data: Uint8Array }[] {
  const shardId = options.shardId ?? 'shardId-000000000000';
  let seq = options.firstSeq ?? 49_000_000_000_000_000_000n;
  return batchesPerRecord.map((batches) => {
    const [env] = packEnvelopes(tenant, signal, batches);
    if (!env) throw new Error('no rows');
    seq += 7n; // Kinesis sequence numbers increase, with gaps.
    return { shardId, sequenceNumber: seq.toString(), data: env.data };
  });
}

export function decoded(recs: ReturnType<typeof records>): DecodedRecord[] {
  return recs.map((r) => ({ ...r, envelope: unpackEnvelope(r.data) }));
}

/**
 * Copies the objects under `prefix` to local files and runs `sql` with `{files}` replaced by the
 * list DuckDB reads (read_parquet([...])).
 */
export async function queryObjects(
  store: ObjectStore,
  dir: string,
  prefix: string,
  sql: string,
): Promise<Record<string, unknown>[]> {
  const objects = (await store.list(prefix)).filter((o) => o.key.endsWith('.parquet'));
  if (objects.length === 0) return [];
  const local = join(dir, 'duck', `${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await mkdir(local, { recursive: true });
  const paths: string[] = [];
  for (const [i, o] of objects.entries()) {
    const p = join(local, `${i}.parquet`);
    await writeFile(p, (await store.get(o.key))!);
    paths.push(p);
  }
  return queryFiles(paths, sql);
}

export async function queryFiles(paths: readonly string[], sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const list = `read_parquet([${paths.map((p) => `'${p}'`).join(',')}])`;
    const reader = await conn.runAndReadAll(sql.replaceAll('{files}', list));
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
  }
}

/**
 * Rewrites a Parquet file through DuckDB as `SELECT <select> FROM <file>`: a file of another schema
 * (e.g. one written before a column was added to the model) made by an independent writer.
 */
export async function rewriteWithDuckDB(dir: string, bytes: Uint8Array, select: string): Promise<Uint8Array> {
  const local = join(dir, 'duck', `${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await mkdir(local, { recursive: true });
  const src = join(local, 'src.parquet');
  const dst = join(local, 'dst.parquet');
  await writeFile(src, bytes);
  await queryFiles(
    [src],
    `COPY (SELECT ${select} FROM {files}) TO '${dst}' (FORMAT parquet, COMPRESSION zstd)`,
  );
  return new Uint8Array(await readFile(dst));
}
