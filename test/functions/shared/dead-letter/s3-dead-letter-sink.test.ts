import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deadLetterKey,
  listDeadLetters,
  S3DeadLetterSink,
} from '../../../../functions/shared/dead-letter/s3-dead-letter-sink.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';

let dir: string;
let emulators: Emulators;
let s3: S3Client;
let bucketNo = 0;

async function newBucket(): Promise<string> {
  const bucket = `lake-${++bucketNo}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

async function keys(bucket: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

const fixedDay = () => new Date('2026-11-23T10:15:00.000Z');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dead-letter-'));
  emulators = await startEmulators({ dataDir: dir });
  // s3rver only accepts its built-in key pair (local/aws-clients.ts signs with 'local', which it rejects).
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: emulators.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
});

afterAll(async () => {
  s3?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('S3DeadLetterSink (s3rver)', () => {
  it('writes one object per letter at the documented key, with the reason and the exact bytes', async () => {
    // Prepare
    const bucket = await newBucket();
    const sink = new S3DeadLetterSink(s3, bucket, 'dead-letter/', fixedDay);
    const data = new Uint8Array([0, 1, 2, 250, 255]);

    // Act
    await sink.put([
      {
        source: 'hot-writer',
        reason: 'RetryAttemptsExhausted: EnvelopeError: bad magic',
        shardId: 'shardId-000000000001',
        sequenceNumber: '49590338271490256608559692538361571095921575989136588818',
        data,
      },
    ]);

    // Assess
    const key =
      'dead-letter/hot-writer/dt=2026-11-23/shardId-000000000001-49590338271490256608559692538361571095921575989136588818.json';
    expect(await keys(bucket)).toEqual([key]);
    const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(body.ContentType).toBe('application/json');
    const stored = JSON.parse((await body.Body?.transformToString()) ?? '') as Record<string, unknown>;
    expect(stored).toEqual({
      source: 'hot-writer',
      reason: 'RetryAttemptsExhausted: EnvelopeError: bad magic',
      shardId: 'shardId-000000000001',
      sequenceNumber: '49590338271490256608559692538361571095921575989136588818',
      at: '2026-11-23T10:15:00.000Z',
      dataBase64: Buffer.from(data).toString('base64'),
    });
  });

  it('dead-lettering the same record again overwrites its object instead of duplicating it', async () => {
    const bucket = await newBucket();
    const sink = new S3DeadLetterSink(s3, bucket, undefined, fixedDay);
    const letter = {
      source: 'lake-writer',
      reason: 'first attempt',
      shardId: 'shardId-000000000000',
      sequenceNumber: '4959',
      data: Buffer.from('payload'),
    };

    await sink.put([letter]);
    await sink.put([{ ...letter, reason: 'second attempt' }]);

    expect(await keys(bucket)).toHaveLength(1);
    const [only] = await listDeadLetters(s3, bucket);
    expect(only?.reason).toBe('second attempt');
  });

  it('keys a letter without a stream position by the sha256 of its bytes', async () => {
    const bucket = await newBucket();
    const sink = new S3DeadLetterSink(s3, bucket, 'dead-letter/', fixedDay);
    const data = Buffer.from('{"resourceSpans": "not quite"}');

    await sink.put([{ source: 'ingest', reason: 'undecodable body', data }]);
    await sink.put([{ source: 'ingest', reason: 'undecodable body', data }]);

    const sha = createHash('sha256').update(data).digest('hex');
    expect(await keys(bucket)).toEqual([`dead-letter/ingest/dt=2026-11-23/${sha}.json`]);
    expect(deadLetterKey({ source: 'ingest', reason: 'x', data }, fixedDay())).toBe(
      `dead-letter/ingest/dt=2026-11-23/${sha}.json`,
    );
  });

  it('lists letters back with their bytes, for one source or all', async () => {
    const bucket = await newBucket();
    const sink = new S3DeadLetterSink(s3, bucket, 'dead-letter/', fixedDay);
    const many = Array.from({ length: 20 }, (_, i) => ({
      source: 'hot-writer',
      reason: `poison ${i}`,
      shardId: 'shardId-000000000000',
      sequenceNumber: String(1000 + i),
      data: Buffer.from(`record ${i}`),
    }));

    await sink.put(many);
    await sink.put([
      {
        source: 'lake-writer',
        reason: 'too old',
        shardId: 'shardId-000000000002',
        sequenceNumber: '7',
        data: Buffer.from('x'),
      },
    ]);

    const hot = await listDeadLetters(s3, bucket, 'hot-writer');
    expect(hot).toHaveLength(20);
    expect(hot.map((l) => l.reason)).toEqual(many.map((l) => l.reason));
    expect(hot.map((l) => Buffer.from(l.dataBase64, 'base64').toString())).toEqual(
      many.map((l) => l.data.toString()),
    );
    const all = await listDeadLetters(s3, bucket);
    expect(all.map((l) => l.source)).toEqual([...Array(20).fill('hot-writer'), 'lake-writer']);
    expect(all[20]).toMatchObject({
      key: 'dead-letter/lake-writer/dt=2026-11-23/shardId-000000000002-7.json',
      shardId: 'shardId-000000000002',
      sequenceNumber: '7',
    });
    expect(await listDeadLetters(s3, bucket, 'ingest')).toEqual([]);
  });

  it('keeps odd characters out of the key', () => {
    const key = deadLetterKey(
      {
        source: 'tenant a/../b',
        reason: 'x',
        shardId: 'shard 1',
        sequenceNumber: '12',
        data: new Uint8Array(),
      },
      fixedDay(),
      'dl',
    );
    expect(key).toBe('dl/tenant_a_.._b/dt=2026-11-23/shard_1-12.json');
  });
});
