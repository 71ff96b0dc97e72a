/**
 * The per-series alert state machine: ok -> pending -> firing -> resolved (-> ok).
 *
 * - A breach moves ok/resolved to pending; the alert fires once the condition has held for the
 *   rule's `for` at every evaluation since (with `for: 0` it fires at the first breach).
 * - One evaluation without a breach while pending returns to ok silently: a flapping signal that
 *   never holds for `for` never fires, and nothing is sent.
 * - Firing resolves at the first evaluation without a breach, unless `keepFiringFor` is set: then it
 *   stays firing until no breach has been seen for that long (damps flapping after the alert fired).
 * - Resolved lasts one evaluation: the next is ok, or pending again (a new episode, `for` anew).
 *
 * Only ok/pending -> firing and firing -> resolved are transitions that emit an event.
 */

export type AlertStatus = 'ok' | 'pending' | 'firing' | 'resolved';
export type Transition = 'firing' | 'resolved';

export interface AlertInstance {
  readonly status: AlertStatus;
  /** When the current episode's first breach was seen (pending and firing). */
  readonly activeSince?: number;
  readonly firingSince?: number;
  readonly lastBreachAt?: number;
  readonly resolvedAt?: number;
  /** The value of the latest evaluation that saw data. */
  readonly value?: number;
  readonly evaluatedAt: number;
}

export interface StateTiming {
  readonly forMs: number;
  readonly keepFiringForMs: number;
}

export interface Step {
  readonly state: AlertInstance;
  readonly transition?: Transition;
}

export function nextState(
  prev: AlertInstance | undefined,
  observed: { readonly breached: boolean; readonly value?: number },
  timing: StateTiming,
  now: number,
): Step {
  const value = observed.value ?? prev?.value;
  const base = { evaluatedAt: now, ...(value !== undefined ? { value } : {}) };
  const status = prev?.status ?? 'ok';

  if (status === 'ok' || status === 'resolved') {
    if (!observed.breached) return { state: { ...base, status: 'ok' } };
    if (timing.forMs <= 0) {
      return {
        state: { ...base, status: 'firing', activeSince: now, firingSince: now, lastBreachAt: now },
        transition: 'firing',
      };
    }
    return { state: { ...base, status: 'pending', activeSince: now, lastBreachAt: now } };
  }

  if (status === 'pending') {
    if (!observed.breached) return { state: { ...base, status: 'ok' } };
    const activeSince = prev?.activeSince ?? now;
    if (now - activeSince >= timing.forMs) {
      return {
        state: { ...base, status: 'firing', activeSince, firingSince: now, lastBreachAt: now },
        transition: 'firing',
      };
    }
    return { state: { ...base, status: 'pending', activeSince, lastBreachAt: now } };
  }

  // firing
  const kept = {
    ...base,
    status: 'firing' as const,
    activeSince: prev?.activeSince ?? now,
    firingSince: prev?.firingSince ?? now,
  };
  if (observed.breached) return { state: { ...kept, lastBreachAt: now } };
  const lastBreachAt = prev?.lastBreachAt ?? now;
  if (timing.keepFiringForMs > 0 && now - lastBreachAt < timing.keepFiringForMs) {
    return { state: { ...kept, lastBreachAt } };
  }
  return {
    state: {
      ...base,
      status: 'resolved',
      activeSince: kept.activeSince,
      firingSince: kept.firingSince,
      lastBreachAt,
      resolvedAt: now,
    },
    transition: 'resolved',
  };
}
