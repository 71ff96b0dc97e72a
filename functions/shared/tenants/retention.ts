import { readFile, rename, writeFile } from 'node:fs/promises';
import * as z from 'zod';
import { partitionOf } from '../lake/layout.js';
import { SIGNAL_TABLES, type Signal } from '../schema/columns.js';
import { TENANT_ID_PATTERN } from './keys.js';

/**
 * Retention per tenant and signal: how long the hot tier (ClickHouse TTL) and the lake (S3
 * lifecycle) keep a tenant's traces, logs or metrics. A tenant or signal without its own takes the
 * deployment's defaults (`hotRetentionDays`, `lakeRetentionDays`). Kept in one JSON file
 * (DEFAULT_RETENTION_FILE) that `npm run tenants -- set-retention` writes, the CDK app reads at
 * synth (lake lifecycle rules; the hot TTLs through the migrate custom resource) and local mode
 * reads at start. A file, not the tenants table: the stack needs it at synth time, and a change is
 * a deploy (reviewed, versioned with the app) rather than a runtime write.
 */

export const DEFAULT_RETENTION_FILE = 'tenant-retention.json';
export const RETENTION_SIGNALS = ['traces', 'logs', 'metrics'] as const satisfies readonly Signal[];

/** Bounds of a hot retention: DateTime ends in 2106 (see ddl.ts MAX_HOT_RETENTION_DAYS). */
export const MAX_HOT_DAYS = 3650;
export const MAX_LAKE_DAYS = 36_500;

const days = (max: number) => z.number().int().min(1).max(max);
const SignalRetentionSchema = z.strictObject({
  hotDays: days(MAX_HOT_DAYS).optional(),
  lakeDays: days(MAX_LAKE_DAYS).optional(),
});
export type SignalRetention = z.infer<typeof SignalRetentionSchema>;

export const RetentionSettingsSchema = z.strictObject({
  tenants: z.record(
    z.string().regex(TENANT_ID_PATTERN),
    z.strictObject({
      traces: SignalRetentionSchema.optional(),
      logs: SignalRetentionSchema.optional(),
      metrics: SignalRetentionSchema.optional(),
    }),
  ),
});
export type RetentionSettings = z.infer<typeof RetentionSettingsSchema>;

export const NO_RETENTION_OVERRIDES: RetentionSettings = Object.freeze({ tenants: {} });

export class RetentionSettingsError extends Error {
  override readonly name = 'RetentionSettingsError';
}

