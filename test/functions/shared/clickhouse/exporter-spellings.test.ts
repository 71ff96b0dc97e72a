import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planRule } from '../../../../functions/shared/alerts/queries.js';
import { AlertRuleSchema } from '../../../../functions/shared/alerts/rules.js';
import { MIGRATIONS_TABLE, SERVICE_RED_TABLE } from '../../../../functions/shared/clickhouse/ddl.js';
import { applyMigrations, MIGRATIONS } from '../../../../functions/shared/clickhouse/migrations.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';

/**
 * Migration 2 on a database written before it: proto-name spellings (SPAN_KIND_SERVER,
 * STATUS_CODE_ERROR) become the Collector exporter's (Server, Error), otel_logs gains TimestampTime,
 * and the RED rollup (fed before and after) keeps counting both.
 */
let client: ClickHouseClient;
const DB = 'legacy';

async function rows<T>(query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

async function insertSpans(
  spans: ReadonlyArray<readonly [string, string, string, string]>,
  tenant = 'acme',
): Promise<void> {
  // (SpanId, ParentSpanId, SpanKind, StatusCode), one minute ago, service 'checkout'.
  const values = spans
    .map(
      ([id, parent, kind, status]) =>
        `('${tenant}', now64(9) - INTERVAL 1 MINUTE, 't1', '${id}', '${parent}', 'GET /', '${kind}', 'checkout', 1000000, '${status}')`,
    )
    .join(', ');
  await client.command({
    query: `INSERT INTO ${DB}.otel_traces (TenantId, Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, Duration, StatusCode) VALUES ${values}`,
  });
}

async function mutationsDone(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [left] = await rows<{ n: string }>(
      `SELECT count() AS n FROM system.mutations WHERE database = '${DB}' AND NOT is_done`,
    );
    if (Number(left?.n) === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('mutation did not finish');
}

beforeAll(async () => {
  client = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-spellings-')) });
  // A database as migration 1 left it before this change: no TimestampTime, old spellings.
  await client.command({ query: `CREATE DATABASE ${DB}` });
  await applyMigrations(client, { database: DB, hotRetentionDays: 7 });
  await client.command({ query: `ALTER TABLE ${DB}.otel_logs DROP COLUMN TimestampTime` });
  await client.command({ query: `TRUNCATE TABLE ${DB}.${MIGRATIONS_TABLE}` });
  await client.command({
    query: `INSERT INTO ${DB}.${MIGRATIONS_TABLE} (version, name, checksum) VALUES (1, 'v1', '')`,
  });
});
afterAll(async () => {
  await client.close();
});

describe('migration 2: exporter spellings', () => {
  it('rewrites old rows to the exporter values, adds TimestampTime, and the RED rollup counts rows from before and after', async () => {
    await insertSpans([
      ['s1', '', 'SPAN_KIND_SERVER', 'STATUS_CODE_ERROR'],
      ['s2', 's1', 'SPAN_KIND_CLIENT', 'STATUS_CODE_OK'],
      ['s3', 's1', 'SPAN_KIND_INTERNAL', 'STATUS_CODE_UNSET'],
      ['s4', '', 'SPAN_KIND_CONSUMER', 'STATUS_CODE_ERROR'],
      ['s5', 's1', 'SPAN_KIND_PRODUCER', 'STATUS_CODE_OK'],
      ['s6', '', 'SPAN_KIND_UNSPECIFIED', 'STATUS_CODE_UNSET'],
      ['s7', 's1', 'SomethingElse', ''],
    ]);
    await client.command({
      query: `INSERT INTO ${DB}.otel_logs (TenantId, Timestamp, ServiceName, Body) VALUES ('acme', '2026-12-07 01:02:03.456789', 'checkout', 'hi')`,
    });

    const result = await applyMigrations(client, { database: DB, hotRetentionDays: 7 });
    await mutationsDone();
    await insertSpans([['s8', '', 'Server', 'Error']]);

    expect(result.applied).toEqual(MIGRATIONS.filter((m) => m.version > 1).map((m) => m.version));
    const spans = await rows<{ SpanId: string; SpanKind: string; StatusCode: string }>(
      `SELECT SpanId, SpanKind, StatusCode FROM ${DB}.otel_traces ORDER BY SpanId`,
    );
    expect(spans).toEqual([
      { SpanId: 's1', SpanKind: 'Server', StatusCode: 'Error' },
      { SpanId: 's2', SpanKind: 'Client', StatusCode: 'Ok' },
      { SpanId: 's3', SpanKind: 'Internal', StatusCode: 'Unset' },
      { SpanId: 's4', SpanKind: 'Consumer', StatusCode: 'Error' },
      { SpanId: 's5', SpanKind: 'Producer', StatusCode: 'Ok' },
      { SpanId: 's6', SpanKind: 'Unspecified', StatusCode: 'Unset' },
      { SpanId: 's7', SpanKind: 'SomethingElse', StatusCode: '' },
      { SpanId: 's8', SpanKind: 'Server', StatusCode: 'Error' },
    ]);
    // What Grafana's and HyperDX's panels ask.
    const [grafana] = await rows<{ n: string }>(
      `SELECT count() AS n FROM ${DB}.otel_traces WHERE SpanKind = 'Server' AND StatusCode = 'Error'`,
    );
    expect(Number(grafana?.n)).toBe(2);
    // Entry spans: s1, s4, s6 (root), s8; errors s1, s4, s8. s1..s6 fed the rollup before the mutation.
    const [red] = await rows<{ r: string; e: string }>(
      `SELECT sum(Requests) AS r, sum(Errors) AS e FROM ${DB}.${SERVICE_RED_TABLE} WHERE TenantId = 'acme'`,
    );
    expect({ r: Number(red?.r), e: Number(red?.e) }).toEqual({ r: 4, e: 3 });
    const logs = await rows<{ t: string }>(
      `SELECT toString(TimestampTime) AS t FROM ${DB}.otel_logs WHERE TimestampTime >= toDateTime('2026-12-07 01:02:03')`,
    );
    expect(logs).toEqual([{ t: '2026-12-07 01:02:03' }]);
  });

  it('is a no-op when run again (no mutation left to start)', async () => {
    const count = async () =>
      Number(
        (await rows<{ n: string }>(`SELECT count() AS n FROM system.mutations WHERE database = '${DB}'`))[0]
          ?.n,
      );
    const before = await count();
    const again = await applyMigrations(client, { database: DB, hotRetentionDays: 7 });
    expect(again.applied).toEqual([]);
    expect(await count()).toBe(before);
  });

  it('an error-ratio alert counts both spellings while old rows remain (mutation pending, or older data)', async () => {
    await insertSpans(
      [
        ['m1', '', 'SPAN_KIND_SERVER', 'STATUS_CODE_ERROR'],
        ['m2', '', 'SPAN_KIND_SERVER', 'STATUS_CODE_OK'],
        ['m3', '', 'Server', 'Error'],
        ['m4', '', 'Consumer', 'Ok'],
        ['m5', 'm1', 'Client', 'Error'], // not an entry span
      ],
      'mixed',
    );
    const rule = AlertRuleSchema.parse({
      id: 'errors',
      name: 'errors',
      severity: 'error',
      runbook: 'https://example.com/runbook',
      kind: 'error_ratio',
      window: '5m',
      threshold: 0.1,
    });
    const plan = planRule(rule, 'mixed', Date.now(), { database: DB });
    const results = [];
    for (const q of plan.queries) {
      const rs = await client.query({ query: q.query, query_params: q.params, format: 'JSONEachRow' });
      results.push(await rs.json<Record<string, unknown>>());
    }
    const [obs] = plan.interpret(results);
    expect(obs).toMatchObject({ series: { service: 'checkout' }, value: 0.5, breached: true });
  });
});
