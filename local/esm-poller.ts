import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import type {
  Context,
  KinesisStreamEvent,
  KinesisStreamRecord,
  KinesisStreamTumblingWindowEvent,
} from 'aws-lambda';
import type { DeadLetter, DeadLetterSink } from '../functions/shared/dead-letter/dead-letter.js';
import type { CheckpointStore, ShardCheckpoint } from './checkpoint-store.js';
import { afterInvoke, expiredRecords, retriesExhausted, retryDelayMs } from './esm-policy.js';
import { lambdaContext } from './lambda-context.js';

/**
 * Local stand-in for Lambda's Kinesis event source mapping (ESM): reads every shard of a kinesalite
 * stream and invokes a consumer handler with Lambda's exact event shape, honouring batch size, batching
 * window, bisect on error, ReportBatchItemFailures, retry and record-age limits and an on-failure
 * destination. Tumbling windows (state carried between invocations, a final invocation per window) when
 * `tumblingWindowSeconds` is set. The rules, and where each comes from, are in docs/esm-semantics.md.
 */

export type StartingPosition = 'TRIM_HORIZON' | 'LATEST';

/**
 * A Lambda handler for Kinesis batches (a middy-wrapped handler fits). It may return, or resolve to, a
 * `KinesisStreamBatchResponse`; as in Lambda, the response is read defensively (see interpretResponse).
 */
export type KinesisConsumerHandler = (event: KinesisStreamEvent, context: Context) => unknown;

/** Why records were handed to the on-failure destination (the names Lambda uses in its records). */
export type FailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

export interface FailedBatch {
  readonly condition: FailureCondition;
  /** In words an operator understands, including the last error when there was one. */
  readonly reason: string;
  readonly streamArn: string;
  readonly shardId: string;
  /** The discarded records, in stream order, in the shape the handler saw them. */
  readonly records: readonly KinesisStreamRecord[];
  /** Invocations that failed for these records (0 when they expired before being sent). */
  readonly attempts: number;
}

/** Where discarded records go (Lambda's OnFailure destination); the S3 dead-letter prefix in our stacks. */
export interface FailureDestination {
  send(batch: FailedBatch): Promise<void>;
}

export interface InvocationInfo {
  readonly shardId: string;
  readonly recordCount: number;
  /** 1 for a first attempt; higher for retries of the same first record. */
  readonly attempt: number;
}

export type ContextFactory = (invocation: InvocationInfo) => Context;

/** Powertools' Logger fits; so does `console`. */
export interface EsmPollerLogger {
  warn(message: string, ...extra: unknown[]): void;
  error(message: string, ...extra: unknown[]): void;
}

export interface EsmPollerOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly handler: KinesisConsumerHandler;
  /** Where shard positions persist; a FileCheckpointStore under the data dir in local mode. */
  readonly checkpointStore: CheckpointStore;
  /** Shown in the Lambda context and logs. @default 'local-consumer' */
  readonly functionName?: string;
  /** Largest batch, 1..10000. @default 100 (Lambda's default) */
  readonly batchSize?: number;
  /** How long to gather records before invoking with less than a full batch, 0..300000 ms. @default 0 */
  readonly maximumBatchingWindowMs?: number;
  /** Split a failed batch in halves and retry each. @default false */
  readonly bisectBatchOnFunctionError?: boolean;
  /** Retries after the first failed attempt, -1 (infinite) .. 10000. @default -1 */
  readonly maximumRetryAttempts?: number;
  /** Records older than this are discarded unprocessed: -1 (never) or 60..604800 s. @default -1 */
  readonly maximumRecordAgeSeconds?: number;
  /** Honour `batchItemFailures` in the handler's response (our stacks: true). @default false */
  readonly reportBatchItemFailures?: boolean;
  /**
   * Where to begin when no checkpoint exists. LATEST applies only to the shards present at the very first
   * start; shards created later (resharding) are always read from their start, as Lambda does.
   * @default 'TRIM_HORIZON' (Lambda requires a choice; locally, not losing records wins)
   */
  readonly startingPosition?: StartingPosition;
  /** Receives discarded records; without one they are logged and dropped, as in Lambda. */
  readonly onFailure?: FailureDestination;
  /** Wait between empty reads of a shard, and before retrying a failed batch. @default 1000 (Lambda's base rate) */
  readonly pollIntervalMs?: number;
  /**
   * Longest wait between retries of a failed batch: the wait starts at `pollIntervalMs` and doubles
   * per failed attempt up to this. @default pollIntervalMs (no backoff)
   */
  readonly maximumRetryBackoffMs?: number;
  /** How often ListShards looks for new shards. @default 10000 */
  readonly shardDiscoveryIntervalMs?: number;
  /**
   * Lambda's `TumblingWindowInSeconds`, 0..900: 0 is no windows. With windows, records are grouped
   * by arrival time into epoch-aligned windows per shard; each invocation gets the window's `state`
   * and returns the next one; the window's end brings a final invocation (docs/esm-semantics.md).
   * @default 0
   */
  readonly tumblingWindowSeconds?: number;
  /** Builds the Lambda context for each invocation. @default lambdaContext of the function */
  readonly contextFactory?: ContextFactory;
  /** `invokeIdentityArn` in the records. @default arn:aws:iam::<account>:role/<functionName>-role */
  readonly invokeIdentityArn?: string;
  /** Epoch ms used for record age; tests move it forward instead of waiting a minute. @default Date.now */
  readonly now?: () => number;
  /** @default console */
  readonly logger?: EsmPollerLogger;
}

