import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlertEvaluationError,
  createAlertEvaluatorHandler,
} from '../../../functions/alert-evaluator/handler.js';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../../../functions/shared/alerts/dynamo-alert-state-store.js';
import type { EvaluationReport } from '../../../functions/shared/alerts/evaluator.js';
import type { AlertEvent, EventPublisher } from '../../../functions/shared/alerts/events.js';
import { createNotifier } from '../../../functions/shared/alerts/notifier.js';
import { StaticRuleSource } from '../../../functions/shared/alerts/rule-source.js';
import { RuleFileSchema } from '../../../functions/shared/alerts/rules.js';
import { LocalSecretSource } from '../../../functions/shared/alerts/secrets.js';
import { verifyWebhookSignature } from '../../../functions/shared/alerts/signing.js';
import { localDynamoClient } from '../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../local/emulators.js';
import { alertEventOf, InProcessEventBus } from '../../../local/event-bus.js';
import { lambdaContext } from '../../../local/lambda-context.js';
import {
  embeddedClickHouse,
  MemoryDeadLetters,
  type Receiver,
  spans,
  startReceiver,
  writeRows,
} from '../shared/alerts/support.js';

// Powertools metrics would print an EMF blob per invocation.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN;
const HOOK_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:alerts/hook';
const HMAC_KEY = 'test-hmac-key-0123456789';

const context = lambdaContext({
  functionName: 'alert-evaluator',
  requestId: 'req-1',
  account: '123456789012',
  // A constant remaining time: nothing here depends on the clock.
  remaining: { constantMs: 60_000 },
});

let clickhouse: ClickHouseClient;
let emulators: Emulators;
let state: DynamoAlertStateStore;
let receiver: Receiver;

beforeAll(async () => {
  clickhouse = await embeddedClickHouse();
  emulators = await startEmulators({ dataDir: await mkdtemp(join(tmpdir(), 'evaluator-emu-')) });
  const dynamo = localDynamoClient(emulators.dynamoEndpoint);
  await ensureAlertStateTable(dynamo, 'alert-state');
  state = new DynamoAlertStateStore(dynamo, 'alert-state');
  receiver = await startReceiver();
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await clickhouse?.close();
  await emulators?.close();
});

function ruleFile(tenant: string, overrides: Record<string, unknown> = {}) {
  return RuleFileSchema.parse({
    tenant,
    channels: { hook: { type: 'webhook', secret: HOOK_ARN } },
    rules: [
      {
        id: 'checkout-errors',
        name: 'Checkout errors',
        severity: 'critical',
        runbook: 'https://runbooks.example.com/checkout',
        channels: ['hook'],
        kind: 'error_ratio',
        window: '5m',
        threshold: 0.1,
        ...overrides,
      },
    ],
  });
}

/** The local stack: evaluator handler -> in-process bus -> webhook notifier -> the receiver. */
function stack(
  tenant: string,
  opts: {
    publisher?: (bus: InProcessEventBus) => EventPublisher;
    client?: ClickHouseClient;
    rule?: Record<string, unknown>;
  } = {},
) {
  const bus = new InProcessEventBus({ deadLetters: new MemoryDeadLetters(), retry: { baseDelayMs: 1 } });
  const notifier = createNotifier({
    secrets: new LocalSecretSource({
      [HOOK_ARN]: JSON.stringify({ url: `${receiver.url}/${tenant}`, hmacKey: HMAC_KEY }),
    }),
    retry: { baseDelayMs: 1 },
  });
  bus.addRule({
    name: 'notifier-webhook',
    pattern: { source: ['otlp.alerts'], detail: { channels: { type: ['webhook'] } } },
    target: async (e) => {
      await notifier.deliver(alertEventOf(e), 'webhook');
    },
  });
  let now = T0;
  const handler = createAlertEvaluatorHandler({
    ports: () => ({
      rules: new StaticRuleSource([ruleFile(tenant, opts.rule)]),
      state,
      publisher: opts.publisher ? opts.publisher(bus) : bus,
      queryBaseUrl: 'https://api.example.com',
      clock: () => now,
      outboxGraceMs: 2 * MIN,
    }),
    clickhouse: async () => opts.client ?? clickhouse,
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'alert-evaluator' }),
  });
  return {
    bus,
    setNow: (t: number) => {
      now = t;
    },
    invoke: () => handler({ source: 'aws.scheduler' }, context) as Promise<EvaluationReport>,
    received: () => receiver.requests.filter((r) => r.path === `/${tenant}`),
  };
}

