import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { type PutOutcome, type StreamRecord, type StreamSink, StreamSinkError } from './stream-sink.js';

/** Kinesis PutRecords limits (AWS docs): per call and per record (data plus partition key). */
export const PUT_RECORDS_MAX_RECORDS = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;
export const RECORD_MAX_BYTES = 1024 * 1024;
export const PARTITION_KEY_MAX_CHARS = 256;

export interface KinesisStreamSinkOptions {
  /** The stream, by name (kinesalite needs a name) or ARN (cross-account, or when both are known). */
  readonly streamName?: string;
  readonly streamArn?: string;
  /** Attempts per `put`, the first included; the deadline may stop earlier. @default 8 */
  readonly maxAttempts?: number;
  /** Backoff base: attempt n waits a random time in [0, min(maxDelayMs, baseDelayMs·2^n)). @default 50 */
  readonly baseDelayMs?: number;
  /** @default 2000 */
  readonly maxDelayMs?: number;
  /** Retry-After suggested to clients when the stream throttles. @default 1 */
  readonly throttledRetryAfterSeconds?: number;
  /** Retry-After suggested to clients when the stream is unavailable. @default 5 */
  readonly unavailableRetryAfterSeconds?: number;
  /** Injected in tests; defaults to Math.random, setTimeout and Date.now. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

type FailureClass = 'throttle' | 'other' | 'fatal';

/** Errors that mean "slow down", whole-call or per entry. */
const THROTTLE_CODES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'LimitExceededException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);
/** Errors that retrying within one request will not fix, though the stream may recover later. */
const FATAL_CODES = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'UnrecognizedClientException',
]);
/** Errors that mean our request is wrong: a bug, not an outage. */
const INVALID_CODES = new Set(['InvalidArgumentException', 'ValidationException']);

function classifyCode(code: string | undefined): FailureClass {
  if (code && THROTTLE_CODES.has(code)) return 'throttle';
  if (code && FATAL_CODES.has(code)) return 'fatal';
  return 'other';
}

function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; $metadata?: { httpStatusCode?: number } };
    if (e.$metadata?.httpStatusCode === 429) return 'TooManyRequestsException';
    if (typeof e.name === 'string') return e.name;
  }
  return undefined;
}

function recordBytes(r: StreamRecord): number {
  return r.data.byteLength + Buffer.byteLength(r.partitionKey, 'utf8');
}

