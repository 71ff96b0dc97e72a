import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TENANT_TABLES } from '../../../../functions/shared/clickhouse/ddl.js';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import {
  TENANT_USER_SETTINGS,
  tenantAccessStatements,
} from '../../../../functions/shared/clickhouse/tenant-access.js';
import { TABLE_NAMES } from '../../../../functions/shared/schema/columns.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';

/**
 * chdb runs every query as its `default` user without access management (CREATE USER / ROW POLICY
 * fail with "Not enough privileges", and EXECUTE AS is disabled), so the statements cannot be
 * enforced here. They are checked another real way: ClickHouse's own parser accepts each one
 * (formatQuery), each row policy's condition runs on the engine over every tenant table filled with
 * two tenants' rows, and the grants are read back from the parsed statements.
 */
let client: ClickHouseClient;
const PASSWORD = 'correct-horse-battery-staple-42';
const access = tenantAccessStatements({ tenant: 'acme', password: PASSWORD, database: 'default' });

async function rows<T>(query: string, query_params?: Record<string, unknown>): Promise<T[]> {
  const rs = await client.query({ query, query_params, format: 'JSONEachRow' });
  return rs.json<T>();
}

const formatted = async (q: string) =>
  (await rows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q }))[0]!.f;

beforeAll(async () => {
  client = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-tenant-access-')) });
  await applyMigrations(client, { hotRetentionDays: 7 });
  for (const [tenant, n] of [
    ['acme', 2],
    ['globex', 3],
    ['acme-eu', 1],
  ] as const) {
    for (let i = 0; i < n; i++) {
      await client.command({
        query: `INSERT INTO otel_traces (TenantId, Timestamp, TraceId, SpanId, SpanKind, ServiceName, StatusCode)
          VALUES ('${tenant}', now64(9), 't-${tenant}-${i}', 's${i}', 'Server', 'api', 'Error')`,
      });
      await client.command({
        query: `INSERT INTO otel_logs (TenantId, Timestamp, ServiceName, SeverityNumber, Body) VALUES ('${tenant}', now64(9), 'api', 9, 'b')`,
      });
      for (const t of TABLE_NAMES.filter((x) => x.startsWith('otel_metrics_'))) {
        await client.command({
          query: `INSERT INTO ${t} (TenantId, ServiceName, MetricName, TimeUnix) VALUES ('${tenant}', 'api', 'm', now64(9))`,
        });
      }
      // Tables no telemetry view fills: usage metering, hot-tier sampling, the service map's closed hours.
      await client.command({
        query: `INSERT INTO otel_traces_edges_1h (TenantId, Hour, InputSpans, Parent, Child, Calls) VALUES ('${tenant}', toStartOfHour(now()), ${i}, 'a', 'b', 1)`,
      });
      await client.command({
        query: `INSERT INTO usage_requests (TenantId, Day, Signal, FirstEnvelopeId) VALUES ('${tenant}', today(), 'traces', 'e${i}')`,
      });
      await client.command({
        query: `INSERT INTO otel_sampling_rules (TenantId, OneIn, KeepErrors, SlowMs) VALUES ('${tenant}', 10, true, 1000)`,
      });
      await client.command({
        query: `INSERT INTO otel_sampling_keep (TenantId, TraceId) VALUES ('${tenant}', 't-${tenant}-${i}')`,
      });
    }
  }
});
afterAll(async () => {
  await client.close();
});

describe('tenant ClickHouse user (statements checked on the embedded engine)', () => {
  it("ClickHouse's parser accepts every statement", async () => {
    for (const s of access.statements) expect(await formatted(s)).toMatch(/^(CREATE|GRANT|ALTER) /);
  });

  it("each row policy shows only the tenant's rows of its table (not acme-eu's, not globex's)", async () => {
    expect(access.policies.map((p) => p.table).sort()).toEqual([...TENANT_TABLES].sort());
    for (const p of access.policies) {
      const statement = access.statements.find((s) => s.includes(`ON \`default\`.\`${p.table}\` FOR SELECT`));
      expect(await formatted(statement!)).toContain(`USING ${p.condition} TO tenant_acme_reader`);
      const seen = await rows<{ TenantId: string }>(
        `SELECT DISTINCT TenantId FROM ${p.table} WHERE ${p.condition}`,
      );
      expect(seen, p.table).toEqual([{ TenantId: 'acme' }]);
      const [all] = await rows<{ n: string }>(`SELECT countDistinct(TenantId) AS n FROM ${p.table}`);
      expect(Number(all?.n), p.table).toBe(3);
    }
  });

  it('covers every table holding tenant rows, and nothing else (no ledger, no migrations, no views)', async () => {
    const withTenant = await rows<{ name: string }>(
      `SELECT t.name AS name FROM system.tables t
       WHERE t.database = currentDatabase() AND t.engine NOT IN ('MaterializedView', 'View')
         AND t.name IN (SELECT table FROM system.columns WHERE database = currentDatabase() AND name = 'TenantId')
       ORDER BY name`,
    );
    expect(withTenant.map((t) => t.name)).toEqual([...TENANT_TABLES].sort());
  });

  it('grants SELECT only, on those tables, to the role; the user is readonly = 2 with the role by default', async () => {
    const grants = await Promise.all(access.statements.filter((s) => s.startsWith('GRANT')).map(formatted));
    expect(grants).toEqual([
      ...TENANT_TABLES.map((t) => `GRANT SELECT ON default.${t} TO tenant_acme_reader`),
      'GRANT tenant_acme_reader TO tenant_acme',
    ]);
    const user = await formatted(access.statements.find((s) => s.startsWith('CREATE USER'))!);
    const hash = createHash('sha256').update(PASSWORD).digest('hex');
    expect(user).toBe(
      `CREATE USER OR REPLACE tenant_acme IDENTIFIED WITH sha256_hash BY '${hash}' SETTINGS readonly = 2`,
    );
    expect(access.statements.join('\n')).not.toContain(PASSWORD);
    expect(await formatted(access.statements.at(-1)!)).toBe(
      'ALTER USER tenant_acme DEFAULT ROLE tenant_acme_reader',
    );
  });

  it("the user's settings refuse writes and DDL on the engine, and let a tool's query settings through", async () => {
    const as = { clickhouse_settings: TENANT_USER_SETTINGS };
    const readonly = /readonly/i;
    await expect(
      client.command({ query: `INSERT INTO otel_logs (TenantId, Body) VALUES ('acme', 'x')`, ...as }),
    ).rejects.toThrow(readonly);
    await expect(client.command({ query: `ALTER TABLE otel_logs DELETE WHERE 1`, ...as })).rejects.toThrow(
      readonly,
    );
    await expect(client.command({ query: `DROP TABLE otel_logs`, ...as })).rejects.toThrow(readonly);
    await expect(
      client.command({ query: `CREATE TABLE x (a UInt8) ENGINE = Memory`, ...as }),
    ).rejects.toThrow(readonly);
    const rs = await client.query({
      query: `SELECT count() AS n FROM otel_logs WHERE TenantId = 'acme'`,
      format: 'JSONEachRow',
      clickhouse_settings: { ...TENANT_USER_SETTINGS, max_execution_time: 30 },
    });
    expect((await rs.json<{ n: number | string }>()).map((r) => Number(r.n))).toEqual([2]);
  });

  it('refuses a tenant id that is not one the key directory accepts (no SQL from it)', () => {
    expect(() => tenantAccessStatements({ tenant: "x' OR 1=1 --", password: PASSWORD })).toThrow(/tenant id/);
    expect(() => tenantAccessStatements({ tenant: 'acme', password: 'short' })).toThrow(/password/);
  });
});
