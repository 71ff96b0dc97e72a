import { utcDate, utcDay } from '../../tenants/quotas.js';
import { UsageParamsSchema } from '../schemas.js';
import { resolveRange } from '../time.js';
import { type Endpoint, parse } from './context.js';

/** GET /v1/usage: the tenant's metered usage per UTC day and signal. */
export const getUsage: Endpoint = async (ctx, tenant, _pathParams, query) => {
  const params = parse(UsageParamsSchema, query);
  // Whole UTC days; the same range limit as every query (31 days by default).
  const range = resolveRange(params.from, params.to, ctx.now(), {
    ...ctx.limits,
    defaultLookbackMs: 7 * 86_400_000,
  });
  const day = (ns: bigint) => utcDate(utcDay(Number(ns / 1_000_000n)));
  const from = day(range.fromNs);
  const to = day(range.toNs);
  const data = await ctx.deps.usage!.daily(tenant, from, to);
  return { status: 200, body: { data, meta: { from, to } }, tiers: [] };
};