/** Splits records into PutRecords calls of at most 500 records and 5 MiB, keeping their order. */
export function chunkForPutRecords<T extends StreamRecord>(records: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = recordBytes(r);
    if (current.length === PUT_RECORDS_MAX_RECORDS || bytes + size > PUT_RECORDS_MAX_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Writes records with Kinesis PutRecords. A call can partly fail (each entry has its own error), so
 * only the failed entries are sent again, after a full-jitter exponential backoff, until all are in
 * or the deadline or attempt budget runs out. The client should be built with `maxAttempts: 1` so
 * the SDK's own retries do not run past our deadline unseen (each call is also aborted there).
 */
export class KinesisStreamSink implements StreamSink {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly client: KinesisClient,
    private readonly options: KinesisStreamSinkOptions,
  ) {
    if (!options.streamName && !options.streamArn) {
      throw new StreamSinkError('KinesisStreamSink needs a streamName or a streamArn');
    }
    this.maxAttempts = options.maxAttempts ?? 8;
    this.baseDelayMs = options.baseDelayMs ?? 50;
    this.maxDelayMs = options.maxDelayMs ?? 2000;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? defaultSleep;
    this.now = options.now ?? Date.now;
  }

  async put(records: readonly StreamRecord[], deadlineMs: number): Promise<PutOutcome> {
    let bytes = 0;
    for (const r of records) {
      const size = recordBytes(r);
      if (size > RECORD_MAX_BYTES) {
        throw new StreamSinkError(
          `a record of ${size} bytes is over Kinesis' ${RECORD_MAX_BYTES}-byte limit`,
        );
      }
      if (r.partitionKey.length === 0 || r.partitionKey.length > PARTITION_KEY_MAX_CHARS) {
        throw new StreamSinkError(`partition key must be 1..${PARTITION_KEY_MAX_CHARS} characters`);
      }
      bytes += size;
    }
    let pending: readonly StreamRecord[] = records;
    let attempts = 0;
    let lastClass: FailureClass = 'other';
    let lastReason = 'deadline reached before the first attempt';

    while (pending.length > 0) {
      if (attempts > 0) {
        if (lastClass === 'fatal' || attempts >= this.maxAttempts) break;
        const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempts - 1));
        const delay = Math.floor(this.random() * ceiling);
        if (this.now() + delay >= deadlineMs) break;
        await this.sleep(delay);
      }
      if (this.now() >= deadlineMs) break;
      attempts++;
      const failed: StreamRecord[] = [];
      let sawOther = false;
      for (const chunk of chunkForPutRecords(pending)) {
        const result =
          this.now() < deadlineMs
            ? await this.putChunk(chunk, deadlineMs)
            : { failed: chunk, cls: 'other' as const, reason: 'deadline reached' };
        failed.push(...result.failed);
        if (result.failed.length > 0) {
          lastReason = result.reason;
          if (result.cls === 'fatal') lastClass = 'fatal';
          else if (result.cls === 'other') sawOther = true;
        }
      }
      if (failed.length > 0 && lastClass !== 'fatal') lastClass = sawOther ? 'other' : 'throttle';
      pending = failed;
    }

    if (pending.length === 0) return { kind: 'durable', records: records.length, bytes, attempts };
    if (lastClass === 'throttle') {
      return {
        kind: 'throttled',
        retryAfterSeconds: this.options.throttledRetryAfterSeconds ?? 1,
        failedRecords: pending.length,
        reason: lastReason,
      };
    }
    return {
      kind: 'unavailable',
      retryAfterSeconds: this.options.unavailableRetryAfterSeconds ?? 5,
      failedRecords: pending.length,
      reason: lastReason,
    };
  }

  private async putChunk(
    chunk: readonly StreamRecord[],
    deadlineMs: number,
  ): Promise<{ failed: StreamRecord[]; cls: FailureClass; reason: string }> {
    const entries: PutRecordsRequestEntry[] = chunk.map((r) => ({
      Data: r.data,
      PartitionKey: r.partitionKey,
    }));
    const command = new PutRecordsCommand({
      Records: entries,
      ...(this.options.streamName ? { StreamName: this.options.streamName } : {}),
      ...(this.options.streamArn ? { StreamARN: this.options.streamArn } : {}),
    });
    try {
      const out = await this.client.send(command, {
        abortSignal: AbortSignal.timeout(Math.max(1, deadlineMs - this.now())),
      });
      if (!out.FailedRecordCount) return { failed: [], cls: 'other', reason: '' };
      const failed: StreamRecord[] = [];
      let cls: FailureClass = 'throttle';
      let reason = '';
      (out.Records ?? []).forEach((entry, i) => {
        const record = chunk[i];
        if (!entry.ErrorCode || !record) return;
        failed.push(record);
        const c = classifyCode(entry.ErrorCode);
        if (c !== 'throttle') cls = c === 'fatal' || cls === 'fatal' ? 'fatal' : 'other';
        reason = `${entry.ErrorCode}: ${entry.ErrorMessage ?? ''}`.trim();
      });
      return { failed, cls, reason };
    } catch (err) {
      const code = errorCode(err);
      if (code && INVALID_CODES.has(code)) {
        throw new StreamSinkError(`Kinesis rejected the request: ${code}`, { cause: err });
      }
      const message = err instanceof Error ? err.message : String(err);
      return { failed: [...chunk], cls: classifyCode(code), reason: `${code ?? 'Error'}: ${message}` };
    }
  }
}
