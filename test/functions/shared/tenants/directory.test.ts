import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CachedTenantDirectory,
  hasScope,
  parseScopes,
  type TenantDirectory,
  TenantDirectoryError,
  type TenantInfo,
} from '../../../../functions/shared/tenants/directory.js';
import {
  createKey,
  DynamoTenantDirectory,
  ensureTenantsTable,
  listKeys,
  registerKey,
  revokeKey,
  setKeyScopes,
  setTenantLimits,
  setTenantQueryLimits,
} from '../../../../functions/shared/tenants/dynamo-tenant-directory.js';
import { hashApiKey, TenantError } from '../../../../functions/shared/tenants/keys.js';
import { localDynamoClient } from '../../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';

/** Counts the lookups that reach the wrapped directory (here: DynamoDB). */
class CountingDirectory implements TenantDirectory {
  calls = 0;
  constructor(private readonly inner: TenantDirectory) {}
  resolve(apiKey: string): Promise<TenantInfo | undefined> {
    this.calls++;
    return this.inner.resolve(apiKey);
  }
}

class FakeClock {
  ms = Date.UTC(2026, 0, 1);
  readonly now = () => this.ms;
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

let dir: string;
let emulators: Emulators;
let client: DynamoDBClient;
let tableSeq = 0;

async function freshTable(): Promise<string> {
  const table = `tenants-${++tableSeq}`;
  await ensureTenantsTable(client, table);
  return table;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenants-directory-'));
  emulators = await startEmulators({ dataDir: dir });
  client = localDynamoClient(emulators.dynamoEndpoint);
});