describe('alert evaluator handler', () => {
  it('two concurrent invocations send one notification, signed so the receiver can verify it', async () => {
    await writeRows(clickhouse, 'dup', 'otel_traces', spans(10, { atMs: T0 - MIN, error: true }));
    const s = stack('dup');
    const reports = await Promise.all([s.invoke(), s.invoke()]);
    await s.bus.drain();

    expect(reports.map((r) => r.published.length).sort()).toEqual([0, 1]);
    expect(reports.reduce((n, r) => n + r.conflicts, 0)).toBe(1);
    const [request, ...more] = s.received();
    expect(more).toEqual([]);
    const verified = verifyWebhookSignature({
      body: request!.body,
      timestamp: request!.headers['x-timestamp'] as string,
      alertId: request!.headers['x-alert-id'] as string,
      signature: request!.headers['x-signature-256'] as string,
      key: HMAC_KEY,
    });
    expect(verified).toEqual({ ok: true });
    expect(
      verifyWebhookSignature({
        body: request!.body.replace('Checkout', 'Forged'),
        timestamp: request!.headers['x-timestamp'] as string,
        alertId: request!.headers['x-alert-id'] as string,
        signature: request!.headers['x-signature-256'] as string,
        key: HMAC_KEY,
      }),
    ).toEqual({ ok: false, reason: 'mismatch' });
    const body = JSON.parse(request!.body) as Record<string, unknown>;
    expect(body).toMatchObject({ type: 'AlertFiring', status: 'firing', tenant: 'dup', value: 1 });
    expect(body).not.toHaveProperty('channels');
    expect(request!.headers['x-alert-id']).toBe(body.transitionId);

    // A late duplicate of the same scheduled run (same clock) finds the series evaluated: no event.
    const late = await s.invoke();
    await s.bus.drain();
    expect(late.published).toEqual([]);
    expect(s.received()).toHaveLength(1);
  });

  it('an event whose publishing failed is published once by a later evaluation, after the grace period', async () => {
    await writeRows(clickhouse, 'outbox', 'otel_traces', spans(10, { atMs: T0 - MIN, error: true }));
    let failNext = true;
    const s = stack('outbox', {
      publisher: (bus) => ({
        async publish(events: readonly AlertEvent[]) {
          if (failNext) {
            failNext = false;
            throw new Error('bus unreachable (injected)');
          }
          await bus.publish(events);
        },
      }),
    });
    await expect(s.invoke()).rejects.toThrow(AlertEvaluationError);
    await s.bus.drain();
    expect(s.received()).toEqual([]);

    // Within the grace period the outbox may still belong to a live evaluation: left alone.
    s.setNow(T0 + MIN);
    expect((await s.invoke()).published).toEqual([]);
    s.setNow(T0 + 2 * MIN);
    const recovered = await s.invoke();
    await s.bus.drain();
    expect(recovered.republished).toBe(1);
    expect(s.received()).toHaveLength(1);
    expect(JSON.parse(s.received()[0]!.body)).toMatchObject({
      type: 'AlertFiring',
      startsAt: new Date(T0).toISOString(),
    });

    s.setNow(T0 + 3 * MIN);
    await s.invoke();
    await s.bus.drain();
    expect(s.received()).toHaveLength(1);
  });

  it('a rule ClickHouse cannot answer fails the invocation and leaves a firing alert firing', async () => {
    await writeRows(clickhouse, 'down', 'otel_traces', spans(10, { atMs: T0 - MIN, error: true }));
    const up = stack('down');
    await up.invoke();
    await up.bus.drain();
    expect(up.received()).toHaveLength(1);

    const broken = new Proxy(clickhouse, {
      get(target, prop, receiverArg) {
        if (prop === 'query') return async () => Promise.reject(new Error('connection refused (injected)'));
        const v = Reflect.get(target, prop, receiverArg);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const down = stack('down', { client: broken });
    down.setNow(T0 + 10 * MIN);
    await expect(down.invoke()).rejects.toThrow('1 of 1 rules could not be evaluated');
    await down.bus.drain();
    expect(up.received()).toHaveLength(1);
    const [stored] = await state.load('down', 'checkout-errors');
    expect(stored?.status).toBe('firing');
  });
});

describe('series cap', () => {
  const flood = async (tenant: string, services: number) => {
    const rows = Array.from({ length: services }, (_, i) =>
      spans(1, { atMs: T0 - MIN, service: `svc-${String(i).padStart(3, '0')}`, error: true }),
    ).flat();
    await writeRows(clickhouse, tenant, 'otel_traces', rows);
  };
  const summaries = (events: readonly AlertEvent[]) => events.map((e) => e.detail.summary);

  it('fires at most 100 series of a grouped rule and one overflow alert naming what was cut', async () => {
    await flood('flood', 300);
    const s = stack('flood');
    const report = await s.invoke();
    await s.bus.drain();

    const overflow = report.published.filter((e) => e.detail.series.overflow === 'series_cap');
    const series = report.published.filter((e) => e.detail.series.overflow === undefined);
    expect(series).toHaveLength(100);
    expect(overflow).toHaveLength(1);
    expect(overflow[0]!.detail.details).toEqual({
      seriesObserved: 300,
      seriesKept: 100,
      seriesCut: 200,
      breachingCut: 200,
    });
    expect(overflow[0]!.detail.summary).toBe(
      "[FIRING] Checkout errors: 300 series, over the rule's cap of 100; 200 not evaluated " +
        '(cut: service=svc-100, service=svc-101, service=svc-102, service=svc-103, service=svc-104 and 195 more)',
    );
    // The kept series are the first 100 by key (all breach equally): stable from one round to the next.
    expect(series.map((e) => e.detail.series.service).sort()).toEqual(
      Array.from({ length: 100 }, (_, i) => `svc-${String(i).padStart(3, '0')}`),
    );
    expect(s.received()).toHaveLength(101);

    // The next round sees the same: nothing new is sent (the overflow is firing already).
    s.setNow(T0 + MIN);
    const again = await s.invoke();
    expect(summaries(again.published)).toEqual([]);
  });

  it('takes a per-rule maxSeries', async () => {
    await flood('flood-small', 12);
    const s = stack('flood-small', { rule: { maxSeries: 5 } });
    const report = await s.invoke();
    await s.bus.drain();
    expect(report.published).toHaveLength(6);
    expect(summaries(report.published)).toContain(
      "[FIRING] Checkout errors: 12 series, over the rule's cap of 5; 7 not evaluated " +
        '(cut: service=svc-005, service=svc-006, service=svc-007, service=svc-008, service=svc-009 and 2 more)',
    );
    expect(() => ruleFile('x', { maxSeries: 0 })).toThrow();
  });
});
