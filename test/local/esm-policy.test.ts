import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  afterInvoke,
  type BatchOutcome,
  type EsmFailureSettings,
  expiredRecords,
  retryDelayMs,
} from '../../local/esm-policy.js';

/** Each case names the rule of docs/esm-semantics.md it checks. */

const settings = (over: Partial<EsmFailureSettings> = {}): EsmFailureSettings => ({
  bisect: false,
  maxRetries: -1,
  maxAgeMs: -1,
  pollMs: 100,
  maxBackoffMs: 1_000,
  ...over,
});
const failure: BatchOutcome = { kind: 'failure', error: 'boom' };

describe('ESM failure policy (docs/esm-semantics.md)', () => {
  it('rule 6: a successful batch is checkpointed whole', () => {
    expect(afterInvoke({ outcome: { kind: 'success' }, batchLength: 7, failures: 3 }, settings())).toEqual({
      kind: 'checkpoint',
      records: 7,
    });
  });

  it('rule 7: an error fails the whole batch, retried from its first record, one attempt counted', () => {
    expect(afterInvoke({ outcome: failure, batchLength: 5, failures: 0 }, settings())).toEqual({
      kind: 'retry',
      progressed: 0,
      failures: 1,
      delayMs: 100,
      error: 'boom',
    });
  });

  it('rule 8: with bisect, a failed batch of several records splits in halves (first half rounded up) without using the quota', () => {
    const s = settings({ bisect: true, maxRetries: 0 });
    expect(afterInvoke({ outcome: failure, batchLength: 5, failures: 0 }, s)).toEqual({
      kind: 'bisect',
      firstHalf: 3,
    });
    expect(afterInvoke({ outcome: failure, batchLength: 2, failures: 0 }, s)).toEqual({
      kind: 'bisect',
      firstHalf: 1,
    });
    // One record cannot be split: the failure counts, and with no retries left it is discarded.
    expect(afterInvoke({ outcome: failure, batchLength: 1, failures: 0 }, s)).toMatchObject({
      kind: 'discard',
      failures: 1,
    });
  });

  it('rule 9: maximumRetryAttempts counts retries after the first attempt (2 means three attempts); -1 never gives up', () => {
    const s = settings({ maxRetries: 2 });
    const attempt = (failures: number) => afterInvoke({ outcome: failure, batchLength: 4, failures }, s);
    // Attempts 1 and 2 fail: retried; attempt 3 (the second retry) fails: the quota is used up.
    expect(attempt(0)).toMatchObject({ kind: 'retry', failures: 1 });
    expect(attempt(1)).toMatchObject({ kind: 'retry', failures: 2 });
    expect(attempt(2)).toMatchObject({ kind: 'discard', failures: 3 });
    expect(afterInvoke({ outcome: failure, batchLength: 4, failures: 9_999 }, settings())).toMatchObject({
      kind: 'retry',
      failures: 10_000,
    });
  });

  it('rule 10: exhausted retries discard the batch to the destination with the attempts and the last error', () => {
    expect(
      afterInvoke({ outcome: failure, batchLength: 3, failures: 0 }, settings({ maxRetries: 0 })),
    ).toEqual({ kind: 'discard', progressed: 0, failures: 1, reason: '1 attempt(s) failed; last: boom' });
  });

  it('rule 12: reported failures that make progress checkpoint before the lowest one; the retry from there is its first failed attempt', () => {
    const partial: BatchOutcome = { kind: 'partial', firstFailed: 3 };
    expect(
      afterInvoke({ outcome: partial, batchLength: 8, failures: 5 }, settings({ bisect: true })),
    ).toEqual({
      kind: 'retry',
      progressed: 3,
      failures: 1,
      delayMs: 100,
      error: 'the function reported the record as failed',
    });
    // With no retries, the rest of the batch from the failed record on is discarded.
    expect(
      afterInvoke({ outcome: partial, batchLength: 8, failures: 0 }, settings({ maxRetries: 0 })),
    ).toEqual({
      kind: 'discard',
      progressed: 3,
      failures: 1,
      reason: '1 attempt(s) failed; last: the function reported the record as failed',
    });
  });

  it('rule 12 (where AWS is silent): reporting the first record as failed makes no progress and is handled like an error', () => {
    const first: BatchOutcome = { kind: 'partial', firstFailed: 0 };
    expect(afterInvoke({ outcome: first, batchLength: 4, failures: 0 }, settings({ bisect: true }))).toEqual({
      kind: 'bisect',
      firstHalf: 2,
    });
    expect(afterInvoke({ outcome: first, batchLength: 4, failures: 1 }, settings())).toEqual({
      kind: 'retry',
      progressed: 0,
      failures: 2,
      delayMs: 200,
      error: 'the function reported the first record as failed',
    });
  });

  it('retry timing (where AWS is silent): pollIntervalMs, doubling per failed attempt, capped at maximumRetryBackoffMs, never under the poll interval', () => {
    const s = { pollMs: 100, maxBackoffMs: 1_000 };
    expect([1, 2, 3, 4, 5, 6].map((f) => retryDelayMs(f, s))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(retryDelayMs(3, { pollMs: 500, maxBackoffMs: 1 })).toBe(500);
  });

  it('rule 11: records older than the maximum age are a prefix, sent on unprocessed; -1 keeps everything', () => {
    const now = 1_000_000;
    const arrivals = [now - 90_001, now - 90_000, now - 10, now];
    expect(expiredRecords(arrivals, now, { maxAgeMs: 90_000 })).toBe(1);
    expect(expiredRecords(arrivals, now, { maxAgeMs: 5 })).toBe(3);
    expect(expiredRecords(arrivals, now, { maxAgeMs: -1 })).toBe(0);
    expect(expiredRecords([], now, { maxAgeMs: 0 })).toBe(0);
  });

  it('over any outcome and settings: progress stays inside the batch, a discard needs a finite quota, a wait stays within its bounds', () => {
    const outcome = fc.oneof(
      fc.constant<BatchOutcome>({ kind: 'success' }),
      fc.string().map((error): BatchOutcome => ({ kind: 'failure', error })),
      fc.nat(10_000).map((firstFailed): BatchOutcome => ({ kind: 'partial', firstFailed })),
    );
    fc.assert(
      fc.property(
        outcome,
        fc.integer({ min: 1, max: 10_000 }),
        fc.nat(10_000),
        fc.record({
          bisect: fc.boolean(),
          maxRetries: fc.integer({ min: -1, max: 10_000 }),
          maxAgeMs: fc.constant(-1),
          pollMs: fc.integer({ min: 1, max: 60_000 }),
          maxBackoffMs: fc.integer({ min: 1, max: 300_000 }),
        }),
        (o, batchLength, failures, s) => {
          // The poller reports failed records inside the batch only.
          const out = o.kind === 'partial' ? { ...o, firstFailed: o.firstFailed % batchLength } : o;
          const next = afterInvoke({ outcome: out, batchLength, failures }, s);
          switch (next.kind) {
            case 'checkpoint':
              expect(out.kind).toBe('success');
              expect(next.records).toBe(batchLength);
              break;
            case 'bisect':
              expect(s.bisect).toBe(true);
              expect(next.firstHalf).toBeGreaterThanOrEqual(1);
              expect(next.firstHalf).toBeLessThan(batchLength);
              break;
            case 'retry':
              expect(next.progressed).toBeLessThan(batchLength);
              expect(s.maxRetries === -1 || next.failures <= s.maxRetries).toBe(true);
              expect(next.delayMs).toBeGreaterThanOrEqual(s.pollMs);
              expect(next.delayMs).toBeLessThanOrEqual(Math.max(s.pollMs, s.maxBackoffMs));
              break;
            case 'discard':
              expect(next.progressed).toBeLessThan(batchLength);
              expect(s.maxRetries).toBeGreaterThanOrEqual(0);
              expect(next.failures).toBeGreaterThan(s.maxRetries);
              break;
          }
        },
      ),
    );
  });
});
