import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DeadLetter, DeadLetterSink } from './dead-letter.js';

/**
 * Dead letters as one JSON object each under a prefix of the lake bucket:
 *   <prefix><source>/dt=YYYY-MM-DD/<shardId>-<sequenceNumber | sha256 of data>.json
 * The key depends only on the letter and the day it was written, so dead-lettering the same record
 * again (a retried batch) overwrites the object instead of adding a second one.
 */

/** The stored form; `dataBase64` keeps the record's bytes exactly as received. */
export interface StoredDeadLetter {
  readonly source: string;
  readonly reason: string;
  readonly shardId?: string;
  readonly sequenceNumber?: string;
  /** ISO-8601 time it was written. */
  readonly at: string;
  readonly dataBase64: string;
}

export interface ListedDeadLetter extends StoredDeadLetter {
  readonly key: string;
}

export class DeadLetterSinkError extends Error {
  override readonly name = 'DeadLetterSinkError';
}

const DEFAULT_PREFIX = 'dead-letter/';
/** Parallel PutObject calls per put(); enough to hide latency without a burst of throttling. */
const PUT_CONCURRENCY = 8;

/** Keeps key segments to characters that need no escaping in S3 keys or Hive-style partitions. */
function segment(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9._-]/g, '_');
  return cleaned === '' ? '_' : cleaned;
}

function normalisePrefix(prefix: string): string {
  if (prefix === '') return '';
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** The object key of one letter written at `at`. */
export function deadLetterKey(letter: DeadLetter, at: Date, prefix = DEFAULT_PREFIX): string {
  const day = at.toISOString().slice(0, 10);
  const id = letter.sequenceNumber ?? createHash('sha256').update(letter.data).digest('hex');
  const name = letter.shardId === undefined ? segment(id) : `${segment(letter.shardId)}-${segment(id)}`;
  return `${normalisePrefix(prefix)}${segment(letter.source)}/dt=${day}/${name}.json`;
}

export class S3DeadLetterSink implements DeadLetterSink {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #now: () => Date;

  /** `now` is for tests that pin the date partition. */
  constructor(s3: S3Client, bucket: string, prefix = DEFAULT_PREFIX, now: () => Date = () => new Date()) {
    this.#s3 = s3;
    this.#bucket = bucket;
    this.#prefix = normalisePrefix(prefix);
    this.#now = now;
  }

  async put(letters: readonly DeadLetter[]): Promise<void> {
    const at = this.#now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < letters.length) {
        const letter = letters[next++]!;
        await this.#putOne(letter, at);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUT_CONCURRENCY, letters.length) }, worker));
  }

  async #putOne(letter: DeadLetter, at: Date): Promise<void> {
    const stored: StoredDeadLetter = {
      source: letter.source,
      reason: letter.reason,
      ...(letter.shardId === undefined ? {} : { shardId: letter.shardId }),
      ...(letter.sequenceNumber === undefined ? {} : { sequenceNumber: letter.sequenceNumber }),
      at: at.toISOString(),
      dataBase64: Buffer.from(letter.data).toString('base64'),
    };
    const key = deadLetterKey(letter, at, this.#prefix);
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: JSON.stringify(stored),
          ContentType: 'application/json',
        }),
      );
    } catch (cause) {
      throw new DeadLetterSinkError(`cannot write dead letter s3://${this.#bucket}/${key}`, { cause });
    }
  }
}

function parseStored(text: string, key: string): StoredDeadLetter {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new DeadLetterSinkError(`dead letter ${key} is not JSON`, { cause });
  }
  const l = parsed as Partial<StoredDeadLetter> | null;
  if (
    typeof l?.source !== 'string' ||
    typeof l.reason !== 'string' ||
    typeof l.at !== 'string' ||
    typeof l.dataBase64 !== 'string'
  ) {
    throw new DeadLetterSinkError(`dead letter ${key} lacks source, reason, at or dataBase64`);
  }
  return l as StoredDeadLetter;
}

/**
 * Every dead letter in the bucket (of one source when given), in key order (source, day, shard,
 * sequence), for operators and tests.
 * Reads each object: meant for inspection and replay, not for hot paths.
 */
export async function listDeadLetters(
  s3: S3Client,
  bucket: string,
  source?: string,
  prefix = DEFAULT_PREFIX,
): Promise<ListedDeadLetter[]> {
  const listPrefix = `${normalisePrefix(prefix)}${source === undefined ? '' : `${segment(source)}/`}`;
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: listPrefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  keys.sort();
  const out: ListedDeadLetter[] = [];
  for (const key of keys) {
    const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = (await obj.Body?.transformToString('utf8')) ?? '';
    out.push({ key, ...parseStored(text, key) });
  }
  return out;
}
