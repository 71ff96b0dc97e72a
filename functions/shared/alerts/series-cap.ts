import { type Observation, type SeriesLabels, seriesKey } from './queries.js';
import type { Operator } from './rules.js';
import type { StoredAlertState } from './state-store.js';

/**
 * The per-rule series cap. A grouped rule (groupBy service / operation) makes one series per
 * distinct value, and the values come from the tenant's telemetry: one request with 300 made-up
 * service names would otherwise fire 300 alerts in one evaluation. A rule keeps at most `maxSeries`
 * series per evaluation (default DEFAULT_MAX_SERIES, set per rule with `maxSeries`); the rest are
 * cut, and one synthetic overflow series reports it through the same state machine, so the
 * overflow fires once while it lasts and resolves when it ends, like any alert.
 *
 * Which series are kept: those already pending or firing (so they can still resolve), then the
 * breaching ones, worst first, then the rest; ties by series key, so the choice is stable between
 * evaluations and does not flap.
 */

export const DEFAULT_MAX_SERIES = 100;
/** The label of the overflow series (a series label no query produces). */
export const OVERFLOW_LABEL = 'overflow';
export const OVERFLOW_SERIES: SeriesLabels = { [OVERFLOW_LABEL]: 'series_cap' };
/** Cut series named in the overflow event's summary. */
export const OVERFLOW_EXAMPLES = 5;

export interface CappedSeries {
  readonly kept: Observation[];
  readonly cut: Observation[];
  /** Keys of the cut series: the evaluator leaves their stored state untouched. */
  readonly cutKeys: ReadonlySet<string>;
  /** Always present (breached only when something was cut), so an overflow can resolve. */
  readonly overflow: Observation;
}

const worse = (op: Operator) => (a: number, b: number) => (op === '>' || op === '>=' ? b - a : a - b);

export function isOverflowSeries(series: SeriesLabels): boolean {
  return series[OVERFLOW_LABEL] !== undefined && Object.keys(series).length === 1;
}

export function capSeries(
  observations: readonly Observation[],
  stored: readonly StoredAlertState[],
  maxSeries: number,
): CappedSeries {
  const active = new Set(
    stored.filter((s) => s.status === 'pending' || s.status === 'firing').map((s) => s.seriesKey),
  );
  const keyed = observations.map((o) => ({ o, key: seriesKey(o.series) }));
  const rank = (x: { o: Observation; key: string }) => (active.has(x.key) ? 0 : x.o.breached ? 1 : 2);
  keyed.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (rank(a) === 1 ? worse(a.o.op)(a.o.value, b.o.value) : 0) ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  const kept = keyed.slice(0, maxSeries).map((x) => x.o);
  const cutEntries = keyed.slice(maxSeries);
  const cut = cutEntries.map((x) => x.o);
  const breachingCut = cut.filter((o) => o.breached).length;
  const overflow: Observation = {
    series: OVERFLOW_SERIES,
    value: observations.length,
    threshold: maxSeries,
    op: '>',
    breached: cut.length > 0,
    windowMs: observations[0]?.windowMs ?? 60_000,
    details: {
      seriesObserved: observations.length,
      seriesKept: kept.length,
      seriesCut: cut.length,
      breachingCut,
    },
  };
  return { kept, cut, cutKeys: new Set(cutEntries.map((x) => x.key)), overflow };
}

/** "service=a, service=b, … and 12 more": the cut series an overflow event names. */
export function describeCut(cut: readonly Observation[]): string {
  const shown = cut
    .slice(0, OVERFLOW_EXAMPLES)
    .map((o) =>
      Object.entries(o.series)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    )
    .join(', ');
  return cut.length > OVERFLOW_EXAMPLES ? `${shown} and ${cut.length - OVERFLOW_EXAMPLES} more` : shown;
}
