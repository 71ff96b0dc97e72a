import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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

describe('tenants clickhouse-user', () => {
  it('--print --json: prints the SQL and the login once; the SQL holds the password only as its hash', async () => {
    const r = await cli(['clickhouse-user', '--tenant', 'acme-eu', '--print', '--json'], {
      CLICKHOUSE_DATABASE: 'otel',
    });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const login = JSON.parse(lines.at(-1)!) as { user: string; password: string; database: string };
    expect(login).toMatchObject({ user: 'tenant_acme_eu', database: 'otel' });
    expect(login.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const sql = lines.slice(0, -1).join('\n');
    expect(sql).not.toContain(login.password);
    expect(sql).toContain(createHash('sha256').update(login.password).digest('hex'));
    expect(sql).toContain(
      "ON `otel`.`otel_logs` FOR SELECT USING TenantId = 'acme-eu' TO `tenant_acme_eu_reader`",
    );
    expect(r.stderr).toMatch(/shown only once/);
  });

  it('without --print needs CLICKHOUSE_URL; a bad tenant id is a usage error', async () => {
    const noUrl = await cli(['clickhouse-user', '--tenant', 'acme'], { CLICKHOUSE_URL: '' });
    expect(noUrl).toMatchObject({ code: 2 });
    expect(noUrl.stderr).toMatch(/needs CLICKHOUSE_URL/);
    const bad = await cli(['clickhouse-user', '--tenant', 'Bad Tenant', '--print']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/tenant id must be/);
  });
});
