import type { LogRecordRow, MetricBucket, ServiceStats, SpanRecord, TraceSummary } from './model.js';

/**
 * Merging what the two tiers returned. Rows are split by time (see planner.ts), so merging mostly
 * concatenates; identities are deduplicated anyway (a span by its id, a trace by its id) because a
 * lake file and the hot table may both hold rows right at the boundary after a late write.
 */

const cmpNs = (a: string, b: string): number => {
  const x = BigInt(a || '0');
  const y = BigInt(b || '0');
  return x < y ? -1 : x > y ? 1 : 0;
};
const cmpStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** All spans of a trace, once each, in start order. */
export function mergeSpans(...tiers: readonly SpanRecord[][]): SpanRecord[] {
  const byId = new Map<string, SpanRecord>();
  for (const rows of tiers) for (const s of rows) if (!byId.has(s.spanId)) byId.set(s.spanId, s);
  return [...byId.values()].sort(
    (a, b) => cmpNs(a.startTimeUnixNano, b.startTimeUnixNano) || cmpStr(a.spanId, b.spanId),
  );
}

/** The search order: start descending, then trace id descending. */
export function compareTraceSummaries(a: TraceSummary, b: TraceSummary): number {
  return cmpNs(b.startTimeUnixNano, a.startTimeUnixNano) || cmpStr(b.traceId, a.traceId);
}

/** One summary per trace: matching spans of both tiers counted together. */
export function mergeTraceSummaries(...tiers: readonly TraceSummary[][]): TraceSummary[] {
  const byId = new Map<string, TraceSummary>();
  for (const rows of tiers) {
    for (const t of rows) {
      const seen = byId.get(t.traceId);
      if (!seen) {
        byId.set(t.traceId, t);
        continue;
      }
      const earlier = cmpNs(t.startTimeUnixNano, seen.startTimeUnixNano) < 0 ? t : seen;
      byId.set(t.traceId, {
        traceId: t.traceId,
        startTimeUnixNano: earlier.startTimeUnixNano,
        serviceName: earlier.serviceName,
        operation: earlier.operation,
        maxDurationNanos:
          cmpNs(t.maxDurationNanos, seen.maxDurationNanos) > 0 ? t.maxDurationNanos : seen.maxDurationNanos,
        spanCount: t.spanCount + seen.spanCount,
        errorCount: t.errorCount + seen.errorCount,
      });
    }
  }
  return [...byId.values()].sort(compareTraceSummaries);
}

/** The log order of clickhouse-sql.ts LOG_ORDER: newest first, then the tie-breaking fields. */
export function compareLogs(a: LogRecordRow, b: LogRecordRow): number {
  return (
    cmpNs(b.timeUnixNano, a.timeUnixNano) ||
    cmpStr(a.serviceName, b.serviceName) ||
    cmpStr(a.traceId, b.traceId) ||
    cmpStr(a.spanId, b.spanId) ||
    cmpStr(a.body, b.body)
  );
}

/** Hot rows are newer than cold ones: the merge is a stable sort that keeps each tier's order. */
export function mergeLogs(...tiers: readonly LogRecordRow[][]): LogRecordRow[] {
  return tiers.flat().sort(compareLogs);
}

const minOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/** Partial aggregates of the same (type, service, bucket) add up, so a bucket cut by the split stays exact. */
export function mergeMetricBuckets(...tiers: readonly MetricBucket[][]): MetricBucket[] {
  const byKey = new Map<string, MetricBucket>();
  for (const rows of tiers) {
    for (const b of rows) {
      const key = `${b.metricType}\u0000${b.serviceName}\u0000${b.bucketMs}`;
      const seen = byKey.get(key);
      byKey.set(
        key,
        seen
          ? {
              ...seen,
              sum: seen.sum + b.sum,
              count: seen.count + b.count,
              min: minOf(seen.min, b.min),
              max: maxOf(seen.max, b.max),
            }
          : b,
      );
    }
  }
  return [...byKey.values()].sort(
    (a, b) =>
      cmpStr(a.metricType, b.metricType) || cmpStr(a.serviceName, b.serviceName) || a.bucketMs - b.bucketMs,
  );
}

/**
 * Requests and errors add up. Quantiles of two populations cannot be merged exactly from their
 * quantiles: the request-weighted mean is used, exact when one tier answered alone (the usual case).
 */
export function mergeServices(...tiers: readonly ServiceStats[][]): ServiceStats[] {
  const byName = new Map<string, ServiceStats>();
  for (const rows of tiers) {
    for (const s of rows) {
      const seen = byName.get(s.serviceName);
      if (!seen) {
        byName.set(s.serviceName, s);
        continue;
      }
      const requests = seen.requests + s.requests;
      let quantilesNs = seen.quantilesNs ?? s.quantilesNs;
      if (seen.quantilesNs && s.quantilesNs && requests > 0) {
        const w = (i: 0 | 1 | 2) =>
          (seen.quantilesNs![i] * seen.requests + s.quantilesNs![i] * s.requests) / requests;
        quantilesNs = [w(0), w(1), w(2)];
      }
      byName.set(s.serviceName, {
        serviceName: s.serviceName,
        requests,
        errors: seen.errors + s.errors,
        quantilesNs,
      });
    }
  }
  return [...byName.values()].sort((a, b) => cmpStr(a.serviceName, b.serviceName));
}
