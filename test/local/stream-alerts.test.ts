import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../../functions/shared/alerts/dynamo-alert-state-store.js';
import { createNotifier } from '../../functions/shared/alerts/notifier.js';
import { StaticRuleSource } from '../../functions/shared/alerts/rule-source.js';
import { RuleFileSchema } from '../../functions/shared/alerts/rules.js';
import { LocalSecretSource } from '../../functions/shared/alerts/secrets.js';
import { verifyWebhookSignature } from '../../functions/shared/alerts/signing.js';
import { DynamoAlertSliceStore } from '../../functions/shared/alerts/slice-store.js';
import { packEnvelopes } from '../../functions/shared/envelope/envelope.js';
import { createStreamAlertEvaluatorHandler } from '../../functions/stream-alert-evaluator/handler.js';
import { localDynamoClient, localKinesisClient } from '../../local/aws-clients.js';
import { FileCheckpointStore } from '../../local/checkpoint-store.js';
import { type Emulators, startEmulators } from '../../local/emulators.js';
import { type EsmPoller, type KinesisConsumerHandler, startEsmPoller } from '../../local/esm-poller.js';
import { alertEventOf, InProcessEventBus } from '../../local/event-bus.js';
import { MemoryDeadLetters, type Receiver, startReceiver } from '../functions/shared/alerts/support.js';
import { batchOf } from '../functions/shared/clickhouse/support.js';

/**
 * The stream evaluator driven by the local poller's tumbling windows, delivering to a real HTTP
 * receiver through the bus and the webhook notifier: a crash inside a window, and a crash after
 * the decision but before the checkpoint, each followed by redelivery, give one notification.
 */

const HMAC = 'stream-alerts-hmac-key-123';
const WINDOW_S = 2;
let dir: string;
let emulators: Emulators;
let kinesis: KinesisClient;
let dynamo: DynamoDBClient;
let receiver: Receiver;
let streamNo = 0;
const pollers: EsmPoller[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stream-alerts-'));
  emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  kinesis = localKinesisClient(emulators.kinesisEndpoint);
  dynamo = localDynamoClient(emulators.dynamoEndpoint);
  receiver = await startReceiver();
}, 60_000);

afterAll(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  await receiver?.close();
  kinesis?.destroy();
  await emulators?.close();
  await rm(dir, { recursive: true, force: true });
});