export class EsmPollerConfigError extends Error {
  override readonly name = 'EsmPollerConfigError';
}

export class EsmPollerError extends Error {
  override readonly name = 'EsmPollerError';
}

/** Lambda's synchronous invocation payload limit: a batch stops growing before its event passes it. */
export const MAX_EVENT_BYTES = 6 * 1024 * 1024;

/** Lambda's limit on a tumbling window's state: past it, the window is terminated early. */
export const MAX_WINDOW_STATE_BYTES = 1024 * 1024;

export interface ShardStats {
  readonly shardId: string;
  readonly status: 'waiting' | 'running' | 'finished';
  /** Records read but not yet done with (includes the batch in flight). */
  readonly buffered: number;
  readonly inFlight: boolean;
  /** Sequence number of the last record done with. */
  readonly checkpoint?: string;
}

interface Resolved {
  readonly batchSize: number;
  readonly windowMs: number;
  readonly bisect: boolean;
  readonly maxRetries: number;
  readonly maxAgeMs: number;
  readonly reportFailures: boolean;
  readonly startingPosition: StartingPosition;
  readonly pollMs: number;
  readonly discoveryMs: number;
  readonly maxBackoffMs: number;
  readonly functionName: string;
  readonly tumblingMs: number;
}

function checkInt(name: string, value: number, ok: (n: number) => boolean, range: string): void {
  if (!Number.isInteger(value) || !ok(value)) {
    throw new EsmPollerConfigError(`\`${name}\` must be ${range}, got: ${value}`);
  }
}

/** Applies the documented defaults and rejects what Lambda's API would reject. */
export function resolveEsmPollerOptions(o: EsmPollerOptions): Resolved {
  if (!o.streamName) throw new EsmPollerConfigError('`streamName` is required');
  const r: Resolved = {
    batchSize: o.batchSize ?? 100,
    windowMs: o.maximumBatchingWindowMs ?? 0,
    bisect: o.bisectBatchOnFunctionError ?? false,
    maxRetries: o.maximumRetryAttempts ?? -1,
    maxAgeMs: (o.maximumRecordAgeSeconds ?? -1) * 1000,
    reportFailures: o.reportBatchItemFailures ?? false,
    startingPosition: o.startingPosition ?? 'TRIM_HORIZON',
    pollMs: o.pollIntervalMs ?? 1000,
    discoveryMs: o.shardDiscoveryIntervalMs ?? 10_000,
    maxBackoffMs: o.maximumRetryBackoffMs ?? o.pollIntervalMs ?? 1000,
    functionName: o.functionName ?? 'local-consumer',
    tumblingMs: (o.tumblingWindowSeconds ?? 0) * 1000,
  };
  checkInt('batchSize', r.batchSize, (n) => n >= 1 && n <= 10_000, '1..10000');
  checkInt('maximumBatchingWindowMs', r.windowMs, (n) => n >= 0 && n <= 300_000, '0..300000');
  checkInt('maximumRetryAttempts', r.maxRetries, (n) => n >= -1 && n <= 10_000, '-1..10000');
  checkInt(
    'maximumRecordAgeSeconds',
    o.maximumRecordAgeSeconds ?? -1,
    (n) => n === -1 || (n >= 60 && n <= 604_800),
    '-1 or 60..604800',
  );
  checkInt('pollIntervalMs', r.pollMs, (n) => n >= 1 && n <= 60_000, '1..60000');
  checkInt('maximumRetryBackoffMs', r.maxBackoffMs, (n) => n >= 1 && n <= 300_000, '1..300000');
  checkInt('shardDiscoveryIntervalMs', r.discoveryMs, (n) => n >= 1, 'a positive integer');
  checkInt('tumblingWindowSeconds', o.tumblingWindowSeconds ?? 0, (n) => n >= 0 && n <= 900, '0..900');
  if (r.startingPosition !== 'TRIM_HORIZON' && r.startingPosition !== 'LATEST') {
    throw new EsmPollerConfigError(
      `\`startingPosition\` must be TRIM_HORIZON or LATEST, got: ${r.startingPosition}`,
    );
  }
  return r;
}

function arnParts(arn: string): { region: string; account: string } {
  const [, , , region = 'us-east-1', account = '000000000000'] = arn.split(':');
  return { region, account };
}

