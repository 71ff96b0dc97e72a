/**
 * The alerts API's request latency in local mode's shape (the local HTTP gateway -> the Lambda
 * handler -> DynamoDB on dynalite), and what the API store adds to an evaluation round (the
 * merged rule read and the silences read), for N API rules of one tenant.
 *
 *   npx tsx bench/alerts-api.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAlertsApiHandler } from '../functions/alerts-api/handler.js';
import { alertsRoutes } from '../functions/shared/alerts/alerts-api.js';
import { MergedRuleSource } from '../functions/shared/alerts/api-rule-source.js';
import { FileChannelSecretStore } from '../functions/shared/alerts/channel-secrets.js';
import {
  DynamoAlertConfigStore,
  DynamoAlertHistoryStore,
  ensureAlertConfigTables,
} from '../functions/shared/alerts/dynamo-alert-config-store.js';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../functions/shared/alerts/dynamo-alert-state-store.js';
import { StaticRuleSource } from '../functions/shared/alerts/rule-source.js';
import { CachedTenantDirectory } from '../functions/shared/tenants/directory.js';
import {
  createKey,
  DynamoTenantDirectory,
  ensureTenantsTable,
} from '../functions/shared/tenants/dynamo-tenant-directory.js';
import { localDynamoClient } from '../local/aws-clients.js';
import { startEmulators } from '../local/emulators.js';
import { startHttpGateway } from '../local/http-gateway.js';

process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
const quick = process.argv.includes('--quick');
const RULES = quick ? 50 : 200;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 0.5).toFixed(1)} ms, p95 ${pct(xs, 0.95).toFixed(1)} ms (n=${xs.length})`;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-alerts-api-'));
  const emulators = await startEmulators({ dataDir: dir });
  try {
    const dynamo = localDynamoClient(emulators.dynamoEndpoint);
    await ensureTenantsTable(dynamo, 'tenants');
    await ensureAlertConfigTables(dynamo, 'alert-config', 'alert-history');
    await ensureAlertStateTable(dynamo, 'alert-state');
    const { key } = await createKey(dynamo, 'tenants', { tenantId: 'acme', scopes: ['query', 'admin'] });
    const store = new DynamoAlertConfigStore(dynamo, 'alert-config');
    const handler = createAlertsApiHandler({
      api: {
        tenants: new CachedTenantDirectory(new DynamoTenantDirectory(dynamo, 'tenants')),
        store,
        history: new DynamoAlertHistoryStore(dynamo, 'alert-history'),
        state: new DynamoAlertStateStore(dynamo, 'alert-state'),
        files: new StaticRuleSource([]),
        secrets: new FileChannelSecretStore(join(dir, 'secrets.json')),
        allowHttpUrls: true,
      },
    });
    const gateway = await startHttpGateway({ port: 0, routes: alertsRoutes.map((r) => ({ ...r, handler })) });
    const call = async (method: string, path: string, body?: unknown) => {
      const t = performance.now();
      const res = await fetch(`${gateway.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      await res.arrayBuffer();
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status}`);
      return performance.now() - t;
    };
    const creates: number[] = [];
    for (let i = 0; i < RULES; i++) {
      creates.push(
        await call('POST', '/v1/alerts/rules', {
          id: `rule-${i}`,
          name: `Rule ${i}`,
          severity: 'warning',
          runbook: 'https://runbooks.example.com/x',
          kind: 'error_ratio',
          service: `svc-${i}`,
          window: '5m',
          threshold: 0.05,
        }),
      );
    }
    const updates: number[] = [];
    const gets: number[] = [];
    const lists: number[] = [];
    for (let i = 0; i < 30; i++) {
      updates.push(
        await call('PUT', `/v1/alerts/rules/rule-${i}`, {
          name: `Rule ${i} v2`,
          severity: 'warning',
          runbook: 'https://runbooks.example.com/x',
          kind: 'error_ratio',
          window: '10m',
          threshold: 0.1,
        }),
      );
      gets.push(await call('GET', `/v1/alerts/rules/rule-${i}`));
      lists.push(await call('GET', '/v1/alerts/rules'));
    }
    const merges: number[] = [];
    for (let i = 0; i < 20; i++) {
      const source = new MergedRuleSource(new StaticRuleSource([]), store, { ttlMs: 0 });
      const t = performance.now();
      const files = await source.load();
      await store.active('acme', Date.now());
      merges.push(performance.now() - t);
      if (files[0]?.rules.length !== RULES) throw new Error('rules missing');
    }
    console.log(`alerts API on dynalite, ${RULES} API rules of one tenant:`);
    console.log(`  POST rule        ${fmt(creates)}`);
    console.log(`  PUT rule         ${fmt(updates)}`);
    console.log(`  GET rule         ${fmt(gets)}`);
    console.log(`  GET rules (list) ${fmt(lists)}`);
    console.log(`  evaluator round: merged rule read + silences read ${fmt(merges)}`);
    await gateway.close();
  } finally {
    await emulators.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
