import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Silence } from '../../../../functions/shared/alerts/config-store.js';
import {
  DynamoAlertConfigStore,
  DynamoAlertHistoryStore,
  ensureAlertConfigTables,
} from '../../../../functions/shared/alerts/dynamo-alert-config-store.js';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../../../../functions/shared/alerts/dynamo-alert-state-store.js';
import { createAlertEvaluator } from '../../../../functions/shared/alerts/evaluator.js';
import { createNotifier } from '../../../../functions/shared/alerts/notifier.js';
import { StaticRuleSource } from '../../../../functions/shared/alerts/rule-source.js';
import { RuleFileSchema } from '../../../../functions/shared/alerts/rules.js';
import { LocalSecretSource } from '../../../../functions/shared/alerts/secrets.js';
import { localDynamoClient } from '../../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';
import { alertEventOf, InProcessEventBus } from '../../../../local/event-bus.js';
import {
  embeddedClickHouse,
  MemoryDeadLetters,
  type Receiver,
  spans,
  startReceiver,
  writeRows,
} from './support.js';

/**
 * Silences through the real pieces: the evaluator on embedded ClickHouse, state, silences and
 * history in dynalite, the in-process bus, the webhook notifier and an HTTP receiver on loopback.
 */

const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN;
const HOOK = 'env:SILENCE_TEST_HOOK';

let clickhouse: ClickHouseClient;
let emulators: Emulators;
let state: DynamoAlertStateStore;
let config: DynamoAlertConfigStore;
let history: DynamoAlertHistoryStore;
let receiver: Receiver;

beforeAll(async () => {
  clickhouse = await embeddedClickHouse();
  emulators = await startEmulators({ dataDir: await mkdtemp(join(tmpdir(), 'silences-emu-')) });
  const dynamo = localDynamoClient(emulators.dynamoEndpoint);
  await ensureAlertStateTable(dynamo, 'alert-state');
  await ensureAlertConfigTables(dynamo, 'alert-config', 'alert-history');
  state = new DynamoAlertStateStore(dynamo, 'alert-state');
  config = new DynamoAlertConfigStore(dynamo, 'alert-config');
  history = new DynamoAlertHistoryStore(dynamo, 'alert-history');
  receiver = await startReceiver();
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await clickhouse?.close();
  await emulators?.close();
});

