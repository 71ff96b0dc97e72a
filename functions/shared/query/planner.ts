import { floorToHour, NS_PER_HOUR, NS_PER_MS, type TimeRange } from './time.js';

/**
 * Which tier answers which part of a range. The hot tier holds every row newer than its retention
 * (TTL drops whole day parts only once all their rows are older); the lake holds every row once its
 * hour is compacted, which lags by an hour or two. So the split goes one hour inside the hot
 * retention, on an hour boundary (rollups and lake partitions are hourly): rows at or after it come
 * from ClickHouse, older ones from the lake. Each row then belongs to exactly one tier; the merge
 * only has to join things that span the boundary (a trace, a step bucket, a service's totals).
 */

export interface TierPlan {
  readonly hot?: TimeRange;
  readonly cold?: TimeRange;
}

const DAY_MS = 86_400_000;

/** The instant before which rows are read from the lake. */
export function hotBoundaryNs(nowMs: number, hotRetentionDays: number): bigint {
  return floorToHour(BigInt(nowMs - hotRetentionDays * DAY_MS) * NS_PER_MS) + NS_PER_HOUR;
}

/** Splits `range` at `boundaryNs`; without a cold tier the hot tier answers all of it. */
export function planTiers(range: TimeRange, boundaryNs: bigint, coldAvailable: boolean): TierPlan {
  if (!coldAvailable || range.fromNs >= boundaryNs) return { hot: range };
  if (range.toNs <= boundaryNs) return { cold: range };
  return {
    hot: { fromNs: boundaryNs, toNs: range.toNs },
    cold: { fromNs: range.fromNs, toNs: boundaryNs },
  };
}
