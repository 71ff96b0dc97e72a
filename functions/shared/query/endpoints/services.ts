import { mergeEdges, mergeServiceBuckets, mergeServices } from '../merge.js';
import type { QueryBudget, ServiceStats } from '../model.js';
import {
  ServiceMapParamsSchema,
  ServicePathSchema,
  ServiceSeriesParamsSchema,
  ServicesParamsSchema,
} from '../schemas.js';
import { NS_PER_SECOND, type TimeRange } from '../time.js';
import { bucketsOf, type Endpoint, type EndpointContext, parse, tierStats } from './context.js';

/**
 * The services pages' routes: GET /v1/query/services, /services/{service}/operations,
 * /services/series and /service-map. All read the RED rollups (hot tier) or entry spans (lake).
 */

const quantileMs = (q: readonly [number, number, number] | null) => ({
  p50Ms: q ? q[0] / 1e6 : null,
  p95Ms: q ? q[1] / 1e6 : null,
  p99Ms: q ? q[2] / 1e6 : null,
});

/** RED per service (or per operation of one service) over a range rounded to whole minutes. */
async function red(
  ctx: EndpointContext,
  tenant: string,
  range: TimeRange,
  budget: QueryBudget,
  service?: string,
) {
  const { deps } = ctx;
  const p = ctx.plan(range);
  const q = { tenant, ...(service !== undefined && { service, byOperation: true }) };
  const [hot, cold] = await Promise.all([
    p.hot ? deps.hot.services({ ...q, range: p.hot }, budget) : undefined,
    p.cold ? deps.cold!.services({ ...q, range: p.cold }, budget) : undefined,
  ]);
  const seconds = Number((range.toNs - range.fromNs) / NS_PER_SECOND);
  return {
    rows: mergeServices(hot?.rows ?? [], cold?.rows ?? []),
    seconds,
    tiers: [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)],
  };
}

const redOut = (s: ServiceStats, seconds: number) => ({
  requests: s.requests,
  errors: s.errors,
  rate: s.requests / seconds,
  errorRatio: s.requests > 0 ? s.errors / s.requests : 0,
});

export const listServices: Endpoint = async (ctx, tenant, _pathParams, query, budget) => {
  const params = parse(ServicesParamsSchema, query);
  const range = ctx.minuteRange(params.from, params.to);
  const r = await red(ctx, tenant, range, budget);
  const data = r.rows.map((s: ServiceStats) => ({
    serviceName: s.serviceName,
    requests: s.requests,
    requestRate: s.requests / r.seconds,
    errors: s.errors,
    errorRatio: s.requests > 0 ? s.errors / s.requests : 0,
    latencyMs: s.quantilesNs
      ? { p50: s.quantilesNs[0] / 1e6, p95: s.quantilesNs[1] / 1e6, p99: s.quantilesNs[2] / 1e6 }
      : null,
  }));
  return { status: 200, body: { data, meta: ctx.meta(range, r.tiers, null) }, tiers: r.tiers };
};

export const serviceOperations: Endpoint = async (ctx, tenant, pathParams, query, budget) => {
  const { service } = parse(ServicePathSchema, pathParams);
  const params = parse(ServicesParamsSchema, query);
  const range = ctx.minuteRange(params.from, params.to);
  const r = await red(ctx, tenant, range, budget, service);
  const data = r.rows
    .map((s) => ({ operation: s.operation ?? '', ...redOut(s, r.seconds), ...quantileMs(s.quantilesNs) }))
    .sort((a, b) => b.requests - a.requests || (a.operation < b.operation ? -1 : 1));
  return { status: 200, body: { data, meta: ctx.meta(range, r.tiers, null) }, tiers: r.tiers };
};

export const serviceSeries: Endpoint = async (ctx, tenant, _pathParams, query, budget) => {
  const { deps } = ctx;
  const params = parse(ServiceSeriesParamsSchema, query);
  const { stepMs, range } = ctx.seriesStep(params.step, ctx.range(params.from, params.to));
  const p = ctx.plan(range);
  const q = { tenant, stepMs, ...(params.service !== undefined && { service: params.service }) };
  const [hot, cold] = await Promise.all([
    p.hot ? deps.hot.serviceSeries({ ...q, range: p.hot }, budget) : undefined,
    p.cold ? deps.cold!.serviceSeries({ ...q, range: p.cold }, budget) : undefined,
  ]);
  const byService = new Map<string, Map<number, ServiceStats>>();
  for (const b of mergeServiceBuckets(hot?.rows ?? [], cold?.rows ?? [])) {
    const m = byService.get(b.serviceName) ?? new Map<number, ServiceStats>();
    m.set(b.bucketMs, b);
    byService.set(b.serviceName, m);
  }
  const buckets = bucketsOf(range, stepMs);
  const seconds = stepMs / 1000;
  const data = [...byService].map(([service, points]) => ({
    service,
    points: buckets.map((t) => {
      const b = points.get(t);
      return b
        ? { t, ...redOut(b, seconds), ...quantileMs(b.quantilesNs) }
        : { t, requests: 0, errors: 0, rate: 0, errorRatio: 0, p50Ms: null, p95Ms: null, p99Ms: null };
    }),
  }));
  const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
  return { status: 200, body: { data, meta: ctx.meta(range, tiers, null, stepMs) }, tiers };
};

export const serviceMap: Endpoint = async (ctx, tenant, _pathParams, query, budget) => {
  const { deps } = ctx;
  const params = parse(ServiceMapParamsSchema, query);
  const range = ctx.minuteRange(params.from, params.to);
  const p = ctx.plan(range);
  const [nodes, hotEdges, coldEdges] = await Promise.all([
    red(ctx, tenant, range, budget),
    p.hot ? deps.hot.serviceEdges({ tenant, range: p.hot }, budget) : undefined,
    p.cold ? deps.cold!.serviceEdges({ tenant, range: p.cold }, budget) : undefined,
  ]);
  const edges = mergeEdges(hotEdges?.rows ?? [], coldEdges?.rows ?? []);
  const seconds = nodes.seconds;
  const nodeOut = new Map(
    nodes.rows.map((s) => [s.serviceName, { service: s.serviceName, ...redOut(s, seconds) }]),
  );
  // A service seen only in edges (no entry spans in the range) is still a node.
  for (const e of edges) {
    for (const service of [e.parent, e.child]) {
      if (!nodeOut.has(service)) {
        nodeOut.set(service, { service, requests: 0, errors: 0, rate: 0, errorRatio: 0 });
      }
    }
  }
  const data = {
    nodes: [...nodeOut.values()].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0)),
    edges: edges.map((e) => ({
      parent: e.parent,
      child: e.child,
      calls: e.calls,
      errors: e.errors,
      rate: e.calls / seconds,
      errorRatio: e.calls > 0 ? e.errors / e.calls : 0,
      ...quantileMs(e.quantilesNs),
    })),
  };
  const tiers = [...nodes.tiers, ...tierStats(hotEdges, p.hot), ...tierStats(coldEdges, p.cold)];
  return { status: 200, body: { data, meta: ctx.meta(range, tiers, null) }, tiers };
};
