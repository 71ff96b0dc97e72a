import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chunkForPutRecords,
  KinesisStreamSink,
  PUT_RECORDS_MAX_BYTES,
} from '../../../../functions/shared/stream/kinesis-stream-sink.js';
import { type StreamRecord, StreamSinkError } from '../../../../functions/shared/stream/stream-sink.js';
import { localKinesisClient } from '../../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';
import { createStream, instrumentPutRecords, readAllRecords } from './kinesis-helpers.js';

const noSleep = () => Promise.resolve();
const soon = () => Date.now() + 10_000;

function records(n: number, size: number, key = (i: number) => `tenant-a:svc-${i % 7}`): StreamRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const data = Buffer.alloc(size, i % 251);
    data.writeUInt32BE(i, 0);
    return { data, partitionKey: key(i) };
  });
}

/** Record i's index, written in its first four bytes by `records`. */
const indexOf = (data: Uint8Array) => Buffer.from(data).readUInt32BE(0);

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('KinesisStreamSink against kinesalite', () => {
  let dir: string;
  let emulators: Emulators;
  let streamCounter = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stream-sink-'));
    emulators = await startEmulators({ dataDir: dir });
  });
  afterAll(async () => {
    await emulators.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function freshStream(shards = 2): Promise<{ client: KinesisClient; name: string }> {
    const client = localKinesisClient(emulators.kinesisEndpoint);
    const name = `sink-test-${++streamCounter}`;
    await createStream(client, name, shards);
    return { client, name };
  }

  it('writes more than 500 records in several PutRecords calls, each stored exactly once', async () => {
    const { client, name } = await freshStream();
    const calls = instrumentPutRecords(client);
    const sink = new KinesisStreamSink(client, { streamName: name, sleep: noSleep });
    const input = records(1203, 64);

    const outcome = await sink.put(input, soon());

    expect(outcome).toMatchObject({ kind: 'durable', records: 1203, attempts: 1 });
    expect(calls.map((c) => c.records)).toEqual([500, 500, 203]);
    const stored = await readAllRecords(client, name);
    expect(stored.map((r) => indexOf(r.data)).sort((a, b) => a - b)).toEqual(input.map((_, i) => i));
  });

  it('keeps each PutRecords call under 5 MiB and one partition key in order on its shard', async () => {
    const { client, name } = await freshStream();
    const calls = instrumentPutRecords(client);
    const sink = new KinesisStreamSink(client, { streamName: name, sleep: noSleep });
    const input = records(6, 1000 * 1000, () => 'tenant-a:checkout');

    const outcome = await sink.put(input, soon());

    expect(outcome.kind).toBe('durable');
    expect(calls.length).toBeGreaterThanOrEqual(2);
    for (const call of calls) expect(call.bytes).toBeLessThanOrEqual(PUT_RECORDS_MAX_BYTES);
    const stored = await readAllRecords(client, name);
    expect(new Set(stored.map((r) => r.shardId)).size).toBe(1);
    expect(stored.map((r) => indexOf(r.data))).toEqual(input.map((_, i) => i));
  });

  it('retries only the entries that failed (injected throttling) and stores none twice', async () => {
    const { client, name } = await freshStream();
    // Keys of service 3 are throttled on the first two calls, then accepted.
    const calls = instrumentPutRecords(client, (key, call) =>
      key.endsWith('svc-3') && call < 2 ? 'ProvisionedThroughputExceededException' : undefined,
    );
    const sink = new KinesisStreamSink(client, { streamName: name, sleep: noSleep });
    const input = records(70, 32);
    const throttled = input.filter((r) => r.partitionKey.endsWith('svc-3')).length;

    const outcome = await sink.put(input, soon());

    expect(outcome).toMatchObject({ kind: 'durable', records: 70, attempts: 3 });
    expect(calls.map((c) => c.records)).toEqual([70, throttled, throttled]);
    const stored = await readAllRecords(client, name);
    expect(stored.map((r) => indexOf(r.data)).sort((a, b) => a - b)).toEqual(input.map((_, i) => i));
  });

  it('reports throttled, with a Retry-After, when entries are still throttled after the last attempt', async () => {
    const { client, name } = await freshStream();
    instrumentPutRecords(client, (key) =>
      key.endsWith('svc-1') ? 'ProvisionedThroughputExceededException' : undefined,
    );
    const sink = new KinesisStreamSink(client, {
      streamName: name,
      maxAttempts: 4,
      sleep: noSleep,
      throttledRetryAfterSeconds: 2,
    });

    const outcome = await sink.put(records(14, 16), soon());

    expect(outcome).toMatchObject({ kind: 'throttled', retryAfterSeconds: 2, failedRecords: 2 });
  });

  it('reports unavailable when entries fail with internal errors until the deadline', async () => {
    const { client, name } = await freshStream();
    instrumentPutRecords(client, () => 'InternalFailure');
    let clock = 1_000_000;
    const sink = new KinesisStreamSink(client, {
      streamName: name,
      maxAttempts: 100,
      now: () => clock,
      // Each backoff advances the fake clock; the deadline stops the loop well before 100 attempts.
      sleep: async (ms) => {
        clock += ms;
      },
      random: () => 0.999,
    });

    const outcome = await sink.put(records(3, 16), clock + 5000);

    expect(outcome).toMatchObject({ kind: 'unavailable', failedRecords: 3, retryAfterSeconds: 5 });
    if (outcome.kind === 'unavailable') expect(outcome.reason).toMatch(/InternalFailure/);
  });

  it('treats a whole-call ProvisionedThroughputExceededException as throttling', async () => {
    const { client, name } = await freshStream();
    client.middlewareStack.add(
      () => async () => {
        throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
      },
      { step: 'initialize', name: 'alwaysThrottle' },
    );
    const sink = new KinesisStreamSink(client, { streamName: name, maxAttempts: 3, sleep: noSleep });

    const outcome = await sink.put(records(2, 16), soon());

    expect(outcome.kind).toBe('throttled');
  });

  it('reports unavailable without retrying when the stream does not exist', async () => {
    const client = localKinesisClient(emulators.kinesisEndpoint);
    const calls = instrumentPutRecords(client);
    const sink = new KinesisStreamSink(client, { streamName: 'no-such-stream', sleep: noSleep });

    const outcome = await sink.put(records(2, 16), soon());

    expect(outcome.kind).toBe('unavailable');
    expect(calls.length).toBe(1);
    if (outcome.kind === 'unavailable') expect(outcome.reason).toMatch(/ResourceNotFound/);
  });

  it('reports unavailable when nothing listens at the endpoint, giving up by the deadline', async () => {
    const port = await closedPort();
    const client = localKinesisClient(`http://127.0.0.1:${port}`);
    const sink = new KinesisStreamSink(client, { streamName: 'any', baseDelayMs: 5, maxDelayMs: 20 });

    const outcome = await sink.put(records(2, 16), Date.now() + 1500);

    expect(outcome).toMatchObject({ kind: 'unavailable', failedRecords: 2 });
  });

  it('refuses a record over the 1 MiB limit as a bug, not an outage', async () => {
    const { client, name } = await freshStream(1);
    const sink = new KinesisStreamSink(client, { streamName: name });
    const tooBig = [{ data: Buffer.alloc(1024 * 1024), partitionKey: 'k' }];

    await expect(sink.put(tooBig, soon())).rejects.toBeInstanceOf(StreamSinkError);
  });
});

describe('chunkForPutRecords', () => {
  it('never exceeds 500 records or 5 MiB per call and keeps the order', () => {
    const input = [...records(700, 10), ...records(8, 900 * 1024), ...records(3, 10)];
    const chunks = chunkForPutRecords(input);
    expect(chunks.flat()).toEqual(input);
    for (const c of chunks) {
      expect(c.length).toBeLessThanOrEqual(500);
      expect(c.reduce((n, r) => n + r.data.byteLength + r.partitionKey.length, 0)).toBeLessThanOrEqual(
        PUT_RECORDS_MAX_BYTES,
      );
    }
  });
});
