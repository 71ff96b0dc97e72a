import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { localKinesisClient } from '../../local/aws-clients.js';
import { InMemoryCheckpointStore } from '../../local/checkpoint-store.js';
import { type Emulators, startEmulators } from '../../local/emulators.js';
import {
  EsmPoller,
  EsmPollerConfigError,
  type EsmPollerOptions,
  type FailedBatch,
  MAX_WINDOW_STATE_BYTES,
  startEsmPoller,
} from '../../local/esm-poller.js';

/** The local poller's tumbling windows against kinesalite (docs/esm-semantics.md, "Tumbling windows"). */

let dir: string;
let emulators: Emulators;
let kinesis: KinesisClient;
let streamNo = 0;
const running: EsmPoller[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'esm-windows-'));
  emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  kinesis = localKinesisClient(emulators.kinesisEndpoint);
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  kinesis?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

async function newStream(): Promise<string> {
  const name = `windows-${++streamNo}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  await vi.waitFor(
    async () => {
      const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      if (d.StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') throw new Error('not active yet');
    },
    { timeout: 10_000, interval: 20 },
  );
  return name;
}

async function put(stream: string, values: readonly string[]): Promise<void> {
  await kinesis.send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: values.map((v) => ({ Data: Buffer.from(v), PartitionKey: 'k' })),
    }),
  );
}

type Invocation = {
  readonly records: string[];
  readonly arrivals: number[];
  readonly start: number;
  readonly end: number;
  readonly state: Record<string, unknown>;
  readonly final: boolean;
  readonly early: boolean;
  readonly shardId: string;
};

/** A summing consumer: its state is the values seen in the window, as Lambda's docs' example. */
function summing(log: Invocation[], fail?: (inv: Invocation) => boolean) {
  return async (raw: unknown) => {
    const event = raw as KinesisStreamTumblingWindowEvent & { shardId: string };
    const inv: Invocation = {
      records: event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString()),
      arrivals: event.Records.map((r) => r.kinesis.approximateArrivalTimestamp * 1000),
      start: Date.parse(event.window.start),
      end: Date.parse(event.window.end),
      state: structuredClone(event.state ?? {}),
      final: event.isFinalInvokeForWindow,
      early: event.isWindowTerminatedEarly,
      shardId: event.shardId,
    };
    log.push(inv);
    if (fail?.(inv)) throw new Error('injected failure');
    const seen = [...((event.state?.seen as string[] | undefined) ?? []), ...inv.records];
    return { state: inv.final ? {} : { seen }, batchItemFailures: [] };
  };
}

async function poller(options: Partial<EsmPollerOptions> & Pick<EsmPollerOptions, 'streamName' | 'handler'>) {
  const p = await startEsmPoller({
    kinesis,
    checkpointStore: new InMemoryCheckpointStore(),
    tumblingWindowSeconds: 1,
    pollIntervalMs: 20,
    logger: { warn: () => undefined, error: () => undefined },
    ...options,
  });
  running.push(p);
  return p;
}

const finals = (log: readonly Invocation[]) => log.filter((i) => i.final && !i.early);

describe('esm poller: tumbling windows', () => {
  it('rejects a window outside 0..900 s', () => {
    expect(
      () =>
        new EsmPoller({
          kinesis,
          streamName: 's',
          handler: () => undefined,
          checkpointStore: new InMemoryCheckpointStore(),
          tumblingWindowSeconds: 901,
        }),
    ).toThrow(EsmPollerConfigError);
  });

  it('groups records by arrival into epoch-aligned windows, carries the state, and ends each window with a final invocation holding it', async () => {
    const stream = await newStream();
    const log: Invocation[] = [];
    const p = await poller({ streamName: stream, handler: summing(log), batchSize: 2 });
    await put(stream, ['a', 'b', 'c']);
    await vi.waitFor(() => expect(finals(log).length).toBeGreaterThanOrEqual(1), { timeout: 5_000 });
    await new Promise((r) => setTimeout(r, 1100 - (Date.now() % 1000)));
    await put(stream, ['d']);
    await vi.waitFor(() => expect(finals(log).length).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    await p.stop();

    for (const inv of log) {
      expect(inv.start % 1000).toBe(0); // aligned to the epoch
      expect(inv.end - inv.start).toBe(1000);
      for (const at of inv.arrivals) expect(at >= inv.start && at < inv.end).toBe(true);
      expect(inv.shardId).toMatch(/^shardId-/);
    }
    // Every record is folded once, in order, and the final invocation gets the window's whole state.
    const windows = [...new Set(log.map((i) => i.start))];
    const all: string[] = [];
    for (const w of windows) {
      const invs = log.filter((i) => i.start === w);
      const last = invs[invs.length - 1]!;
      expect(last.final).toBe(true);
      expect(last.records).toEqual([]);
      const folded = invs.filter((i) => !i.final).flatMap((i) => i.records);
      expect(last.state.seen).toEqual(folded);
      all.push(...folded);
      // The batch size still applies inside a window.
      for (const i of invs) expect(i.records.length).toBeLessThanOrEqual(2);
    }
    expect(all).toEqual(['a', 'b', 'c', 'd']);
  });

  it('retries a failed invocation with the state it had, and holds the shard until a failed final invocation passes', async () => {
    const stream = await newStream();
    const log: Invocation[] = [];
    let aggregateFailures = 1;
    let finalFailures = 2;
    const p = await poller({
      streamName: stream,
      handler: summing(log, (inv) => (inv.final ? finalFailures-- > 0 : aggregateFailures-- > 0)),
    });
    await put(stream, ['x', 'y']);
    await vi.waitFor(() => expect(log.filter((i) => i.final).length).toBe(3), { timeout: 8_000 });
    await p.stop();
    const aggregates = log.filter((i) => !i.final);
    expect(aggregates.length).toBeGreaterThanOrEqual(2);
    // The retry sees the same records and the same (empty) state as the failed attempt.
    expect(aggregates[1]!.records).toEqual(aggregates[0]!.records);
    expect(aggregates[1]!.state).toEqual(aggregates[0]!.state);
    const fs = log.filter((i) => i.final);
    expect(fs.map((f) => f.state)).toEqual([
      { seen: ['x', 'y'] },
      { seen: ['x', 'y'] },
      { seen: ['x', 'y'] },
    ]);
  });

  it('exhausted retries hand the batch to the on-failure destination, retried there until it accepts (the function is not invoked again), and the window still ends', async () => {
    const stream = await newStream();
    const log: Invocation[] = [];
    const sent: FailedBatch[] = [];
    let refusals = 2;
    const p = await poller({
      streamName: stream,
      handler: summing(log, (inv) => inv.records.includes('poison')),
      maximumRetryAttempts: 1,
      onFailure: {
        send: async (batch) => {
          if (refusals-- > 0) throw new Error('destination down');
          sent.push(batch);
        },
      },
    });
    await put(stream, ['poison']);
    await vi.waitFor(() => expect(finals(log)).toHaveLength(1), { timeout: 8_000 });
    await p.stop();
    // One invocation and one retry; the destination's refusals cost no further invocation.
    expect(log.filter((i) => !i.final).map((i) => i.records)).toEqual([['poison'], ['poison']]);
    expect(sent.map((b) => [b.condition, b.attempts, b.records.length])).toEqual([
      ['RetryAttemptsExhausted', 2, 1],
    ]);
    expect(Buffer.from(sent[0]!.records[0]!.kinesis.data, 'base64').toString()).toBe('poison');
    expect(sent[0]!.reason).toMatch(/^2 attempt\(s\) failed; last: .*injected failure/);
    // Not folded into the state, but done with: the window's final invocation comes as usual.
    expect(finals(log)[0]!.state).toEqual({});
  });

  it('a restart before the final invocation reads the open window again from the checkpoint, with a fresh state', async () => {
    const stream = await newStream();
    const checkpointStore = new InMemoryCheckpointStore();
    const first: Invocation[] = [];
    const p1 = await poller({
      streamName: stream,
      handler: summing(first),
      checkpointStore,
      tumblingWindowSeconds: 60,
    });
    await put(stream, ['m', 'n']);
    await vi.waitFor(() => expect(first.flatMap((i) => i.records)).toEqual(['m', 'n']), { timeout: 5_000 });
    await p1.stop(); // a crash: the 60 s window never closed
    expect(first.some((i) => i.final)).toBe(false);
    expect((await checkpointStore.load()).values().next().value?.sequenceNumber).toBeUndefined();

    const second: Invocation[] = [];
    const p2 = await poller({
      streamName: stream,
      handler: summing(second),
      checkpointStore,
      tumblingWindowSeconds: 60,
    });
    await vi.waitFor(() => expect(second.flatMap((i) => i.records)).toEqual(['m', 'n']), { timeout: 5_000 });
    expect(second[0]!.state).toEqual({});
    await p2.stop();
  });

  it('the checkpoint moves when a window completes: after a restart, a completed window is not delivered again', async () => {
    const stream = await newStream();
    const checkpointStore = new InMemoryCheckpointStore();
    const first: Invocation[] = [];
    const p1 = await poller({ streamName: stream, handler: summing(first), checkpointStore });
    await put(stream, ['p', 'q']);
    await vi.waitFor(() => expect(finals(first).length).toBe(1), { timeout: 5_000 });
    await p1.stop();
    const second: Invocation[] = [];
    const p2 = await poller({ streamName: stream, handler: summing(second), checkpointStore });
    await p2.whenIdle();
    await put(stream, ['r']);
    await vi.waitFor(() => expect(finals(second).length).toBe(1), { timeout: 5_000 });
    await p2.stop();
    expect(second.flatMap((i) => i.records)).toEqual(['r']);
  });

  it('a state over 1 MB ends the window early (final, terminated early, with the last state under the limit) and the window continues with a fresh state', async () => {
    const stream = await newStream();
    const log: Invocation[] = [];
    const big = 'z'.repeat(MAX_WINDOW_STATE_BYTES / 2);
    const handler = async (raw: unknown) => {
      const event = raw as KinesisStreamTumblingWindowEvent;
      log.push({
        records: event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString()),
        arrivals: [],
        start: Date.parse(event.window.start),
        end: Date.parse(event.window.end),
        state: structuredClone(event.state ?? {}),
        final: event.isFinalInvokeForWindow,
        early: event.isWindowTerminatedEarly,
        shardId: '',
      });
      if (event.isFinalInvokeForWindow) return { state: {} };
      const pad = [...((event.state?.pad as string[] | undefined) ?? []), big];
      return { state: { pad, n: event.Records.length } };
    };
    const p = await poller({ streamName: stream, handler, batchSize: 1, tumblingWindowSeconds: 5 });
    await put(stream, ['1', '2', '3']);
    await vi.waitFor(() => expect(log.filter((i) => i.early).length).toBeGreaterThanOrEqual(1), {
      timeout: 5_000,
    });
    await p.stop();
    const early = log.find((i) => i.early)!;
    expect(early.final).toBe(true);
    expect(early.records).toEqual([]);
    expect((early.state.pad as string[]).length).toBe(1); // the state before it grew past 1 MB
    const after = log[log.indexOf(early) + 1]!;
    expect(after.start).toBe(early.start); // the same window goes on
    expect(after.state).toEqual({}); // with a fresh state
    expect(after.records).toEqual(['2']); // and the batch that overflowed, again
  });
});
