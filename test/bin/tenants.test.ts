import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachedTenantDirectory } from '../../functions/shared/tenants/directory.js';
import {
  DynamoTenantDirectory,
  ensureTenantsTable,
} from '../../functions/shared/tenants/dynamo-tenant-directory.js';
import { localDynamoClient } from '../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../local/emulators.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const CLI = join(ROOT, 'bin/tenants.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would, in a child process. */
function cli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<Run> {
  return new Promise((done) => {
    execFile(
      TSX,
      [CLI, ...args],
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, TENANTS_TABLE: undefined, AWS_ACCESS_KEY_ID: undefined, ...options.env },
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        done({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;
let emulators: Emulators;
let client: DynamoDBClient;
let endpoint: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenants-cli-'));
  emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  endpoint = emulators.dynamoEndpoint;
  client = localDynamoClient(endpoint);
});

afterAll(async () => {
  client?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('npm run tenants (subprocess against dynalite)', () => {
  it('creates a key that ingest can resolve, lists it and revokes it', async () => {
    const target = ['--endpoint', endpoint, '--table', 'tenants'];

    const created = await cli(['create', '--tenant', 'acme', '--label', 'ci runner', ...target]);
    expect(created.stderr).not.toMatch(/tenants:/);
    expect(created.code).toBe(0);
    const key = /otlp_[0-9A-Za-z]{32}/.exec(created.stdout)?.[0];
    expect(key).toBeDefined();
    expect(created.stdout).toMatch(/cannot be shown again/);
    const keyId = key!.slice(5, 13);
    expect(created.stdout).toContain(keyId);
    const directory = new CachedTenantDirectory(new DynamoTenantDirectory(client, 'tenants'), {
      positiveTtlMs: 0,
    });
    expect(await directory.resolve(key!)).toEqual({ tenantId: 'acme', keyId, scopes: ['ingest', 'query'] });

    const listed = await cli(['list', ...target]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(`${keyId}\\s+acme\\s+ci runner\\s+ingest\\+query\\s+\\S+\\s+active\\s+default\\s+default`),
    );
    expect(listed.stdout).not.toContain(key!);

    const revoked = await cli(['revoke', '--key-id', keyId, ...target]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/Revoked key/);
    expect(await directory.resolve(key!)).toBeUndefined();

    const after = await cli(['list', '--tenant', 'acme', '--json', ...target]);
    expect(after.code).toBe(0);
    const rows = JSON.parse(after.stdout) as { keyId: string; revokedAt?: string }[];
    expect(rows).toEqual([expect.objectContaining({ keyId, revokedAt: expect.any(String) })]);

    const scan = await client.send(new ScanCommand({ TableName: 'tenants' }));
    expect(JSON.stringify(scan.Items)).not.toContain(key!);
  });

  it('sets a tenant limit that the directory then reports, reading the table from TENANTS_TABLE', async () => {
    await ensureTenantsTable(client, 'limits');
    const env = { TENANTS_TABLE: 'limits' };
    const created = await cli(['create', '--tenant', 'beta', '--json', '--endpoint', endpoint], { env });
    expect(created.code).toBe(0);
    const { key } = JSON.parse(created.stdout) as { key: string };
    expect(created.stderr).toMatch(/cannot be shown again/);

    const set = await cli(
      [
        'set-limit',
        '--tenant',
        'beta',
        '--items-per-second',
        '250',
        '--burst',
        '1000',
        '--endpoint',
        endpoint,
      ],
      { env },
    );
    expect(set.code).toBe(0);
    expect(await new DynamoTenantDirectory(client, 'limits').resolve(key)).toMatchObject({
      tenantId: 'beta',
      limits: { itemsPerSecond: 250, burst: 1000 },
    });

    const limitsOf = async (args: string[]) => {
      const r = await cli(['set-limit', '--tenant', 'beta', ...args, '--endpoint', endpoint], { env });
      expect(r.code).toBe(0);
      return (await new DynamoTenantDirectory(client, 'limits').resolve(key))?.limits;
    };
    expect(await limitsOf(['--bytes-per-day', '1000000'])).toEqual({ bytesPerDay: 1_000_000 });
    expect(await limitsOf(['--unlimited'])).toEqual({ unlimited: true });
    expect(await limitsOf(['--default'])).toBeUndefined();
    const both = await cli(
      ['set-limit', '--tenant', 'beta', '--unlimited', '--burst', '5', '--endpoint', endpoint],
      {
        env,
      },
    );
    expect(both).toMatchObject({ code: 2, stderr: expect.stringMatching(/exclude/) });
  });

  it('set-quota sets daily quotas beside the rate limit, which it keeps; set-limit keeps the item quota', async () => {
    await ensureTenantsTable(client, 'quotas');
    const target = ['--endpoint', endpoint, '--table', 'quotas'];
    const created = await cli(['create', '--tenant', 'delta', '--json', ...target]);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const run = async (args: string[]) => {
      const r = await cli([...args, '--tenant', 'delta', ...target]);
      expect(r.code, r.stderr).toBe(0);
      return (await new DynamoTenantDirectory(client, 'quotas').resolve(key))?.limits;
    };
    expect(await run(['set-limit', '--items-per-second', '50'])).toEqual({ itemsPerSecond: 50 });
    expect(await run(['set-quota', '--items-per-day', '1000000'])).toEqual({
      itemsPerSecond: 50,
      itemsPerDay: 1_000_000,
    });
    expect(await run(['set-quota', '--bytes-per-day', '5000'])).toEqual({
      itemsPerSecond: 50,
      itemsPerDay: 1_000_000,
      bytesPerDay: 5000,
    });
    expect(await run(['set-limit', '--items-per-second', '70'])).toEqual({
      itemsPerSecond: 70,
      itemsPerDay: 1_000_000,
    });
    expect(await run(['set-quota', '--default'])).toEqual({ itemsPerSecond: 70 });
    const bad = await cli(['set-quota', '--tenant', 'delta', '--items-per-day', '0', ...target]);
    expect(bad).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--items-per-day must be a positive number/),
    });
    const none = await cli(['set-quota', '--tenant', 'delta', ...target]);
    expect(none).toMatchObject({ code: 2, stderr: expect.stringMatching(/needs --items-per-day/) });
  });

  it('set-retention writes per-tenant, per-signal retention to the file the stack and local mode read', async () => {
    const file = join(dir, 'retention.json');
    const run = (args: string[]) => cli([...args, '--file', file]);
    const set = await run([
      'set-retention',
      '--tenant',
      'acme',
      '--signal',
      'traces',
      '--hot-days',
      '3',
      '--lake-days',
      '90',
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('Tenant acme traces: hot 3 days, lake 90 days');
    expect(
      (await run(['set-retention', '--tenant', 'acme', '--signal', 'logs', '--hot-days', '1'])).code,
    ).toBe(0);
    const shown = await run(['show-retention']);
    expect(JSON.parse(shown.stdout)).toEqual({
      tenants: { acme: { traces: { hotDays: 3, lakeDays: 90 }, logs: { hotDays: 1 } } },
    });
    expect((await run(['set-retention', '--tenant', 'acme', '--signal', 'traces', '--default'])).code).toBe(
      0,
    );
    expect(JSON.parse((await run(['show-retention'])).stdout)).toEqual({
      tenants: { acme: { logs: { hotDays: 1 } } },
    });

    for (const [args, message] of [
      [['--tenant', 'acme', '--signal', 'spans', '--hot-days', '3'], /--signal traces, logs or metrics/],
      [['--tenant', 'acme', '--signal', 'logs', '--hot-days', '2.5'], /whole number of days/],
      [['--tenant', 'acme', '--signal', 'logs', '--hot-days', '4000'], /hotDays/],
      [['--tenant', 'Acme!', '--signal', 'logs', '--hot-days', '3'], /invalid tenant id/],
      [['--tenant', 'acme', '--signal', 'logs'], /needs --hot-days or --lake-days/],
    ] as const) {
      const r = await run(['set-retention', ...args]);
      expect(r, args.join(' ')).toMatchObject({ code: 2, stderr: expect.stringMatching(message) });
    }
  });

  it('creates keys with a scope, changes it, and sets a query limit the directory then reports', async () => {
    await ensureTenantsTable(client, 'scopes');
    const target = ['--endpoint', endpoint, '--table', 'scopes'];
    const made = async (scope?: string) => {
      const run = await cli([
        'create',
        '--tenant',
        'gamma',
        '--json',
        ...(scope ? ['--scope', scope] : []),
        ...target,
      ]);
      expect(run.code).toBe(0);
      return JSON.parse(run.stdout) as { key: string; keyId: string; scopes: string[] };
    };
    const browser = await made('ingest');
    const reader = await made('query');
    const both = await made();
    const directory = new DynamoTenantDirectory(client, 'scopes');
    expect(browser.scopes).toEqual(['ingest']);
    expect((await directory.resolve(browser.key))?.scopes).toEqual(['ingest']);
    expect((await directory.resolve(reader.key))?.scopes).toEqual(['query']);
    expect((await directory.resolve(both.key))?.scopes).toEqual(['ingest', 'query']);

    const changed = await cli(['set-scope', '--key-id', browser.keyId, '--scope', 'ingest+query', ...target]);
    expect(changed).toMatchObject({ code: 0, stdout: expect.stringMatching(/scope ingest\+query/) });
    expect((await directory.resolve(browser.key))?.scopes).toEqual(['ingest', 'query']);

    const limited = await cli([
      'set-query-limit',
      '--tenant',
      'gamma',
      '--requests-per-second',
      '2',
      '--burst',
      '4',
      ...target,
    ]);
    expect(limited.code).toBe(0);
    expect(await directory.resolve(reader.key)).toMatchObject({
      queryLimits: { requestsPerSecond: 2, burst: 4 },
    });
    const list = await cli(['list', '--tenant', 'gamma', ...target]);
    expect(list.stdout).toMatch(/SCOPE/);
    expect(list.stdout).toMatch(/ query .* 2\/s burst 4/);
    const reset = await cli(['set-query-limit', '--tenant', 'gamma', '--default', ...target]);
    expect(reset.code).toBe(0);
    expect((await directory.resolve(reader.key))?.queryLimits).toBeUndefined();

    const [badScope, noScope, admin] = await Promise.all([
      cli(['create', '--tenant', 'gamma', '--scope', 'root', ...target]),
      cli(['set-scope', '--key-id', reader.keyId, ...target]),
      cli(['create', '--tenant', 'gamma', '--scope', 'query+admin', '--json', ...target]),
    ]);
    expect(badScope).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--scope must be ingest, query, admin or a \+ list of them/),
    });
    // The admin scope (alert rules, channels, silences) is given only when asked for.
    expect(admin.code).toBe(0);
    expect((await directory.resolve(JSON.parse(admin.stdout).key))?.scopes).toEqual(['query', 'admin']);
    expect(noScope).toMatchObject({ code: 2, stderr: expect.stringMatching(/set-scope needs --scope/) });
  });

  it('finds local mode through .data/local.json with --local', async () => {
    const cwd = join(dir, 'project');
    await mkdir(join(cwd, '.data'), { recursive: true });
    await writeFile(
      join(cwd, '.data/local.json'),
      JSON.stringify({ dynamoEndpoint: endpoint, tenantsTable: 'local-tenants' }),
    );
    const created = await cli(['create', '--tenant', 'local', '--local'], { cwd });
    expect(created.code).toBe(0);
    const key = /otlp_[0-9A-Za-z]{32}/.exec(created.stdout)?.[0];
    expect(await new DynamoTenantDirectory(client, 'local-tenants').resolve(key!)).toMatchObject({
      tenantId: 'local',
    });
  });

  it('explains usage errors with exit code 2 and operational failures with exit code 1', async () => {
    const target = ['--endpoint', endpoint, '--table', 'tenants'];
    const [noTenant, badTenant, badOption, noTable, unknownKey, help] = await Promise.all([
      cli(['create', ...target]),
      cli(['create', '--tenant', 'Bad_Tenant', ...target]),
      cli(['list', '--bogus', ...target]),
      cli(['list', '--endpoint', endpoint]),
      cli(['revoke', '--key-id', 'missing1', ...target]),
      cli(['--help']),
    ]);
    expect(noTenant).toMatchObject({ code: 2, stderr: expect.stringMatching(/create needs --tenant/) });
    expect(badTenant).toMatchObject({ code: 2, stderr: expect.stringMatching(/tenant id must match/) });
    expect(badOption).toMatchObject({ code: 2, stderr: expect.stringMatching(/--bogus/) });
    expect(noTable).toMatchObject({ code: 2, stderr: expect.stringMatching(/TENANTS_TABLE/) });
    expect(unknownKey).toMatchObject({ code: 1, stderr: expect.stringMatching(/no key with id "missing1"/) });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/set-limit --tenant <id> \[--items-per-second <n>\]/);
    expect(help.stdout).toMatch(/\.data\/local\.json/);
  });
});
