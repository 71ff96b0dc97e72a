import type { AlertRule } from './rules.js';

/**
 * Which evaluator decides a rule: the stream evaluator (seconds after the data arrives) or the
 * scheduled one (every minute, on ClickHouse). Exactly one does: both call this function, the
 * scheduled evaluator skipping what the stream owns and the stream evaluator the rest.
 *
 * The stream owns a rule when all three hold (docs/decisions/0008-stream-alerting.md):
 * - its value can be folded from the rows in flight into mergeable partials: log match count,
 *   error ratio, latency percentile (a mergeable sketch), and thresholds on gauge and sum points;
 *   not absence (a datum that never arrives is never in flight), not SLO burn rate (hours to days
 *   of history), not histogram metrics;
 * - each of its series lives on one shard: the ingest partition key is `tenant:service`, so a rule
 *   grouped by service (or service and operation), or filtered to one service, sees every row of a
 *   series on one shard and that shard's final window invocation can decide it. A rule over a
 *   whole tenant mixes shards and stays scheduled;
 * - its window is at most STREAM_MAX_WINDOW_MS: every decision reads the window's stored slices,
 *   so longer windows cost reads in proportion and gain nothing from seconds of latency.
 */

export type EvaluationPath = 'stream' | 'scheduled';

/**
 * The stream evaluator's tumbling window (Lambda `TumblingWindowInSeconds`, and local mode's
 * default): a breach is decided at the end of the window it arrived in, so this bounds the wait.
 * It divides a minute, so every rule window (whole minutes) is a whole number of windows.
 */
export const STREAM_ALERT_WINDOW_SECONDS = 5;

/** Longest rule window the stream evaluator takes. */
export const STREAM_MAX_WINDOW_MS = 15 * 60_000;

export function evaluationPath(rule: AlertRule): EvaluationPath {
  switch (rule.kind) {
    case 'log_count':
    case 'error_ratio':
    case 'latency_percentile':
    case 'metric_threshold': {
      if (rule.kind === 'metric_threshold' && rule.metricType === 'histogram') return 'scheduled';
      if (rule.window > STREAM_MAX_WINDOW_MS) return 'scheduled';
      const oneShard = rule.service !== undefined || rule.groupBy.length > 0;
      return oneShard ? 'stream' : 'scheduled';
    }
    // They need history: absence the newest datum, burn rates the budget, anomalies their weeks.
    case 'absence':
    case 'slo_burn_rate':
    case 'anomaly':
      return 'scheduled';
    default: {
      const never: never = rule;
      return never;
    }
  }
}

export const isStreamRule = (rule: AlertRule): boolean => evaluationPath(rule) === 'stream';
export const isScheduledRule = (rule: AlertRule): boolean => evaluationPath(rule) === 'scheduled';

/** The stream-owned kinds, narrowed. */
export type StreamRule = Extract<
  AlertRule,
  { kind: 'log_count' | 'error_ratio' | 'latency_percentile' | 'metric_threshold' }
>;
