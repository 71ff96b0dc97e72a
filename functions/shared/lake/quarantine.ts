import {
  checkParquetFile,
  type FooterCheck,
  statedFooterLength,
  tailBytesNeeded,
} from '../parquet/parquet-footer.js';
import { quarantineKey } from './layout.js';
import type { ObjectInfo, ObjectStore } from './object-store.js';

/**
 * Staging files that are not complete Parquet files, and what to do with them.
 *
 * S3 puts are atomic, so on AWS a staging file is either absent or whole. s3rver (local mode)
 * writes the object file in place and answers before the bytes are on disk, so a kill -9 can leave
 * a 0-byte or truncated object under a staging key; disk faults and manual copies can too. Such a
 * file must neither count as written (the lake writer would skip its records forever) nor stop
 * the compactor: it is moved under `_quarantine/` with its reason, and its records are rewritten
 * by the redelivered batch.
 */

/** The end of a file fetched first: our footers are a few KB, so one read usually holds it. */
const TAIL_PROBE = 64 * 1024;

export interface QuarantineRecord {
  /** The staging key the file had. */
  readonly key: string;
  readonly reason: string;
  readonly size: number;
  readonly quarantinedAt: string;
  readonly by: 'lake-writer' | 'compactor';
  /** The staging file whose rewrite holds this file's records (lake writer only). */
  readonly replacedBy?: string;
}

/**
 * Checks a stored staging file from its two ends (one or two ranged reads, a third only for a
 * footer over 64 KB); `undefined` when the object is gone.
 */
export async function checkStoredParquet(
  store: ObjectStore,
  info: ObjectInfo,
): Promise<FooterCheck | undefined> {
  const { key, size } = info;
  if (size === 0) return checkParquetFile({ size, head: new Uint8Array(), tail: new Uint8Array() });
  const tailStart = Math.max(0, size - TAIL_PROBE);
  const [head, tail] = await Promise.all([
    tailStart === 0 ? undefined : store.getRange(key, 0, 4),
    store.getRange(key, tailStart, size),
  ]);
  if (tail === undefined || (tailStart > 0 && head === undefined)) return undefined;
  // Fewer bytes than listed: the object is shorter than its listing said (being rewritten, or cut).
  if (tail.length !== size - tailStart) {
    return { ok: false, reason: `listed as ${size} bytes, ${tailStart + tail.length} readable` };
  }
  let end = tail;
  const footer = statedFooterLength(tail);
  if (footer !== undefined && tailBytesNeeded(footer) > tail.length && tailBytesNeeded(footer) <= size) {
    const more = await store.getRange(key, size - tailBytesNeeded(footer), size);
    if (more === undefined) return undefined;
    end = more;
  }
  return checkParquetFile({ size, head: head ?? tail, tail: end });
}

/** Checks a file whose whole body is in hand (the compactor reads it anyway). */
export function checkParquetBytes(body: Uint8Array): FooterCheck {
  return checkParquetFile({ size: body.length, head: body, tail: body });
}

/**
 * Moves a staging file under `_quarantine/` (copy, sidecar with the reason, then delete). Each
 * step is idempotent, so a crash between them is finished by whoever finds the file next.
 */
export async function quarantine(
  store: ObjectStore,
  record: Omit<QuarantineRecord, 'quarantinedAt'>,
  now: Date = new Date(),
): Promise<string> {
  const target = quarantineKey(record.key);
  await store.copy(record.key, target);
  const sidecar: QuarantineRecord = { ...record, quarantinedAt: now.toISOString() };
  await store.put(`${target}.json`, Buffer.from(JSON.stringify(sidecar, null, 2)), 'application/json');
  await store.delete([record.key]);
  return target;
}
