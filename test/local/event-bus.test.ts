import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ClickHouseClient } from '@clickhouse/client';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidAlertEventError } from '../../functions/notifiers/handler.js';
import { LocalSecretSource } from '../../functions/shared/alerts/secrets.js';
import { verifyWebhookSignature } from '../../functions/shared/alerts/signing.js';
import { listDeadLetters, S3DeadLetterSink } from '../../functions/shared/dead-letter/s3-dead-letter-sink.js';
import { localDynamoClient, localS3Client } from '../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../local/emulators.js';
import {
  alertEventOf,
  type BusEvent,
  eventBridgeEventOf,
  InProcessEventBus,
  matchesPattern,
  startLocalAlerting,
} from '../../local/event-bus.js';
import { ensureLocalAlertTables, localAlertingFunctions } from '../../local/functions.js';
import {
  embeddedClickHouse,
  MemoryDeadLetters,
  type Receiver,
  spans,
  startReceiver,
  writeRows,
} from '../functions/shared/alerts/support.js';

let emulators: Emulators;
let s3: S3Client;
let clickhouse: ClickHouseClient;
let receiver: Receiver;

beforeAll(async () => {
  emulators = await startEmulators({ dataDir: await mkdtemp(join(tmpdir(), 'event-bus-')) });
  s3 = localS3Client(emulators.s3Endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: 'lake' }));
  clickhouse = await embeddedClickHouse();
  receiver = await startReceiver();
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await clickhouse?.close();
  await emulators?.close();
});

const event = (detail: unknown, detailType = 'AlertFiring'): BusEvent => ({
  id: 'e1',
  source: 'otlp.alerts',
  detailType,
  time: new Date().toISOString(),
  detail,
});

describe('in-process event bus', () => {
  it('matches source, detail-type and detail fields, a field in an array of objects included', () => {
    const pattern = {
      source: ['otlp.alerts'],
      detailType: ['AlertFiring'],
      detail: { channels: { type: ['slack'] } },
    };
    const routed = { channels: [{ type: 'webhook' }, { type: 'slack' }] };
    expect(matchesPattern(pattern, event(routed))).toBe(true);
    expect(matchesPattern(pattern, event({ channels: [{ type: 'webhook' }] }))).toBe(false);
    expect(matchesPattern(pattern, event(routed, 'AlertResolved'))).toBe(false);
    expect(matchesPattern(pattern, { ...event(routed), source: 'other' })).toBe(false);
  });

  it('retries a failing target with backoff, then dead-letters the event to S3', async () => {
    const delays: number[] = [];
    let calls = 0;
    const bus = new InProcessEventBus({
      deadLetters: new S3DeadLetterSink(s3, 'lake'),
      retry: { attempts: 3, baseDelayMs: 100 },
      sleep: async (ms) => {
        delays.push(ms);
      },
    }).addRule({
      name: 'broken-target',
      pattern: { source: ['otlp.alerts'] },
      target: async () => {
        calls++;
        throw new Error('endpoint down');
      },
    });
    await bus.put([
      { source: 'otlp.alerts', detailType: 'AlertFiring', time: new Date().toISOString(), detail: { n: 1 } },
    ]);
    await bus.drain();
    expect(calls).toBe(3);
    expect(delays).toEqual([100, 200]);
    const letters = await listDeadLetters(s3, 'lake');
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toBe('rule broken-target: delivery failed 3 times: endpoint down');
    const stored = JSON.parse(Buffer.from(letters[0]!.dataBase64, 'base64').toString('utf8')) as BusEvent;
    expect(stored).toMatchObject({ source: 'otlp.alerts', detailType: 'AlertFiring', detail: { n: 1 } });
  });

  it('delivers to every matching rule independently: one failing target does not stop another', async () => {
    const got: string[] = [];
    const deadLetters = new MemoryDeadLetters();
    const bus = new InProcessEventBus({ deadLetters, retry: { attempts: 2, baseDelayMs: 0 } })
      .addRule({ name: 'ok', pattern: {}, target: async (e) => void got.push(e.detailType) })
      .addRule({ name: 'fails', pattern: {}, target: async () => Promise.reject(new Error('no')) });
    await bus.put([{ source: 's', detailType: 'A', time: '', detail: {} }]);
    await bus.drain();
    expect(got).toEqual(['A']);
    expect(deadLetters.letters.map((l) => l.source)).toEqual(['event-bus/fails']);
  });
});

