import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import { nanosToMillis, partitionOf } from '../../../../functions/shared/lake/layout.js';
import {
  type AthenaStatement,
  athenaLogHistogramSql,
  athenaLogSearchSql,
  athenaMetricBucketsSql,
  athenaMetricHistogramsSql,
  athenaMetricNamesSql,
  athenaServiceEdgesSql,
  athenaServiceSeriesSql,
  athenaServicesSql,
  athenaTraceSearchSql,
  athenaTraceSpansSql,
  glueTables,
} from '../../../../functions/shared/query/athena-sql.js';
import { servicesRawSql } from '../../../../functions/shared/query/clickhouse-sql.js';
import type { SpanStatus } from '../../../../functions/shared/query/model.js';
import { planTiers } from '../../../../functions/shared/query/planner.js';
import { floorToHour, NS_PER_HOUR, NS_PER_MS } from '../../../../functions/shared/query/time.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';

/**
 * The Athena statements as Athena's engine (Trino) would take them: each parses with the Trino
 * grammar, and `?` appears only inside a WHERE clause (Athena's rule for execution parameters).
 */

const trino = new TrinoSQL();
const tables = glueTables('otel_lake');
const ns = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

interface Node {
  readonly children?: Node[] | null;
  readonly constructor: { readonly name: string };
  readonly start?: { readonly start: number };
  readonly stop?: { readonly stop: number } | null;
  getText(): string;
}

/** Every `?` token of the statement, with whether a WHERE clause encloses it. */
function placeholders(sql: string): { inWhere: boolean }[] {
  const out: { inWhere: boolean }[] = [];
  const walk = (n: Node, inWhere: boolean) => {
    const here = inWhere || n.constructor.name === 'WhereClauseContext';
    if (n.children) for (const c of n.children) walk(c, here);
    else if (n.getText() === '?') out.push({ inWhere: here });
  };
  walk(trino.parse(sql) as unknown as Node, false);
  return out;
}

/** The text of every WHERE clause's condition, outermost first. */
function whereClauses(sql: string): string[] {
  const out: string[] = [];
  const walk = (n: Node) => {
    if (n.constructor.name === 'WhereClauseContext' && n.start && n.stop) {
      out.push(sql.slice(n.start.start, n.stop.stop + 1).replace(/^WHERE\s+/i, ''));
    }
    for (const c of n.children ?? []) walk(c);
  };
  walk(trino.parse(sql) as unknown as Node);
  return out;
}

