import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { samplingStatements } from '../sampling/clickhouse-trace-sampler.js';
import { ENVELOPE_ID_COLUMN, SAMPLE_RATE_COLUMN, TABLE_NAMES, TABLES } from '../schema/columns.js';
import { hotDaysExpression, NO_RETENTION_OVERRIDES, type RetentionSettings } from '../tenants/retention.js';
import {
  columnDefinition,
  type DdlOptions,
  DEFAULT_HOT_RETENTION_DAYS,
  ENVELOPE_ID_INDEX,
  edgeRollupStatements,
  exporterSpellingStatements,
  ident,
  MIGRATIONS_TABLE,
  minuteRollupStatements,
  qualified,
  RETENTION_TABLES,
  rollupStatements,
  SERVICE_RED_MV,
  schemaStatements,
  ttlExpressionOf,
  usageStatements,
  WRITE_LEDGER_TABLE,
} from './ddl.js';

/**
 * Forward-only, versioned schema migrations. Each version's statements are idempotent
 * (`IF NOT EXISTS`), so a run that died half-way is finished by the next one; a version recorded in
 * `schema_migrations` is never run again. Changing the schema means appending a version (for a new
 * column in the model: `ALTER TABLE … ADD COLUMN IF NOT EXISTS …`), never editing an applied one.
 * The hot retention is not a migration: it is reconciled on every run (`ALTER TABLE … MODIFY TTL`),
 * per tenant and signal when tenants have their own (tenants/retention.ts): then the TTL is one
 * expression over TenantId, and `ttl_only_drop_parts` is off on those tables, since a day's part
 * holds every tenant's rows and would otherwise wait for the longest retention among them.
 */

export interface Migration {
  readonly version: number;
  readonly name: string;
  statements(options: DdlOptions): string[];
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'hot-tier tables, rollups, trace lookup, write ledger', statements: schemaStatements },
  {
    version: 2,
    name: "exporter spellings: SpanKind 'Server', StatusCode 'Error'; otel_logs.TimestampTime",
    statements: exporterSpellingStatements,
  },
  {
    // Tables created by version 1 before the column existed; a no-op on tables created with it.
    // Older rows get '' (never an envelope's id), so they are never taken for a resend.
    version: 3,
    name: 'EnvelopeId column and bloom filter (dedup by content)',
    statements: ({ database }) =>
      TABLE_NAMES.map((t) => {
        const col = TABLES[t].columns.find((c) => c.name === ENVELOPE_ID_COLUMN)!;
        const index = ENVELOPE_ID_INDEX.replace(/^INDEX /, 'INDEX IF NOT EXISTS ');
        return `ALTER TABLE ${qualified(t, database)} ADD COLUMN IF NOT EXISTS ${columnDefinition(col)}, ADD ${index}`;
      }),
  },
  {
    // Older rows get SampleRate 1 (the column's DEFAULT). The RED view is re-created weighted: rows
    // inserted between its DROP and CREATE (a deploy's few milliseconds) miss the rollup.
    version: 4,
    name: 'hot-tier sampling: SampleRate, weighted RED rollup, rules, keep list, deferred spans',
    statements: (options) => {
      const col = TABLES.otel_traces.columns.find((c) => c.name === SAMPLE_RATE_COLUMN)!;
      const redView = rollupStatements(options).find((st) => st.includes(SERVICE_RED_MV))!;
      return [
        `ALTER TABLE ${qualified('otel_traces', options.database)} ADD COLUMN IF NOT EXISTS ${columnDefinition(col)}`,
        `DROP VIEW IF EXISTS ${qualified(SERVICE_RED_MV, options.database)}`,
        redView,
        ...samplingStatements(options.database),
      ];
    },
  },
  {
    // After 4: the minute views are weighted by SampleRate from the start.
    version: 5,
    name: 'per-minute rollups: RED per service and operation, log counts per service and severity',
    statements: minuteRollupStatements,
  },
  {
    version: 6,
    name: 'usage metering: usage_requests and the usage_daily view',
    statements: usageStatements,
  },
  {
    version: 7,
    name: "span counts per minute, closed hours' service-map edges, metric names per hour",
    statements: edgeRollupStatements,
  },
];

export interface MigrateOptions {
  /** Created if missing and used for every table; omitted, the client's current database. */
  readonly database?: string;
  readonly hotRetentionDays: number;
  /** Tenants' own hot retention per signal. @default none: every tenant at hotRetentionDays */
  readonly tenantRetention?: RetentionSettings;
}

