import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteClickHouse } from '../../../functions/shared/clickhouse/connect.js';
import { type ClickHouseProcess, spawnClickHouseHttp } from '../../../local/clickhouse-http-process.js';
import { count } from '../shared/clickhouse/support.js';
import { RESOURCE_EXPANSION, resourceExpansionRecords } from './support/resource-expansion.js';

/**
 * Issue #17: the hot writer's memory on the request whose 1,000 logs share 63 resource attributes
 * of 4 KB. The writer runs in a child process of its own, talking HTTP with the production client
 * to ClickHouse served by another process (as a Lambda talks to ClickHouse Cloud), so its peak RSS
 * is the writer's alone. The server's copy is the oracle for what was stored.
 */

const PEAK_LIMIT_MB = 512;

describe('hot writer memory on rows repeating a large resource (over HTTP, writer in a child process)', () => {
  let dir: string;
  let server: ClickHouseProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hot-writer-memory-'));
    server = await spawnClickHouseHttp({ path: join(dir, 'ch'), hotRetentionDays: 7 });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`stores all 1,000 logs with their 63 resource attributes, peaking under ${PEAK_LIMIT_MB} MB`, async () => {
    const records = resourceExpansionRecords();
    const recordsFile = join(dir, 'records.json');
    const resultFile = join(dir, 'result.json');
    writeFileSync(recordsFile, JSON.stringify(records));

    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--expose-gc',
        join(import.meta.dirname, 'support', 'resource-expansion.ts'),
        server.url,
        recordsFile,
        resultFile,
      ],
      { encoding: 'utf8', timeout: 240_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(readFileSync(resultFile, 'utf8')) as {
      failures: number;
      errors: string[];
      stats: { rowsInserted: number; inserts: number };
      baselineMB: number;
      peakMB: number;
    };

    expect(result.errors).toEqual([]);
    expect(result.failures).toBe(0);
    expect(result.stats.rowsInserted).toBe(RESOURCE_EXPANSION.logs);
    const client = createRemoteClickHouse({
      url: server.url,
      username: 'default',
      password: '',
      database: 'default',
    });
    try {
      expect(
        await count(
          client,
          'otel_logs',
          `length(ResourceAttributes) = ${RESOURCE_EXPANSION.attributes} AND length(ResourceAttributes['big.61']) = ${RESOURCE_EXPANSION.valueBytes}`,
        ),
      ).toBe(RESOURCE_EXPANSION.logs);
    } finally {
      await client.close();
    }
    console.info(
      `hot writer, 291 KB case over HTTP: baseline ${result.baselineMB.toFixed(0)} MB, peak ${result.peakMB.toFixed(0)} MB`,
    );
    expect(result.peakMB).toBeLessThanOrEqual(PEAK_LIMIT_MB);
  }, 300_000);
});
