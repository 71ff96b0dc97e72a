import type {
  LogRecordRow,
  MetricBucket,
  MetricName,
  ServiceBucket,
  ServiceEdge,
  ServiceStats,
  SpanRecord,
  TraceSummary,
} from './model.js';

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

type Quantiles = readonly [number, number, number] | null;

/**
 * Two counts with their quantiles, added: counts add up; quantiles of two populations cannot be
 * merged exactly from their quantiles, so the count-weighted mean is used (exact when one tier
 * answered alone, the usual case).
 */
function addQuantiles(a: number, qa: Quantiles, b: number, qb: Quantiles): Quantiles {
  if (!qa || !qb || a + b === 0) return qa ?? qb;
  const w = (i: 0 | 1 | 2) => (qa[i] * a + qb[i] * b) / (a + b);
  return [w(0), w(1), w(2)];
}

function mergeBy<T>(
  tiers: readonly (readonly T[])[],
  key: (t: T) => string,
  add: (a: T, b: T) => T,
): Map<string, T> {
  const out = new Map<string, T>();
  for (const rows of tiers) {
    for (const r of rows) {
      const k = key(r);
      const seen = out.get(k);
      out.set(k, seen ? add(seen, r) : r);
    }
  }
  return out;
}

function addRed<T extends ServiceStats>(a: T, b: T): T {
  return {
    ...a,
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    quantilesNs: addQuantiles(a.requests, a.quantilesNs, b.requests, b.quantilesNs),
  };
}

/** Per service (and operation): requests and errors add up, quantiles as addQuantiles says. */
export function mergeServices(...tiers: readonly ServiceStats[][]): ServiceStats[] {
  return [...mergeBy(tiers, (s) => `${s.serviceName}\u0000${s.operation ?? ''}`, addRed).values()].sort(
    (a, b) => cmpStr(a.serviceName, b.serviceName) || cmpStr(a.operation ?? '', b.operation ?? ''),
  );
}

/** Per (service, step bucket): a bucket cut by the tier split is added up. */
export function mergeServiceBuckets(...tiers: readonly ServiceBucket[][]): ServiceBucket[] {
  return [...mergeBy(tiers, (s) => `${s.serviceName}\u0000${s.bucketMs}`, addRed).values()].sort(
    (a, b) => cmpStr(a.serviceName, b.serviceName) || a.bucketMs - b.bucketMs,
  );
}

/** Per (parent, child). */
export function mergeEdges(...tiers: readonly ServiceEdge[][]): ServiceEdge[] {
  const add = (a: ServiceEdge, b: ServiceEdge): ServiceEdge => ({
    ...a,
    calls: a.calls + b.calls,
    errors: a.errors + b.errors,
    quantilesNs: addQuantiles(a.calls, a.quantilesNs, b.calls, b.quantilesNs),
  });
  return [...mergeBy(tiers, (e) => `${e.parent}\u0000${e.child}`, add).values()].sort(
    (a, b) => cmpStr(a.parent, b.parent) || cmpStr(a.child, b.child),
  );
}

/** Per (name, type): the services of both tiers, once each. */
export function mergeMetricNames(...tiers: readonly MetricName[][]): MetricName[] {
  const add = (a: MetricName, b: MetricName): MetricName => ({
    ...a,
    unit: a.unit || b.unit,
    description: a.description || b.description,
    services: [...new Set([...a.services, ...b.services])].sort(),
  });
  return [...mergeBy(tiers, (m) => `${m.name}\u0000${m.type}`, add).values()].sort(
    (a, b) => cmpStr(a.name, b.name) || cmpStr(a.type, b.type),
  );
}
