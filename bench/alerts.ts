/**
 * Alerting latency in local mode: from a threshold breach being written to the hot tier (through
 * the hot writer's code, as the local event-source poller does) to the webhook receiving the signed
 * notification of a rule the schedule owns, through the real pieces: embedded ClickHouse, dynalite
 * for state, the evaluator on a timer, the in-process bus, the webhook notifier, and an HTTP
 * receiver on 127.0.0.1.
 *
 *   npx tsx bench/alerts.ts [--quick]
 *
 * The schedule's phase dominates: a breach waits for the next tick (0..interval). So the script
 * measures, per trial with the breach at a random phase, the wait for the tick and the processing
 * after it (evaluation + state write + bus + notifier + HTTP), at a short interval to finish in
 * seconds, and derives the figure for the one-minute schedule: ingest batching window (local
 * HOT_BATCH_WINDOW_MS, 1 s) + up to 60 s of wait + the processing measured.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isScheduledRule, STREAM_ALERT_WINDOW_SECONDS } from '../functions/shared/alerts/evaluation-path.js';
import { parseRuleFile } from '../functions/shared/alerts/rules.js';
import { LocalSecretSource } from '../functions/shared/alerts/secrets.js';
import { verifyWebhookSignature } from '../functions/shared/alerts/signing.js';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter } from '../functions/shared/clickhouse/writer.js';
import { physicalColumns } from '../functions/shared/schema/columns.js';
import { absentValueOf } from '../functions/shared/schema/defaults.js';
import { localDynamoClient } from '../local/aws-clients.js';
import { createEmbeddedClickHouse } from '../local/clickhouse-embedded.js';
import { startEmulators } from '../local/emulators.js';
import { InProcessEventBus, startLocalAlerting } from '../local/event-bus.js';
import { ensureLocalAlertTables, localAlertingFunctions } from '../local/functions.js';

// The functions log and emit metrics as in Lambda; as local mode does (local/pipeline.ts), quiet here.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'otlp-pipeline';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const quick = process.argv.includes('--quick');
const TRIALS = quick ? 3 : 6;
const INTERVAL_MS = quick ? 1_000 : 3_000;
const SCHEDULE_MS = 60_000;
const HOT_BATCH_WINDOW_MS = 1_000;
const KEY = 'bench-hmac-key-0123456789';
const HOOK = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-hook';

const dir = mkdtempSync(join(tmpdir(), 'bench-alerts-'));
const clickhouse = createEmbeddedClickHouse({ path: join(dir, 'ch') });
await applyMigrations(clickhouse, { hotRetentionDays: 7 });
const emulators = await startEmulators({ dataDir: join(dir, 'emu') });

const received = new Map<string, number>();
let badSignatures = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const ok = verifyWebhookSignature({
      body,
      timestamp: req.headers['x-timestamp'] as string,
      alertId: req.headers['x-alert-id'] as string,
      signature: req.headers['x-signature-256'] as string,
      key: KEY,
    }).ok;
    if (!ok) badSignatures++;
    const tenant = (JSON.parse(body) as { tenant: string }).tenant;
    if (!received.has(tenant)) received.set(tenant, performance.now());
    res.end('ok');
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;

const tenants = Array.from({ length: TRIALS }, (_, i) => `bench-${i}`);
const rulesDir = join(dir, 'rules');
mkdirSync(rulesDir);
for (const tenant of tenants) {
  const text = JSON.stringify({
    tenant,
    channels: { hook: { type: 'webhook', secret: HOOK } },
    rules: [
      {
        id: 'errors',
        name: 'Error ratio above 10 %',
        severity: 'critical',
        runbook: 'https://runbooks.example.com/errors',
        channels: ['hook'],
        kind: 'error_ratio',
        // Over the whole tenant (several shards): the schedule's, not the stream's (evaluation-path.ts).
        groupBy: [],
        window: '5m',
        threshold: 0.1,
      },
    ],
  });
  const file = join(rulesDir, `${tenant}.json`);
  if (!parseRuleFile(text, file).rules.every(isScheduledRule))
    throw new Error('a bench rule is stream-owned');
  writeFileSync(file, text);
}

// Evaluation start times (performance.now()), to split wait from processing.
const ticks: number[] = [];
const dynamo = localDynamoClient(emulators.dynamoEndpoint);
await ensureLocalAlertTables(dynamo);
const bus = new InProcessEventBus({ deadLetters: { put: async () => {} } });
// The evaluator and notifier functions as local mode composes them (local/functions.ts).
const functions = localAlertingFunctions(
  {
    env: {},
    alertRulesDir: rulesDir,
    // Local mode's default: the stream evaluator on, so the schedule skips what the stream owns.
    alertStreamWindowSeconds: STREAM_ALERT_WINDOW_SECONDS,
    gatewayUrl: () => 'http://127.0.0.1:4318',
  },
  {
    clickhouse,
    dynamo,
    bus,
    notifierSecrets: new LocalSecretSource({ [HOOK]: JSON.stringify({ url, hmacKey: KEY }) }),
    email: { publish: async () => {} },
  },
);
const evaluator = functions.alertEvaluator();
const alerting = startLocalAlerting({
  bus,
  evaluator: (event, context) => {
    ticks.push(performance.now());
    return evaluator(event, context);
  },
  notifiers: functions.notifiers(),
  intervalMs: INTERVAL_MS,
  log: () => {},
});

const writer = new ClickHouseTelemetryWriter(clickhouse);
function errorSpans(n: number): Record<string, unknown[]> {
  const now = BigInt(Date.now()) * 1_000_000n;
  const columns: Record<string, unknown[]> = {};
  for (const col of physicalColumns('otel_traces')) {
    columns[col.name] = Array.from({ length: n }, (_, i) => {
      if (col.nestedIn) return [];
      switch (col.name) {
        case 'Timestamp':
          return (now + BigInt(i)).toString();
        case 'SpanKind':
          return 'Server';
        case 'ServiceName':
          return 'checkout';
        case 'SpanName':
          return 'POST /pay';
        case 'StatusCode':
          return 'Error';
        case 'Duration':
          return 1_000_000;
        case 'TraceId':
        case 'SpanId':
          return `${Date.now()}-${i}`;
        default:
          // What a row without the column holds (SampleRate 1: an unsampled span counts once).
          return absentValueOf(col);
      }
    });
  }
  return columns;
}

interface Trial {
  writeMs: number;
  waitMs: number;
  processingMs: number;
  totalMs: number;
}
const trials: Trial[] = [];
for (const [i, tenant] of tenants.entries()) {
  // A random phase against the schedule, like a real breach.
  await new Promise((r) => setTimeout(r, Math.random() * INTERVAL_MS));
  const t0 = performance.now();
  const result = await writer.write([
    {
      position: { stream: 'bench', shardId: 'shard-0', sequenceNumber: String(i + 1).padStart(20, '0') },
      tenant,
      batches: [{ table: 'otel_traces', rowCount: 20, columns: errorSpans(20) }],
    },
  ]);
  const written = performance.now();
  // A refused breach would never notify: say why instead of waiting out the timeout.
  if (result.written.length !== 1) throw new Error(`breach not written: ${JSON.stringify(result)}`);
  while (!received.has(tenant) && performance.now() - t0 < 10 * INTERVAL_MS + 10_000) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const at = received.get(tenant);
  if (at === undefined) throw new Error(`no notification for ${tenant}`);
  const tick = ticks.filter((t) => t >= written && t <= at).at(0) ?? at;
  trials.push({ writeMs: written - t0, waitMs: tick - written, processingMs: at - tick, totalMs: at - t0 });
}
await alerting.close();
server.close();
await clickhouse.close();
await emulators.close();
rmSync(dir, { recursive: true, force: true });

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: s[Math.floor((s.length - 1) / 2)]!, max: s[s.length - 1]! };
};
const row = (name: string, xs: number[]) => {
  const { p50, max } = stats(xs);
  console.log(`${name.padEnd(46)} ${p50.toFixed(0).padStart(8)} ${max.toFixed(0).padStart(8)}`);
};
console.log(
  `alerting latency, local mode: ${TRIALS} trials, evaluator every ${INTERVAL_MS} ms (${tenants.length} tenants' rules per tick)`,
);
console.log(`${'figure (ms)'.padEnd(46)} ${'p50'.padStart(8)} ${'max'.padStart(8)}`);
row(
  'write breach rows (hot writer code)',
  trials.map((t) => t.writeMs),
);
row(
  `wait for the next tick (0..${INTERVAL_MS})`,
  trials.map((t) => t.waitMs),
);
row(
  'tick -> webhook received (eval+state+bus+HTTP)',
  trials.map((t) => t.processingMs),
);
row(
  'breach written -> webhook received',
  trials.map((t) => t.totalMs),
);
const worst =
  HOT_BATCH_WINDOW_MS +
  stats(trials.map((t) => t.writeMs)).max +
  SCHEDULE_MS +
  stats(trials.map((t) => t.processingMs)).max;
const mean =
  HOT_BATCH_WINDOW_MS +
  stats(trials.map((t) => t.writeMs)).p50 +
  SCHEDULE_MS / 2 +
  stats(trials.map((t) => t.processingMs)).p50;
console.log(
  `derived for rate(1 minute): ingest->webhook typical ${(mean / 1000).toFixed(1)} s, worst ${(worst / 1000).toFixed(1)} s (target <= 70 s)`,
);
console.log(`signatures verified by the receiver: ${trials.length - badSignatures}/${trials.length}`);
