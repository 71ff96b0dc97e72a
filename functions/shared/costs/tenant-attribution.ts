import type { ClickHouseClient } from '@clickhouse/client';
import { qualified, USAGE_DAILY_VIEW } from '../clickhouse/ddl.js';
import type { Signal } from '../schema/columns.js';
import { clickHouseBytesPerRow } from '../usage/usage.js';
import type { CostReport } from './cost-report.js';

/**
 * Each component's spend shared out to tenants by the driver that makes it grow: items for what
 * scales with requests and records (ingest, stream), bytes stored for storage (ClickHouse, the
 * lake). Components no tenant drives alone (query, alerting, monitoring, dead letters, untagged)
 * stay shared. Usage comes from the usage table (functions/shared/usage).
 */
export type AttributionDriver = 'items' | 'storedBytes';

export const COMPONENT_DRIVERS: Readonly<Record<string, AttributionDriver>> = {
  ingest: 'items',
  stream: 'items',
  'hot-tier': 'storedBytes',
  // Parquet bytes are not metered per tenant yet: the ClickHouse estimate stands in (same rows, same order).
  lake: 'storedBytes',
};

/** A tenant's usage over the report's range. */
export interface TenantUsageTotals {
  readonly tenant: string;
  readonly itemsAccepted: number;
  readonly storedBytes: number;
}

/** Port: every tenant's usage totals, `from`..`to` (UTC days, inclusive). */
export interface TenantUsageSource {
  totals(from: string, to: string): Promise<readonly TenantUsageTotals[]>;
}

export interface TenantCost {
  readonly tenant: string;
  readonly byComponent: Readonly<Record<string, number>>;
  readonly total: number;
  readonly itemsAccepted: number;
  readonly storedBytes: number;
}

export interface TenantAttribution {
  readonly unit: string;
  readonly tenants: readonly TenantCost[];
  /** Spend of components without a driver, or with no usage to share them by. */
  readonly shared: number;
}

export function attributeToTenants(
  report: CostReport,
  usage: readonly TenantUsageTotals[],
): TenantAttribution {
  const sums: Record<AttributionDriver, number> = { items: 0, storedBytes: 0 };
  for (const u of usage) {
    sums.items += u.itemsAccepted;
    sums.storedBytes += u.storedBytes;
  }
  const byTenant = new Map(
    usage.map((u) => [u.tenant, { ...u, byComponent: {} as Record<string, number>, total: 0 }]),
  );
  let shared = 0;
  for (const line of report.lines) {
    const driver = COMPONENT_DRIVERS[line.component];
    if (driver === undefined || sums[driver] <= 0) {
      shared += line.amount;
      continue;
    }
    for (const t of byTenant.values()) {
      const part = (line.amount * (driver === 'items' ? t.itemsAccepted : t.storedBytes)) / sums[driver];
      t.byComponent[line.component] = part;
      t.total += part;
    }
  }
  const tenants = [...byTenant.values()].sort(
    (a, b) => b.total - a.total || a.tenant.localeCompare(b.tenant),
  );
  return { unit: report.unit, tenants, shared };
}

export function formatTenantAttribution(a: TenantAttribution): string {
  const components = Object.keys(COMPONENT_DRIVERS);
  const header = [
    'tenant',
    'items',
    'stored bytes',
    ...components.map((c) => `${c} (${a.unit})`),
    `total (${a.unit})`,
  ];
  const rows = a.tenants.map((t) => [
    t.tenant,
    t.itemsAccepted.toLocaleString('en-US'),
    t.storedBytes.toLocaleString('en-US'),
    ...components.map((c) => (t.byComponent[c] ?? 0).toFixed(2)),
    t.total.toFixed(2),
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const render = (r: readonly string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const drivers = Object.entries(COMPONENT_DRIVERS)
    .map(([c, d]) => `${c} by ${d === 'items' ? 'items' : 'bytes stored'}`)
    .join(', ');
  return [
    '',
    `Cost by tenant (${drivers}; the rest is shared):`,
    '',
    render(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(render),
    '',
    `Shared (not attributed): ${a.shared.toFixed(2)} ${a.unit}`,
    '',
  ].join('\n');
}

/** Every tenant's totals from the usage table; bytes stored estimated as in /v1/usage. */
export class ClickHouseTenantUsageSource implements TenantUsageSource {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly database?: string,
  ) {}

  async totals(from: string, to: string): Promise<readonly TenantUsageTotals[]> {
    const rs = await this.client.query({
      query: `SELECT TenantId AS tenant, Signal AS signal, sum(ItemsAccepted) AS items
              FROM ${qualified(USAGE_DAILY_VIEW, this.database)}
              WHERE Day BETWEEN {from:Date} AND {to:Date} GROUP BY tenant, signal`,
      query_params: { from, to },
      format: 'JSONEachRow',
    });
    const rows = await rs.json<{ tenant: string; signal: Signal; items: string | number }>();
    const perRow = await clickHouseBytesPerRow(this.client, this.database);
    const out = new Map<string, { itemsAccepted: number; storedBytes: number }>();
    for (const r of rows) {
      const t = out.get(r.tenant) ?? { itemsAccepted: 0, storedBytes: 0 };
      const items = Number(r.items);
      t.itemsAccepted += items;
      t.storedBytes += Math.round(items * (perRow[r.signal] ?? 0));
      out.set(r.tenant, t);
    }
    return [...out].map(([tenant, t]) => ({ tenant, ...t }));
  }
}
