import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  createRemoteClickHouse,
  HOT_WRITER_CLIENT_OPTIONS,
} from '../../functions/shared/clickhouse/connect.js';
import { applyMigrations } from '../../functions/shared/clickhouse/migrations.js';
import { createEmbeddedClickHouse } from '../../local/clickhouse-embedded.js';
import { startClickHouseHttp } from '../../local/clickhouse-http.js';

/**
 * The ClickHouse connection a test file runs on: embedded chdb in-process, or the production HTTP
 * client (`createRemoteClickHouse`: gzip, multipart parameters, keep-alive) against the local
 * HTTP interface over the same engine. A `*.over-http.test.ts` file sets the variable and imports
 * the embedded test file, so one set of tests proves both paths; `*.over-lean-http.test.ts` does the
 * same with the hot writer's client (HOT_WRITER_CLIENT_OPTIONS: the lean connection).
 */
export const CLICKHOUSE_VIA_ENV = 'TEST_CLICKHOUSE_VIA';

export type ClickHouseVia = 'embedded' | 'http' | 'lean-http';

export function clickHouseVia(): ClickHouseVia {
  const via = process.env[CLICKHOUSE_VIA_ENV];
  return via === 'http' || via === 'lean-http' ? via : 'embedded';
}

export interface TestClickHouse {
  readonly client: ClickHouseClient;
  readonly via: ClickHouseVia;
  close(): Promise<void>;
}

/** A client over chdb at `path` (one data directory per test file), the way clickHouseVia() says. */
export async function openClickHouse(path: string, via = clickHouseVia()): Promise<TestClickHouse> {
  const embedded = createEmbeddedClickHouse({ path });
  if (via === 'embedded') return { client: embedded, via, close: () => embedded.close() };
  const password = 'test-password';
  const server = await startClickHouseHttp({ path, port: 0, password });
  const client = createRemoteClickHouse(
    { url: server.url, username: 'default', password, database: 'default' },
    via === 'lean-http' ? HOT_WRITER_CLIENT_OPTIONS : {},
  );
  return {
    client,
    via,
    async close() {
      await client.close();
      await server.close();
      await embedded.close();
    },
  };
}

/**
 * openClickHouse on a fresh data directory (`prefix` names it) with the schema migrated, hot
 * retention 7 days; close() also removes the directory.
 */
export async function openMigratedClickHouse(prefix: string): Promise<TestClickHouse> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const connection = await openClickHouse(dir);
  await applyMigrations(connection.client, { hotRetentionDays: 7 });
  return {
    ...connection,
    async close() {
      await connection.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
