import type { CursorContext } from '../cursor.js';
import { QueryParameterError } from '../errors.js';
import { mergeLogs } from '../merge.js';
import type { LogRecordRow } from '../model.js';
import { LogHistogramParamsSchema, LogSearchParamsSchema, SEVERITIES, SEVERITY_NUMBERS } from '../schemas.js';
import { isoOf } from '../time.js';
import { boundParams, bucketsOf, type Endpoint, parse, tierStats } from './context.js';

/** GET /v1/query/logs (search, keyset pages) and GET /v1/query/logs/histogram. */

function logOut(l: LogRecordRow) {
  return { ...l, time: isoOf(BigInt(l.timeUnixNano || '0')) };
}

/** The severity name of a SeverityNumber (1-24), or for 0 (unspecified) of its text; else INFO. */
function severityClass(n: number, text: string): (typeof SEVERITIES)[number] {
  if (n >= 1 && n <= 24) return SEVERITIES[Math.floor((n - 1) / 4)]!;
  const t = text.toUpperCase();
  if (t.startsWith('WARN')) return 'WARN';
  if (t.startsWith('ERR')) return 'ERROR';
  if (t === 'CRITICAL' || t === 'EMERGENCY' || t === 'ALERT') return 'FATAL';
  return SEVERITIES.find((s) => t.startsWith(s)) ?? 'INFO';
}

export const searchLogs: Endpoint = async (ctx, tenant, _pathParams, query, budget) => {
  const { deps } = ctx;
  const params = parse(LogSearchParamsSchema, query);
  const cursorCtx: CursorContext = { tenant, endpoint: 'searchLogs', params: boundParams(query) };
  const { range, position } = ctx.pageState(cursorCtx, query, params.cursor);
  // Keyset: records at or before `atNs`, of which the first `skip` (same time) were already sent.
  const atNs = position ? (position.key[0] ?? undefined) : undefined;
  const skip = position ? Number(position.key[1] ?? 0) : 0;
  if (!Number.isSafeInteger(skip) || skip < 0 || skip > 1_000_000)
    throw new QueryParameterError('cursor', 'malformed');
  const p = ctx.plan(range);
  const fetch = params.limit + skip + 1;
  const q = {
    tenant,
    ...(params.service !== undefined && { service: params.service }),
    ...(params.severity !== undefined && { minSeverity: SEVERITY_NUMBERS[params.severity] }),
    ...(params.q !== undefined && { text: params.q }),
    ...(params.traceId !== undefined && { traceId: params.traceId }),
    ...(atNs !== undefined && { atOrBeforeNs: BigInt(atNs) }),
  };
  const hot = p.hot ? await deps.hot.searchLogs({ ...q, range: p.hot, limit: fetch }, budget) : undefined;
  const got = hot?.rows.length ?? 0;
  // A hot page cut for size has more hot rows after it: the lake's (older) rows wait.
  const cold =
    p.cold && got < fetch && !hot?.cut
      ? await deps.cold!.searchLogs({ ...q, range: p.cold, limit: fetch - got }, budget)
      : undefined;
  const merged = mergeLogs(hot?.rows ?? [], cold?.rows ?? []);
  let dropped = 0;
  while (dropped < skip && merged[dropped]?.timeUnixNano === atNs) dropped++;
  const rest = merged.slice(dropped);
  const out = rest.slice(0, params.limit).map(logOut);
  const fit = ctx.rowsThatFit(out);
  const page = rest.slice(0, fit);
  const last = page[page.length - 1];
  let next: string | null = null;
  if ((rest.length > page.length || hot?.cut || cold?.cut) && last) {
    let same = 0;
    for (const r of page) if (r.timeUnixNano === last.timeUnixNano) same++;
    const total = last.timeUnixNano === atNs ? same + skip : same;
    next = deps.cursors.encode(cursorCtx, { ...range, key: [last.timeUnixNano, String(total)] });
  }
  const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, cold ? p.cold : undefined)];
  return { status: 200, body: { data: out.slice(0, fit), meta: ctx.meta(range, tiers, next) }, tiers };
};

export const logHistogram: Endpoint = async (ctx, tenant, _pathParams, query, budget) => {
  const { deps } = ctx;
  const params = parse(LogHistogramParamsSchema, query);
  const { stepMs, range } = ctx.seriesStep(params.step, ctx.range(params.from, params.to));
  const p = ctx.plan(range);
  const q = {
    tenant,
    stepMs,
    ...(params.service !== undefined && { service: params.service }),
    ...(params.severity !== undefined && { minSeverity: SEVERITY_NUMBERS[params.severity] }),
    ...(params.q !== undefined && { text: params.q }),
    ...(params.traceId !== undefined && { traceId: params.traceId }),
  };
  const [hot, cold] = await Promise.all([
    p.hot ? deps.hot.logHistogram({ ...q, range: p.hot }, budget) : undefined,
    p.cold ? deps.cold!.logHistogram({ ...q, range: p.cold }, budget) : undefined,
  ]);
  const zero = () =>
    Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<(typeof SEVERITIES)[number], number>;
  const counts = new Map(bucketsOf(range, stepMs).map((t) => [t, zero()]));
  for (const c of [...(hot?.rows ?? []), ...(cold?.rows ?? [])]) {
    const bucket = counts.get(c.bucketMs);
    if (bucket) bucket[severityClass(c.severityNumber, c.severityText)] += c.count;
  }
  const data = [...counts].map(([t, c]) => ({ t, counts: c }));
  const tiers = [...tierStats(hot, p.hot), ...tierStats(cold, p.cold)];
  return { status: 200, body: { data, meta: ctx.meta(range, tiers, null, stepMs) }, tiers };
};