export function parseRetentionSettings(json: unknown, source = 'retention settings'): RetentionSettings {
  const parsed = RetentionSettingsSchema.safeParse(json);
  if (!parsed.success) {
    throw new RetentionSettingsError(`${source}: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The settings in `path`; none (every tenant at the defaults) when the file does not exist. */
export async function readRetentionFile(path: string): Promise<RetentionSettings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return NO_RETENTION_OVERRIDES;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new RetentionSettingsError(`${path} is not JSON`, { cause });
  }
  return parseRetentionSettings(json, path);
}

/** Writes the settings (whole file replaced through a rename: a reader never sees half of it). */
export async function writeRetentionFile(path: string, settings: RetentionSettings): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(settings, null, 2)}\n`);
  await rename(tmp, path);
}

/**
 * The settings with one tenant's signal changed: a value given replaces, `null` returns it to the
 * default, absent keeps what was there. Empty entries are removed, so the file holds only overrides.
 */
export function withRetention(
  settings: RetentionSettings,
  tenant: string,
  signal: Signal,
  change: { readonly hotDays?: number | null; readonly lakeDays?: number | null },
): RetentionSettings {
  const tenants = structuredClone(settings.tenants);
  const entry = { ...tenants[tenant]?.[signal] };
  for (const field of ['hotDays', 'lakeDays'] as const) {
    const v = change[field];
    if (v === null) delete entry[field];
    else if (v !== undefined) entry[field] = v;
  }
  const forTenant = { ...tenants[tenant] };
  if (Object.keys(entry).length === 0) delete forTenant[signal];
  else forTenant[signal] = entry;
  if (Object.keys(forTenant).length === 0) delete tenants[tenant];
  else tenants[tenant] = forTenant;
  return parseRetentionSettings({ tenants });
}

/** SQL string literal of a tenant id (ids match TENANT_ID_PATTERN: no quotes, but escape anyway). */
const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The hot retention of a signal's tables as a ClickHouse expression over `TenantId`: the default
 * as a number when no tenant has its own, else `multiIf(TenantId IN ('a', 'b'), 3, TenantId IN
 * ('c'), 30, 7)` (tenants grouped by days, in order of days so the text is stable).
 */
export function hotDaysExpression(settings: RetentionSettings, signal: Signal, defaultDays: number): string {
  const byDays = new Map<number, string[]>();
  for (const [tenant, s] of Object.entries(settings.tenants).sort(([a], [b]) => a.localeCompare(b))) {
    const d = s[signal]?.hotDays;
    if (d === undefined || d === defaultDays) continue;
    byDays.set(d, [...(byDays.get(d) ?? []), tenant]);
  }
  if (byDays.size === 0) return String(defaultDays);
  const arms = [...byDays.entries()]
    .sort(([a], [b]) => a - b)
    .flatMap(([d, ts]) => [`TenantId IN (${ts.map(literal).join(', ')})`, String(d)]);
  return `multiIf(${arms.join(', ')}, ${defaultDays})`;
}

/** One S3 lifecycle rule: expire a tenant's objects of one lake table. */
export interface LakeExpiryRule {
  readonly id: string;
  readonly prefix: string;
  readonly days: number;
}

/** S3 allows this many lifecycle rules per bucket. */
export const MAX_LIFECYCLE_RULES = 1000;

/**
 * Lifecycle rules for tenants' own lake retention: for each (tenant, signal) with `lakeDays`, one
 * rule per table of the signal on its published prefix (`<table>/tenant=<t>/`, layout.ts; the
 * staging files are consumed by the compactor within hours, and the small bookkeeping objects
 * follow the bucket-wide rule). S3 applies the earliest expiration when rules overlap, so these can
 * only shorten the bucket-wide `lakeRetentionDays`: a longer one is an error. At most 7 rules per
 * tenant (1 traces, 1 logs, 5 metrics tables), so about 140 tenants with their own lake retention
 * fit S3's 1,000 rules per bucket.
 */
export function lakeExpiryRules(settings: RetentionSettings, defaultLakeDays: number): LakeExpiryRule[] {
  const rules: LakeExpiryRule[] = [];
  for (const [tenant, s] of Object.entries(settings.tenants).sort(([a], [b]) => a.localeCompare(b))) {
    for (const signal of RETENTION_SIGNALS) {
      const d = s[signal]?.lakeDays;
      if (d === undefined || d === defaultLakeDays) continue;
      if (d > defaultLakeDays) {
        throw new RetentionSettingsError(
          `tenant ${tenant} ${signal}: lakeDays ${d} is longer than the lake's retention of ${defaultLakeDays} days, which expires every object; raise lakeRetentionDays (and shorten the other tenants) instead`,
        );
      }
      for (const table of SIGNAL_TABLES[signal]) {
        rules.push({
          id: `retention-${tenant}-${table}`,
          prefix: `${table}/${partitionOf(tenant, 0).split('/')[0]}/`,
          days: d,
        });
      }
    }
  }
  if (rules.length > MAX_LIFECYCLE_RULES - 10) {
    throw new RetentionSettingsError(
      `${rules.length} per-tenant lake retention rules: more than the bucket's lifecycle rules allow (${MAX_LIFECYCLE_RULES}, a few kept for the tiers and housekeeping)`,
    );
  }
  return rules;
}
