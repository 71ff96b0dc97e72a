import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../../../../functions/shared/alerts/dynamo-alert-state-store.js';
import { createAlertEvaluator } from '../../../../functions/shared/alerts/evaluator.js';
import { type AlertEvent, AlertEventDetailSchema } from '../../../../functions/shared/alerts/events.js';
import { StaticRuleSource } from '../../../../functions/shared/alerts/rule-source.js';
import { type AlertRuleInput, RuleFileSchema } from '../../../../functions/shared/alerts/rules.js';
import { localDynamoClient } from '../../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';
import { alertEventOf, InProcessEventBus } from '../../../../local/event-bus.js';
import { embeddedClickHouse, gauges, MemoryDeadLetters, spans, writeRows } from './support.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const HOUR0 = Math.floor(Date.now() / HOUR) * HOUR;
// Evaluated half-way through the current hour, so the 10-minute window never reaches into the
// last complete hour (the history) whatever the time the test runs at.
const T0 = HOUR0 + 30 * MIN;

let clickhouse: ClickHouseClient;
let emulators: Emulators;
let state: DynamoAlertStateStore;

beforeAll(async () => {
  clickhouse = await embeddedClickHouse();
  emulators = await startEmulators({ dataDir: await mkdtemp(join(tmpdir(), 'anomaly-emu-')) });
  const dynamo = localDynamoClient(emulators.dynamoEndpoint);
  await ensureAlertStateTable(dynamo, 'alert-state');
  state = new DynamoAlertStateStore(dynamo, 'alert-state');
}, 60_000);

afterAll(async () => {
  await clickhouse?.close();
  await emulators?.close();
});

/**
 * Requests per hour at hour-of-day `h`: a daily wave between 80 and 240. Not fewer: a 10-minute
 * window's count carries its own Poisson noise, and at 20 an hour six times the usual (~20 against
 * ~3.3) scores under the medium bound; the test then failed at the trough hours of the day.
 */
const perHour = (t: number) =>
  Math.round(160 + 80 * Math.sin((2 * Math.PI * new Date(t).getUTCHours()) / 24));

/** `days` of seasonal traffic before the current hour, the current hour's part up to T0 at `factor`. */
function traffic(days: number, service: string, factor: number): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let hour = HOUR0 - days * 24 * HOUR; hour < HOUR0; hour += HOUR) {
    const n = perHour(hour);
    for (let i = 0; i < n; i++) rows.push(...spans(1, { atMs: hour + Math.floor((i * HOUR) / n), service }));
  }
  // The last 10 minutes (the rule's window) at `factor` times the usual rate.
  const n = Math.round((perHour(T0) / 6) * factor);
  // The window is (T0 - 10m, T0]: keep clear of its open start.
  for (let i = 0; i < n; i++) {
    rows.push(...spans(1, { atMs: T0 - 10 * MIN + 1000 + Math.floor((i * (10 * MIN - 2000)) / n), service }));
  }
  return rows;
}

async function evaluate(tenant: string, rule: Record<string, unknown>) {
  const file = RuleFileSchema.parse({
    tenant,
    rules: [
      {
        id: 'traffic-anomaly',
        name: 'unusual traffic',
        severity: 'warning',
        runbook: 'https://runbooks.example.com/traffic',
        ...rule,
      } as AlertRuleInput,
    ],
  });
  const events: AlertEvent[] = [];
  const bus = new InProcessEventBus({ deadLetters: new MemoryDeadLetters() }).addRule({
    name: 'collect',
    pattern: { source: ['otlp.alerts'] },
    target: async (e) => {
      events.push(alertEventOf(e));
    },
  });
  const report = await createAlertEvaluator({
    rules: new StaticRuleSource([file]),
    clickhouse,
    state,
    publisher: bus,
    queryBaseUrl: 'http://127.0.0.1:4318',
    clock: () => T0,
  }).evaluate();
  await bus.drain();
  expect(report.errors).toEqual([]);
  const observations = report.outcomes.flatMap((o) => o.observations);
  return { events, observations };
}

const requestsRule = {
  kind: 'anomaly',
  signal: 'requests',
  groupBy: ['service'],
  seasonality: 'daily',
  window: '10m',
} as const;

describe('the anomaly rule kind on the embedded ClickHouse (history from the hourly RED rollup)', () => {
  it('fires for a service whose traffic is six times its usual for this hour; not for the one at its usual', async () => {
    await writeRows(clickhouse, 't-anomaly', 'otel_traces', [
      ...traffic(3, 'checkout', 6),
      ...traffic(3, 'cart', 1),
    ]);
    const { events, observations } = await evaluate('t-anomaly', requestsRule);
    expect(events.map((e) => [e.detailType, e.detail.series.service])).toEqual([['AlertFiring', 'checkout']]);
    const fired = events[0]!.detail;
    expect(AlertEventDetailSchema.safeParse(fired).success).toBe(true);
    // Requests per second over the window, against the hour's usual rate.
    expect(fired.value).toBeCloseTo(Math.round((perHour(T0) / 6) * 6) / 600, 3);
    expect(fired.details?.ready).toBe(1);
    expect(fired.details?.baseline).toBeGreaterThan(0);
    expect(fired.threshold).toBeLessThan(fired.value);
    const cart = observations.find((o) => o.series.service === 'cart')!;
    expect(cart.breached).toBe(false);
    expect(cart.details?.ready).toBe(1);
  });

  it('a service gone silent is a drop to zero, not a missing value', async () => {
    await writeRows(clickhouse, 't-silent', 'otel_traces', traffic(3, 'search', 0));
    const { events } = await evaluate('t-silent', { ...requestsRule, direction: 'down' });
    expect(events.map((e) => [e.detailType, e.detail.series.service, e.detail.value])).toEqual([
      ['AlertFiring', 'search', 0],
    ]);
  });

  it('stays quiet until it has the minimum history, and says so', async () => {
    await writeRows(clickhouse, 't-young', 'otel_traces', traffic(1, 'checkout', 6));
    const { events, observations } = await evaluate('t-young', requestsRule);
    expect(events).toEqual([]);
    expect(observations[0]!.details).toMatchObject({ ready: 0, minHistoryHours: 48 });
  });

  it('a gauge metric: unusual for its hour', async () => {
    const rows: Record<string, unknown>[] = [];
    for (let hour = HOUR0 - 3 * 24 * HOUR; hour < HOUR0; hour += 15 * MIN) {
      rows.push(...gauges([perHour(hour)], { atMs: hour, metric: 'queue.depth' }));
    }
    rows.push(...gauges([perHour(T0) * 5, perHour(T0) * 5], { atMs: T0 - 5 * MIN, metric: 'queue.depth' }));
    await writeRows(clickhouse, 't-gauge', 'otel_metrics_gauge', rows);
    const { events } = await evaluate('t-gauge', {
      kind: 'anomaly',
      signal: 'metric',
      metric: 'queue.depth',
      seasonality: 'daily',
      direction: 'up',
    });
    expect(events.map((e) => e.detailType)).toEqual(['AlertFiring']);
    expect(events[0]!.detail.queryUrl).toContain('/v1/query/metrics?name=queue.depth&agg=avg');
  });

  it('names the field of an invalid rule', () => {
    const parsed = RuleFileSchema.safeParse({
      tenant: 'acme',
      rules: [
        {
          id: 'a',
          name: 'a',
          severity: 'info',
          runbook: 'https://x.example.com',
          kind: 'anomaly',
          signal: 'metric',
        },
      ],
    });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('metric is needed with signal: metric');
  });
});
