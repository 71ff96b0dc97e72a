/**
 * The event-source poller's failure policy as pure functions (docs/esm-semantics.md, rules 7-12 and
 * "Where AWS is silent"): what to do with a batch given how its invocation went, how many attempts
 * already failed with its first record, and the mapping's settings. No I/O and no clock: the poller
 * (local/esm-poller.ts) reads, invokes, checkpoints and sleeps as told.
 */

export interface EsmFailureSettings {
  /** `bisectBatchOnFunctionError` (rule 8). */
  readonly bisect: boolean;
  /** `maximumRetryAttempts`: retries after the first failed attempt; -1 is unlimited (rule 9). */
  readonly maxRetries: number;
  /** `maximumRecordAgeSeconds` in ms; negative is never (rule 11). */
  readonly maxAgeMs: number;
  /** `pollIntervalMs`: the first retry's wait. */
  readonly pollMs: number;
  /** `maximumRetryBackoffMs`: the longest wait between retries. */
  readonly maxBackoffMs: number;
}

/** How an invocation went, as the poller read the function's response (rule 12). */
export type BatchOutcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'failure'; readonly error: string }
  /** ReportBatchItemFailures named records; `firstFailed` is the index of the lowest in the batch. */
  | { readonly kind: 'partial'; readonly firstFailed: number };

export interface AfterInvokeInput {
  readonly outcome: BatchOutcome;
  /** Records in the batch invoked. */
  readonly batchLength: number;
  /** Failed attempts with this batch's first record before this one. */
  readonly failures: number;
}

/**
 * The next step. `progressed` records at the head of the batch are done and checkpointed first (a
 * partial failure that made progress); the rest is what `retry` re-invokes and `discard` hands to
 * the on-failure destination.
 */
export type NextAction =
  /** Rule 6: the whole batch is done; the retry count resets. */
  | { readonly kind: 'checkpoint'; readonly records: number }
  /** Rule 8: invoke the first `firstHalf` records alone, then the rest; the retry count resets. */
  | { readonly kind: 'bisect'; readonly firstHalf: number }
  /** Rules 7, 9: the same records again after `delayMs`, `failures` attempts failed so far. */
  | {
      readonly kind: 'retry';
      readonly progressed: number;
      readonly failures: number;
      readonly delayMs: number;
      readonly error: string;
    }
  /** Rule 10: retries exhausted; the rest goes to the destination as `RetryAttemptsExhausted`. */
  | {
      readonly kind: 'discard';
      readonly progressed: number;
      readonly failures: number;
      readonly reason: string;
    };

/**
 * The wait before retry number `failures` (1 = the first retry): `pollMs`, doubling per failed
 * attempt, capped at `maxBackoffMs` (never under `pollMs`).
 */
export function retryDelayMs(
  failures: number,
  s: Pick<EsmFailureSettings, 'pollMs' | 'maxBackoffMs'>,
): number {
  return Math.min(s.pollMs * 2 ** Math.max(0, failures - 1), Math.max(s.pollMs, s.maxBackoffMs));
}

/** Rule 9: whether `failures` failed attempts used up the retry quota. */
export function retriesExhausted(failures: number, s: Pick<EsmFailureSettings, 'maxRetries'>): boolean {
  return s.maxRetries >= 0 && failures > s.maxRetries;
}

/** Rules 6-10 and the choices of "Where AWS is silent": the step after an invocation. */
export function afterInvoke(input: AfterInvokeInput, s: EsmFailureSettings): NextAction {
  const { outcome, batchLength } = input;
  if (outcome.kind === 'success') return { kind: 'checkpoint', records: batchLength };
  let progressed = 0;
  let failures: number;
  let error: string;
  if (outcome.kind === 'partial' && outcome.firstFailed > 0) {
    // Progress: checkpoint before the lowest failed record; the retry from there counts as its first.
    progressed = outcome.firstFailed;
    failures = 1;
    error = 'the function reported the record as failed';
  } else if (s.bisect && batchLength > 1) {
    // Splitting does not consume the retry quota.
    return { kind: 'bisect', firstHalf: Math.ceil(batchLength / 2) };
  } else {
    failures = input.failures + 1;
    error = outcome.kind === 'failure' ? outcome.error : 'the function reported the first record as failed';
  }
  if (retriesExhausted(failures, s)) {
    return { kind: 'discard', progressed, failures, reason: `${failures} attempt(s) failed; last: ${error}` };
  }
  return { kind: 'retry', progressed, failures, delayMs: retryDelayMs(failures, s), error };
}

/**
 * Rule 11, before every invocation: how many records at the head of the batch are older than the
 * maximum age (a prefix: arrival times grow along a shard). They go to the destination unprocessed
 * as `RecordAgeExceeded`.
 */
export function expiredRecords(
  arrivalsMs: readonly number[],
  nowMs: number,
  s: Pick<EsmFailureSettings, 'maxAgeMs'>,
): number {
  if (s.maxAgeMs < 0) return 0;
  let expired = 0;
  while (expired < arrivalsMs.length && nowMs - arrivalsMs[expired]! > s.maxAgeMs) expired++;
  return expired;
}