describe('the bus as EventBridge: PutEvents in, the rule target gets the EventBridge event', () => {
  it('routes each PutEvents entry by its source and detail, answering an event id per entry', async () => {
    const got: EventBridgeEvent<string, unknown>[] = [];
    const bus = new InProcessEventBus({ deadLetters: new MemoryDeadLetters() }).addRule({
      name: 'webhook',
      pattern: { source: ['otlp.alerts'], detail: { channels: { type: ['webhook'] } } },
      target: async (e) => void got.push(eventBridgeEventOf(e)),
    });
    const out = await bus.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: 'otlp.alerts',
            DetailType: 'AlertFiring',
            Time: new Date('2026-12-07T00:00:00Z'),
            Detail: JSON.stringify({ channels: [{ type: 'webhook' }] }),
          },
          { Source: 'otlp.alerts', DetailType: 'AlertFiring', Detail: JSON.stringify({ channels: [] }) },
        ],
      }),
    );
    await bus.drain();
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries?.map((e) => typeof e.EventId)).toEqual(['string', 'string']);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      source: 'otlp.alerts',
      'detail-type': 'AlertFiring',
      time: '2026-12-07T00:00:00.000Z',
      detail: { channels: [{ type: 'webhook' }] },
    });
  });

  it('an event that is not a valid alert is refused by the notifier’s own parsing', () => {
    expect(() => alertEventOf(event({ not: 'an alert' }))).toThrow(InvalidAlertEventError);
  });
});

describe('local alerting: evaluator on a timer, bus, notifiers posting over HTTP', () => {
  const HOOK = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:alerts/local-hook';

  it('a breach written to ClickHouse reaches the webhook signed; a failing endpoint is retried then dead-lettered', async () => {
    const now = Date.now();
    await writeRows(clickhouse, 'local', 'otel_traces', spans(10, { atMs: now - 30_000, error: true }));
    const rulesDir = await mkdtemp(join(tmpdir(), 'event-bus-rules-'));
    await writeFile(
      join(rulesDir, 'local.json'),
      JSON.stringify({
        tenant: 'local',
        channels: {
          hook: { type: 'webhook', secret: HOOK },
          broken: { type: 'slack', secret: 'env:BROKEN_SLACK_URL' },
        },
        rules: [
          {
            id: 'errors',
            name: 'Errors',
            severity: 'error',
            runbook: 'https://runbooks.example.com/errors',
            channels: ['hook', 'broken'],
            kind: 'error_ratio',
            window: '5m',
            threshold: 0.1,
          },
        ],
      }),
    );
    const lines: string[] = [];
    const deadLetters = new MemoryDeadLetters();
    receiver.failing.add('/broken');
    const dynamo = localDynamoClient(emulators.dynamoEndpoint);
    await ensureLocalAlertTables(dynamo);
    const bus = new InProcessEventBus({ deadLetters, retry: { attempts: 2, baseDelayMs: 1 } });
    // The functions as local mode composes them: each handler's own depsFromConfig.
    const functions = localAlertingFunctions(
      {
        // The notifiers' own settings, read from the environment as in Lambda.
        env: { NOTIFIER_ATTEMPTS: '2', NOTIFIER_BASE_DELAY_MS: '1' },
        alertRulesDir: rulesDir,
        alertStreamWindowSeconds: 0,
        gatewayUrl: () => 'http://127.0.0.1:4318',
      },
      {
        clickhouse,
        dynamo,
        bus,
        notifierSecrets: new LocalSecretSource(
          { [HOOK]: JSON.stringify({ url: `${receiver.url}/local`, hmacKey: 'local-hmac-key-123456' }) },
          { BROKEN_SLACK_URL: `${receiver.url}/broken` },
        ),
        email: { publish: async () => undefined },
      },
    );
    const original = receiver.requests.length;
    let firstRound: () => void = () => undefined;
    const evaluated = new Promise<void>((resolve) => {
      firstRound = resolve;
    });
    const alerting = startLocalAlerting({
      bus,
      evaluator: functions.alertEvaluator(),
      notifiers: functions.notifiers(),
      intervalMs: 100,
      log: (line) => lines.push(line),
      onEvaluated: () => firstRound(),
    });
    try {
      // The first round runs at start and publishes; the bus's deliveries (retries and the dead
      // letter included) are then awaited rather than polled for.
      await evaluated;
      await bus.drain();
    } finally {
      await alerting.close();
    }
    const requests = receiver.requests.slice(original);
    const good = requests.filter((r) => r.path === '/local');
    expect(good).toHaveLength(1);
    expect(
      verifyWebhookSignature({
        body: good[0]!.body,
        timestamp: good[0]!.headers['x-timestamp'] as string,
        alertId: good[0]!.headers['x-alert-id'] as string,
        signature: good[0]!.headers['x-signature-256'] as string,
        key: 'local-hmac-key-123456',
      }),
    ).toEqual({ ok: true });
    expect(lines.some((l) => l.includes('[FIRING] Errors (service=checkout)'))).toBe(true);
    // 2 notifier attempts inside each of 2 bus deliveries, then the dead letter; nothing twice.
    expect(requests.filter((r) => r.path === '/broken')).toHaveLength(4);
    expect(deadLetters.letters.map((l) => l.source)).toEqual(['event-bus/notifier-slack']);
    expect(deadLetters.letters[0]!.reason).toContain('broken');
  }, 30_000);
});