/** Every statement shape: each optional filter absent and present, ranges on and off whole hours. */
function statements(): [string, AthenaStatement][] {
  const ranges = [
    { fromNs: ns('2026-11-01T22:15:00.123Z'), toNs: ns('2026-11-02T03:00:00Z') },
    { fromNs: ns('2026-11-01T22:00:00Z'), toNs: ns('2026-11-01T22:59:59.999Z') + 999_999n },
    { fromNs: ns('2026-11-01T00:00:00Z'), toNs: ns('2026-11-08T00:00:00Z') },
  ];
  const out: [string, AthenaStatement][] = [];
  ranges.forEach((range, r) => {
    const scope = { tenant: "o'brien", range };
    out.push([`trace ${r}`, athenaTraceSpansSql({ ...scope, traceId: 'abc', limit: 10_000 }, tables)]);
    for (const status of [undefined, 'ok', 'error', 'unset'] as (SpanStatus | undefined)[]) {
      for (const full of [false, true]) {
        out.push([
          `trace-search ${r} ${status} ${full}`,
          athenaTraceSearchSql(
            {
              ...scope,
              status,
              limit: 101,
              ...(full
                ? {
                    service: 'checkout',
                    operation: 'GET /',
                    minDurationNs: 5n,
                    after: { startNs: range.fromNs + 1n, traceId: 'zz' },
                  }
                : {}),
            },
            tables,
          ),
        ]);
      }
    }
    out.push([`logs ${r}`, athenaLogSearchSql({ ...scope, limit: 101 }, tables)]);
    out.push([
      `logs-full ${r}`,
      athenaLogSearchSql(
        {
          ...scope,
          service: 's',
          minSeverity: 17,
          text: '?',
          traceId: 't',
          atOrBeforeNs: range.toNs - 1n,
          limit: 101,
        },
        tables,
      ),
    ]);
    for (const attributes of [[], [['host', 'a'] as const, ['region', "e'u"] as const]]) {
      out.push([
        `metrics ${r} ${attributes.length}`,
        athenaMetricBucketsSql({ ...scope, name: 'cpu', service: 'api', attributes, stepMs: 60_000 }, tables),
      ]);
    }
    out.push([`services ${r}`, athenaServicesSql(scope, tables, 1000)]);
    for (const full of [false, true]) {
      const service = full ? { service: 'checkout' } : {};
      out.push([
        `operations ${r} ${full}`,
        athenaServicesSql({ ...scope, ...service, byOperation: full }, tables, 1000),
      ]);
      out.push([
        `service-series ${r} ${full}`,
        athenaServiceSeriesSql({ ...scope, ...service, stepMs: 60_000 }, tables),
      ]);
      out.push([
        `log-histogram ${r} ${full}`,
        athenaLogHistogramSql(
          {
            ...scope,
            stepMs: 3_600_000,
            ...(full ? { service: 's', minSeverity: 9, text: "?'", traceId: 't' } : {}),
          },
          tables,
        ),
      ]);
      out.push([
        `metric-names ${r} ${full}`,
        athenaMetricNamesSql({ ...scope, ...(full ? { text: 'h' } : {}) }, tables),
      ]);
      const metric = { ...scope, name: 'm', attributes: full ? [['k', 'v'] as const] : [], stepMs: 60_000 };
      const group = full ? { groupByAttribute: 'host' } : {};
      out.push([
        `metric-percentiles ${r} ${full}`,
        athenaMetricHistogramsSql({ ...metric, ...group }, tables),
      ]);
      out.push([`metrics-grouped ${r} ${full}`, athenaMetricBucketsSql({ ...metric, ...group }, tables)]);
    }
    out.push([`service-map ${r}`, athenaServiceEdgesSql(scope, tables, 10_000)]);
  });
  return out;
}

describe('Athena SQL under the Trino grammar', () => {
  const all = statements();

  it.each(all)('%s parses as Trino SQL', (_, stmt) => {
    expect(trino.validate(stmt.sql)).toEqual([]);
  });

  it.each(all)('%s has parameters only in WHERE clauses, one per value', (_, stmt) => {
    const marks = placeholders(stmt.sql);
    expect(marks.filter((m) => !m.inWhere)).toEqual([]);
    expect(marks).toHaveLength(stmt.params.length);
  });

  it('the placeholder check fails on a parameter in a select list, a HAVING or a LIMIT', () => {
    expect(placeholders('SELECT count_if(s IN (?)) FROM t WHERE a = ?').map((m) => m.inWhere)).toEqual([
      false,
      true,
    ]);
    expect(
      placeholders('SELECT a FROM t WHERE b = ? GROUP BY a HAVING min(c) < ?').map((m) => m.inWhere),
    ).toEqual([true, false]);
  });

  it('refuses to inline a limit or a step that is not a positive integer', () => {
    const scope = { tenant: 't', range: { fromNs: 0n, toNs: NS_PER_HOUR } };
    expect(() => athenaServicesSql(scope, tables, 0)).toThrow(/limit must be a positive integer/);
    expect(() =>
      athenaMetricBucketsSql({ ...scope, name: 'm', attributes: [], stepMs: 1.5 }, tables),
    ).toThrow(/stepMs must be a positive integer/);
  });
});

/**
 * A split range loses no span to Athena's millisecond rounding. The cold half's production WHERE
 * clause runs on DuckDB over rows partitioned by the lake writer's own function, with timestamps
 * rounded to milliseconds as Athena reads them; the hot half's production SQL runs on embedded
 * ClickHouse (nanoseconds). Every span is counted by exactly one of them.
 */