afterAll(async () => {
  client?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('keys in DynamoDB (dynalite)', () => {
  it('resolves a created key to its tenant, and not after revocation once the cache TTL has passed', async () => {
    const table = await freshTable();
    const clock = new FakeClock();
    const directory = new CachedTenantDirectory(new DynamoTenantDirectory(client, table), { now: clock.now });

    const created = await createKey(client, table, { tenantId: 'acme', label: 'ci' });
    expect(created.key).toMatch(/^otlp_[0-9A-Za-z]{32}$/);
    expect(await directory.resolve(created.key)).toEqual({
      tenantId: 'acme',
      keyId: created.keyId,
      scopes: ['ingest', 'query'],
    });

    const revoked = await revokeKey(client, table, created.keyId);
    expect(revoked.revokedAt).toBeDefined();
    // Cached: still accepted within the positive TTL (the documented revocation delay).
    clock.advance(59);
    expect(await directory.resolve(created.key)).toMatchObject({ tenantId: 'acme' });
    clock.advance(2);
    expect(await directory.resolve(created.key)).toBeUndefined();
  });

  it('does not resolve an unknown key', async () => {
    const table = await freshTable();
    await createKey(client, table, { tenantId: 'acme' });
    const directory = new DynamoTenantDirectory(client, table);
    expect(await directory.resolve('otlp_00000000000000000000000000000000')).toBeUndefined();
  });

  it('never stores a key in plaintext: the table holds only its SHA-256', async () => {
    const table = await freshTable();
    const created = await createKey(client, table, { tenantId: 'acme', label: 'prod' });
    await registerKey(client, table, { tenantId: 'local', key: 'local-dev-key' });

    const scan = await client.send(new ScanCommand({ TableName: table }));
    const dump = JSON.stringify(scan.Items);
    expect(scan.Items).toHaveLength(2);
    expect(dump).not.toContain(created.key);
    expect(dump).not.toContain(created.key.slice(5 + 8)); // the secret part after prefix and key id
    expect(dump).not.toContain('local-dev-key');
    expect(dump).toContain(hashApiKey(created.key));
  });

  it('registers a given key idempotently; the same key for another tenant is refused', async () => {
    const table = await freshTable();
    const first = await registerKey(client, table, { tenantId: 'local', key: 'local-dev-key', label: 'dev' });
    const again = await registerKey(client, table, { tenantId: 'local', key: 'local-dev-key', label: 'dev' });
    expect(again).toEqual(first);
    expect(await listKeys(client, table)).toHaveLength(1);
    expect(await new DynamoTenantDirectory(client, table).resolve('local-dev-key')).toEqual({
      tenantId: 'local',
      keyId: first.keyId,
      scopes: ['ingest', 'query'],
    });
    await expect(
      registerKey(client, table, { tenantId: 'other', key: 'local-dev-key' }),
    ).rejects.toMatchObject({
      kind: 'conflict',
    });
  });

  it('refuses bad tenant ids and weak or header-unsafe keys', async () => {
    const table = await freshTable();
    await expect(createKey(client, table, { tenantId: 'Acme/../x' })).rejects.toThrow(TenantError);
    await expect(registerKey(client, table, { tenantId: 'local', key: 'short' })).rejects.toThrow(/8-256/);
    await expect(registerKey(client, table, { tenantId: 'local', key: 'has a space' })).rejects.toThrow(
      TenantError,
    );
    expect(await listKeys(client, table)).toEqual([]);
  });

  it('lists keys without secrets, per tenant, showing revocation', async () => {
    const table = await freshTable();
    const a1 = await createKey(client, table, { tenantId: 'acme', label: 'one' });
    const b1 = await createKey(client, table, { tenantId: 'beta' });
    const a2 = await createKey(client, table, { tenantId: 'acme', label: 'two' });
    await revokeKey(client, table, a1.keyId);

    const all = await listKeys(client, table);
    expect(all.map((k) => k.keyId).sort()).toEqual([a1.keyId, a2.keyId, b1.keyId].sort());
    expect(JSON.stringify(all)).not.toContain(a1.key);
    const acme = await listKeys(client, table, 'acme');
    expect(acme.map((k) => [k.label, k.revokedAt !== undefined])).toEqual(
      expect.arrayContaining([
        ['one', true],
        ['two', false],
      ]),
    );
    expect(acme).toHaveLength(2);
  });

  it('revoking an unknown key id is a not-found error', async () => {
    const table = await freshTable();
    await expect(revokeKey(client, table, 'nope1234')).rejects.toMatchObject({ kind: 'not-found' });
  });

  it('sets limits on all of a tenant’s keys, new keys inherit them, and removing them lifts the limit', async () => {
    const table = await freshTable();
    const k1 = await createKey(client, table, { tenantId: 'acme' });
    const directory = new DynamoTenantDirectory(client, table);
    expect((await directory.resolve(k1.key))?.limits).toBeUndefined();

    expect(await setTenantLimits(client, table, 'acme', { itemsPerSecond: 500, burst: 2000 })).toBe(1);
    const k2 = await createKey(client, table, { tenantId: 'acme' });
    expect((await directory.resolve(k1.key))?.limits).toEqual({ itemsPerSecond: 500, burst: 2000 });
    expect((await directory.resolve(k2.key))?.limits).toEqual({ itemsPerSecond: 500, burst: 2000 });

    expect(await setTenantLimits(client, table, 'acme', undefined)).toBe(2);
    expect((await directory.resolve(k2.key))?.limits).toBeUndefined();
    await expect(setTenantLimits(client, table, 'ghost', { itemsPerSecond: 1 })).rejects.toMatchObject({
      kind: 'not-found',
    });
    await expect(setTenantLimits(client, table, 'acme', { itemsPerSecond: -1 })).rejects.toMatchObject({
      kind: 'invalid',
    });
  });

  it('keeps scopes per key: stored keys without scopes may do both, an unknown scope authorises nothing', async () => {
    const table = await freshTable();
    const directory = new DynamoTenantDirectory(client, table);
    const put = (key: string, extra: Record<string, { S: string } | { L: { S: string }[] }>) =>
      client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            keyHash: { S: hashApiKey(key) },
            tenantId: { S: 'acme' },
            keyId: { S: key.slice(0, 8) },
            createdAt: { S: '2026-01-01T00:00:00Z' },
            ...extra,
          },
        }),
      );
    await put('legacy-key-0123', {});
    const legacy = await directory.resolve('legacy-key-0123');
    expect(legacy?.scopes).toBeUndefined();
    expect([hasScope(legacy!, 'ingest'), hasScope(legacy!, 'query'), hasScope(legacy!, 'admin')]).toEqual([
      true,
      true,
      false,
    ]);
    await put('root-key-0123', { scopes: { L: [{ S: 'root' }] } });
    expect(await directory.resolve('root-key-0123')).toBeUndefined();
    await put('admin-key-0123', { scopes: { L: [{ S: 'query' }, { S: 'admin' }] } });
    expect((await directory.resolve('admin-key-0123'))?.scopes).toEqual(['query', 'admin']);

    const browser = await createKey(client, table, { tenantId: 'acme', scopes: ['ingest'] });
    const info = await directory.resolve(browser.key);
    expect([hasScope(info!, 'ingest'), hasScope(info!, 'query')]).toEqual([true, false]);
    expect((await setKeyScopes(client, table, browser.keyId, ['query'])).scopes).toEqual(['query']);
    expect((await directory.resolve(browser.key))?.scopes).toEqual(['query']);
    await expect(setKeyScopes(client, table, browser.keyId, [])).rejects.toMatchObject({ kind: 'invalid' });
    await expect(createKey(client, table, { tenantId: 'acme', scopes: [] })).rejects.toMatchObject({
      kind: 'invalid',
    });
    expect([
      parseScopes('query+ingest'),
      parseScopes('ingest'),
      parseScopes('admin'),
      parseScopes('query+admin'),
      parseScopes('ingest+ingest'),
      parseScopes('root'),
    ]).toEqual([['ingest', 'query'], ['ingest'], ['admin'], ['query', 'admin'], undefined, undefined]);
    // A key made without scopes may not administer: admin is only ever given on purpose.
    const plain = await createKey(client, table, { tenantId: 'acme' });
    expect(hasScope((await directory.resolve(plain.key))!, 'admin')).toBe(false);
  });

  it('sets query limits on all of a tenant’s keys and new keys inherit them', async () => {
    const table = await freshTable();
    const k1 = await createKey(client, table, { tenantId: 'acme' });
    const directory = new DynamoTenantDirectory(client, table);
    expect(await setTenantQueryLimits(client, table, 'acme', { requestsPerSecond: 2, burst: 4 })).toBe(1);
    const k2 = await createKey(client, table, { tenantId: 'acme', scopes: ['query'] });
    expect((await directory.resolve(k1.key))?.queryLimits).toEqual({ requestsPerSecond: 2, burst: 4 });
    expect((await directory.resolve(k2.key))?.queryLimits).toEqual({ requestsPerSecond: 2, burst: 4 });
    expect(await setTenantQueryLimits(client, table, 'acme', undefined)).toBe(2);
    expect((await directory.resolve(k2.key))?.queryLimits).toBeUndefined();
    await expect(setTenantQueryLimits(client, table, 'acme', { requestsPerSecond: 0 })).rejects.toMatchObject(
      { kind: 'invalid' },
    );
  });

  it('reports an unreachable DynamoDB as a TenantDirectoryError (a 503, not a 401)', async () => {
    const dead = localDynamoClient('http://127.0.0.1:9');
    try {
      const directory = new DynamoTenantDirectory(dead, 'tenants');
      await expect(directory.resolve('local-dev-key')).rejects.toThrow(TenantDirectoryError);
    } finally {
      dead.destroy();
    }
  });
});