async function newStream(): Promise<string> {
  const name = `alerts-${++streamNo}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  await vi.waitFor(
    async () => {
      const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      if (d.StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') throw new Error('not active yet');
    },
    { timeout: 10_000, interval: 20 },
  );
  return name;
}

/** One tenant, one stream rule (error logs per service), one webhook channel to the receiver. */
function setup(tenant: string, path: string) {
  const rules = RuleFileSchema.parse({
    tenant,
    channels: { hook: { type: 'webhook', secret: 'env:HOOK' } },
    rules: [
      {
        id: 'errors',
        name: 'error logs',
        severity: 'critical',
        runbook: 'https://runbooks.example.com/errors',
        kind: 'log_count',
        groupBy: ['service'],
        minSeverity: 'ERROR',
        window: '1m',
        threshold: 2,
        channels: ['hook'],
      },
    ],
  });
  const table = `state-${tenant}`;
  const notifier = createNotifier({
    secrets: new LocalSecretSource(
      {},
      { HOOK: JSON.stringify({ url: `${receiver.url}${path}`, hmacKey: HMAC }) },
    ),
    email: { publish: async () => undefined },
  });
  const bus = new InProcessEventBus({ deadLetters: new MemoryDeadLetters() }).addRule({
    name: 'notifier-webhook',
    pattern: { source: ['otlp.alerts'], detail: { channels: { type: ['webhook'] } } },
    target: async (e) => {
      await notifier.deliver(alertEventOf(e), 'webhook');
    },
  });
  const handler = createStreamAlertEvaluatorHandler({
    ports: () => ({
      rules: new StaticRuleSource([rules]),
      state: new DynamoAlertStateStore(dynamo, table),
      slices: new DynamoAlertSliceStore(dynamo, table),
      publisher: bus,
      queryBaseUrl: 'http://127.0.0.1:4318',
    }),
  });
  return { table, bus, handler };
}

async function putErrorLogs(stream: string, tenant: string, service: string, n: number): Promise<void> {
  const now = Date.now();
  const rows = Array.from({ length: n }, (_, i) => ({
    TenantId: tenant,
    Timestamp: (BigInt(now - 10 + i) * 1_000_000n).toString(),
    ServiceName: service,
    SeverityText: 'ERROR',
    SeverityNumber: 17,
    Body: `failure ${i}`,
  }));
  const envelopes = packEnvelopes(tenant, 'logs', [batchOf('otel_logs', rows)]);
  await kinesis.send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: envelopes.map((e) => ({ Data: e.data, PartitionKey: `${tenant}:${service}` })),
    }),
  );
}

async function start(stream: string, name: string, handler: KinesisConsumerHandler): Promise<EsmPoller> {
  const p = await startEsmPoller({
    kinesis,
    streamName: stream,
    handler,
    checkpointStore: new FileCheckpointStore(join(dir, `${name}.json`)),
    tumblingWindowSeconds: WINDOW_S,
    reportBatchItemFailures: true,
    pollIntervalMs: 50,
    logger: { warn: () => undefined, error: () => undefined },
  });
  pollers.push(p);
  return p;
}

const delivered = (path: string) => receiver.requests.filter((r) => r.path === path);

function expectSigned(path: string): void {
  for (const r of delivered(path)) {
    const check = verifyWebhookSignature({
      body: r.body,
      timestamp: String(r.headers['x-timestamp']),
      alertId: String(r.headers['x-alert-id']),
      signature: String(r.headers['x-signature-256']),
      key: HMAC,
    });
    expect(check.ok).toBe(true);
  }
}

describe('stream evaluator on the local poller', () => {
  it('a crash inside a window: the restarted poller folds the window again and one notification goes out', async () => {
    const stream = await newStream();
    const { table, bus, handler } = setup('crash-in-window', '/in-window');
    await ensureAlertStateTable(dynamo, table);
    let aggregated = 0;
    let finals = 0;
    const counting: KinesisConsumerHandler = async (event, context) => {
      const e = event as KinesisStreamTumblingWindowEvent;
      if (e.isFinalInvokeForWindow) finals++;
      else aggregated += e.Records.length;
      return handler(e, context as Context);
    };
    // Wait for a fresh window so the records cannot straddle a boundary right away.
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000 - (Date.now() % (WINDOW_S * 1000)) + 50));
    await putErrorLogs(stream, 'crash-in-window', 'checkout', 5);
    const first = await start(stream, 'in-window', counting);
    await vi.waitFor(() => expect(aggregated).toBeGreaterThan(0), { timeout: 5_000 });
    await first.stop(); // killed before the window's final invocation
    expect(finals).toBe(0);
    expect(delivered('/in-window')).toHaveLength(0);

    const second = await start(stream, 'in-window', counting);
    await vi.waitFor(() => expect(delivered('/in-window')).toHaveLength(1), { timeout: 15_000 });
    // Caught up (every window's final invocation done, nothing buffered): nothing is left that
    // could send twice.
    await second.whenIdle();
    await bus.drain();
    expect(delivered('/in-window')).toHaveLength(1);
    expectSigned('/in-window');
    const body = JSON.parse(delivered('/in-window')[0]!.body) as { status: string; value: number };
    expect(body.status).toBe('firing');
    expect(body.value).toBe(5);
  }, 40_000);

  it('a crash after the decision, before the checkpoint: the final invocation is redelivered (retry, then restart) and no second notification goes out', async () => {
    const stream = await newStream();
    const { table, bus, handler } = setup('crash-after-decision', '/after-decision');
    await ensureAlertStateTable(dynamo, table);
    let finals = 0;
    const dying: KinesisConsumerHandler = async (event, context) => {
      const e = event as KinesisStreamTumblingWindowEvent;
      const response = await handler(e, context as Context);
      if (e.isFinalInvokeForWindow && ++finals === 1) {
        await bus.drain();
        throw new Error('process died before the checkpoint');
      }
      return response;
    };
    await putErrorLogs(stream, 'crash-after-decision', 'payments', 4);
    const first = await start(stream, 'after-decision', dying);
    await vi.waitFor(() => expect(finals).toBeGreaterThanOrEqual(2), { timeout: 15_000 });
    await first.stop();
    // A restart from the checkpoint: if the window was not checkpointed it is decided once more.
    const restarted = await start(stream, 'after-decision', (event, context) =>
      handler(event as KinesisStreamTumblingWindowEvent, context as Context),
    );
    // Caught up, every window decided (whenIdle waits for open windows' final invocations).
    await restarted.whenIdle();
    await bus.drain();
    expect(delivered('/after-decision')).toHaveLength(1);
    expectSigned('/after-decision');
    const ids = new Set(delivered('/after-decision').map((r) => r.headers['x-alert-id']));
    expect(ids.size).toBe(1);
  }, 40_000);
});
