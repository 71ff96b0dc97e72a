import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listDeadLetters, S3DeadLetterSink } from '../../functions/shared/dead-letter/s3-dead-letter-sink.js';
import { localKinesisClient } from '../../local/aws-clients.js';
import {
  type CheckpointStore,
  CheckpointStoreError,
  FileCheckpointStore,
  InMemoryCheckpointStore,
} from '../../local/checkpoint-store.js';
import { type Emulators, startEmulators } from '../../local/emulators.js';
import {
  deadLetterDestination,
  EsmPoller,
  EsmPollerConfigError,
  type EsmPollerOptions,
  type FailedBatch,
  type KinesisConsumerHandler,
  startEsmPoller,
} from '../../local/esm-poller.js';

let dir: string;
let emulators: Emulators;
let kinesis: KinesisClient;
let streamNo = 0;
const running: EsmPoller[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'esm-poller-'));
  emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  kinesis = localKinesisClient(emulators.kinesisEndpoint);
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  kinesis?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

async function waitActive(name: string): Promise<void> {
  await vi.waitFor(
    async () => {
      const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      if (d.StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') throw new Error('not active yet');
    },
    { timeout: 10_000, interval: 20 },
  );
}

async function newStream(shards = 1): Promise<string> {
  const name = `stream-${++streamNo}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await waitActive(name);
  return name;
}

interface Put {
  readonly data: string;
  readonly key: string;
  readonly seq: string;
  readonly shardId: string;
}

/** Puts records in order (PutRecords keeps the order of a call within each shard). */
async function put(
  stream: string,
  items: ReadonlyArray<string | { data: string; key: string }>,
): Promise<Put[]> {
  const out: Put[] = [];
  for (let i = 0; i < items.length; i += 500) {
    const chunk = items.slice(i, i + 500).map((it) => (typeof it === 'string' ? { data: it, key: 'k' } : it));
    const res = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: chunk.map((c) => ({ Data: Buffer.from(c.data), PartitionKey: c.key })),
      }),
    );
    if (res.FailedRecordCount) throw new Error(`${res.FailedRecordCount} records failed`);
    res.Records?.forEach((r, j) => {
      const c = chunk[j]!;
      out.push({ data: c.data, key: c.key, seq: r.SequenceNumber ?? '', shardId: r.ShardId ?? '' });
    });
  }
  return out;
}

const text = (r: KinesisStreamRecord): string => Buffer.from(r.kinesis.data, 'base64').toString('utf8');
const range = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `r${from + i}`);

interface Recorder {
  readonly handler: KinesisConsumerHandler;
  /** Data of the records of each invocation, in order. */
  readonly calls: string[][];
  readonly events: KinesisStreamEvent[];
  readonly contexts: Context[];
}

/** A consumer that records what it sees and answers with `respond` (which may throw). */
function recorder(
  respond: (batch: string[], call: number, event: KinesisStreamEvent) => unknown = () => undefined,
): Recorder {
  const calls: string[][] = [];
  const events: KinesisStreamEvent[] = [];
  const contexts: Context[] = [];
  return {
    calls,
    events,
    contexts,
    handler: async (event, context) => {
      const batch = event.Records.map(text);
      calls.push(batch);
      events.push(event);
      contexts.push(context);
      return respond(batch, calls.length, event);
    },
  };
}

const quiet = { warn: () => undefined, error: () => undefined };

async function poller(
  streamName: string,
  handler: KinesisConsumerHandler,
  options: Partial<EsmPollerOptions> = {},
): Promise<EsmPoller> {
  const p = await startEsmPoller({
    kinesis,
    streamName,
    handler,
    checkpointStore: new InMemoryCheckpointStore(),
    pollIntervalMs: 20,
    logger: quiet,
    ...options,
  });
  running.push(p);
  return p;
}

function capture(): { destination: { send(b: FailedBatch): Promise<void> }; failed: FailedBatch[] } {
  const failed: FailedBatch[] = [];
  return {
    failed,
    destination: {
      async send(b) {
        failed.push(b);
      },
    },
  };
}

const seqOf = (puts: readonly Put[], data: string): string => puts.find((p) => p.data === data)!.seq;

describe('EsmPoller against kinesalite', () => {
  it("delivers records in Lambda's Kinesis event shape", async () => {
    // Prepare
    const stream = await newStream();
    const before = Date.now();
    const [p0] = await put(stream, [{ data: 'hello', key: 'tenant-a' }]);
    const after = Date.now();
    const rec = recorder();

    // Act
    const esm = await poller(stream, rec.handler, { functionName: 'hot-writer' });
    await esm.whenIdle();
    await esm.stop();

    // Assess
    expect(rec.events).toHaveLength(1);
    const [r] = rec.events[0]!.Records;
    expect(esm.streamArn).toMatch(new RegExp(`^arn:aws:kinesis:us-east-1:\\d{12}:stream/${stream}$`));
    const account = esm.streamArn.split(':')[4];
    expect(r).toEqual({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'tenant-a',
        sequenceNumber: p0!.seq,
        data: Buffer.from('hello').toString('base64'),
        approximateArrivalTimestamp: expect.any(Number),
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${p0!.seq}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: `arn:aws:iam::${account}:role/hot-writer-role`,
      awsRegion: 'us-east-1',
      eventSourceARN: esm.streamArn,
    });
    // Seconds, not milliseconds.
    expect(r!.kinesis.approximateArrivalTimestamp).toBeGreaterThanOrEqual(Math.floor(before / 1000) - 1);
    expect(r!.kinesis.approximateArrivalTimestamp).toBeLessThanOrEqual(after / 1000 + 1);
    expect(rec.contexts[0]).toMatchObject({ functionName: 'hot-writer', functionVersion: '$LATEST' });
    expect(rec.contexts[0]!.getRemainingTimeInMillis()).toBeGreaterThan(0);
  });

  it('honours the batch size', async () => {
    const stream = await newStream();
    await put(stream, range(7));
    const rec = recorder();

    const esm = await poller(stream, rec.handler, { batchSize: 3 });
    await esm.whenIdle();
    await esm.stop();

    expect(rec.calls).toEqual([range(3), range(3, 3), range(1, 6)]);
  });

  it('waits up to the batching window to fill a batch, and invokes when the window ends', async () => {
    // A long window: the first record waits for the second, which completes the batch of 2.
    const stream = await newStream();
    const rec = recorder();
    const esm = await poller(stream, rec.handler, { batchSize: 2, maximumBatchingWindowMs: 60_000 });
    await put(stream, ['r0']);
    await vi.waitFor(() => expect(esm.stats()[0]?.buffered).toBe(1), { timeout: 10_000, interval: 10 });
    await put(stream, ['r1', 'r2']);
    await vi.waitFor(() => expect(rec.calls.length).toBeGreaterThanOrEqual(1), {
      timeout: 10_000,
      interval: 10,
    });
    expect(rec.calls[0]).toEqual(['r0', 'r1']);
    await esm.stop();

    // A short window: a lone record is delivered once the window has passed.
    const stream2 = await newStream();
    const rec2 = recorder();
    const esm2 = await poller(stream2, rec2.handler, { batchSize: 100, maximumBatchingWindowMs: 200 });
    await put(stream2, ['alone']);
    await esm2.whenIdle();
    await esm2.stop();
    expect(rec2.calls).toEqual([['alone']]);
  });

  it('keeps each shard in order, one batch in flight per shard, across several shards', async () => {
    // Prepare: 20 keys spread over 4 shards, 10 records each.
    const stream = await newStream(4);
    const items = Array.from({ length: 200 }, (_, i) => ({
      key: `key-${i % 20}`,
      data: `key-${i % 20}:${Math.floor(i / 20)}`,
    }));
    const puts = await put(stream, items);
    const inFlight = new Map<string, number>();
    let maxInFlightPerShard = 0;
    const seen: KinesisStreamRecord[] = [];
    const shardsPerBatch: number[] = [];

    // Act
    const esm = await poller(
      stream,
      async (event) => {
        const shards = new Set(event.Records.map((r) => r.eventID.split(':')[0]!));
        shardsPerBatch.push(shards.size);
        const shard = [...shards][0]!;
        inFlight.set(shard, (inFlight.get(shard) ?? 0) + 1);
        maxInFlightPerShard = Math.max(maxInFlightPerShard, inFlight.get(shard)!);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(...event.Records);
        inFlight.set(shard, inFlight.get(shard)! - 1);
      },
      { batchSize: 7 },
    );
    await esm.whenIdle();
    await esm.stop();

    // Assess
    expect(new Set(puts.map((p) => p.shardId)).size).toBeGreaterThan(1);
    expect(seen).toHaveLength(200);
    expect(new Set(seen.map((r) => r.kinesis.sequenceNumber)).size).toBe(200);
    expect(shardsPerBatch.every((n) => n === 1)).toBe(true);
    expect(maxInFlightPerShard).toBe(1);
    for (let k = 0; k < 20; k++) {
      const order = seen.map(text).filter((d) => d.startsWith(`key-${k}:`));
      expect(order).toEqual(Array.from({ length: 10 }, (_, n) => `key-${k}:${n}`));
    }
    for (const shard of new Set(puts.map((p) => p.shardId))) {
      const delivered = seen
        .filter((r) => r.eventID.startsWith(`${shard}:`))
        .map((r) => r.kinesis.sequenceNumber);
      expect(delivered).toEqual(puts.filter((p) => p.shardId === shard).map((p) => p.seq));
    }
  });

  it('on a partial failure, checkpoints just before the lowest failed record and retries from there', async () => {
    const stream = await newStream();
    const puts = await put(stream, range(5));
    const store = new InMemoryCheckpointStore();
    const checkpointsSeen: (string | undefined)[] = [];
    const rec = recorder(async (_batch, call) => {
      checkpointsSeen.push((await store.load()).get('shardId-000000000000')?.sequenceNumber);
      if (call === 1) {
        // Reported out of order: the lowest one counts.
        return {
          batchItemFailures: [{ itemIdentifier: seqOf(puts, 'r4') }, { itemIdentifier: seqOf(puts, 'r2') }],
        };
      }
      return { batchItemFailures: [] };
    });

    const esm = await poller(stream, rec.handler, {
      batchSize: 5,
      reportBatchItemFailures: true,
      checkpointStore: store,
    });
    await esm.whenIdle();
    await esm.stop();

    expect(rec.calls).toEqual([range(5), ['r2', 'r3', 'r4']]);
    expect(checkpointsSeen).toEqual([undefined, seqOf(puts, 'r1')]);
    expect((await store.load()).get('shardId-000000000000')?.sequenceNumber).toBe(seqOf(puts, 'r4'));
  });

  it('treats an itemIdentifier that is not in the batch, or is empty, as a failure of the whole batch', async () => {
    const stream = await newStream();
    await put(stream, range(3));
    const rec = recorder((_batch, call) => {
      if (call === 1) return { batchItemFailures: [{ itemIdentifier: '12345' }] };
      if (call === 2) return { batchItemFailures: [{ itemIdentifier: '' }] };
      return { batchItemFailures: [] };
    });

    const esm = await poller(stream, rec.handler, { reportBatchItemFailures: true });
    await esm.whenIdle();
    await esm.stop();

    expect(rec.calls).toEqual([range(3), range(3), range(3)]);
  });

  it('counts an empty list, null or no response as success, and ignores failures when reporting is off', async () => {
    const stream = await newStream();
    await put(stream, range(4));
    const answers: unknown[] = [{ batchItemFailures: [] }, { batchItemFailures: null }, null, undefined];
    const rec = recorder((_batch, call) => answers[call - 1]);
    const esm = await poller(stream, rec.handler, { batchSize: 1, reportBatchItemFailures: true });
    await esm.whenIdle();
    await esm.stop();
    expect(rec.calls).toEqual([['r0'], ['r1'], ['r2'], ['r3']]);

    const stream2 = await newStream();
    const puts2 = await put(stream2, range(2));
    const rec2 = recorder(() => ({ batchItemFailures: [{ itemIdentifier: puts2[0]!.seq }] }));
    const esm2 = await poller(stream2, rec2.handler, { reportBatchItemFailures: false });
    await esm2.whenIdle();
    await esm2.stop();
    expect(rec2.calls).toEqual([range(2)]);
  });

  it('bisects a failing batch and isolates a poison record', async () => {
    // Prepare: 8 records, r5 always throws.
    const stream = await newStream();
    await put(stream, range(8));
    const { destination, failed } = capture();
    const processed: string[] = [];
    const rec = recorder((batch) => {
      if (batch.includes('r5')) throw new Error('poison r5');
      processed.push(...batch);
    });

    // Act
    const esm = await poller(stream, rec.handler, {
      batchSize: 8,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 1,
      onFailure: destination,
    });
    await esm.whenIdle();
    await esm.stop();

    // Assess: halves down to the poison record, retried once, then handed over.
    expect(rec.calls.map((c) => c.length)).toEqual([8, 4, 4, 2, 1, 1, 1, 2]);
    expect(rec.calls.slice(5, 7)).toEqual([['r5'], ['r5']]);
    expect(processed).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r6', 'r7']);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      condition: 'RetryAttemptsExhausted',
      shardId: 'shardId-000000000000',
      attempts: 2,
    });
    expect(failed[0]!.records.map(text)).toEqual(['r5']);
    expect(failed[0]!.reason).toContain('poison r5');
  });

  it('after the retries are exhausted, sends the batch to onFailure and moves on', async () => {
    const stream = await newStream();
    const puts = await put(stream, range(5));
    const { destination, failed } = capture();
    const store = new InMemoryCheckpointStore();
    const rec = recorder((batch) => {
      if (batch.includes('r1')) throw new TypeError('cannot read r1');
    });

    const esm = await poller(stream, rec.handler, {
      batchSize: 3,
      maximumRetryAttempts: 2,
      onFailure: destination,
      checkpointStore: store,
    });
    await esm.whenIdle();
    await esm.stop();

    // The first attempt and two retries, then the next batch.
    expect(rec.calls).toEqual([range(3), range(3), range(3), ['r3', 'r4']]);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.condition).toBe('RetryAttemptsExhausted');
    expect(failed[0]!.attempts).toBe(3);
    expect(failed[0]!.reason).toContain('TypeError: cannot read r1');
    expect(failed[0]!.records.map((r) => r.kinesis.sequenceNumber)).toEqual(
      puts.slice(0, 3).map((p) => p.seq),
    );
    expect((await store.load()).get('shardId-000000000000')?.sequenceNumber).toBe(seqOf(puts, 'r4'));
  });

  it('writes exhausted records as dead letters to S3 through deadLetterDestination', async () => {
    const stream = await newStream();
    const puts = await put(stream, ['good', 'bad']);
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: emulators.s3Endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'lake' }));
    const rec = recorder((batch) => {
      if (batch.includes('bad')) throw new Error('undecodable envelope');
    });

    const esm = await poller(stream, rec.handler, {
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 0,
      onFailure: deadLetterDestination(new S3DeadLetterSink(s3, 'lake'), 'hot-writer'),
    });
    await esm.whenIdle();
    await esm.stop();

    const letters = await listDeadLetters(s3, 'lake', 'hot-writer');
    s3.destroy();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      source: 'hot-writer',
      shardId: 'shardId-000000000000',
      sequenceNumber: seqOf(puts, 'bad'),
      dataBase64: Buffer.from('bad').toString('base64'),
    });
    expect(letters[0]!.reason).toContain('RetryAttemptsExhausted');
    expect(letters[0]!.reason).toContain('undecodable envelope');
  });

  it('sends records older than the maximum record age to onFailure without invoking the function', async () => {
    // Prepare: the poller's clock runs two minutes ahead, so what is on the stream is "old".
    const stream = await newStream();
    await put(stream, range(3));
    let offsetMs = 120_000;
    const { destination, failed } = capture();
    const rec = recorder();

    // Act
    const esm = await poller(stream, rec.handler, {
      maximumRecordAgeSeconds: 60,
      onFailure: destination,
      now: () => Date.now() + offsetMs,
    });
    await esm.whenIdle();
    offsetMs = 0;
    await put(stream, ['fresh']);
    await esm.whenIdle();
    await esm.stop();

    // Assess
    expect(failed.every((b) => b.condition === 'RecordAgeExceeded' && b.attempts === 0)).toBe(true);
    expect(failed.flatMap((b) => b.records.map(text))).toEqual(range(3));
    expect(rec.calls).toEqual([['fresh']]);
  });

  it('resumes after a restart from the persisted checkpoint without redelivering completed records', async () => {
    // Prepare
    const stream = await newStream();
    const file = join(dir, 'checkpoints', `${stream}.json`);
    const puts = await put(stream, range(5));
    const first = recorder();
    const a = await poller(stream, first.handler, {
      batchSize: 2,
      checkpointStore: new FileCheckpointStore(file),
    });
    await a.whenIdle();
    await a.stop();
    const saved = JSON.parse(await readFile(file, 'utf8')) as {
      shards: Record<string, { sequenceNumber?: string }>;
    };

    // Act: more records while stopped, then a new process (a new store over the same file).
    await put(stream, range(3, 5));
    const second = recorder();
    const b = await poller(stream, second.handler, {
      batchSize: 2,
      checkpointStore: new FileCheckpointStore(file),
    });
    await b.whenIdle();
    await b.stop();

    // Assess
    expect(first.calls.flat()).toEqual(range(5));
    expect(second.calls.flat()).toEqual(range(3, 5));
    expect(saved.shards['shardId-000000000000']?.sequenceNumber).toBe(seqOf(puts, 'r4'));
  });

  it('after a partial failure and a restart, delivery resumes at the lowest failed record', async () => {
    const stream = await newStream();
    const puts = await put(stream, range(5));
    const file = join(dir, 'checkpoints', `${stream}.json`);
    let a: EsmPoller | undefined;
    let stopping: Promise<void> | undefined;
    const first = recorder(() => {
      stopping = a!.stop(); // the process is going down while this batch finishes
      return { batchItemFailures: [{ itemIdentifier: seqOf(puts, 'r3') }] };
    });
    a = await poller(stream, first.handler, {
      reportBatchItemFailures: true,
      checkpointStore: new FileCheckpointStore(file),
    });
    await vi.waitFor(() => expect(stopping).toBeDefined(), { timeout: 10_000, interval: 10 });
    await stopping;

    const second = recorder();
    const b = await poller(stream, second.handler, {
      reportBatchItemFailures: true,
      checkpointStore: new FileCheckpointStore(file),
    });
    await b.whenIdle();
    await b.stop();

    expect(first.calls).toEqual([range(5)]);
    expect(second.calls).toEqual([['r3', 'r4']]);
  });

  it('stop() waits for the batch in flight, checkpoints it and starts no other', async () => {
    // Prepare
    const stream = await newStream();
    const puts = await put(stream, range(4));
    const store: CheckpointStore = new InMemoryCheckpointStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let finished = 0;
    const rec = recorder(async () => {
      await gate;
      finished++;
    });
    const esm = await poller(stream, rec.handler, { batchSize: 2, checkpointStore: store });
    await vi.waitFor(() => expect(rec.calls).toHaveLength(1), { timeout: 10_000, interval: 10 });

    // Act
    let stopped = false;
    const stopping = esm.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 150));
    const stoppedBeforeRelease = stopped;
    release();
    await stopping;

    // Assess
    expect(stoppedBeforeRelease).toBe(false);
    expect(finished).toBe(1);
    expect(rec.calls).toEqual([range(2)]);
    expect((await store.load()).get('shardId-000000000000')?.sequenceNumber).toBe(seqOf(puts, 'r1'));
  });

  it('stop() with drainWithinMs hands over everything on the stream without waiting out the window', async () => {
    // Prepare: a window far longer than the drain bound, so only a drain can deliver in time.
    const stream = await newStream();
    const puts = await put(stream, range(5));
    const store: CheckpointStore = new InMemoryCheckpointStore();
    const rec = recorder();
    const esm = await poller(stream, rec.handler, {
      batchSize: 100,
      maximumBatchingWindowMs: 60_000,
      checkpointStore: store,
    });
    // Until the records are read and waiting out the window (polled: kinesalite answers when it does).
    await vi.waitFor(() => expect(esm.stats().reduce((n, s) => n + s.buffered, 0)).toBe(5), {
      timeout: 10_000,
      interval: 10,
    });

    // Act
    const t0 = performance.now();
    await esm.stop({ drainWithinMs: 10_000 });

    // Assess
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(rec.calls.flat()).toEqual(range(5));
    expect((await store.load()).get('shardId-000000000000')?.sequenceNumber).toBe(seqOf(puts, 'r4'));
  });

  it('a drain gives up after drainWithinMs when the function keeps failing, and checkpoints nothing failed', async () => {
    // Prepare
    const stream = await newStream();
    await put(stream, range(3));
    const store: CheckpointStore = new InMemoryCheckpointStore();
    const rec = recorder(() => {
      throw new Error('ClickHouse: No space left on device');
    });
    const { destination, failed } = capture();
    const esm = await poller(stream, rec.handler, {
      checkpointStore: store,
      maximumRetryAttempts: -1,
      maximumRetryBackoffMs: 100,
      onFailure: destination,
    });
    await vi.waitFor(() => expect(rec.calls.length).toBeGreaterThan(0), { timeout: 10_000, interval: 10 });

    // Act
    const t0 = performance.now();
    await esm.stop({ drainWithinMs: 500 });

    // Assess: an outage is retried, not discarded; a restart resumes from the start.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(450);
    expect(failed).toEqual([]);
    expect((await store.load()).get('shardId-000000000000')?.sequenceNumber).toBeUndefined();
  });

  it('backs off between retries of a failing batch up to maximumRetryBackoffMs', async () => {
    // Prepare
    const stream = await newStream();
    await put(stream, range(1));
    const at: number[] = [];
    const rec = recorder(() => {
      at.push(performance.now());
      throw new Error('outage');
    });
    const esm = await poller(stream, rec.handler, {
      pollIntervalMs: 20,
      maximumRetryAttempts: -1,
      maximumRetryBackoffMs: 160,
    });

    // Act
    await vi.waitFor(() => expect(at.length).toBeGreaterThanOrEqual(7), { timeout: 10_000, interval: 10 });
    await esm.stop();

    // Assess: waits of about 20, 40, 80, 160, 160… ms (timers only run late, never early).
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[2]).toBeGreaterThanOrEqual(75);
    expect(gaps[4]).toBeGreaterThanOrEqual(155);
    expect(gaps[5]).toBeGreaterThanOrEqual(155);
    expect(gaps[5]).toBeLessThan(1_000);
  });

  it('starts at LATEST only on the first start, and resumes after a restart', async () => {
    const stream = await newStream();
    await put(stream, ['old']);
    const file = join(dir, 'checkpoints', `${stream}.json`);

    // A first start that sees nothing, then a restart: records put while stopped are not skipped.
    const a = await poller(stream, recorder().handler, {
      startingPosition: 'LATEST',
      checkpointStore: new FileCheckpointStore(file),
    });
    await a.whenIdle();
    await a.stop();
    await put(stream, ['while-down']);
    const rec = recorder();
    const b = await poller(stream, rec.handler, {
      startingPosition: 'LATEST',
      checkpointStore: new FileCheckpointStore(file),
    });
    await b.whenIdle();
    await put(stream, ['after']);
    await b.whenIdle();
    await b.stop();

    expect(rec.calls.flat()).toEqual(['while-down', 'after']);
  });

  it('follows resharding: child shards are read after their parent is done', async () => {
    // Prepare
    const stream = await newStream(1);
    await put(
      stream,
      range(5).map((d) => ({ data: d, key: 'same-key' })),
    );
    const seen: KinesisStreamRecord[] = [];
    const esm = await poller(
      stream,
      (event) => {
        seen.push(...event.Records);
      },
      { shardDiscoveryIntervalMs: 50 },
    );
    await esm.whenIdle();

    // Act: split the only shard, then write more with the same key (it lands in a child).
    await kinesis.send(
      new SplitShardCommand({
        StreamName: stream,
        ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await waitActive(stream);
    const later = await put(
      stream,
      range(5, 5).map((d) => ({ data: d, key: 'same-key' })),
    );
    await esm.whenIdle();
    await esm.stop();

    // Assess
    expect(seen.map(text)).toEqual(range(10));
    const childShard = later[0]!.shardId;
    expect(childShard).not.toBe('shardId-000000000000');
    expect(seen.slice(5).every((r) => r.eventID.startsWith(`${childShard}:`))).toBe(true);
    expect(esm.stats().find((s) => s.shardId === 'shardId-000000000000')?.status).toBe('finished');
  });

  it('keeps the checkpoint file whole: no temporary files left, and a corrupt file stops the start', async () => {
    const stream = await newStream();
    await put(stream, range(6));
    const cpDir = join(dir, 'atomic', stream);
    const file = join(cpDir, 'consumer.json');
    const esm = await poller(stream, recorder().handler, {
      batchSize: 1,
      checkpointStore: new FileCheckpointStore(file),
    });
    await esm.whenIdle();
    await esm.stop();
    expect(await readdir(cpDir)).toEqual(['consumer.json']);

    const corrupt = join(dir, 'atomic', 'corrupt.json');
    await mkdir(join(dir, 'atomic'), { recursive: true });
    await writeFile(corrupt, '{"version":1,"shards":{"shardId-000000000000":');
    await expect(
      poller(stream, recorder().handler, { checkpointStore: new FileCheckpointStore(corrupt) }),
    ).rejects.toBeInstanceOf(CheckpointStoreError);
  });

  it('rejects options Lambda would reject, with a clear message', () => {
    const base = {
      kinesis,
      streamName: 's',
      handler: () => undefined,
      checkpointStore: new InMemoryCheckpointStore(),
    };
    expect(() => new EsmPoller({ ...base, batchSize: 0 })).toThrow(EsmPollerConfigError);
    expect(() => new EsmPoller({ ...base, batchSize: 10_001 })).toThrow(
      '`batchSize` must be 1..10000, got: 10001',
    );
    expect(() => new EsmPoller({ ...base, maximumBatchingWindowMs: 300_001 })).toThrow(
      'maximumBatchingWindowMs',
    );
    expect(() => new EsmPoller({ ...base, maximumRetryAttempts: -2 })).toThrow('maximumRetryAttempts');
    expect(() => new EsmPoller({ ...base, maximumRecordAgeSeconds: 30 })).toThrow(
      '`maximumRecordAgeSeconds` must be -1 or 60..604800, got: 30',
    );
    expect(
      () => new EsmPoller({ ...base, maximumRecordAgeSeconds: -1, maximumRetryAttempts: -1 }),
    ).not.toThrow();
  });
});
