import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRules, importRules } from '../../../bin/alerts.js';
import { createAlertsApiHandler } from '../../../functions/alerts-api/handler.js';
import { alertsRoutes } from '../../../functions/shared/alerts/alerts-api.js';
import { MergedRuleSource } from '../../../functions/shared/alerts/api-rule-source.js';
import { FileChannelSecretStore } from '../../../functions/shared/alerts/channel-secrets.js';
import {
  DynamoAlertConfigStore,
  DynamoAlertHistoryStore,
  ensureAlertConfigTables,
} from '../../../functions/shared/alerts/dynamo-alert-config-store.js';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../../../functions/shared/alerts/dynamo-alert-state-store.js';
import { StaticRuleSource } from '../../../functions/shared/alerts/rule-source.js';
import { parseRuleFile, RuleFileSchema } from '../../../functions/shared/alerts/rules.js';
import { CachedTenantDirectory } from '../../../functions/shared/tenants/directory.js';
import {
  createKey,
  DynamoTenantDirectory,
  ensureTenantsTable,
} from '../../../functions/shared/tenants/dynamo-tenant-directory.js';
import { localDynamoClient } from '../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../local/emulators.js';
import { type HttpGateway, startHttpGateway } from '../../../local/http-gateway.js';

// Powertools metrics would print an EMF blob per request.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const HOOK_KEY = 'an-hmac-key-of-16-or-more';

let emulators: Emulators;
let dynamo: DynamoDBClient;
let gateway: HttpGateway;
let store: DynamoAlertConfigStore;
let history: DynamoAlertHistoryStore;
let state: DynamoAlertStateStore;
let secretsFile: string;
const keys: Record<string, string> = {};

const files = new StaticRuleSource([
  RuleFileSchema.parse({
    tenant: 'acme',
    channels: { 'file-hook': { type: 'webhook', secret: 'env:ACME_HOOK' } },
    rules: [
      {
        id: 'file-rule',
        name: 'From the file',
        severity: 'warning',
        runbook: 'https://runbooks.example.com/file',
        kind: 'error_ratio',
        window: '5m',
        threshold: 0.1,
        for: '2m',
        channels: ['file-hook'],
      },
    ],
  }),
]);

beforeAll(async () => {
  emulators = await startEmulators({ dataDir: await mkdtemp(join(tmpdir(), 'alerts-api-emu-')) });
  dynamo = localDynamoClient(emulators.dynamoEndpoint);
  await ensureTenantsTable(dynamo, 'tenants');
  await ensureAlertConfigTables(dynamo, 'alert-config', 'alert-history');
  await ensureAlertStateTable(dynamo, 'alert-state');
  for (const [name, tenantId, scopes] of [
    ['acmeAdmin', 'acme', ['query', 'admin']],
    ['acmeQuery', 'acme', ['query']],
    ['acmeIngest', 'acme', ['ingest']],
    ['acmeDefault', 'acme', undefined],
    ['globexAdmin', 'globex', ['query', 'admin']],
    ['initechAdmin', 'initech', ['query', 'admin']],
  ] as const) {
    keys[name] = (
      await createKey(dynamo, 'tenants', { tenantId, ...(scopes && { scopes: [...scopes] }) })
    ).key;
  }
  store = new DynamoAlertConfigStore(dynamo, 'alert-config');
  history = new DynamoAlertHistoryStore(dynamo, 'alert-history');
  state = new DynamoAlertStateStore(dynamo, 'alert-state');
  secretsFile = join(await mkdtemp(join(tmpdir(), 'alerts-api-secrets-')), 'secrets.json');
  const handler = createAlertsApiHandler({
    api: {
      tenants: new CachedTenantDirectory(new DynamoTenantDirectory(dynamo, 'tenants')),
      store,
      history,
      state,
      files,
      secrets: new FileChannelSecretStore(secretsFile),
      allowHttpUrls: true,
    },
  });
  gateway = await startHttpGateway({
    port: 0,
    routes: alertsRoutes.map((r) => ({ ...r, handler })),
  });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await emulators?.close();
});

