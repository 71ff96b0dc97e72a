import { QueryParameterError } from '../errors.js';
import { histogramQuantile } from '../histogram.js';
import { mergeMetricBuckets, mergeMetricNames } from '../merge.js';
import type { HistogramBucket, MetricBucket } from '../model.js';
import {
  MAX_ATTRIBUTE_FILTERS,
  type MetricAggregation,
  MetricNamesParamsSchema,
  MetricParamsSchema,
} from '../schemas.js';
import { formatDuration, NS_PER_MS } from '../time.js';
import { type Endpoint, parse, STEP_UNIT_MS, type TierLog, tierStats } from './context.js';

/** GET /v1/query/metrics (aggregates and histogram percentiles) and GET /v1/query/metrics/names. */

const STEP_LADDER_MS = [
  1_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
  7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];
/** About this many points when the client gives no step. */
const TARGET_POINTS = 120;

const PERCENTILES: Readonly<Partial<Record<MetricAggregation, number>>> = {
  p50: 0.5,
  p90: 0.9,
  p95: 0.95,
  p99: 0.99,
};

type SimpleAggregation = 'avg' | 'sum' | 'min' | 'max' | 'count';

function aggregate(agg: SimpleAggregation, b: MetricBucket): number | null {
  switch (agg) {
    case 'avg':
      return b.count > 0 ? b.sum / b.count : null;
    case 'sum':
      return b.sum;
    case 'count':
      return b.count;
    case 'min':
      return b.min;
    case 'max':
      return b.max;
  }
}

export const queryMetrics: Endpoint = async (ctx, tenant, _pathParams, query, budget) => {
  const { deps, limits } = ctx;
  const attributes: [string, string][] = [];
  const plain: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(query)) {
    if (!k.startsWith('attr.')) {
      plain[k] = v;
      continue;
    }
    const key = k.slice(5);
    if (key.length === 0 || key.length > 256)
      throw new QueryParameterError(k, 'attribute key must be 1-256 characters');
    if ((v ?? '').length > 1024)
      throw new QueryParameterError(k, 'attribute value must be at most 1024 characters');
    attributes.push([key, v ?? '']);
  }
  if (attributes.length > MAX_ATTRIBUTE_FILTERS) {
    throw new QueryParameterError('attr.*', `at most ${MAX_ATTRIBUTE_FILTERS} attribute filters`);
  }
  const params = parse(MetricParamsSchema, plain);
  const range = ctx.range(params.from, params.to);
  const spanMs = Number((range.toNs - range.fromNs) / NS_PER_MS);
  let stepMs: number;
  if (params.step !== undefined) {
    stepMs = Number(params.step.slice(0, -1)) * STEP_UNIT_MS[params.step.slice(-1)]!;
    if (stepMs < 1_000) throw new QueryParameterError('step', 'must be at least 1s');
    if (spanMs / stepMs > limits.maxPoints) {
      throw new QueryParameterError(
        'step',
        `too small for the range: at most ${limits.maxPoints} points (use at least ${formatDuration(Math.ceil(spanMs / limits.maxPoints / 1000) * 1000)})`,
      );
    }
  } else {
    stepMs = STEP_LADDER_MS.find((s) => spanMs / s <= TARGET_POINTS) ?? 86_400_000;
  }
  const p = ctx.plan(range);
  const byAttribute = params.groupBy.startsWith('attr.') ? params.groupBy.slice(5) : undefined;
  const q = {
    tenant,
    name: params.name,
    attributes,
    stepMs,
    ...(params.service !== undefined && { service: params.service }),
    ...(byAttribute !== undefined && { groupByAttribute: byAttribute }),
  };
  type Point = { timeUnixMs: number; time: string; value: number | null };
  const series = new Map<
    string,
    { group: string; serviceName: string; metricType: MetricBucket['metricType']; points: Point[] }
  >();
  const seriesOf = (group: string, metricType: MetricBucket['metricType']) => {
    const key = `${metricType}\u0000${group}`;
    const found = series.get(key);
    if (found) return found;
    const made = { group, serviceName: byAttribute === undefined ? group : '', metricType, points: [] };
    series.set(key, made);
    return made;
  };
  const percentile = PERCENTILES[params.agg];
  let tiers: TierLog[];
  if (percentile !== undefined) {
    // Percentiles come from bucket counts: histogram points only.
    const [hot, cold] = await Promise.all([
      p.hot ? deps.hot.metricHistograms({ ...q, range: p.hot }, budget) : undefined,
      p.cold ? deps.cold!.metricHistograms({ ...q, range: p.cold }, budget) : undefined,
    ]);
    const parts = new Map<string, HistogramBucket[]>();
    for (const h of [...(hot?.rows ?? []), ...(cold?.rows ?? [])]) {
      const key = `${h.group}\u0000${h.bucketMs}`;
      parts.set(key, [...(parts.get(key) ?? []), h]);
    }
    const ordered = [...parts.values()].sort((a, b) =>
      a[0]!.group < b[0]!.group ? -1 : a[0]!.group > b[0]!.group ? 1 : a[0]!.bucketMs - b[0]!.bucketMs,
    );
    for (const group of ordered) {
      const { group: g, bucketMs } = group[0]!;
      seriesOf(g, 'histogram').points.push({
        timeUnixMs: bucketMs,
        time: new Date(bucketMs).toISOString(),
        value: histogramQuantile(group, percentile),
      });
    }
    tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
  } else {
    const [hot, cold] = await Promise.all([
      p.hot ? deps.hot.metricBuckets({ ...q, range: p.hot }, budget) : undefined,
      p.cold ? deps.cold!.metricBuckets({ ...q, range: p.cold }, budget) : undefined,
    ]);
    for (const b of mergeMetricBuckets(hot?.rows ?? [], cold?.rows ?? [])) {
      seriesOf(b.serviceName, b.metricType).points.push({
        timeUnixMs: b.bucketMs,
        time: new Date(b.bucketMs).toISOString(),
        value: aggregate(params.agg as SimpleAggregation, b),
      });
    }
    tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
  }
  return {
    status: 200,
    body: {
      data: {
        name: params.name,
        agg: params.agg,
        stepSeconds: stepMs / 1000,
        series: [...series.values()],
      },
      meta: ctx.meta(range, tiers, null, stepMs),
    },
    tiers,
  };
};

export const metricNames: Endpoint = async (ctx, tenant, _pathParams, query, budget) => {
  const { deps } = ctx;
  const params = parse(MetricNamesParamsSchema, query);
  const range = ctx.range(params.from, params.to);
  const p = ctx.plan(range);
  const q = { tenant, ...(params.q !== undefined && { text: params.q }) };
  const [hot, cold] = await Promise.all([
    p.hot ? deps.hot.metricNames({ ...q, range: p.hot }, budget) : undefined,
    p.cold ? deps.cold!.metricNames({ ...q, range: p.cold }, budget) : undefined,
  ]);
  const data = mergeMetricNames(hot?.rows ?? [], cold?.rows ?? []);
  const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
  return { status: 200, body: { data, meta: ctx.meta(range, tiers, null) }, tiers };
};
