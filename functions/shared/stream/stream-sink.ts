/**
 * The port the ingest use-case writes envelopes through. An adapter resolves only when it can say
 * what happened to every record: all durable, or not all durable and why (so the receiver can
 * answer 429 or 503 with a Retry-After instead of acknowledging data it may have lost).
 */

export interface StreamRecord {
  readonly data: Uint8Array;
  /** Records with the same key land on the same shard, in order of acceptance. */
  readonly partitionKey: string;
}

export type PutOutcome =
  /** Every record is in the stream. */
  | { readonly kind: 'durable'; readonly records: number; readonly bytes: number; readonly attempts: number }
  /** The stream pushed back (shard write limits): the caller should slow down. */
  | {
      readonly kind: 'throttled';
      readonly retryAfterSeconds: number;
      readonly failedRecords: number;
      readonly reason: string;
    }
  /** The stream could not be reached, or records still failed at the deadline. */
  | {
      readonly kind: 'unavailable';
      readonly retryAfterSeconds: number;
      readonly failedRecords: number;
      readonly reason: string;
    };

export interface StreamSink {
  /**
   * Writes every record or reports why not. `deadlineMs` is an absolute time on the `Date.now()`
   * clock after which no further attempt starts (the caller's remaining time minus a margin).
   * Some records may be in the stream even when the outcome is not `durable`: callers retry the
   * whole request, and deterministic envelopes let consumers recognise the repeat.
   */
  put(records: readonly StreamRecord[], deadlineMs: number): Promise<PutOutcome>;
}

/** A misuse that retrying cannot fix (a record over the size limit, a bad stream name). */
export class StreamSinkError extends Error {
  override readonly name = 'StreamSinkError';
}
