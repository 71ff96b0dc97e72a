import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Emulators, startEmulators } from '../../local/emulators.js';
import { fillDisk, smallTmpfs } from './faults-support.js';

/**
 * The emulators on a data disk that fills up (a 32 MiB tmpfs: root, as CI runs): a write fails
 * with an error the SDK sees (kinesalite and dynalite: 500 InternalFailure; s3rver: 500), never by ending the
 * process, and writes succeed again once space is freed. Also: an s3rver object is stored whole.
 */

let disk: { dir: string; release: () => Promise<void> };
let emulators: Emulators;
let kinesis: KinesisClient;
let s3: S3Client;
let dynamo: DynamoDBClient;
const STREAM = 'full-disk';
const BUCKET = 'lake';
const TABLE = 'alert-state';

beforeAll(async () => {
  disk = await smallTmpfs('32m');
  emulators = await startEmulators({ dataDir: join(disk.dir, 'aws') });
  const local = { region: 'us-east-1', maxAttempts: 1 };
  kinesis = new KinesisClient({
    ...local,
    endpoint: emulators.kinesisEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler(),
  });
  s3 = new S3Client({
    ...local,
    endpoint: emulators.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await kinesis.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 1 }));
  await vi.waitFor(
    async () => {
      const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
      if (d.StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') throw new Error('not active yet');
    },
    { timeout: 10_000, interval: 20 },
  );
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  dynamo = new DynamoDBClient({
    ...local,
    endpoint: emulators.dynamoEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await dynamo.send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
});

afterAll(async () => {
  kinesis?.destroy();
  s3?.destroy();
  dynamo?.destroy();
  await emulators?.close();
  await disk?.release();
});

const putRecords = (data: string[]) =>
  kinesis.send(
    new PutRecordsCommand({
      StreamName: STREAM,
      Records: data.map((d) => ({ Data: Buffer.from(d), PartitionKey: 'k' })),
    }),
  );

async function readAll(): Promise<string[]> {
  const it = await kinesis.send(
    new GetShardIteratorCommand({
      StreamName: STREAM,
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'TRIM_HORIZON',
    }),
  );
  const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
  return (out.Records ?? []).map((r) => Buffer.from(r.Data ?? []).toString());
}

describe('emulators on a full data disk', () => {
  it('stores an S3 object whole, through a temporary file that is renamed into place', async () => {
    const body = randomBytes(3 * 1024 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'staging/a.parquet', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'staging/a.parquet' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(await readdir(join(disk.dir, 'aws', 's3-tmp'))).toEqual([]);
    await dynamo.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: 'after' } } }));
  });

  it('answers writes with an error while the disk is full and takes them again once it is freed', async () => {
    await putRecords(['before']);
    const ballast = join(disk.dir, 'ballast');
    await fillDisk(ballast);
    try {
      // kinesalite's store (leveldown): a few puts, so one reaches the disk and fails.
      const failures: unknown[] = [];
      for (let i = 0; i < 20 && failures.length === 0; i++) {
        await putRecords([`full-${i}-${'x'.repeat(64 * 1024)}`]).catch((e: unknown) => failures.push(e));
      }
      expect(failures.length).toBeGreaterThan(0);
      expect(failures[0]).toMatchObject({ name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
      await expect(
        s3.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: 'staging/b.parquet', Body: randomBytes(1 << 20) }),
        ),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });
      // dynalite's store (level): the same, where it used to throw from its handler and end the process.
      const dynamoFailures: unknown[] = [];
      for (let i = 0; i < 20 && dynamoFailures.length === 0; i++) {
        await dynamo
          .send(
            new PutItemCommand({
              TableName: TABLE,
              Item: { pk: { S: `full-${i}` }, v: { S: 'x'.repeat(200_000) } },
            }),
          )
          .catch((e: unknown) => dynamoFailures.push(e));
      }
      expect(dynamoFailures.length).toBeGreaterThan(0);
      expect(dynamoFailures[0]).toMatchObject({ $metadata: { httpStatusCode: 500 } });
    } finally {
      await rm(ballast, { force: true });
    }
    // Still running, and writing again.
    await putRecords(['after']);
    const records = await readAll();
    expect(records).toContain('before');
    expect(records).toContain('after');
    await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'staging/c.parquet', Body: Buffer.from('ok') }),
    );
    expect(await readdir(join(disk.dir, 'aws', 's3-tmp'))).toEqual([]);
    await dynamo.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: 'after' } } }));
  });
});