/** Sends discarded records to a DeadLetterSink, one letter per record, with the reason. */
export function deadLetterDestination(sink: DeadLetterSink, source: string): FailureDestination {
  return {
    async send(batch) {
      const letters: DeadLetter[] = batch.records.map((r) => ({
        source,
        reason: `${batch.condition}: ${batch.reason}`,
        shardId: batch.shardId,
        sequenceNumber: r.kinesis.sequenceNumber,
        data: Buffer.from(r.kinesis.data, 'base64'),
      }));
      await sink.put(letters);
    },
  };
}

interface Buffered {
  readonly record: KinesisStreamRecord;
  readonly seq: bigint;
  readonly arrivalMs: number;
  /** Approximate bytes this record adds to the event JSON. */
  readonly bytes: number;
}

type Outcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'partial'; readonly firstFailed: number }
  | { readonly kind: 'failure'; readonly error: string };

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Reads a handler's response the way Lambda does with ReportBatchItemFailures: nothing, null or an
 * empty list is success; a missing, empty or unknown itemIdentifier fails the whole batch; otherwise the
 * lowest failed record is where processing resumes.
 */
function interpretResponse(response: unknown, batch: readonly Buffered[]): Outcome {
  if (response === undefined || response === null || typeof response !== 'object') return { kind: 'success' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) return { kind: 'failure', error: 'batchItemFailures is not a list' };
  if (failures.length === 0) return { kind: 'success' };
  const index = new Map(batch.map((b, i) => [b.record.kinesis.sequenceNumber, i]));
  let lowest = Number.POSITIVE_INFINITY;
  for (const item of failures as unknown[]) {
    const id =
      item && typeof item === 'object' ? (item as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '') {
      return { kind: 'failure', error: 'a batchItemFailures entry has no itemIdentifier' };
    }
    const i = index.get(id);
    if (i === undefined) return { kind: 'failure', error: `itemIdentifier ${id} is not in the batch` };
    lowest = Math.min(lowest, i);
  }
  return { kind: 'partial', firstFailed: lowest };
}

interface ShardState {
  readonly shardId: string;
  readonly parents: readonly string[];
  status: 'waiting' | 'running' | 'finished';
  /** The shard has an ending sequence number: it will run dry and finish. */
  closed: boolean;
  /** Start at LATEST (first ever start of a LATEST mapping). */
  useLatest: boolean;
  /** Skip records that arrived before this (restart of a LATEST mapping before its first checkpoint). */
  skipBeforeMs: number | undefined;
  checkpoint: string | undefined;
  buffer: Buffered[];
  inFlight: boolean;
  /** Fetch ticket of the last read that found nothing with nothing pending; -1 if none. */
  caughtUpTicket: number;
  /** Tumbling windows: a window has records folded into its state and awaits its final invocation. */
  windowOpen: boolean;
  loop?: Promise<void>;
}

/**
 * Drives one consumer from one stream. Start it with `start()`; `whenIdle()` resolves when every shard
 * is caught up; `stop()` lets each shard finish and checkpoint its batch in flight.
 */
export class EsmPoller {
  readonly #o: EsmPollerOptions;
  readonly #r: Resolved;
  readonly #log: EsmPollerLogger;
  readonly #now: () => number;
  readonly #abort = new AbortController();
  readonly #shards = new Map<string, ShardState>();
  #streamArn = '';
  #identityArn = '';
  #region = 'us-east-1';
  #account = '000000000000';
  #firstStart = false;
  #ticket = 0;
  #started = false;
  #stopping = false;
  /** Stopping gracefully: batching windows are skipped so what is buffered goes out now. */
  #draining = false;
  #discovery: Promise<void> | undefined;
  #discovering: Promise<void> | undefined;
  #checkpoints: ReadonlyMap<string, ShardCheckpoint> = new Map();

  constructor(options: EsmPollerOptions) {
    this.#o = options;
    this.#r = resolveEsmPollerOptions(options);
    this.#log = options.logger ?? console;
    this.#now = options.now ?? Date.now;
  }

  get streamArn(): string {
    return this.#streamArn;
  }

