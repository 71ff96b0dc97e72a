/**
 * Alert values for people, in each rule kind's unit: the notifiers' messages and the console's
 * alerts page read them the same way. No import at all: the console bundles this file, and
 * rules.ts checks that every rule kind is one of FormattedKind.
 */

function pct(x: number): string {
  return `${Math.round(x * 10_000) / 100}%`;
}

const plain = (x: number) => String(Math.round(x * 10_000) / 10_000);

/**
 * Each rule kind's value for people, one entry per kind: a new kind does not compile until it says
 * how its value reads (rules.ts). Events carry the kind as a string: one from a newer deploy reads plain.
 */
const VALUE_FORMATS = {
  error_ratio: pct,
  latency_percentile: (v) => `${Math.round(v * 10) / 10} ms`,
  log_count: (v) => `${v} records`,
  absence: (v) => `${v} min without data`,
  slo_burn_rate: (v) => `burn rate ${Math.round(v * 100) / 100}x`,
  metric_threshold: plain,
  // Requests per second, a ratio, milliseconds or the metric's aggregate, by the rule's signal.
  anomaly: plain,
} as const satisfies Readonly<Record<string, (value: number) => string>>;

/** The rule kinds this file formats (rules.ts fails to compile when one of its kinds is missing). */
export type FormattedKind = keyof typeof VALUE_FORMATS;

const THRESHOLD_FORMATS: Partial<Readonly<Record<FormattedKind, (threshold: number) => string>>> = {
  absence: (t) => `${t} min`,
  slo_burn_rate: (t) => `${t}x`,
};

const isKind = (kind: string): kind is FormattedKind => Object.hasOwn(VALUE_FORMATS, kind);

/** The value in the rule's unit, for people: `12.5%`, `840 ms`, `17 records`, `burn rate 15.2x`. */
export function formatValue(kind: string, value: number): string {
  return isKind(kind) ? VALUE_FORMATS[kind](value) : plain(value);
}

/** The threshold in the same unit. */
export function formatThreshold(kind: string, threshold: number): string {
  const own = isKind(kind) ? THRESHOLD_FORMATS[kind] : undefined;
  return own ? own(threshold) : formatValue(kind, threshold);
}
