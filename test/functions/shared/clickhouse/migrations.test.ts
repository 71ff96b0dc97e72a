import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EDGES_1H_TABLE,
  LOG_COUNTS_1M_TABLE,
  LOG_COUNTS_TABLE,
  METRIC_NAMES_1H_TABLE,
  MIGRATIONS_TABLE,
  physicalClickHouseType,
  SERVICE_RED_1M_TABLE,
  SERVICE_RED_TABLE,
  SPAN_COUNTS_1M_TABLE,
  schemaStatements,
  TRACE_LOOKUP_TABLE,
  WRITE_LEDGER_TABLE,
} from '../../../../functions/shared/clickhouse/ddl.js';
import { applyMigrations, MIGRATIONS } from '../../../../functions/shared/clickhouse/migrations.js';
import { physicalColumns, TABLE_NAMES } from '../../../../functions/shared/schema/columns.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';

let client: ClickHouseClient;

async function rows<T>(query: string, query_params?: Record<string, unknown>): Promise<T[]> {
  const rs = await client.query({ query, query_params, format: 'JSONEachRow' });
  return rs.json<T>();
}

beforeAll(() => {
  client = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-migrations-')) });
});
afterAll(async () => {
  await client.close();
});

describe('applyMigrations', () => {
  it('creates every table with exactly the columns and types of the column model', async () => {
    const result = await applyMigrations(client, { hotRetentionDays: 7 });

    expect(result.applied).toEqual(MIGRATIONS.map((m) => m.version));
    for (const table of TABLE_NAMES) {
      const actual = await rows<{ name: string; type: string }>(
        `SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} AND default_kind != 'ALIAS' ORDER BY position`,
        { t: table },
      );
      const expected = physicalColumns(table).map((c) => ({ name: c.name, type: physicalClickHouseType(c) }));
      expect(actual, table).toEqual(expected);
    }
  });

  it('creates the rollups, the trace lookup and the write ledger with TTL, partitioning and dedup window', async () => {
    const tables = await rows<{ name: string; engine: string; create_table_query: string }>(
      `SELECT name, engine, create_table_query FROM system.tables WHERE database = currentDatabase()`,
    );
    const byName = new Map(tables.map((t) => [t.name, t]));
    for (const t of [
      TRACE_LOOKUP_TABLE,
      SERVICE_RED_TABLE,
      LOG_COUNTS_TABLE,
      SERVICE_RED_1M_TABLE,
      LOG_COUNTS_1M_TABLE,
      SPAN_COUNTS_1M_TABLE,
      EDGES_1H_TABLE,
      METRIC_NAMES_1H_TABLE,
      WRITE_LEDGER_TABLE,
      ...TABLE_NAMES,
    ]) {
      expect(byName.get(t)?.create_table_query, t).toMatch(/non_replicated_deduplication_window = 10000/);
      expect(byName.get(t)?.create_table_query, t).toMatch(/TTL .*toIntervalDay\(\d+\)/);
    }
    const traces = byName.get('otel_traces')!.create_table_query;
    expect(traces).toMatch(/PARTITION BY toDate\(Timestamp\)/);
    expect(traces).toMatch(/ORDER BY \(TenantId, ServiceName, SpanName, toDateTime\(Timestamp\)\)/);
    expect(traces).toMatch(/ttl_only_drop_parts = 1/);
    expect(traces).toMatch(/`Timestamp` DateTime64\(9\) CODEC\(Delta\(8\), ZSTD\(1\)\)/);
    expect(traces).toMatch(/INDEX idx_trace_id TraceId TYPE bloom_filter\(0\.001\)/);
    expect(traces).toMatch(/INDEX idx_span_attributes_key mapKeys\(SpanAttributes\) TYPE bloom_filter/);
    expect(traces).toMatch(/INDEX idx_duration Duration TYPE minmax/);
    expect(byName.get(SERVICE_RED_TABLE)?.engine).toBe('AggregatingMergeTree');
    expect(byName.get(LOG_COUNTS_TABLE)?.engine).toBe('SummingMergeTree');
    expect(byName.get(SPAN_COUNTS_1M_TABLE)?.engine).toBe('SummingMergeTree');
    expect(byName.get(EDGES_1H_TABLE)?.engine).toBe('ReplacingMergeTree');
    expect(byName.get(METRIC_NAMES_1H_TABLE)?.engine).toBe('AggregatingMergeTree');
    // Trace lookup, RED and log counts (hour, minute), span counts, metric names (one per metric table).
    expect([...byName.values()].filter((t) => t.engine === 'MaterializedView')).toHaveLength(
      6 + TABLE_NAMES.filter((t) => t.startsWith('otel_metrics_')).length,
    );
  });

  it('is a no-op the second time and records each version once', async () => {
    const before = await rows<{ n: string }>(
      `SELECT count() AS n FROM system.tables WHERE database = currentDatabase()`,
    );

    const again = await applyMigrations(client, { hotRetentionDays: 7 });

    expect(again.applied).toEqual([]);
    expect(again.retentionChanged).toEqual([]);
    const after = await rows<{ n: string }>(
      `SELECT count() AS n FROM system.tables WHERE database = currentDatabase()`,
    );
    expect(after).toEqual(before);
    const versions = await rows<{ version: number; name: string }>(
      `SELECT version, name FROM ${MIGRATIONS_TABLE} ORDER BY version`,
    );
    expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('changes every TTL when the hot retention changes', async () => {
    const result = await applyMigrations(client, { hotRetentionDays: 14 });

    expect(result.applied).toEqual([]);
    expect(result.retentionChanged).toContain('otel_traces');
    expect(result.retentionChanged).toContain(WRITE_LEDGER_TABLE);
    const [traces] = await rows<{ q: string }>(
      `SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = 'otel_traces'`,
    );
    expect(traces?.q).toMatch(/TTL toDateTime\(Timestamp\) \+ toIntervalDay\(14\)/);
    const [ledger] = await rows<{ q: string }>(
      `SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = '${WRITE_LEDGER_TABLE}'`,
    );
    expect(ledger?.q).toMatch(/toIntervalDay\(15\)/);
  });

  it('creates a named database and its tables when asked to', async () => {
    const result = await applyMigrations(client, { database: 'otel', hotRetentionDays: 7 });

    expect(result.applied).toEqual(MIGRATIONS.map((m) => m.version));
    const tables = await rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = 'otel' ORDER BY name`,
    );
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining([...TABLE_NAMES, TRACE_LOOKUP_TABLE]));
  });

  it('adds EnvelopeId and its bloom filter to tables created before it, keeping their rows', async () => {
    // Version 1 as it was applied before the column existed: every table without EnvelopeId.
    const db = 'before_envelope_id';
    await client.command({ query: `CREATE DATABASE ${db}` });
    for (const statement of schemaStatements({ database: db })) {
      await client.command({
        query: statement
          .replace(/,\n\s*`EnvelopeId` String CODEC\(ZSTD\(1\)\)/, '')
          .replace(/,\n\s*INDEX idx_envelope_id [^\n]*/, ''),
      });
    }
    await client.command({
      query: `CREATE TABLE ${db}.${MIGRATIONS_TABLE} (version UInt32, name String, checksum String, applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version`,
    });
    await client.insert({
      table: `${db}.${MIGRATIONS_TABLE}`,
      values: [{ version: 1, name: 'v1', checksum: '' }],
      format: 'JSONEachRow',
    });
    await client.command({
      query: `INSERT INTO ${db}.otel_logs (TenantId, Timestamp, Body) VALUES ('acme', now64(9), 'old row')`,
    });
    const columnsBefore = await rows<{ n: string }>(
      `SELECT count() AS n FROM system.columns WHERE database = '${db}' AND name = 'EnvelopeId'`,
    );
    expect(Number(columnsBefore[0]?.n)).toBe(0);

    const result = await applyMigrations(client, { database: db, hotRetentionDays: 7 });

    expect(result.applied).toEqual(MIGRATIONS.map((m) => m.version).filter((v) => v > 1));
    const columns = await rows<{ table: string; type: string }>(
      `SELECT table, type FROM system.columns WHERE database = '${db}' AND name = 'EnvelopeId' ORDER BY table`,
    );
    expect(columns.map((c) => c.table)).toEqual([...TABLE_NAMES].sort());
    expect(new Set(columns.map((c) => c.type))).toEqual(new Set(['String']));
    const indexes = await rows<{ table: string; type: string }>(
      `SELECT table, type FROM system.data_skipping_indices WHERE database = '${db}' AND name = 'idx_envelope_id' ORDER BY table`,
    );
    expect(indexes.map((i) => i.table)).toEqual([...TABLE_NAMES].sort());
    expect(await rows(`SELECT Body, EnvelopeId FROM ${db}.otel_logs`)).toEqual([
      { Body: 'old row', EnvelopeId: '' },
    ]);
    // A second run changes nothing.
    expect((await applyMigrations(client, { database: db, hotRetentionDays: 7 })).applied).toEqual([]);
  });

  it('version 5 back-fills the minute rollups from the rows already stored, once, and the views feed them after', async () => {
    // A database at version 4: rows written before the minute rollups existed.
    const db = 'before_minute_rollups';
    await client.command({ query: `CREATE DATABASE ${db}` });
    await applyMigrations(client, { database: db, hotRetentionDays: 7 });
    for (const t of [SERVICE_RED_1M_TABLE, LOG_COUNTS_1M_TABLE]) {
      await client.command({ query: `DROP VIEW ${db}.${t}_mv` });
      await client.command({ query: `DROP TABLE ${db}.${t}` });
    }
    await client.command({
      query: `ALTER TABLE ${db}.${MIGRATIONS_TABLE} DELETE WHERE version = 5 SETTINGS mutations_sync = 1`,
    });
    const minute = 'toStartOfMinute(now64(9)) - INTERVAL 10 MINUTE';
    await client.command({
      query: `INSERT INTO ${db}.otel_traces (TenantId, Timestamp, TraceId, SpanId, ParentSpanId, SpanKind, ServiceName, SpanName, Duration, StatusCode)
        SELECT 'acme', ${minute} + INTERVAL number SECOND, 't', toString(number), if(number % 2 = 0, '', 'p'), 'Internal', 'api', 'GET /', 1000 * number, if(number % 5 = 0, 'Error', 'Ok')
        FROM numbers(40)`,
    });
    await client.command({
      query: `INSERT INTO ${db}.otel_logs (TenantId, Timestamp, ServiceName, SeverityText, SeverityNumber, Body)
        SELECT 'acme', ${minute} + INTERVAL number SECOND, 'api', 'INFO', 9, 'x' FROM numbers(30)`,
    });
    const minuteRed = async () =>
      rows<{ m: number; n: string; e: string }>(
        `SELECT toMinute(Minute) AS m, sum(Requests) AS n, sum(Errors) AS e FROM ${db}.${SERVICE_RED_1M_TABLE} GROUP BY m ORDER BY m`,
      );
    const minuteLogs = async () =>
      Number((await rows<{ n: string }>(`SELECT sum(Count) AS n FROM ${db}.${LOG_COUNTS_1M_TABLE}`))[0]?.n);

    expect((await applyMigrations(client, { database: db, hotRetentionDays: 7 })).applied).toEqual([5]);
    // Roots only (20 of 40, every other one), 4 of them errors (number % 10 = 0); 30 logs.
    const back = await minuteRed();
    expect(back.reduce((n, r) => n + Number(r.n), 0)).toBe(20);
    expect(back.reduce((n, r) => n + Number(r.e), 0)).toBe(4);
    expect(await minuteLogs()).toBe(30);
    // Run again (as after a crash mid-migration): the filled table is not filled twice.
    await client.command({
      query: `ALTER TABLE ${db}.${MIGRATIONS_TABLE} DELETE WHERE version = 5 SETTINGS mutations_sync = 1`,
    });
    expect((await applyMigrations(client, { database: db, hotRetentionDays: 7 })).applied).toEqual([5]);
    expect(await minuteLogs()).toBe(30);
    // New rows reach the minute tables through the views.
    await client.command({
      query: `INSERT INTO ${db}.otel_logs (TenantId, Timestamp, ServiceName, SeverityText, SeverityNumber, Body) VALUES ('acme', now64(9), 'api', 'WARN', 13, 'y')`,
    });
    expect(await minuteLogs()).toBe(31);
  });

  it('version 7 back-fills the span counts per minute once, and the view counts new spans after', async () => {
    const db = 'before_edge_rollup';
    await client.command({ query: `CREATE DATABASE ${db}` });
    await applyMigrations(client, { database: db, hotRetentionDays: 7 });
    await client.command({ query: `DROP VIEW ${db}.${SPAN_COUNTS_1M_TABLE}_mv` });
    await client.command({ query: `DROP TABLE ${db}.${SPAN_COUNTS_1M_TABLE}` });
    const forget7 = () =>
      client.command({
        query: `ALTER TABLE ${db}.${MIGRATIONS_TABLE} DELETE WHERE version = 7 SETTINGS mutations_sync = 1`,
      });
    await forget7();
    // 90 spans over two minutes (seconds 0..89 from a whole minute).
    await client.command({
      query: `INSERT INTO ${db}.otel_traces (TenantId, Timestamp, TraceId, SpanId, ServiceName)
        SELECT 'acme', toStartOfMinute(now64(9)) - INTERVAL 10 MINUTE + INTERVAL number SECOND, 't', toString(number), 'api'
        FROM numbers(90)`,
    });
    const perMinute = async () =>
      (
        await rows<{ n: string }>(
          `SELECT sum(Spans) AS n FROM ${db}.${SPAN_COUNTS_1M_TABLE} GROUP BY Minute ORDER BY Minute`,
        )
      ).map((r) => Number(r.n));
    expect((await applyMigrations(client, { database: db, hotRetentionDays: 7 })).applied).toEqual([7]);
    expect(await perMinute()).toEqual([60, 30]);
    await forget7();
    expect((await applyMigrations(client, { database: db, hotRetentionDays: 7 })).applied).toEqual([7]);
    expect(await perMinute()).toEqual([60, 30]);
    await client.command({
      query: `INSERT INTO ${db}.otel_traces (TenantId, Timestamp, TraceId, SpanId, ServiceName)
        VALUES ('acme', toStartOfMinute(now64(9)) - INTERVAL 10 MINUTE, 't', 'x', 'api')`,
    });
    expect(await perMinute()).toEqual([61, 30]);
  });

  it('refuses a retention below one day', async () => {
    await expect(applyMigrations(client, { hotRetentionDays: 0 })).rejects.toThrow(/hotRetentionDays/);
  });
});

describe('hot retention bounds', () => {
  it('refuses a retention whose TTL would pass the end of DateTime (rows would be dropped on arrival)', async () => {
    const { ttlExpression } = await import('../../../../functions/shared/clickhouse/ddl.js');
    expect(ttlExpression('Timestamp', 7)).toBe('toDateTime(Timestamp) + toIntervalDay(7)');
    expect(() => ttlExpression('Timestamp', 36_500)).toThrow(
      /hot retention must be 1\.\.3650 days, got: 36500/,
    );
    expect(() => ttlExpression('Timestamp', 0)).toThrow(RangeError);
  });
});