  /** Resolves once the stream is described, checkpoints are loaded and every shard's loop has begun. */
  async start(): Promise<void> {
    if (this.#started) throw new EsmPollerError('poller already started');
    this.#started = true;
    const summary = await this.#o.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: this.#o.streamName }),
    );
    const arn = summary.StreamDescriptionSummary?.StreamARN;
    if (!arn) throw new EsmPollerError(`stream ${this.#o.streamName} has no ARN`);
    this.#streamArn = arn;
    ({ region: this.#region, account: this.#account } = arnParts(arn));
    this.#identityArn =
      this.#o.invokeIdentityArn ?? `arn:aws:iam::${this.#account}:role/${this.#r.functionName}-role`;
    this.#checkpoints = await this.#o.checkpointStore.load();
    this.#firstStart = this.#checkpoints.size === 0;
    await this.#discover();
    this.#firstStart = false;
    this.#discovery = this.#discoveryLoop();
  }

  /**
   * Finishes each shard's batch in flight, writes its checkpoint, and resolves; starts nothing new.
   * With `drainWithinMs`, first hands the handler everything on the stream, without waiting out
   * batching windows, until every shard is caught up or that time has passed (a graceful stop: the
   * data acknowledged so far is written before the process ends).
   */
  async stop(options: { readonly drainWithinMs?: number } = {}): Promise<void> {
    const drainMs = options.drainWithinMs ?? 0;
    if (drainMs > 0 && this.#started && !this.#stopping) {
      this.#draining = true;
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        this.whenIdle().then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), drainMs);
        }),
      ]);
      clearTimeout(timer);
      if (!drained) {
        this.#log.warn(
          `esm-poller: ${this.#r.functionName} not caught up within ${drainMs} ms; a restart resumes from the checkpoints`,
        );
      }
    }
    this.#stopping = true;
    this.#abort.abort();
    await this.#discovery;
    await Promise.all([...this.#shards.values()].map((s) => s.loop));
  }

  /**
   * Resolves when every shard has read to its end with nothing pending: a read that began after this call
   * found no new records (so records put before the call have been handled). Also resolves on stop().
   */
  async whenIdle(): Promise<void> {
    const since = this.#ticket;
    await this.#discoverOnce();
    while (!this.#stopping) {
      const idle = [...this.#shards.values()].every(
        (s) =>
          s.status === 'finished' ||
          s.status === 'waiting' ||
          (!s.closed && !s.inFlight && !s.windowOpen && s.buffer.length === 0 && s.caughtUpTicket >= since),
      );
      if (idle) return;
      await this.#sleep(Math.min(20, this.#r.pollMs));
    }
  }

  stats(): ShardStats[] {
    return [...this.#shards.values()]
      .map((s) => ({
        shardId: s.shardId,
        status: s.status,
        buffered: s.buffer.length,
        inFlight: s.inFlight,
        ...(s.checkpoint === undefined ? {} : { checkpoint: s.checkpoint }),
      }))
      .sort((a, b) => a.shardId.localeCompare(b.shardId));
  }

  // --- shard discovery ------------------------------------------------------------------------------

  async #discoveryLoop(): Promise<void> {
    while (!this.#stopping) {
      await this.#sleep(this.#r.discoveryMs);
      if (this.#stopping) return;
      try {
        await this.#discoverOnce();
      } catch (error) {
        this.#log.warn(`esm-poller: ListShards on ${this.#o.streamName} failed`, describeError(error));
      }
    }
  }

  /** Concurrent callers share one ListShards pass. */
  #discoverOnce(): Promise<void> {
    this.#discovering ??= this.#discover().finally(() => {
      this.#discovering = undefined;
    });
    return this.#discovering;
  }

  async #listShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.#o.kinesis.send(
        nextToken
          ? new ListShardsCommand({ NextToken: nextToken })
          : new ListShardsCommand({ StreamName: this.#o.streamName }),
      );
      shards.push(...(page.Shards ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    return shards;
  }

  async #discover(): Promise<void> {
    const listed = await this.#listShards();
    const listedIds = new Set(listed.map((s) => s.ShardId));
    const latestSince = Date.now();
    for (const shard of listed) {
      const shardId = shard.ShardId;
      if (!shardId) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const known = this.#shards.get(shardId);
      if (known) {
        known.closed = closed;
        continue;
      }
      const saved = this.#checkpoints.get(shardId);
      // Parents trimmed from the stream have nothing left to read: do not wait for them.
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
        (p): p is string => p !== undefined && (listedIds.has(p) || this.#shards.has(p)),
      );
      const latest = this.#firstStart && this.#r.startingPosition === 'LATEST';
      const state: ShardState = {
        shardId,
        parents,
        status: 'waiting',
        closed,
        useLatest: latest,
        skipBeforeMs: saved?.sequenceNumber === undefined ? saved?.latestSinceMs : undefined,
        checkpoint: saved?.sequenceNumber,
        buffer: [],
        inFlight: false,
        caughtUpTicket: -1,
        windowOpen: false,
      };
      this.#shards.set(shardId, state);
      if (saved?.finished) {
        state.status = 'finished';
        continue;
      }
      if (latest && closed) {
        // A closed shard at a LATEST first start holds only old records.
        await this.#o.checkpointStore.put(shardId, { finished: true });
        state.status = 'finished';
        continue;
      }
      if (latest) {
        state.skipBeforeMs = latestSince;
        await this.#o.checkpointStore.put(shardId, { latestSinceMs: latestSince });
      }
    }
    this.#startReadyShards();
  }

  /** Children start once all their parents are done, so records of a key stay in order across resharding. */
  #startReadyShards(): void {
    if (this.#stopping) return;
    for (const s of this.#shards.values()) {
      if (s.status !== 'waiting') continue;
      if (!s.parents.every((p) => this.#shards.get(p)?.status === 'finished')) continue;
      s.status = 'running';
      s.loop = (this.#r.tumblingMs > 0 ? this.#runWindowedShard(s) : this.#runShard(s)).catch(
        (error: unknown) => {
          this.#log.error(
            `esm-poller: shard ${s.shardId} stopped on an unexpected error`,
            describeError(error),
          );
        },
      );
    }
  }

  // --- one shard ------------------------------------------------------------------------------------

  async #runShard(s: ShardState): Promise<void> {
    const reader = this.#reader(s);
    let failures = 0; // failed attempts with the current first record
    /** Bisect: the last sequence number of each pending sub-batch, in order. */
    let plan: bigint[] = [];

    while (!this.#stopping) {
      // 1. Gather a batch: up to batchSize, waiting at most the batching window once records are there.
      if (s.buffer.length === 0 && reader.ended) {
        await this.#saveCheckpoint(s, {
          ...(s.checkpoint ? { sequenceNumber: s.checkpoint } : {}),
          finished: true,
        });
        // Same tick as starting the children, so whenIdle() never sees a finished parent with idle children.
        s.status = 'finished';
        this.#startReadyShards();
        return;
      }
      let windowStart = s.buffer.length > 0 ? Date.now() : undefined;
      while (!this.#stopping && plan.length === 0 && !this.#full(s.buffer) && !reader.ended) {
        const got = await reader.fetch(this.#r.batchSize - s.buffer.length);
        if (this.#stopping) break;
        if (s.buffer.length === 0) {
          if (got.ok && got.read === 0) {
            s.caughtUpTicket = got.ticket;
            await this.#sleep(this.#r.pollMs);
          }
          continue;
        }
        windowStart ??= Date.now();
        // A retry goes again at once with what is buffered (plus one top-up read), not after a new window.
        const left = windowStart + (failures > 0 || this.#draining ? 0 : this.#r.windowMs) - Date.now();
        if (left <= 0 || this.#full(s.buffer)) break;
        if (got.read === 0) await this.#sleep(Math.min(this.#r.pollMs, left));
      }
      if (this.#stopping) return;
      if (s.buffer.length === 0) continue;

      // 2. Records past the maximum age go to the destination unprocessed (they are a prefix: arrival
      // times grow along a shard).
      const expired = expiredRecords(
        s.buffer.map((b) => b.arrivalMs),
        this.#now(),
        this.#r,
      );
      if (expired > 0) {
        const ok = await this.#discard(
          s,
          s.buffer.slice(0, expired),
          'RecordAgeExceeded',
          'older than maximumRecordAgeSeconds',
          0,
        );
        if (!ok) return;
        failures = 0;
        continue;
      }
      const head = s.buffer[0]!;
      plan = plan.filter((end) => end >= head.seq);
      const batch = plan.length > 0 ? s.buffer.filter((b) => b.seq <= plan[0]!) : this.#take(s.buffer);

      // 3. Invoke.
      s.inFlight = true;
      const outcome = await this.#invoke(s, batch, failures + 1);
      s.inFlight = false;

      // 4. Act on the outcome, as the policy says (esm-policy.ts).
      const next = afterInvoke({ outcome, batchLength: batch.length, failures }, this.#r);
      switch (next.kind) {
        case 'checkpoint':
          await this.#complete(s, next.records);
          if (plan.length > 0) plan.shift();
          failures = 0;
          continue;
        case 'bisect': {
          const halves = [batch[next.firstHalf - 1]!.seq, batch[batch.length - 1]!.seq];
          plan = plan.length > 0 ? [...halves, ...plan.slice(1)] : halves;
          failures = 0;
          continue;
        }
        case 'retry':
        case 'discard': {
          if (next.progressed > 0) await this.#complete(s, next.progressed);
          failures = next.failures;
          if (next.kind === 'retry') {
            // An outage (full disk, engine down) is retried with a growing wait, not hammered.
            await this.#sleep(next.delayMs);
            continue;
          }
          const rest =
            plan.length > 0 ? s.buffer.filter((b) => b.seq <= plan[0]!) : batch.slice(next.progressed);
          if (!(await this.#discard(s, rest, 'RetryAttemptsExhausted', next.reason, failures))) return;
          if (plan.length > 0) plan.shift();
          failures = 0;
          continue;
        }
        default:
          return next satisfies never;
      }
    }
  }

  // --- one shard with tumbling windows -----------------------------------------------------------------

  /**
   * Lambda's tumbling windows (docs/esm-semantics.md, "Tumbling windows"): records grouped by arrival
   * time into epoch-aligned windows; every invocation of a window carries the state the previous
   * one returned; once the window's end has passed and its records are all handed over, a final
   * invocation (no records, `isFinalInvokeForWindow`) gets the last state. The checkpoint moves
   * only when a window is complete, so after a restart an open window's records are read again and
   * folded from an empty state: nothing is counted twice in a window's final state.
   */
  async #runWindowedShard(s: ShardState): Promise<void> {
    const reader = this.#reader(s);
    const W = this.#r.tumblingMs;
    const windowOf = (b: Buffered) => Math.floor(b.arrivalMs / W) * W;
    let win: { start: number; state: Record<string, unknown>; last?: string } | undefined;
    let failures = 0;
    let lastError = '';
    /** When the last read that found nothing began (a read begun after a window's end sees all of it). */
    let drySince = Number.NEGATIVE_INFINITY;

    const backoff = () => this.#sleep(retryDelayMs(failures, this.#r));

    const final = async (open: NonNullable<typeof win>, terminatedEarly: boolean): Promise<boolean> => {
      s.inFlight = true;
      const outcome = await this.#invokeWindow(
        s,
        [],
        open.start,
        open.state,
        true,
        terminatedEarly,
        failures + 1,
      );
      s.inFlight = false;
      if (outcome.kind !== 'success') {
        // The shard waits until the final invocation succeeds ("suspends further processing").
        failures++;
        this.#log.warn(
          `esm-poller: final invocation of ${s.shardId}'s window ${new Date(open.start).toISOString()} failed (attempt ${failures}); retrying`,
          outcome.error,
        );
        await backoff();
        return false;
      }
      failures = 0;
      if (open.last) {
        s.checkpoint = open.last;
        s.skipBeforeMs = undefined;
        await this.#saveCheckpoint(s, { sequenceNumber: open.last });
      }
      return true;
    };

    while (!this.#stopping) {
      if (!win && s.buffer.length === 0 && reader.ended) {
        await this.#saveCheckpoint(s, {
          ...(s.checkpoint ? { sequenceNumber: s.checkpoint } : {}),
          finished: true,
        });
        s.status = 'finished';
        this.#startReadyShards();
        return;
      }
      // 1. Close the open window when a later window's record is next, or its end has passed and a
      // read begun after the end found nothing more (every record of the window is handed over).
      if (win) {
        const head = s.buffer[0];
        const end = win.start + W;
        const closed = head
          ? windowOf(head) > win.start
          : reader.ended || (Date.now() >= end && drySince >= end);
        if (closed) {
          if (await final(win, false)) {
            win = undefined;
            s.windowOpen = false;
          }
          continue;
        }
      }
      // 2. Read: more records when the buffer has no full batch.
      if (!reader.ended && !this.#full(s.buffer)) {
        const started = Date.now();
        const got = await reader.fetch(this.#r.batchSize - s.buffer.length);
        if (this.#stopping) return;
        if (got.ok && got.read === 0) {
          drySince = started;
          if (s.buffer.length === 0) {
            s.caughtUpTicket = got.ticket;
            await this.#sleep(
              win ? Math.min(this.#r.pollMs, Math.max(1, win.start + W - Date.now())) : this.#r.pollMs,
            );
            continue;
          }
        }
      }
      if (s.buffer.length === 0) continue;

      // 3. A batch: the head's window only, up to batchSize and the payload limit.
      const head = s.buffer[0]!;
      const start = windowOf(head);
      win ??= { start, state: {} };
      s.windowOpen = true;
      const batch = this.#take(s.buffer.filter((b) => windowOf(b) === start));
      s.inFlight = true;
      const outcome = await this.#invokeWindow(s, batch, start, win.state, false, false, failures + 1);
      s.inFlight = false;
      if (outcome.kind === 'success') {
        if (JSON.stringify(outcome.state).length > MAX_WINDOW_STATE_BYTES) {
          // Over Lambda's 1 MB: the window ends early with the state it had, then continues with
          // an empty one, and this batch is invoked again into it.
          if (await final(win, true)) win = { start, state: {} };
          continue;
        }
        win.state = outcome.state;
        win.last = batch[batch.length - 1]!.record.kinesis.sequenceNumber;
        s.buffer.splice(0, batch.length);
        failures = 0;
        continue;
      }
      failures++;
      lastError = outcome.error;
      if (retriesExhausted(failures, this.#r)) {
        const reason = `${failures} attempt(s) failed; last: ${lastError}`;
        if (!(await this.#handOver(s, batch, 'RetryAttemptsExhausted', reason, failures))) return;
        // Done with, though not in the state: the window's checkpoint moves past them.
        win.last = batch[batch.length - 1]!.record.kinesis.sequenceNumber;
        s.buffer.splice(0, batch.length);
        failures = 0;
        continue;
      }
      await backoff();
    }
  }

  async #invokeWindow(
    s: ShardState,
    batch: readonly Buffered[],
    start: number,
    state: Record<string, unknown>,
    isFinal: boolean,
    terminatedEarly: boolean,
    attempt: number,
  ): Promise<{ kind: 'success'; state: Record<string, unknown> } | { kind: 'failure'; error: string }> {
    const event: KinesisStreamTumblingWindowEvent & { shardId: string; eventSourceARN: string } = {
      Records: batch.map((b) => structuredClone(b.record)),
      window: {
        start: new Date(start).toISOString(),
        end: new Date(start + this.#r.tumblingMs).toISOString(),
      },
      state: structuredClone(state),
      shardId: s.shardId,
      eventSourceARN: this.#streamArn,
      isFinalInvokeForWindow: isFinal,
      isWindowTerminatedEarly: terminatedEarly,
    };
    const info: InvocationInfo = { shardId: s.shardId, recordCount: batch.length, attempt };
    const context =
      this.#o.contextFactory?.(info) ??
      lambdaContext({ functionName: this.#r.functionName, region: this.#region, account: this.#account });
    let response: unknown;
    try {
      response = await this.#o.handler(event, context);
    } catch (error) {
      return { kind: 'failure', error: describeError(error) };
    }
    const r = response as { state?: unknown; batchItemFailures?: unknown } | null | undefined;
    // Lambda treats a response without `state` as a failed invocation.
    if (
      !r ||
      typeof r !== 'object' ||
      typeof r.state !== 'object' ||
      r.state === null ||
      Array.isArray(r.state)
    ) {
      return { kind: 'failure', error: 'the response has no state object' };
    }
    if (this.#r.reportFailures && Array.isArray(r.batchItemFailures) && r.batchItemFailures.length > 0) {
      // The returned state already counts the failed records: retry the batch from the old state.
      return { kind: 'failure', error: 'the function reported failed records' };
    }
    return { kind: 'success', state: r.state as Record<string, unknown> };
  }

  #full(buffer: readonly Buffered[]): boolean {
    if (buffer.length >= this.#r.batchSize) return true;
    let bytes = 0;
    for (const b of buffer) bytes += b.bytes;
    return bytes >= MAX_EVENT_BYTES;
  }

  /** The head of the buffer up to batchSize records and Lambda's payload limit (at least one record). */
  #take(buffer: readonly Buffered[]): Buffered[] {
    const out: Buffered[] = [];
    let bytes = 16;
    for (const b of buffer) {
      if (out.length >= this.#r.batchSize) break;
      if (out.length > 0 && bytes + b.bytes > MAX_EVENT_BYTES) break;
      out.push(b);
      bytes += b.bytes;
    }
    return out;
  }

  async #invoke(s: ShardState, batch: readonly Buffered[], attempt: number): Promise<Outcome> {
    // A fresh copy each time: a handler that mutates its event must not change what a retry sees.
    const event: KinesisStreamEvent = { Records: batch.map((b) => structuredClone(b.record)) };
    const info: InvocationInfo = { shardId: s.shardId, recordCount: batch.length, attempt };
    const context =
      this.#o.contextFactory?.(info) ??
      lambdaContext({ functionName: this.#r.functionName, region: this.#region, account: this.#account });
    try {
      const response: unknown = await this.#o.handler(event, context);
      return this.#r.reportFailures ? interpretResponse(response, batch) : { kind: 'success' };
    } catch (error) {
      return { kind: 'failure', error: describeError(error) };
    }
  }

  /** Drops the first `count` buffered records as done and persists the new position. */
  async #complete(s: ShardState, count: number): Promise<void> {
    const done = s.buffer.splice(0, count);
    const last = done[done.length - 1];
    if (!last) return;
    s.checkpoint = last.record.kinesis.sequenceNumber;
    s.skipBeforeMs = undefined;
    await this.#saveCheckpoint(s, { sequenceNumber: s.checkpoint });
  }

  async #saveCheckpoint(s: ShardState, checkpoint: ShardCheckpoint): Promise<void> {
    try {
      await this.#o.checkpointStore.put(s.shardId, checkpoint);
    } catch (error) {
      // At-least-once still holds: a restart re-reads from the older checkpoint.
      this.#log.error(`esm-poller: cannot save the checkpoint of ${s.shardId}`, describeError(error));
    }
  }

  /**
   * Hands records to the on-failure destination (retrying it until it accepts, as long as we run) and
   * completes them. Returns false when stopping before the destination accepted.
   */
  async #discard(
    s: ShardState,
    records: readonly Buffered[],
    condition: FailureCondition,
    reason: string,
    attempts: number,
  ): Promise<boolean> {
    if (!(await this.#handOver(s, records, condition, reason, attempts))) return false;
    // Records handed over are a prefix of the buffer (the head batch, or the expired head).
    const count = s.buffer.findIndex((b) => b.seq > records[records.length - 1]!.seq);
    await this.#complete(s, count === -1 ? s.buffer.length : count);
    return true;
  }

  /**
   * Sends records to the on-failure destination, retrying every poll interval until it accepts
   * (docs/esm-semantics.md, "Destination failures"), or logs their loss when there is none. False
   * when stopping first: the records stay unprocessed. The caller then moves past them, at once
   * (#discard) or with its window (#runWindowedShard).
   */
  async #handOver(
    s: ShardState,
    records: readonly Buffered[],
    condition: FailureCondition,
    reason: string,
    attempts: number,
  ): Promise<boolean> {
    const failed: FailedBatch = {
      condition,
      reason,
      streamArn: this.#streamArn,
      shardId: s.shardId,
      records: records.map((b) => structuredClone(b.record)),
      attempts,
    };
    const destination = this.#o.onFailure;
    if (!destination) {
      this.#log.warn(
        `esm-poller: discarded ${records.length} record(s) of ${s.shardId} (${condition}: ${reason}); no on-failure destination`,
      );
      return true;
    }
    for (;;) {
      try {
        await destination.send(failed);
        return true;
      } catch (error) {
        this.#log.error(
          `esm-poller: on-failure destination refused ${records.length} record(s)`,
          describeError(error),
        );
        if (this.#stopping) return false;
        await this.#sleep(this.#r.pollMs);
        if (this.#stopping) return false;
      }
    }
  }

  /** Resolves after `ms`, or at once when stopping. */
  #sleep(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#abort.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #toLambdaRecord(shardId: string, r: KinesisRecord): KinesisStreamRecord {
    const sequenceNumber = r.SequenceNumber ?? '';
    const data = r.Data ? Buffer.from(r.Data.buffer, r.Data.byteOffset, r.Data.byteLength) : Buffer.alloc(0);
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: r.PartitionKey ?? '',
        sequenceNumber,
        data: data.toString('base64'),
        approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: this.#identityArn,
      awsRegion: this.#region,
      eventSourceARN: this.#streamArn,
    };
  }

  #reader(s: ShardState): ShardReader {
    return new ShardReader(s, {
      kinesis: this.#o.kinesis,
      streamName: this.#o.streamName,
      pollMs: this.#r.pollMs,
      nextTicket: () => this.#ticket++,
      toRecord: (r) => this.#toLambdaRecord(s.shardId, r),
      warn: (message, error) => this.#log.warn(message, describeError(error)),
      sleep: (ms) => this.#sleep(ms),
    });
  }
}

interface ReaderDeps {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly pollMs: number;
  nextTicket(): number;
  toRecord(r: KinesisRecord): KinesisStreamRecord;
  warn(message: string, error: unknown): void;
  sleep(ms: number): Promise<void>;
}

interface FetchResult {
  /** False when the call failed (the reader has then already waited a poll interval). */
  readonly ok: boolean;
  /** Records read from the stream, including any skipped as older than a LATEST start. */
  readonly read: number;
  /** Records added to the buffer. */
  readonly buffered: number;
  readonly ticket: number;
}

/** Reads one shard forward from its checkpoint into the shard's buffer, renewing iterators as needed. */
class ShardReader {
  readonly #s: ShardState;
  readonly #d: ReaderDeps;
  #iterator: string | undefined;
  /** The last sequence number read (buffered or skipped); reads resume after it. */
  #after: string | undefined;
  ended = false;

  constructor(state: ShardState, deps: ReaderDeps) {
    this.#s = state;
    this.#d = deps;
    this.#after = state.checkpoint;
  }

  /** One GetRecords call of at most `limit` records. */
  async fetch(limit: number): Promise<FetchResult> {
    const ticket = this.#d.nextTicket();
    try {
      this.#iterator ??= await this.#newIterator();
      const out = await this.#d.kinesis.send(
        new GetRecordsCommand({ ShardIterator: this.#iterator, Limit: Math.max(1, Math.min(10_000, limit)) }),
      );
      this.#iterator = out.NextShardIterator;
      if (!this.#iterator) this.ended = true;
      const records = out.Records ?? [];
      let buffered = 0;
      for (const r of records) {
        if (!r.SequenceNumber) continue;
        this.#after = r.SequenceNumber;
        const arrivalMs = r.ApproximateArrivalTimestamp?.getTime() ?? Date.now();
        if (this.#s.skipBeforeMs !== undefined && arrivalMs < this.#s.skipBeforeMs) continue;
        const record = this.#d.toRecord(r);
        this.#s.buffer.push({
          record,
          seq: BigInt(r.SequenceNumber),
          arrivalMs,
          bytes: JSON.stringify(record).length + 1,
        });
        buffered++;
      }
      return { ok: true, read: records.length, buffered, ticket };
    } catch (error) {
      // Expired or invalid iterators, throttling, a restarting emulator: start again from what we read.
      this.#iterator = undefined;
      // Iterators expire after 5 minutes (a long batch or window); renewing one is routine.
      if ((error as { name?: unknown }).name === 'ExpiredIteratorException') {
        return { ok: false, read: 0, buffered: 0, ticket };
      }
      this.#d.warn(`esm-poller: GetRecords on ${this.#s.shardId} failed; retrying`, error);
      await this.#d.sleep(this.#d.pollMs);
      return { ok: false, read: 0, buffered: 0, ticket };
    }
  }

  async #newIterator(): Promise<string> {
    const base = { StreamName: this.#d.streamName, ShardId: this.#s.shardId };
    const input = this.#after
      ? { ...base, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, StartingSequenceNumber: this.#after }
      : { ...base, ShardIteratorType: this.#s.useLatest ? ('LATEST' as const) : ('TRIM_HORIZON' as const) };
    // LATEST only once: a renewed iterator reads from the start and skips by arrival time instead.
    this.#s.useLatest = false;
    const out = await this.#d.kinesis.send(new GetShardIteratorCommand(input));
    if (!out.ShardIterator) throw new EsmPollerError(`no shard iterator for ${this.#s.shardId}`);
    return out.ShardIterator;
  }
}

/** Creates and starts a poller. */
export async function startEsmPoller(options: EsmPollerOptions): Promise<EsmPoller> {
  const poller = new EsmPoller(options);
  await poller.start();
  return poller;
}
