import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClickHouseTelemetryReader,
  HotTableSources,
  hotRollups,
} from '../../../../functions/shared/query/clickhouse-reader.js';
import type { MetricName } from '../../../../functions/shared/query/model.js';
import type { TimeRange } from '../../../../functions/shared/query/time.js';
import type { TableName } from '../../../../functions/shared/schema/columns.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { batchOf, MINUTE, metric, writeHot } from '../../query/support.js';

/**
 * The metric names list from the hourly names rollup (whole hours) and the points (the minutes at
 * the ends) against the scan of every point, on embedded ClickHouse; the expected list is computed
 * here from the generated points.
 */

const HOUR = 60 * MINUTE;
const H0 = Math.floor(Date.now() / HOUR) * HOUR - 8 * HOUR;
const TENANT = 'acme';

interface Point {
  table: TableName;
  type: MetricName['type'];
  name: string;
  unit: string;
  service: string;
  atMs: number;
}

const KINDS: [TableName, MetricName['type'], Record<string, unknown>][] = [
  ['otel_metrics_gauge', 'gauge', { Value: 0.5 }],
  ['otel_metrics_sum', 'sum', { Value: 3 }],
  ['otel_metrics_histogram', 'histogram', { Count: 2, Sum: 3, BucketCounts: [1, 1], ExplicitBounds: [1] }],
  ['otel_metrics_summary', 'summary', { Count: 2, Sum: 3 }],
];

/** Each metric lives in a few minutes of the five hours, some only near an hour's edge. */
function generate(): Point[] {
  const out: Point[] = [];
  for (let m = 0; m < 12; m++) {
    const [table, type] = KINDS[m % KINDS.length]!;
    const name = `${m % 3 === 0 ? 'http' : 'proc'}.metric.${m}`;
    for (let k = 0; k < 6; k++) {
      const atMs = H0 + ((m * 7 + k * 53) % 300) * MINUTE + k * 1_000;
      out.push({ table, type, name, unit: `u${m}`, service: `svc-${(m + k) % 5}`, atMs });
    }
  }
  return out;
}

function expected(points: readonly Point[], range: TimeRange, text?: string) {
  const from = Number(range.fromNs / 1_000_000n);
  const to = Number(range.toNs / 1_000_000n);
  const byName = new Map<string, { -readonly [K in keyof MetricName]: MetricName[K] }>();
  for (const p of points) {
    if (p.atMs < from || p.atMs >= to) continue;
    if (text !== undefined && !p.name.toLowerCase().includes(text.toLowerCase())) continue;
    const key = `${p.name}\u0000${p.type}`;
    const e = byName.get(key) ?? { name: p.name, type: p.type, unit: p.unit, description: '', services: [] };
    if (!e.services.includes(p.service)) e.services = [...e.services, p.service].sort();
    byName.set(key, e);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

let ch: TestClickHouse;
const points = generate();

beforeAll(async () => {
  ch = await openMigratedClickHouse('metric-names-');
  for (const [table, , fields] of KINDS) {
    const rows = points
      .filter((p) => p.table === table)
      .map((p) => metric(p.atMs, p.service, p.name, { ...fields, MetricUnit: p.unit }));
    // Two batches per table: the rollup adds up across inserts.
    const half = Math.floor(rows.length / 2);
    await writeHot(ch.client, TENANT, [batchOf(table, rows.slice(0, half))]);
    await writeHot(ch.client, TENANT, [batchOf(table, rows.slice(half))]);
  }
}, 120_000);

afterAll(async () => {
  await ch.close();
});

const reader = (rollups: boolean) =>
  new ClickHouseTelemetryReader(ch.client, {
    tier: 'hot',
    engine: 'clickhouse',
    sources: new HotTableSources(),
    ...(rollups && { rollups: hotRollups() }),
  });
const budget = () => ({ deadlineMs: Date.now() + 20_000 });
const range = (fromMs: number, toMs: number): TimeRange => ({
  fromNs: BigInt(fromMs) * 1_000_000n,
  toNs: BigInt(toMs) * 1_000_000n,
});

describe('metric names: hourly rollup for whole hours, points for the ends', () => {
  for (const [label, r] of [
    ['whole hours only', range(H0, H0 + 5 * HOUR)],
    ['cut mid-hour at both ends', range(H0 + 37 * MINUTE + 500, H0 + 4 * HOUR + 11 * MINUTE)],
    ['within one hour', range(H0 + HOUR + 5 * MINUTE, H0 + HOUR + 50 * MINUTE)],
    ['a minute either side of an hour', range(H0 + 2 * HOUR - MINUTE, H0 + 2 * HOUR + MINUTE)],
  ] as const) {
    it(`equals the scan of every point and the generated list: ${label}`, async () => {
      for (const text of [undefined, 'HTTP.']) {
        const q = { tenant: TENANT, range: r, ...(text !== undefined && { text }) };
        const rolled = await reader(true).metricNames(q, budget());
        const scanned = await reader(false).metricNames(q, budget());
        expect(rolled.rows).toEqual(scanned.rows);
        expect(rolled.rows).toEqual(expected(points, r, text));
      }
    });
  }

  it("lists nothing of another tenant's", async () => {
    const r = await reader(true).metricNames({ tenant: 'globex', range: range(H0, H0 + 5 * HOUR) }, budget());
    expect(r.rows).toEqual([]);
  });
});