async function call(
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      ...(key && { authorization: `Bearer ${key}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    text,
    // biome-ignore lint/suspicious/noExplicitAny: answers of many shapes, asserted field by field
    json: (text ? JSON.parse(text) : undefined) as any,
    headers: res.headers,
  };
}

const rule = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: `Rule ${id}`,
  severity: 'critical',
  runbook: 'https://runbooks.example.com/x',
  kind: 'error_ratio',
  service: 'checkout',
  window: '5m',
  threshold: 0.05,
  ...extra,
});

describe('rules through the API', () => {
  it('rejects an invalid rule with a 400 that names the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [rule('bad-threshold', { threshold: 'high' }), 'threshold'],
      [rule('bad-ratio', { threshold: 1.5 }), 'threshold'],
      [rule('bad-window', { window: '5 minutes' }), 'window'],
      [rule('no-runbook', { runbook: undefined }), 'runbook'],
      [rule('extra-field', { colour: 'red' }), 'colour'],
      [rule('BAD ID'), 'id'],
      [rule('unknown-channel', { channels: ['nowhere'] }), 'channels.0'],
      [{ ...rule('bad-kind'), kind: 'crystal_ball' }, 'kind'],
    ];
    for (const [body, field] of cases) {
      const res = await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe('bad_request');
      expect(res.json.error.field, res.text).toBe(field);
      expect(res.json.error.message).toContain(`'${field}'`);
    }
    expect((await call(keys.acmeAdmin, 'GET', '/v1/alerts/rules/bad-threshold')).status).toBe(404);
  });

  it('needs an admin key to write and a query key to read', async () => {
    for (const key of [keys.acmeQuery, keys.acmeIngest, keys.acmeDefault]) {
      const res = await call(key, 'POST', '/v1/alerts/rules', rule('scoped'));
      expect(res.status).toBe(403);
      expect(res.json.error.message).toContain('admin scope');
    }
    expect((await call(undefined, 'GET', '/v1/alerts/rules')).status).toBe(401);
    expect((await call(keys.acmeIngest, 'GET', '/v1/alerts/rules')).status).toBe(403);
    expect((await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', rule('scoped'))).status).toBe(201);
    const read = await call(keys.acmeQuery, 'GET', '/v1/alerts/rules/scoped');
    expect(read.status).toBe(200);
    expect(read.json.data).toMatchObject({ id: 'scoped', source: 'api', version: 1, window: '5m' });
    for (const [method, path] of [
      ['PUT', '/v1/alerts/rules/scoped'],
      ['DELETE', '/v1/alerts/rules/scoped'],
      ['POST', '/v1/alerts/silences'],
      ['DELETE', '/v1/alerts/silences/x'],
      ['POST', '/v1/alerts/channels'],
    ] as const) {
      expect((await call(keys.acmeQuery, method, path, {})).status, `${method} ${path}`).toBe(403);
    }
  });

  it('keeps every version, detects concurrent changes and continues after a deletion', async () => {
    expect((await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', rule('versioned'))).status).toBe(201);
    const v2 = await call(
      keys.acmeAdmin,
      'PUT',
      '/v1/alerts/rules/versioned',
      rule('versioned', { threshold: 0.1 }),
    );
    expect(v2.json.data).toMatchObject({ version: 2, threshold: 0.1 });
    // A writer who read version 1 loses: its change would overwrite one it never saw.
    const stale = await call(keys.acmeAdmin, 'PUT', '/v1/alerts/rules/versioned', rule('versioned'), {
      'if-match': '1',
    });
    expect(stale.status).toBe(409);
    const v3 = await call(
      keys.acmeAdmin,
      'PUT',
      '/v1/alerts/rules/versioned',
      rule('versioned', { threshold: 0.2 }),
      {
        'if-match': '2',
      },
    );
    expect(v3.json.data.version).toBe(3);
    expect((await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', rule('versioned'))).status).toBe(409);
    expect((await call(keys.acmeAdmin, 'DELETE', '/v1/alerts/rules/versioned')).json.data).toEqual({
      id: 'versioned',
      version: 4,
      deleted: true,
    });
    expect((await call(keys.acmeAdmin, 'GET', '/v1/alerts/rules/versioned')).status).toBe(404);
    expect(
      (await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', rule('versioned'))).json.data.version,
    ).toBe(5);
    const versions = await call(keys.acmeQuery, 'GET', '/v1/alerts/rules/versioned/versions');
    expect(
      versions.json.data.map((v: { version: number; deleted: boolean; threshold: number }) => [
        v.version,
        v.deleted,
        v.threshold,
      ]),
    ).toEqual([
      [5, false, 0.05],
      [4, true, 0.2],
      [3, false, 0.2],
      [2, false, 0.1],
      [1, false, 0.05],
    ]);
  });

  it('lists file rules beside API rules, refuses writes to a file rule id, and the file wins in the evaluator', async () => {
    const taken = await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', rule('file-rule'));
    expect(taken.status).toBe(409);
    expect(taken.json.error.code).toBe('file_owned');
    expect((await call(keys.acmeAdmin, 'PUT', '/v1/alerts/rules/file-rule', rule('file-rule'))).status).toBe(
      409,
    );
    await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', rule('listed'));
    const list = await call(keys.acmeQuery, 'GET', '/v1/alerts/rules');
    const fileRule = list.json.data.find((r: { id: string }) => r.id === 'file-rule');
    // The file's durations come back as written (`for: 2m`), not as milliseconds.
    expect(fileRule).toMatchObject({
      source: 'file',
      kind: 'error_ratio',
      window: '5m',
      for: '2m',
      version: 0,
    });
    expect(list.json.data.find((r: { id: string }) => r.id === 'listed')).toMatchObject({ source: 'api' });
    expect(list.json.meta).toMatchObject({ nextCursor: null, tiers: [] });

    // An API rule with a file's id (written before the file adopted it) is shadowed: the file wins.
    await store.put({
      tenant: 'acme',
      kind: 'rule',
      id: 'file-rule',
      expectedVersion: 0,
      body: rule('file-rule', { threshold: 0.9 }),
      updatedAt: Date.now(),
      updatedBy: 'test',
    });
    let skipped: string[] = [];
    const merged = await new MergedRuleSource(files, store, {
      onSkipped: (r) => {
        skipped = r.shadowed;
      },
    }).load();
    const acme = merged.find((f) => f.tenant === 'acme')!;
    const evaluated = acme.rules.filter((r) => r.id === 'file-rule');
    expect(evaluated).toHaveLength(1);
    expect(evaluated[0]).toMatchObject({ threshold: 0.1, for: 120_000 });
    expect(acme.rules.some((r) => r.id === 'listed')).toBe(true);
    expect(skipped).toContain('acme/rule/file-rule');
    const shadowed = (await call(keys.acmeQuery, 'GET', '/v1/alerts/rules')).json.data.filter(
      (r: { id: string }) => r.id === 'file-rule',
    );
    expect(shadowed.map((r: { source: string; shadowedBy?: string }) => [r.source, r.shadowedBy])).toEqual([
      ['file', undefined],
      ['api', 'file'],
    ]);
  });

  it('scopes rules to the key’s tenant', async () => {
    await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', rule('acme-only'));
    expect((await call(keys.globexAdmin, 'GET', '/v1/alerts/rules/acme-only')).status).toBe(404);
    expect(
      (await call(keys.globexAdmin, 'PUT', '/v1/alerts/rules/acme-only', rule('acme-only'))).status,
    ).toBe(404);
    expect((await call(keys.globexAdmin, 'DELETE', '/v1/alerts/rules/acme-only')).status).toBe(404);
    expect((await call(keys.globexAdmin, 'GET', '/v1/alerts/rules/acme-only/versions')).status).toBe(404);
    expect((await call(keys.globexAdmin, 'GET', '/v1/alerts/rules')).json.data).toEqual([]);
    // The same id in another tenant is another rule.
    expect(
      (await call(keys.globexAdmin, 'POST', '/v1/alerts/rules', rule('acme-only'))).json.data.version,
    ).toBe(1);
    expect((await call(keys.acmeAdmin, 'GET', '/v1/alerts/rules/acme-only')).json.data.version).toBe(1);
    expect((await call(keys.acmeAdmin, 'GET', '/v1/alerts/rules/acme-only/versions')).json.data).toHaveLength(
      1,
    );
  });

  it('handles methods, bodies and sizes like an API, without CORS', async () => {
    expect((await call(keys.acmeAdmin, 'PATCH', '/v1/alerts/rules/x', {})).status).toBe(405);
    const noType = await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', JSON.stringify(rule('t')), {
      'content-type': 'text/plain',
    });
    expect(noType.status).toBe(415);
    expect((await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', '{"id":')).json.error.message).toContain(
      'JSON',
    );
    expect((await call(keys.acmeAdmin, 'POST', '/v1/alerts/rules', '[1]')).status).toBe(400);
    const big = await call(
      keys.acmeAdmin,
      'POST',
      '/v1/alerts/rules',
      rule('big', { description: 'x'.repeat(70_000) }),
    );
    expect(big.status).toBe(413);
    const preflight = await fetch(`${gateway.url}/v1/alerts/rules`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('channels through the API', () => {
  it('stores the secret once and never returns it', async () => {
    const secret = { url: 'http://127.0.0.1:9/hook', hmacKey: HOOK_KEY };
    const created = await call(keys.acmeAdmin, 'POST', '/v1/alerts/channels', {
      id: 'ops-hook',
      type: 'webhook',
      secret,
    });
    expect(created.status).toBe(201);
    expect(created.json.data).toMatchObject({ id: 'ops-hook', type: 'webhook', secret: 'set', version: 1 });
    // An update without a secret keeps the stored one.
    const updated = await call(keys.acmeAdmin, 'PUT', '/v1/alerts/channels/ops-hook', {
      type: 'webhook',
      description: 'ops',
    });
    expect(updated.json.data).toMatchObject({ secret: 'set', version: 2, description: 'ops' });
    const answers = [
      created,
      updated,
      await call(keys.acmeQuery, 'GET', '/v1/alerts/channels/ops-hook'),
      await call(keys.acmeQuery, 'GET', '/v1/alerts/channels'),
      await call(keys.acmeQuery, 'GET', '/v1/alerts/channels/ops-hook/versions'),
      await call(keys.acmeQuery, 'GET', '/v1/alerts/channels/file-hook'),
    ];
    for (const a of answers) {
      expect(a.status).toBe(200 + (a === created ? 1 : 0));
      expect(a.text).not.toContain(HOOK_KEY);
      expect(a.text).not.toContain('127.0.0.1:9');
      expect(a.text).not.toContain('local-secret:');
      expect(a.text).not.toContain('env:ACME_HOOK');
    }
    // It is where the notifiers read it.
    const stored = JSON.parse(await readFile(secretsFile, 'utf8')) as Record<string, string>;
    expect(JSON.parse(stored['local-secret:acme/ops-hook']!)).toEqual(secret);
    // Rules may now route to it; the channel cannot go while a rule uses it.
    await call(
      keys.acmeAdmin,
      'POST',
      '/v1/alerts/rules',
      rule('hooked', { channels: ['ops-hook', 'file-hook'] }),
    );
    expect((await call(keys.acmeAdmin, 'DELETE', '/v1/alerts/channels/ops-hook')).json.error.code).toBe(
      'in_use',
    );
  });

  it('validates the channel and its secret, naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { id: 'c1', type: 'webhook', secret: { url: 'http://127.0.0.1:9/x', hmacKey: 'short' } },
        'secret.hmacKey',
      ],
      [{ id: 'c2', type: 'slack', secret: 'not a url' }, 'secret'],
      [{ id: 'c3', type: 'teams' }, 'secret'],
      [{ id: 'c4', type: 'carrier-pigeon', secret: 'x' }, 'type'],
      [{ id: 'c5', type: 'email', topicArn: 'nope' }, 'topicArn'],
      [{ id: 'Bad Id', type: 'opsgenie', secret: 'k' }, 'id'],
    ];
    for (const [body, field] of cases) {
      const res = await call(keys.acmeAdmin, 'POST', '/v1/alerts/channels', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.field, res.text).toBe(field);
    }
    const file = await call(keys.acmeAdmin, 'POST', '/v1/alerts/channels', {
      id: 'file-hook',
      type: 'opsgenie',
      secret: 'k',
    });
    expect(file.json.error.code).toBe('file_owned');
  });

  it('refuses plain-HTTP endpoints unless allowed (AWS: only https://)', async () => {
    const handler = createAlertsApiHandler({
      api: {
        tenants: new DynamoTenantDirectory(dynamo, 'tenants'),
        store,
        history,
        state,
        files,
        secrets: new FileChannelSecretStore(secretsFile),
        allowHttpUrls: false,
      },
    });
    const strict = await startHttpGateway({ port: 0, routes: alertsRoutes.map((r) => ({ ...r, handler })) });
    try {
      const res = await fetch(`${strict.url}/v1/alerts/channels`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys.acmeAdmin}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          id: 'meta',
          type: 'webhook',
          secret: { url: 'http://169.254.169.254/', hmacKey: HOOK_KEY },
        }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe('secret.url');
    } finally {
      await strict.close();
    }
  });

  it('scopes channels to the key’s tenant', async () => {
    await call(keys.acmeAdmin, 'POST', '/v1/alerts/channels', {
      id: 'acme-teams',
      type: 'teams',
      secret: 'https://example.webhook.office.com/x',
    });
    expect((await call(keys.globexAdmin, 'GET', '/v1/alerts/channels/acme-teams')).status).toBe(404);
    expect((await call(keys.globexAdmin, 'DELETE', '/v1/alerts/channels/acme-teams')).status).toBe(404);
    expect((await call(keys.globexAdmin, 'GET', '/v1/alerts/channels')).json.data).toEqual([]);
    // A rule of globex cannot route to acme's channel.
    const res = await call(
      keys.globexAdmin,
      'POST',
      '/v1/alerts/rules',
      rule('steal', { channels: ['acme-teams'] }),
    );
    expect(res.json.error.field).toBe('channels.0');
  });
});

describe('silences through the API', () => {
  it('creates, lists and expires silences, with author and reason', async () => {
    const bad = await call(keys.acmeAdmin, 'POST', '/v1/alerts/silences', { reason: 'x', duration: '1h' });
    expect(bad.json.error.field).toBe('matchers');
    const noReason = await call(keys.acmeAdmin, 'POST', '/v1/alerts/silences', {
      ruleId: 'r',
      duration: '1h',
    });
    expect(noReason.json.error.field).toBe('reason');
    const past = await call(keys.acmeAdmin, 'POST', '/v1/alerts/silences', {
      ruleId: 'r',
      reason: 'x',
      endsAt: 'now-1h',
    });
    expect(past.json.error.field).toBe('endsAt');

    const made = await call(keys.acmeAdmin, 'POST', '/v1/alerts/silences', {
      ruleId: 'listed',
      matchers: { service: 'checkout' },
      duration: '2h',
      reason: 'deploying checkout',
      author: 'jane',
    });
    expect(made.status).toBe(201);
    const s = made.json.data;
    expect(s).toMatchObject({
      ruleId: 'listed',
      matchers: { service: 'checkout' },
      author: 'jane',
      status: 'active',
    });
    expect(s.endsAt - s.startsAt).toBe(7_200_000);
    const byKey = await call(keys.acmeAdmin, 'POST', '/v1/alerts/silences', {
      matchers: { team: 'payments' },
      startsAt: 'now+1h',
      duration: '1h',
      reason: 'maintenance window',
    });
    expect(byKey.json.data).toMatchObject({ status: 'pending' });
    expect(byKey.json.data.author).toMatch(/^[A-Za-z0-9]{8}$/); // the key id, not the key

    const list = await call(keys.acmeQuery, 'GET', '/v1/alerts/silences');
    expect(list.json.data.map((x: { id: string }) => x.id).sort()).toEqual([s.id, byKey.json.data.id].sort());
    expect((await call(keys.globexAdmin, 'GET', `/v1/alerts/silences/${s.id}`)).status).toBe(404);
    expect((await call(keys.globexAdmin, 'DELETE', `/v1/alerts/silences/${s.id}`)).status).toBe(404);
    expect((await call(keys.globexAdmin, 'GET', '/v1/alerts/silences')).json.data).toEqual([]);

    const expired = await call(keys.acmeAdmin, 'DELETE', `/v1/alerts/silences/${s.id}`);
    expect(expired.json.data).toMatchObject({ status: 'expired' });
    expect(expired.json.data.expiredAt).toBeGreaterThan(0);
    expect((await call(keys.acmeQuery, 'GET', '/v1/alerts/silences')).json.data).toHaveLength(1);
    expect((await call(keys.acmeQuery, 'GET', '/v1/alerts/silences?all=true')).json.data).toHaveLength(2);
    expect(await store.active('acme', Date.now())).toHaveLength(0);
  });
});

describe('state and history through the API', () => {
  it('answers the tenant’s state and history only, newest first, in pages', async () => {
    const t0 = Date.now() - 3_600_000;
    const entry = (tenant: string, at: number, ruleId: string, to: 'firing' | 'ok') => ({
      tenant,
      at,
      ruleId,
      ruleName: `Rule ${ruleId}`,
      series: { service: 'checkout' },
      labels: { service: 'checkout', team: tenant },
      from: to === 'firing' ? ('pending' as const) : ('firing' as const),
      to,
      value: to === 'firing' ? 0.2 : 0.01,
      threshold: 0.05,
      windowMs: 300_000,
      link: 'http://127.0.0.1:4318/#/traces?service=checkout',
    });
    await history.record([
      entry('acme', t0 + 1_000, 'listed', 'firing'),
      entry('acme', t0 + 2_000, 'listed', 'ok'),
      entry('acme', t0 + 3_000, 'file-rule', 'firing'),
      entry('globex', t0 + 2_500, 'listed', 'firing'),
    ]);
    // Recording the same transition again (a retried round) does not duplicate it.
    await history.record([entry('acme', t0 + 3_000, 'file-rule', 'firing')]);

    const all = await call(keys.acmeQuery, 'GET', `/v1/alerts/history?from=${t0}&to=now`);
    expect(all.status).toBe(200);
    expect(all.json.data.map((e: { at: number; ruleId: string }) => [e.at - t0, e.ruleId])).toEqual([
      [3_000, 'file-rule'],
      [2_000, 'listed'],
      [1_000, 'listed'],
    ]);
    expect(all.json.data[0]).toEqual({
      at: t0 + 3_000,
      ruleId: 'file-rule',
      ruleName: 'Rule file-rule',
      labels: { service: 'checkout', team: 'acme' },
      from: 'pending',
      to: 'firing',
      value: 0.2,
      threshold: 0.05,
      windowMs: 300_000,
      link: 'http://127.0.0.1:4318/#/traces?service=checkout',
    });
    const page1 = await call(keys.acmeQuery, 'GET', `/v1/alerts/history?from=${t0}&limit=2`);
    expect(page1.json.data).toHaveLength(2);
    const cursor = page1.json.meta.nextCursor as string;
    expect(cursor).toBeTruthy();
    const page2 = await call(
      keys.acmeQuery,
      'GET',
      `/v1/alerts/history?from=${t0}&limit=2&cursor=${encodeURIComponent(cursor)}`,
    );
    expect(page2.json.data.map((e: { at: number }) => e.at - t0)).toEqual([1_000]);
    const filtered = await call(keys.acmeQuery, 'GET', `/v1/alerts/history?from=${t0}&ruleId=listed`);
    expect(filtered.json.data.map((e: { to: string }) => e.to)).toEqual(['ok', 'firing']);
    const globex = await call(keys.globexAdmin, 'GET', `/v1/alerts/history?from=${t0}`);
    expect(globex.json.data.map((e: { labels: { team: string } }) => e.labels.team)).toEqual(['globex']);
    // Another tenant's cursor position read in globex's own partition shows nothing of acme.
    const foreign = await call(
      keys.globexAdmin,
      'GET',
      `/v1/alerts/history?from=${t0}&cursor=${encodeURIComponent(cursor)}`,
    );
    expect(foreign.text).not.toContain('"acme"');
    expect((await call(keys.acmeQuery, 'GET', '/v1/alerts/history?cursor=..%2F..')).json.error.field).toBe(
      'cursor',
    );
    expect((await call(keys.acmeQuery, 'GET', '/v1/alerts/history?limit=0')).json.error.field).toBe('limit');
    expect((await call(keys.acmeQuery, 'GET', '/v1/alerts/history?from=now-90d')).json.error.field).toBe(
      'from',
    );

    const now = Date.now();
    await state.save({
      tenant: 'acme',
      ruleId: 'file-rule',
      seriesKey: 'service=checkout',
      series: { service: 'checkout' },
      status: 'firing',
      activeSince: now - 120_000,
      firingSince: now - 60_000,
      lastBreachAt: now,
      value: 0.2,
      evaluatedAt: now,
      version: 1,
      last: { threshold: 0.1, op: '>', windowMs: 300_000 },
    });
    const st = await call(keys.acmeQuery, 'GET', '/v1/alerts/state');
    expect(st.json.data).toEqual([
      {
        ruleId: 'file-rule',
        ruleName: 'From the file',
        labels: { service: 'checkout' },
        state: 'firing',
        value: 0.2,
        threshold: 0.1,
        since: now - 60_000,
      },
    ]);
    expect((await call(keys.globexAdmin, 'GET', '/v1/alerts/state')).json.data).toEqual([]);
  });
});

describe('rule files and the API (npm run alerts -- import|export)', () => {
  const FILE = `tenant: initech
channels:
  oncall: { type: opsgenie, secret: env:INITECH_GENIE }
  archive: { type: webhook, secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:x }
rules:
  - id: tps-errors
    name: TPS report errors
    severity: error
    runbook: https://runbooks.example.com/tps
    channels: [oncall]
    kind: log_count
    minSeverity: ERROR
    window: 10m
    for: 2m
    threshold: 5
  - id: tps-latency
    name: TPS p99
    severity: warning
    runbook: https://runbooks.example.com/tps
    kind: latency_percentile
    percentile: 0.99
    window: 15m
    thresholdMs: 800
`;

  it('imports a rule file (channels first, secrets from env only), exports it back as a valid file, and re-imports as updates', async () => {
    const target = { url: gateway.url, key: keys.initechAdmin! };
    const first = await importRules(target, FILE, 'initech.yaml', { env: { INITECH_GENIE: 'genie-key' } });
    expect(first.done).toEqual([
      'channels oncall: created',
      'rules tps-errors: created',
      'rules tps-latency: created',
    ]);
    // An ARN is a reference the API does not take: skipped, and said so.
    expect(first.failed).toEqual([
      expect.stringMatching(/^channels archive: secret arn:.* is not readable here/),
    ]);

    const { text, notes } = await exportRules(target, 'initech');
    const exported = parseRuleFile(text, 'exported.yaml');
    const original = parseRuleFile(FILE, 'initech.yaml');
    expect(exported.rules).toEqual(original.rules);
    expect(exported.channels).toEqual({ oncall: { type: 'opsgenie', secret: 'env:ALERT_SECRET_ONCALL' } });
    expect(text).not.toContain('genie-key');
    expect(notes).toEqual([expect.stringContaining('env:ALERT_SECRET_ONCALL')]);

    const again = await importRules(target, FILE.replace('threshold: 5', 'threshold: 7'), 'initech.yaml', {
      env: { INITECH_GENIE: 'genie-key-2' },
    });
    expect(again.done).toEqual([
      'channels oncall: updated',
      'rules tps-errors: updated',
      'rules tps-latency: updated',
    ]);
    const rule = await call(keys.initechAdmin, 'GET', '/v1/alerts/rules/tps-errors');
    expect(rule.json.data).toMatchObject({ version: 2, threshold: 7, window: '10m', for: '2m' });
    // A broken file imports nothing.
    await expect(
      importRules(target, FILE.replace('window: 10m', 'window: ten'), 'initech.yaml'),
    ).rejects.toThrow(/window/);
  });
});