function stack(tenant: string) {
  const bus = new InProcessEventBus({ deadLetters: new MemoryDeadLetters(), retry: { baseDelayMs: 1 } });
  const notifier = createNotifier({
    secrets: new LocalSecretSource(
      {},
      {
        SILENCE_TEST_HOOK: JSON.stringify({
          url: `${receiver.url}/${tenant}`,
          hmacKey: 'an-hmac-key-of-16-or-more',
        }),
      },
    ),
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
  const evaluator = createAlertEvaluator({
    rules: new StaticRuleSource([
      RuleFileSchema.parse({
        tenant,
        channels: { hook: { type: 'webhook', secret: HOOK } },
        rules: [
          {
            id: 'checkout-errors',
            name: 'Checkout errors',
            severity: 'critical',
            labels: { team: 'payments' },
            runbook: 'https://runbooks.example.com/checkout',
            channels: ['hook'],
            kind: 'error_ratio',
            window: '5m',
            threshold: 0.1,
          },
        ],
      }),
    ]),
    clickhouse,
    state,
    publisher: bus,
    queryBaseUrl: 'https://api.example.com',
    consoleBaseUrl: 'https://console.example.com',
    silences: config,
    history,
    clock: () => now,
  });
  return {
    at: (t: number) => {
      now = t;
    },
    async evaluate() {
      const report = await evaluator.evaluate();
      await bus.drain();
      expect(report.errors).toEqual([]);
      return report;
    },
    received: () =>
      receiver.requests
        .filter((r) => r.path === `/${tenant}`)
        .map((r) => JSON.parse(r.body) as Record<string, unknown>),
  };
}

const silence = (tenant: string, over: Partial<Silence>): Silence => ({
  tenant,
  id: `s-${tenant}`,
  matchers: {},
  startsAt: T0 - MIN,
  endsAt: T0 + 10 * MIN,
  reason: 'deploying checkout',
  author: 'jane',
  createdAt: T0 - MIN,
  createdBy: 'key1',
  ...over,
});

describe('silences in the evaluator', () => {
  it('records a silenced firing without notifying, then notifies once when the silence ends while it still fires', async () => {
    const tenant = 'muted';
    // Errors in every minute the test evaluates: the alert keeps firing throughout.
    for (let m = -1; m <= 4; m++) {
      await writeRows(clickhouse, tenant, 'otel_traces', spans(10, { atMs: T0 + m * MIN, error: true }));
    }
    await config.putSilence(silence(tenant, { matchers: { service: 'checkout', team: 'payments' } }));
    const s = stack(tenant);

    s.at(T0);
    const first = await s.evaluate();
    expect(first.published).toEqual([]);
    expect(s.received()).toEqual([]);
    const [stored] = await state.load(tenant, 'checkout-errors');
    expect(stored).toMatchObject({ status: 'firing', muted: true });
    const recorded = await history.query({ tenant, fromMs: T0 - MIN, toMs: T0 + MIN, limit: 10 });
    expect(recorded.entries).toMatchObject([
      {
        ruleId: 'checkout-errors',
        from: 'ok',
        to: 'firing',
        silenced: true,
        threshold: 0.1,
        windowMs: 300_000,
      },
    ]);
    expect(recorded.entries[0]?.link).toMatch(
      /^https:\/\/console\.example\.com\/#\/traces\?service=checkout&status=error&from=/,
    );

    // Still silenced: nothing.
    s.at(T0 + MIN);
    expect((await s.evaluate()).published).toEqual([]);

    // Expired through the API (endsAt moved to now): the next evaluation notifies, once.
    await config.putSilence(
      silence(tenant, {
        matchers: { service: 'checkout', team: 'payments' },
        endsAt: T0 + 90_000,
        expiredAt: T0 + 90_000,
      }),
    );
    s.at(T0 + 2 * MIN);
    const after = await s.evaluate();
    expect(after.published.map((e) => e.detailType)).toEqual(['AlertFiring']);
    const [hook] = s.received();
    expect(hook).toMatchObject({
      type: 'AlertFiring',
      status: 'firing',
      silenceEnded: true,
      startsAt: new Date(T0).toISOString(),
      value: 1,
    });
    expect(hook?.trend).toEqual([1, 1, 1]);

    s.at(T0 + 3 * MIN);
    expect((await s.evaluate()).published).toEqual([]);
    expect(s.received()).toHaveLength(1);
    expect((await state.load(tenant, 'checkout-errors'))[0]?.muted).toBeUndefined();
  });

  it('a rule silenced by id never notifies its episode, nor its end; another tenant’s silence mutes nothing', async () => {
    const tenant = 'byrule';
    await writeRows(clickhouse, tenant, 'otel_traces', spans(10, { atMs: T0 - MIN, error: true }));
    await config.putSilence(silence(tenant, { ruleId: 'checkout-errors' }));
    // The same rule id silenced in another tenant.
    await config.putSilence(silence('other', { ruleId: 'checkout-errors', endsAt: T0 + 60 * MIN }));
    const s = stack(tenant);
    s.at(T0);
    await s.evaluate();
    // No breach 6 minutes later (the window moved past the errors): resolved, still silenced.
    s.at(T0 + 6 * MIN);
    await s.evaluate();
    expect(s.received()).toEqual([]);
    const recorded = await history.query({ tenant, fromMs: T0 - MIN, toMs: T0 + 10 * MIN, limit: 10 });
    expect(recorded.entries.map((e) => [e.from, e.to])).toEqual([
      ['firing', 'ok'],
      ['ok', 'firing'],
    ]);

    // Unsilenced, the next episode notifies as usual.
    const loud = 'loud';
    await writeRows(clickhouse, loud, 'otel_traces', spans(10, { atMs: T0 - MIN, error: true }));
    const l = stack(loud);
    l.at(T0);
    await l.evaluate();
    expect(l.received().map((r) => r.type)).toEqual(['AlertFiring']);
  });

  it('a firing notified before the silence still gets its resolution (the incident it opened is closed)', async () => {
    const tenant = 'closing';
    await writeRows(clickhouse, tenant, 'otel_traces', spans(10, { atMs: T0 - MIN, error: true }));
    const s = stack(tenant);
    s.at(T0);
    await s.evaluate();
    await config.putSilence(silence(tenant, { ruleId: 'checkout-errors', endsAt: T0 + 60 * MIN }));
    s.at(T0 + 6 * MIN);
    await s.evaluate();
    expect(s.received().map((r) => r.type)).toEqual(['AlertFiring', 'AlertResolved']);
  });
});
