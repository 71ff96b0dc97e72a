/**
 * The cost report behind `npm run costs`: spend per pipeline component (the `component`
 * cost-allocation tag) over a date range, with totals and, when the pipeline's own metrics are
 * available, the cost per million ingested items. Pure: the numbers come in through two ports,
 * so the same code runs against Cost Explorer and CloudWatch, or against fakes in tests.
 */

export interface CostQuery {
  /** First day counted, YYYY-MM-DD (UTC). */
  readonly from: string;
  /** Last day counted, YYYY-MM-DD (UTC), inclusive. */
  readonly to: string;
  /** Value of the `project` tag. */
  readonly project: string;
  /** Value of the `environment` tag; all environments when absent. */
  readonly environment?: string;
  /** Cost Explorer metric. @default 'UnblendedCost' */
  readonly metric?: CostMetric;
}

export type CostMetric = 'UnblendedCost' | 'AmortizedCost' | 'NetUnblendedCost' | 'BlendedCost';

/** Spend of one component (one value of the `component` tag) over the whole range. */
export interface ComponentCost {
  /** The tag value; '' for spend under the project tag but without a component tag. */
  readonly component: string;
  readonly amount: number;
  readonly unit: string;
  /** Cost Explorer still estimates part of this range (the current month, usually). */
  readonly estimated: boolean;
}

/** Port: spend grouped by the `component` tag. */
export interface CostSource {
  costByComponent(query: CostQuery): Promise<readonly ComponentCost[]>;
}

/** Port: telemetry items ingested in the range; undefined when the pipeline's metrics are absent. */
export interface ItemCountSource {
  ingestedItems(query: CostQuery): Promise<number | undefined>;
}

export interface CostReportLine {
  readonly component: string;
  readonly amount: number;
  /** Share of the total, 0..1 (0 when the total is 0). */
  readonly share: number;
  readonly perMillionItems?: number;
}

export interface CostReport {
  readonly query: CostQuery;
  readonly unit: string;
  readonly lines: readonly CostReportLine[];
  readonly total: number;
  readonly ingestedItems?: number;
  readonly totalPerMillionItems?: number;
  readonly estimated: boolean;
}

export class CostReportError extends Error {
  override readonly name = 'CostReportError';
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const UNTAGGED = '(no component tag)';

/** Checks a query: real dates, from <= to. Returns the end date exclusive (what AWS APIs take). */
export function validateQuery(query: CostQuery): { startInclusive: string; endExclusive: string } {
  for (const [name, value] of [
    ['from', query.from],
    ['to', query.to],
  ] as const) {
    if (
      !DAY.test(value) ||
      Number.isNaN(Date.parse(`${value}T00:00:00Z`)) ||
      toDay(new Date(`${value}T00:00:00Z`)) !== value
    ) {
      throw new CostReportError(`\`--${name}\` must be a date YYYY-MM-DD, got: ${value}`);
    }
  }
  if (query.from > query.to)
    throw new CostReportError(`\`--from\` must not be after \`--to\`, got: ${query.from} > ${query.to}`);
  const end = new Date(`${query.to}T00:00:00Z`);
  end.setUTCDate(end.getUTCDate() + 1);
  return { startInclusive: query.from, endExclusive: toDay(end) };
}

function toDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Builds the report from the two ports; the item count is optional and never fails the report. */
export async function buildCostReport(
  query: CostQuery,
  ports: { readonly costs: CostSource; readonly items?: ItemCountSource },
): Promise<CostReport> {
  validateQuery(query);
  const [costs, items] = await Promise.all([
    ports.costs.costByComponent(query),
    ports.items === undefined ? Promise.resolve(undefined) : ports.items.ingestedItems(query),
  ]);
  return summarize(query, costs, items);
}

/** Merges rows of the same component (several months come back as several rows) and adds totals. */
export function summarize(
  query: CostQuery,
  costs: readonly ComponentCost[],
  ingestedItems?: number,
): CostReport {
  const units = new Set(costs.map((c) => c.unit));
  if (units.size > 1) throw new CostReportError(`costs come in several currencies: ${[...units].join(', ')}`);
  const unit = costs[0]?.unit ?? 'USD';
  const byComponent = new Map<string, number>();
  for (const c of costs) byComponent.set(c.component, (byComponent.get(c.component) ?? 0) + c.amount);
  const total = [...byComponent.values()].reduce((a, b) => a + b, 0);
  const items = ingestedItems !== undefined && ingestedItems > 0 ? ingestedItems : undefined;
  const perMillion = (amount: number) => (items === undefined ? undefined : (amount / items) * 1_000_000);
  const lines = [...byComponent.entries()]
    .map(([component, amount]) => ({
      component: component === '' ? UNTAGGED : component,
      amount,
      share: total > 0 ? amount / total : 0,
      perMillionItems: perMillion(amount),
    }))
    .sort((a, b) => b.amount - a.amount || a.component.localeCompare(b.component));
  return {
    query,
    unit,
    lines,
    total,
    ingestedItems: ingestedItems,
    totalPerMillionItems: perMillion(total),
    estimated: costs.some((c) => c.estimated),
  };
}

/** The report as a plain-text table. */
export function formatCostReport(report: CostReport): string {
  const q = report.query;
  const scope = [
    `project=${q.project}`,
    q.environment === undefined ? 'all environments' : `environment=${q.environment}`,
  ];
  const money = (n: number) => n.toFixed(2);
  const header = ['component', `cost (${report.unit})`, 'share', `per 1M items (${report.unit})`];
  const rows = report.lines.map((l) => [
    l.component,
    money(l.amount),
    `${(l.share * 100).toFixed(1)} %`,
    l.perMillionItems === undefined ? 'n/a' : l.perMillionItems.toFixed(4),
  ]);
  const totalRow = [
    'total',
    money(report.total),
    report.total > 0 ? '100.0 %' : '0.0 %',
    report.totalPerMillionItems === undefined ? 'n/a' : report.totalPerMillionItems.toFixed(4),
  ];
  const all = [header, ...rows, totalRow];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const render = (r: readonly string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [
    `Cost by component, ${q.from} .. ${q.to} (${scope.join(', ')}), ${q.metric ?? 'UnblendedCost'}`,
    '',
    render(header),
    rule,
    ...rows.map(render),
    rule,
    render(totalRow),
    '',
    report.ingestedItems === undefined
      ? 'Ingested items: n/a (no pipeline metrics for this range, so no cost per million items)'
      : `Ingested items: ${report.ingestedItems.toLocaleString('en-US')}`,
  ];
  if (report.lines.length === 0) {
    out.push('No spend found under these tags: are the cost-allocation tags active? (docs/deploy.md)');
  }
  if (report.estimated) out.push('Part of this range is still estimated by Cost Explorer.');
  return `${out.join('\n')}\n`;
}
