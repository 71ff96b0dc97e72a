import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import {
  NO_RETENTION_OVERRIDES,
  type RetentionSettings,
  withRetention,
} from '../../../../functions/shared/tenants/retention.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';

/** Hot retention per tenant and signal on the embedded engine: what a user sees is rows gone or kept. */

let client: ClickHouseClient;

async function rows<T>(query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** One span / log record of `tenant`, `daysAgo` days old. */
async function insertAged(table: 'otel_traces' | 'otel_logs', tenant: string, daysAgo: number, tag: string) {
  const name = table === 'otel_traces' ? 'SpanName' : 'Body';
  await client.command({
    query: `INSERT INTO ${table} (TenantId, Timestamp, ServiceName, ${name}) SELECT '${tenant}', now64(9) - INTERVAL ${daysAgo} DAY, 'svc', '${tag}'`,
  });
}

async function expireNow(): Promise<void> {
  for (const t of ['otel_traces', 'otel_logs']) {
    await client.command({
      query: `ALTER TABLE ${t} MATERIALIZE TTL`,
      clickhouse_settings: { mutations_sync: '2' },
    });
    await client.command({ query: `OPTIMIZE TABLE ${t} FINAL` });
  }
}

const kept = async () => ({
  traces: (
    await rows<{ k: string }>(`SELECT concat(TenantId, ':', SpanName) AS k FROM otel_traces ORDER BY k`)
  ).map((r) => r.k),
  logs: (await rows<{ k: string }>(`SELECT concat(TenantId, ':', Body) AS k FROM otel_logs ORDER BY k`)).map(
    (r) => r.k,
  ),
});

beforeAll(() => {
  client = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-tenant-retention-')) });
});
afterAll(async () => {
  await client.close();
});

describe('hot retention per tenant and signal (embedded ClickHouse)', () => {
  let settings: RetentionSettings = NO_RETENTION_OVERRIDES;

  it("removes a tenant's rows older than its own retention and keeps another tenant's, and its other signals'", async () => {
    await applyMigrations(client, { hotRetentionDays: 7 });
    await insertAged('otel_traces', 'acme', 4, 'old');
    await insertAged('otel_traces', 'acme', 1, 'new');
    await insertAged('otel_traces', 'beta', 4, 'old');
    await insertAged('otel_logs', 'acme', 4, 'old');

    settings = withRetention(settings, 'acme', 'traces', { hotDays: 3 });
    settings = withRetention(settings, 'gamma', 'traces', { hotDays: 30 });
    const result = await applyMigrations(client, { hotRetentionDays: 7, tenantRetention: settings });
    expect(result.retentionChanged).toEqual(
      expect.arrayContaining(['otel_traces', 'otel_traces_trace_id_ts']),
    );
    expect(result.retentionChanged).not.toContain('otel_logs');
    // Written after its 30 days apply (under the default it would expire on arrival).
    await insertAged('otel_traces', 'gamma', 9, 'older');
    await expireNow();

    expect(await kept()).toEqual({
      traces: ['acme:new', 'beta:old', 'gamma:older'],
      logs: ['acme:old'],
    });
  });

  it('changes nothing on a second run with the same settings, and goes back to whole-part drops without overrides', async () => {
    expect(
      (await applyMigrations(client, { hotRetentionDays: 7, tenantRetention: settings })).retentionChanged,
    ).toEqual([]);
    const ddl = async () =>
      (
        await rows<{ q: string }>(
          `SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = 'otel_traces'`,
        )
      )[0]!.q;
    expect(await ddl()).toMatch(/ttl_only_drop_parts = 0/);
    expect(await ddl()).toMatch(/multiIf/);

    const back = await applyMigrations(client, { hotRetentionDays: 7 });
    expect(back.retentionChanged).toContain('otel_traces');
    expect(await ddl()).toMatch(/ttl_only_drop_parts = 1/);
    expect(await ddl()).not.toMatch(/multiIf/);
    // gamma's 9-day-old span is past the default again.
    await expireNow();
    expect((await kept()).traces).toEqual(['acme:new', 'beta:old']);
  });
});
