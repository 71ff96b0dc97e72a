import type { AlertEvent } from './events.js';
import type { Observation, SeriesLabels } from './queries.js';
import type { AlertInstance } from './state.js';

/** One series of one rule, as stored between evaluations. */
export interface StoredAlertState extends AlertInstance {
  readonly tenant: string;
  readonly ruleId: string;
  readonly seriesKey: string;
  readonly series: SeriesLabels;
  /** 1 for the first write, then +1 per write: each write is conditional on the previous version. */
  readonly version: number;
  /** The latest observation's comparison, so a resolution seen as "no data" can still be described. */
  readonly last?: Pick<Observation, 'threshold' | 'op' | 'windowMs' | 'details'>;
  /**
   * The event of the transition this write made, until it is known to be on the bus. Written in the
   * same conditional put as the transition, so exactly one evaluator owns it; a later evaluation
   * republishes it if the owner died before publishing (see evaluator.ts).
   */
  readonly outbox?: AlertEvent;
  /** Recent values of the series, oldest first (the trend in notifications). */
  readonly trend?: readonly number[];
  /** Firing, but its notification was held back by a silence (sent once the silence ends). */
  readonly muted?: boolean;
}

export type StateKey = Pick<StoredAlertState, 'tenant' | 'ruleId' | 'seriesKey'>;

/** Per-rule alert state with optimistic concurrency. */
export interface AlertStateStore {
  load(tenant: string, ruleId: string): Promise<StoredAlertState[]>;
  /**
   * Writes `next` only if the stored version is `next.version - 1` (absent when `next.version` is 1)
   * and the stored evaluation is older than `next.evaluatedAt`. Resolves false when another (or a
   * later) evaluation got there first: the caller then drops its transition.
   */
  save(next: StoredAlertState): Promise<boolean>;
  /** Forgets the outbox if it still holds `transitionId`. */
  clearOutbox(key: StateKey, transitionId: string): Promise<void>;
}

export class AlertStateStoreError extends Error {
  override readonly name = 'AlertStateStoreError';
}
