import type { ColumnBatch } from '../rows/batch.js';
import { SAMPLE_RATE_COLUMN } from '../schema/columns.js';

/**
 * Trace-consistent sampling of the hot tier (ADR 0009). Pure: which rows of a span batch the hot
 * tier keeps, and with what weight; the ClickHouse side (rules, keep list, deferred spans,
 * promotion) is in clickhouse-trace-sampler.ts.
 *
 * - Head decision by the trace id alone, so every shard, service and invocation decides a trace
 *   alike without talking to each other: a W3C trace id's rightmost 52 bits are random, read as a
 *   number in [0, 1) and kept below 1/N (other ids are hashed).
 * - A trace with an error span (keepErrors) or a span at least slowMs long is kept whatever the head
 *   decision. Its spans that arrived before that span were deferred, and are promoted; its later
 *   spans find it in the keep list.
 * - Weights (`SampleRate`): N for a head-kept row, 0 for a row kept only for an error or slow span.
 *   Each trace then contributes its true count in expectation (p x N + (1-p) x 0 for an error trace
 *   whose rows are always there, p x N for the others), so `sum(SampleRate)` is unbiased whatever
 *   the mix of errors, and errors themselves are counted exactly by `countIf` on the kept rows.
 */

export interface SamplingRule {
  /** Keep 1 trace in `oneIn` (1 = keep all). */
  readonly oneIn: number;
  /** Keep every trace holding a span with an error status. */
  readonly keepErrors: boolean;
  /** Keep every trace holding a span at least this long; 0 = off. */
  readonly slowMs: number;
}

export class SamplingRuleError extends Error {
  override readonly name = 'SamplingRuleError';
}

/** Largest N of a 1-in-N rate: below 1e-6 the estimate of a service's traffic is mostly noise. */
export const MAX_ONE_IN = 1_000_000;

/** `--rate 0.1` -> 1 in 10. Rates are kept as whole 1-in-N so weights stay integers (quantile states, sums). */
export function oneInFromRate(rate: number): number {
  if (!(rate > 0 && rate <= 1)) throw new SamplingRuleError(`rate must be in (0, 1], got: ${rate}`);
  const n = Math.round(1 / rate);
  if (n > MAX_ONE_IN) throw new SamplingRuleError(`rate must be at least ${1 / MAX_ONE_IN}, got: ${rate}`);
  return n;
}

export function validateRule(rule: SamplingRule): SamplingRule {
  if (!Number.isInteger(rule.oneIn) || rule.oneIn < 1 || rule.oneIn > MAX_ONE_IN) {
    throw new SamplingRuleError(`oneIn must be a whole number 1..${MAX_ONE_IN}, got: ${rule.oneIn}`);
  }
  if (!Number.isInteger(rule.slowMs) || rule.slowMs < 0) {
    throw new SamplingRuleError(`slowMs must be a whole number >= 0, got: ${rule.slowMs}`);
  }
  return rule;
}

const HEX_ID = /^[0-9a-f]{32}$/;
const TWO_52 = 2 ** 52;

/** A trace id as a number in [0, 1): its rightmost 52 bits (random in W3C ids), else an FNV-1a hash. */
export function traceRandomness(traceId: string): number {
  if (HEX_ID.test(traceId)) return Number.parseInt(traceId.slice(19), 16) / TWO_52;
  let h = 0x811c9dc5;
  for (let i = 0; i < traceId.length; i++) {
    h ^= traceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

export function headSampled(traceId: string, oneIn: number): boolean {
  return oneIn <= 1 || traceRandomness(traceId) < 1 / oneIn;
}

const ERROR_CODES = new Set(['Error', 'STATUS_CODE_ERROR']);

/** Trace ids of a span batch that must be kept for an error or slow span of theirs in this batch. */
export function markedTraces(batch: ColumnBatch, rule: SamplingRule): Set<string> {
  const out = new Set<string>();
  if (!rule.keepErrors && rule.slowMs <= 0) return out;
  const ids = batch.columns.TraceId ?? [];
  const status = batch.columns.StatusCode ?? [];
  const durations = batch.columns.Duration ?? [];
  const slowNs = rule.slowMs * 1e6;
  for (let i = 0; i < batch.rowCount; i++) {
    const error = rule.keepErrors && ERROR_CODES.has(String(status[i]));
    // Duration is a number up to 2^53-1, else an exact decimal string: both compare as numbers here.
    const slow = rule.slowMs > 0 && Number(durations[i] ?? 0) >= slowNs;
    if (error || slow) out.add(String(ids[i] ?? ''));
  }
  return out;
}

/** Trace ids of a batch neither head-sampled nor marked: the ones to look up in the keep list. */
export function undecidedTraces(
  batch: ColumnBatch,
  rule: SamplingRule,
  marked: ReadonlySet<string>,
): Set<string> {
  const out = new Set<string>();
  const ids = batch.columns.TraceId ?? [];
  for (let i = 0; i < batch.rowCount; i++) {
    const id = String(ids[i] ?? '');
    if (!marked.has(id) && !headSampled(id, rule.oneIn)) out.add(id);
  }
  return out;
}

export interface BatchDecision {
  /** Rows the hot tier keeps, with SampleRate set; undefined when none. */
  readonly kept?: ColumnBatch;
  /** Rows held back in case their trace is kept later; undefined when none. */
  readonly deferred?: ColumnBatch;
}

function take(batch: ColumnBatch, rows: readonly number[], weights?: readonly number[]): ColumnBatch {
  const columns: Record<string, unknown[]> = {};
  for (const [name, values] of Object.entries(batch.columns)) {
    const out = new Array<unknown>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]!];
    columns[name] = out;
  }
  if (weights) columns[SAMPLE_RATE_COLUMN] = [...weights];
  return { table: batch.table, rowCount: rows.length, columns };
}

/**
 * Splits a span batch: head-kept rows weigh N, rows of traces marked here or found in the keep list
 * (`keptBefore`) weigh 0, the rest are deferred. Without a rule every row is kept at weight 1.
 */
export function decideBatch(
  batch: ColumnBatch,
  rule: SamplingRule | undefined,
  marked: ReadonlySet<string>,
  keptBefore: ReadonlySet<string>,
): BatchDecision {
  if (!rule || rule.oneIn <= 1) {
    return {
      kept: {
        ...batch,
        columns: { ...batch.columns, [SAMPLE_RATE_COLUMN]: new Array(batch.rowCount).fill(1) },
      },
    };
  }
  const ids = batch.columns.TraceId ?? [];
  const keptRows: number[] = [];
  const weights: number[] = [];
  const deferredRows: number[] = [];
  const head = new Map<string, boolean>();
  for (let i = 0; i < batch.rowCount; i++) {
    const id = String(ids[i] ?? '');
    let h = head.get(id);
    if (h === undefined) {
      h = headSampled(id, rule.oneIn);
      head.set(id, h);
    }
    if (h) {
      keptRows.push(i);
      weights.push(rule.oneIn);
    } else if (marked.has(id) || keptBefore.has(id)) {
      keptRows.push(i);
      weights.push(0);
    } else {
      deferredRows.push(i);
    }
  }
  return {
    ...(keptRows.length > 0 && { kept: take(batch, keptRows, weights) }),
    ...(deferredRows.length > 0 && { deferred: take(batch, deferredRows) }),
  };
}