describe('CachedTenantDirectory', () => {
  it('answers a repeated key from memory without calling DynamoDB again', async () => {
    const table = await freshTable();
    const created = await createKey(client, table, { tenantId: 'acme' });
    const counting = new CountingDirectory(new DynamoTenantDirectory(client, table));
    const clock = new FakeClock();
    const directory = new CachedTenantDirectory(counting, { now: clock.now });

    for (let i = 0; i < 5; i++)
      expect(await directory.resolve(created.key)).toMatchObject({ tenantId: 'acme' });
    expect(counting.calls).toBe(1);
    clock.advance(61);
    await directory.resolve(created.key);
    expect(counting.calls).toBe(2);
  });

  it('remembers unknown keys for the shorter negative TTL', async () => {
    const table = await freshTable();
    const counting = new CountingDirectory(new DynamoTenantDirectory(client, table));
    const clock = new FakeClock();
    const directory = new CachedTenantDirectory(counting, { now: clock.now });

    expect(await directory.resolve('otlp_unknownunknownunknownunknown00')).toBeUndefined();
    expect(await directory.resolve('otlp_unknownunknownunknownunknown00')).toBeUndefined();
    expect(counting.calls).toBe(1);
    // A key registered meanwhile becomes usable once the negative entry expires.
    await registerKey(client, table, { tenantId: 'late', key: 'otlp_unknownunknownunknownunknown00' });
    clock.advance(11);
    expect(await directory.resolve('otlp_unknownunknownunknownunknown00')).toMatchObject({
      tenantId: 'late',
    });
    expect(counting.calls).toBe(2);
  });

  it('shares one lookup among concurrent requests for the same key', async () => {
    const table = await freshTable();
    const created = await createKey(client, table, { tenantId: 'acme' });
    const counting = new CountingDirectory(new DynamoTenantDirectory(client, table));
    const directory = new CachedTenantDirectory(counting);
    const results = await Promise.all(Array.from({ length: 10 }, () => directory.resolve(created.key)));
    expect(results.every((r) => r?.tenantId === 'acme')).toBe(true);
    expect(counting.calls).toBe(1);
  });

  it('keeps at most maxEntries keys, dropping the least recently used', async () => {
    const table = await freshTable();
    const keys = await Promise.all(['a', 'b', 'c'].map((t) => createKey(client, table, { tenantId: t })));
    const counting = new CountingDirectory(new DynamoTenantDirectory(client, table));
    const directory = new CachedTenantDirectory(counting, { maxEntries: 2 });
    const [ka, kb, kc] = keys.map((k) => k.key) as [string, string, string];

    await directory.resolve(ka);
    await directory.resolve(kb);
    await directory.resolve(ka); // a is now the most recently used
    await directory.resolve(kc); // evicts b
    expect(directory.size).toBe(2);
    expect(counting.calls).toBe(3);
    await directory.resolve(ka);
    expect(counting.calls).toBe(3);
    await directory.resolve(kb);
    expect(counting.calls).toBe(4);
  });

  it('does not cache a failed lookup', async () => {
    let fail = true;
    const flaky: TenantDirectory = {
      resolve: async () => {
        if (fail) throw new TenantDirectoryError('down');
        return { tenantId: 'acme', keyId: 'k' };
      },
    };
    const directory = new CachedTenantDirectory(flaky);
    await expect(directory.resolve('local-dev-key')).rejects.toThrow('down');
    fail = false;
    expect(await directory.resolve('local-dev-key')).toEqual({ tenantId: 'acme', keyId: 'k' });
  });
});