export interface MigrateResult {
  /** Versions applied by this run (empty when the schema was current). */
  readonly applied: number[];
  readonly version: number;
  /** Tables whose TTL this run changed to the configured retention. */
  readonly retentionChanged: string[];
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    message: string,
    readonly version?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Checksum of a version's DDL at the default retention: recorded so drift is visible, not enforced. */
function checksum(m: Migration, database?: string): string {
  const text = m.statements({ database, hotRetentionDays: DEFAULT_HOT_RETENTION_DAYS }).join(';\n');
  return createHash('sha256').update(text).digest('hex');
}

async function appliedVersions(client: ClickHouseClient, database?: string): Promise<Set<number>> {
  const rs = await client.query({
    query: `SELECT DISTINCT version FROM ${qualified(MIGRATIONS_TABLE, database)}`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ version: number | string }>();
  return new Set(rows.map((r) => Number(r.version)));
}

/** An expression's text without spaces and parentheses: ClickHouse reformats what it stores. */
const squash = (sql: string) => sql.replace(/[\s()]/g, '');

async function reconcileRetention(
  client: ClickHouseClient,
  database: string | undefined,
  days: number,
  tenants: RetentionSettings,
): Promise<string[]> {
  const wanted = [
    ...RETENTION_TABLES.map((t) => {
      const own = hotDaysExpression(tenants, t.signal, days);
      // The hourly rollups keep at least minDays, whatever a tenant's own retention.
      const daysExpr =
        t.minDays === undefined
          ? own
          : /^\d+$/.test(own)
            ? String(Math.max(Number(own), t.minDays))
            : `greatest(${t.minDays}, ${own})`;
      return {
        table: t.table,
        ttl: ttlExpressionOf(t.timeExpr, daysExpr),
        perTenant: !/^\d+$/.test(daysExpr),
      };
    }),
    { table: WRITE_LEDGER_TABLE, ttl: `WrittenAt + toIntervalDay(${days + 1})`, perTenant: false },
  ];
  const rs = await client.query({
    query: `SELECT name, create_table_query FROM system.tables
            WHERE database = ${database ? '{db:String}' : 'currentDatabase()'} AND name IN {names:Array(String)}`,
    query_params: { db: database, names: wanted.map((w) => w.table) },
    format: 'JSONEachRow',
  });
  const current = new Map(
    (await rs.json<{ name: string; create_table_query: string }>()).map((r) => [
      r.name,
      r.create_table_query,
    ]),
  );
  const changed: string[] = [];
  for (const w of wanted) {
    const ddl = current.get(w.table);
    if (ddl === undefined) throw new MigrationError(`table ${w.table} is missing after migrations`);
    const ttl = /\bTTL (.*?) SETTINGS /s.exec(ddl)?.[1] ?? '';
    // Whole parts are dropped only when every row in them expired: right with one retention for
    // all, wrong when a part's tenants expire at different ages (their rows are deleted by merges).
    const dropParts = w.perTenant ? 0 : 1;
    const sameTtl = squash(ttl) === squash(w.ttl);
    const sameSetting = new RegExp(`ttl_only_drop_parts = ${dropParts}\\b`).test(ddl);
    if (sameTtl && sameSetting) continue;
    const table = qualified(w.table, database);
    if (!sameSetting) {
      await client.command({
        query: `ALTER TABLE ${table} MODIFY SETTING ttl_only_drop_parts = ${dropParts}`,
      });
    }
    if (!sameTtl) await client.command({ query: `ALTER TABLE ${table} MODIFY TTL ${w.ttl}` });
    changed.push(w.table);
  }
  return changed;
}

/**
 * Brings the schema to the newest version and the TTLs to `hotRetentionDays`. Safe to run any number
 * of times, including concurrently (every statement is idempotent; a version recorded twice is one).
 */
export async function applyMigrations(
  client: ClickHouseClient,
  options: MigrateOptions,
): Promise<MigrateResult> {
  const { database, hotRetentionDays } = options;
  if (!Number.isInteger(hotRetentionDays) || hotRetentionDays < 1) {
    throw new MigrationError(`hotRetentionDays must be an integer >= 1, got: ${hotRetentionDays}`);
  }
  if (database) await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${ident(database)}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${qualified(MIGRATIONS_TABLE, database)} (
  version UInt32,
  name String,
  checksum String,
  applied_at DateTime64(3) DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY version`,
  });
  const done = await appliedVersions(client, database);
  const applied: number[] = [];
  for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    for (const statement of m.statements({ database, hotRetentionDays })) {
      try {
        await client.command({ query: statement });
      } catch (cause) {
        throw new MigrationError(`migration ${m.version} (${m.name}) failed`, m.version, { cause });
      }
    }
    await client.insert({
      table: qualified(MIGRATIONS_TABLE, database),
      values: [{ version: m.version, name: m.name, checksum: checksum(m, database) }],
      format: 'JSONEachRow',
    });
    applied.push(m.version);
  }
  const retentionChanged = await reconcileRetention(
    client,
    database,
    hotRetentionDays,
    options.tenantRetention ?? NO_RETENTION_OVERRIDES,
  );
  const version = Math.max(0, ...MIGRATIONS.map((m) => m.version));
  return { applied, version, retentionChanged };
}
