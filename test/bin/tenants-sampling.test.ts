import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../functions/shared/clickhouse/migrations.js';
import {
  ClickHouseTraceSampler,
  SAMPLING_RULES_TABLE,
} from '../../functions/shared/sampling/clickhouse-trace-sampler.js';
import { type ClickHouseHttpServer, startClickHouseHttp } from '../../local/clickhouse-http.js';
import { openClickHouse, type TestClickHouse } from '../support/clickhouse.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const CLI = join(ROOT, 'bin/tenants.ts');

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(TSX, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

let connection: TestClickHouse;
let server: ClickHouseHttpServer;

beforeAll(async () => {
  const path = mkdtempSync(join(tmpdir(), 'ch-tenants-sampling-'));
  connection = await openClickHouse(path, 'embedded');
  await applyMigrations(connection.client, { hotRetentionDays: 7 });
  server = await startClickHouseHttp({ path, port: 0, password: 'pw' });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await connection?.close();
});

describe('tenants set-sampling (subprocess against the ClickHouse HTTP interface over the embedded engine)', () => {
  const env = () => ({ CLICKHOUSE_URL: server.url, CLICKHOUSE_USER: 'default', CLICKHOUSE_PASSWORD: 'pw' });

  it('stores a rule the hot writer then reads; --rate 1 turns it off', async () => {
    const set = await cli(
      ['set-sampling', '--tenant', 'acme', '--rate', '0.1', '--keep-errors', '--slow-ms', '1000'],
      env(),
    );
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(
      /1 trace in 10, every trace with an error, every trace with a span of 1000 ms or more/,
    );
    const sampler = new ClickHouseTraceSampler(connection.client, { rulesTtlMs: 0 });
    expect((await sampler.rulesByTenant()).get('acme')).toEqual({
      oneIn: 10,
      keepErrors: true,
      slowMs: 1000,
    });

    expect((await cli(['set-sampling', '--tenant', 'acme', '--rate', '1'], env())).code).toBe(0);
    expect((await sampler.rulesByTenant()).has('acme')).toBe(false);
    const rs = await connection.client.query({
      query: `SELECT count() AS n FROM ${SAMPLING_RULES_TABLE}`,
      format: 'JSONEachRow',
    });
    expect(Number((await rs.json<{ n: string }>())[0]?.n)).toBe(2);
  });

  it('--print prints the SQL; a bad rate or a missing URL is a usage error', async () => {
    const print = await cli(['set-sampling', '--tenant', "o'brien", '--rate', '0.25', '--print']);
    expect(print.code).toBe(0);
    expect(print.stdout).toContain("VALUES ('o\\'brien', 4, false, 0);");
    for (const args of [
      ['set-sampling', '--tenant', 'acme', '--rate', '0'],
      ['set-sampling', '--tenant', 'acme', '--rate', '2'],
      ['set-sampling', '--tenant', 'acme'],
      ['set-sampling', '--tenant', 'acme', '--rate', '0.1', '--slow-ms', '-5'],
    ]) {
      const r = await cli(args, { CLICKHOUSE_URL: '' });
      expect(r.code, args.join(' ')).toBe(2);
    }
    const noUrl = await cli(['set-sampling', '--tenant', 'acme', '--rate', '0.1'], { CLICKHOUSE_URL: '' });
    expect(noUrl.stderr).toMatch(/needs CLICKHOUSE_URL/);
  });
});