describe('hot/cold split at a whole hour', () => {
  // Recent (the hot tier's TTL keeps it), on a whole hour as the planner splits.
  const B = floorToHour(BigInt(Date.now()) * NS_PER_MS) - NS_PER_HOUR;
  const offsetsNs = [
    -3_600_000_000_000n, // start of the previous hour
    -600_000_000_000n,
    -500_000n, // last 0.5 ms of the hour
    -300_000n,
    -1_000n,
    0n,
    200_000n,
    499_999n,
    600_000_000_000n,
  ];
  const range = { fromNs: B - 2n * NS_PER_HOUR, toNs: B + NS_PER_HOUR / 2n + 123_456n };
  let ch: ClickHouseClient;

  beforeAll(async () => {
    ch = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-athena-split-')) });
    await applyMigrations(ch, { hotRetentionDays: 7 });
    const values = offsetsNs
      .map(
        (o, i) =>
          `('acme', fromUnixTimestamp64Nano(toInt64(${(B + o).toString()})), 't${i}', 's${i}', 'Server', 'api', 1, 'Ok')`,
      )
      .join(', ');
    await ch.command({
      query: `INSERT INTO otel_traces (TenantId, Timestamp, TraceId, SpanId, SpanKind, ServiceName, Duration, StatusCode) VALUES ${values}`,
    });
  });
  afterAll(async () => {
    await ch.close();
  });

  /** Runs a WHERE condition with Athena's parameters spliced in, on DuckDB, over the lake rows. */
  async function coldCount(condition: string, params: readonly string[]): Promise<number> {
    let i = 0;
    const where = condition.replace(/\?/g, () => params[i++]!);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      await conn.run(`SET TimeZone = 'UTC'`);
      await conn.run(`CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)`);
      await conn.run(`CREATE TABLE spans (tenant VARCHAR, dt VARCHAR, hour INTEGER, "timestamp" TIMESTAMPTZ,
        spankind VARCHAR, parentspanid VARCHAR, statuscode VARCHAR, servicename VARCHAR)`);
      for (const o of offsetsNs) {
        const tNs = B + o;
        const [, dt, hour] = /dt=([^/]+)\/hour=(\d+)/.exec(
          partitionOf('acme', nanosToMillis(tNs.toString())),
        )!;
        // Athena reads TIMESTAMP(MICROS) at millisecond precision, rounding half up.
        const roundedMs = (tNs + NS_PER_MS / 2n) / NS_PER_MS;
        await conn.run(
          `INSERT INTO spans VALUES ('acme', '${dt}', ${Number(hour)}, make_timestamp(${roundedMs * 1000n}), 'Server', '', 'Ok', 'api')`,
        );
      }
      const reader = await conn.runAndReadAll(`SELECT count(*) AS n FROM spans WHERE ${where}`);
      return Number((reader.getRowObjectsJson()[0] as { n: string | number }).n);
    } finally {
      conn.closeSync();
    }
  }

  it('counts a span in the last 0.5 ms of the hour once: cold by its partition, never hot', async () => {
    const plan = planTiers(range, B, true);
    expect(plan).toEqual({ cold: { fromNs: range.fromNs, toNs: B }, hot: { fromNs: B, toNs: range.toNs } });

    const cold = athenaServicesSql({ tenant: 'acme', range: plan.cold! }, tables, 100);
    const [coldWhere] = whereClauses(cold.sql);
    const coldRows = await coldCount(coldWhere!, cold.params);
    const hot = servicesRawSql(
      { tenant: 'acme', range: plan.hot! },
      { expr: 'otel_traces', params: {} },
      100,
    );
    const rs = await ch.query({ query: hot.sql, query_params: hot.params, format: 'JSONEachRow' });
    const hotRows = Number((await rs.json<{ Requests: string }>())[0]?.Requests ?? 0);

    expect({ cold: coldRows, hot: hotRows }).toEqual({
      cold: offsetsNs.filter((o) => o < 0n).length,
      hot: offsetsNs.filter((o) => o >= 0n).length,
    });
  });

  it('(control) a timestamp bound at the split instead would lose the spans Athena rounds up to it', async () => {
    const cold = athenaServicesSql({ tenant: 'acme', range: { fromNs: range.fromNs, toNs: B } }, tables, 100);
    const [coldWhere] = whereClauses(cold.sql);
    const lossy = `${coldWhere} AND "timestamp" < from_iso8601_timestamp('${new Date(Number(B / NS_PER_MS)).toISOString()}')`;
    // -500_000 (a tie), -300_000 and -1_000 read as the boundary itself.
    expect(await coldCount(lossy, cold.params)).toBe(offsetsNs.filter((o) => o < 0n).length - 3);
  });
});
