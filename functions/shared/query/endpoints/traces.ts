import type { CursorContext } from '../cursor.js';
import { mergeSpans, mergeTraceSummaries } from '../merge.js';
import { apiSpanKind, apiStatusCode, type SpanRecord, type TraceSummary } from '../model.js';
import { TraceGetParamsSchema, TracePathSchema, TraceSearchParamsSchema } from '../schemas.js';
import { isoOf, NS_PER_SECOND, resolveRange } from '../time.js';
import { boundParams, type Endpoint, parse, tierStats } from './context.js';

/** GET /v1/query/traces/{traceId} and GET /v1/query/traces (search). */

const nsToMs = (ns: string): number => Number(BigInt(ns || '0') / 1000n) / 1000;

function spanOut(s: SpanRecord) {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    traceState: s.traceState,
    name: s.name,
    kind: apiSpanKind(s.kind),
    serviceName: s.serviceName,
    startTimeUnixNano: s.startTimeUnixNano,
    startTime: isoOf(BigInt(s.startTimeUnixNano || '0')),
    durationNanos: s.durationNanos,
    durationMs: nsToMs(s.durationNanos),
    status: { code: apiStatusCode(s.statusCode), message: s.statusMessage },
    attributes: s.attributes,
    resourceAttributes: s.resourceAttributes,
    scope: { name: s.scopeName, version: s.scopeVersion },
    events: s.events,
    links: s.links,
  };
}

function traceSummaryOut(t: TraceSummary) {
  return {
    traceId: t.traceId,
    startTimeUnixNano: t.startTimeUnixNano,
    startTime: isoOf(BigInt(t.startTimeUnixNano || '0')),
    serviceName: t.serviceName,
    operation: t.operation,
    durationMs: nsToMs(t.maxDurationNanos),
    spanCount: t.spanCount,
    errorCount: t.errorCount,
  };
}

export const getTrace: Endpoint = async (ctx, tenant, pathParams, query, budget) => {
  const { deps, limits } = ctx;
  const { traceId } = parse(TracePathSchema, pathParams);
  const params = parse(TraceGetParamsSchema, query);
  // Without `from`, the whole hot retention: a trace lookup is cheap there.
  const lookback = deps.hotRetentionDays * 86_400_000;
  const range = resolveRange(params.from, params.to, ctx.now(), { ...limits, defaultLookbackMs: lookback });
  const p = ctx.plan(range);
  const q = { tenant, traceId, limit: limits.maxTraceSpans };
  const hot = p.hot ? await deps.hot.trace({ ...q, range: p.hot }, budget) : undefined;
  // The lake is asked only when it could hold part of the trace: nothing found in the hot tier,
  // or the trace starts within an hour of the boundary (it may have begun before it).
  const firstHot = hot?.rows[0];
  const needCold =
    p.cold &&
    deps.cold &&
    (!firstHot || BigInt(firstHot.startTimeUnixNano) - p.cold.toNs < 3_600n * NS_PER_SECOND);
  const cold = needCold ? await deps.cold!.trace({ ...q, range: p.cold! }, budget) : undefined;
  const spans = mergeSpans(hot?.rows ?? [], cold?.rows ?? []);
  const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, needCold ? p.cold : undefined)];
  if (spans.length === 0) {
    return {
      status: 404,
      body: {
        error: 'not_found',
        message: `no trace ${traceId} between ${isoOf(range.fromNs)} and ${isoOf(range.toNs)}`,
      },
      tiers,
    };
  }
  return {
    status: 200,
    body: { data: { traceId, spans: spans.map(spanOut) }, meta: ctx.meta(range, tiers, null) },
    tiers,
  };
};

export const searchTraces: Endpoint = async (ctx, tenant, _pathParams, query, budget) => {
  const { deps } = ctx;
  const params = parse(TraceSearchParamsSchema, query);
  const cursorCtx: CursorContext = { tenant, endpoint: 'searchTraces', params: boundParams(query) };
  const { range, position } = ctx.pageState(cursorCtx, query, params.cursor);
  const after = position
    ? { startNs: BigInt(position.key[0] ?? '0'), traceId: position.key[1] ?? '' }
    : undefined;
  const p = ctx.plan(range);
  const fetch = params.limit + 1;
  const q = {
    tenant,
    limit: fetch,
    ...(params.service !== undefined && { service: params.service }),
    ...(params.operation !== undefined && { operation: params.operation }),
    ...(params.minDurationMs !== undefined && {
      minDurationNs: BigInt(Math.round(params.minDurationMs * 1e6)),
    }),
    ...(params.status !== undefined && { status: params.status }),
    ...(after && { after }),
  };
  // Hot rows are the newer ones: the lake is read only when they do not fill the page.
  const hot = p.hot ? await deps.hot.searchTraces({ ...q, range: p.hot }, budget) : undefined;
  const cold =
    p.cold && (hot?.rows.length ?? 0) < fetch
      ? await deps.cold!.searchTraces({ ...q, range: p.cold }, budget)
      : undefined;
  const merged = mergeTraceSummaries(hot?.rows ?? [], cold?.rows ?? []);
  const wanted = merged.slice(0, params.limit);
  const out = wanted.map(traceSummaryOut);
  const fit = ctx.rowsThatFit(out);
  const page = wanted.slice(0, fit);
  const last = page[page.length - 1];
  const next =
    merged.length > page.length && last
      ? deps.cursors.encode(cursorCtx, { ...range, key: [last.startTimeUnixNano, last.traceId] })
      : null;
  const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, cold ? p.cold : undefined)];
  return { status: 200, body: { data: out.slice(0, fit), meta: ctx.meta(range, tiers, next) }, tiers };
};
