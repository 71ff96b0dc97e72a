import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../../../../functions/shared/alerts/dynamo-alert-state-store.js';
import {
  createAlertEvaluator,
  type EvaluationReport,
} from '../../../../functions/shared/alerts/evaluator.js';
import { type AlertEvent, AlertEventDetailSchema } from '../../../../functions/shared/alerts/events.js';
import { StaticRuleSource } from '../../../../functions/shared/alerts/rule-source.js';
import { type AlertRuleInput, RuleFileSchema } from '../../../../functions/shared/alerts/rules.js';
import { localDynamoClient } from '../../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';
import { alertEventOf, InProcessEventBus } from '../../../../local/event-bus.js';
import { embeddedClickHouse, gauges, logs, MemoryDeadLetters, spans, writeRows } from './support.js';

const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN;
const QUERY_API = 'http://127.0.0.1:4318';

let clickhouse: ClickHouseClient;
let emulators: Emulators;
let state: DynamoAlertStateStore;

beforeAll(async () => {
  clickhouse = await embeddedClickHouse();
  emulators = await startEmulators({ dataDir: await mkdtemp(join(tmpdir(), 'alerts-emu-')) });
  const dynamo = localDynamoClient(emulators.dynamoEndpoint);
  await ensureAlertStateTable(dynamo, 'alert-state');
  state = new DynamoAlertStateStore(dynamo, 'alert-state');
}, 60_000);

afterAll(async () => {
  await clickhouse?.close();
  await emulators?.close();
});

const base = { name: 'test rule', severity: 'critical', runbook: 'https://runbooks.example.com/x' } as const;

/** A rule without the fields `base` supplies (distributed over the kinds). */
type RuleSpec = AlertRuleInput extends infer R
  ? R extends unknown
    ? Omit<R, 'id' | 'name' | 'severity' | 'runbook'>
    : never
  : never;

/** One tenant with one rule, evaluated at chosen times; collects the events the bus delivers. */
function harness(tenant: string, rule: RuleSpec) {
  const file = RuleFileSchema.parse({ tenant, rules: [{ ...base, ...rule, id: 'r1' }] });
  const events: AlertEvent[] = [];
  const bus = new InProcessEventBus({ deadLetters: new MemoryDeadLetters() }).addRule({
    name: 'collect',
    pattern: { source: ['otlp.alerts'] },
    target: async (e) => {
      events.push(alertEventOf(e));
    },
  });
  return {
    events,
    async at(t: number): Promise<EvaluationReport> {
      const report = await createAlertEvaluator({
        rules: new StaticRuleSource([file]),
        clickhouse,
        state,
        publisher: bus,
        queryBaseUrl: QUERY_API,
        clock: () => t,
      }).evaluate();
      await bus.drain();
      expect(report.errors).toEqual([]);
      return report;
    },
  };
}

describe('each rule kind fires and resolves on data in the embedded ClickHouse', () => {
  it('error ratio per service', async () => {
    const h = harness('t-error', { kind: 'error_ratio', window: '5m', threshold: 0.1, minRequests: 5 });
    await writeRows(clickhouse, 't-error', 'otel_traces', [
      ...spans(10, { atMs: T0 - MIN, service: 'checkout' }),
      ...spans(5, { atMs: T0 - MIN, service: 'checkout', error: true }),
      ...spans(20, { atMs: T0 - MIN, service: 'cart' }),
    ]);
    // Two services: the SeriesEvaluated metric counts them, not the series-cap guard.
    expect((await h.at(T0)).series).toBe(2);
    expect(h.events.map((e) => [e.detailType, e.detail.series.service])).toEqual([
      ['AlertFiring', 'checkout'],
    ]);
    const fired = h.events[0]!.detail;
    expect(fired.value).toBeCloseTo(5 / 15, 6);
    expect(fired.threshold).toBe(0.1);
    expect(fired.window).toBe('5m');
    expect(fired.details).toEqual({ requests: 15, errors: 5 });
    expect(fired.queryUrl).toBe(
      `${QUERY_API}/v1/query/traces?service=checkout&status=error&from=${encodeURIComponent(new Date(T0 - 5 * MIN).toISOString())}&to=${encodeURIComponent(new Date(T0).toISOString())}`,
    );
    expect(AlertEventDetailSchema.safeParse(fired).success).toBe(true);

    await writeRows(
      clickhouse,
      't-error',
      'otel_traces',
      spans(30, { atMs: T0 + 5 * MIN, service: 'checkout' }),
    );
    await h.at(T0 + 6 * MIN + 30_000);
    expect(h.events.map((e) => e.detailType)).toEqual(['AlertFiring', 'AlertResolved']);
    expect(h.events[1]!.detail.value).toBe(0);
    expect(h.events[1]!.detail.dedupKey).toBe(fired.dedupKey);
  });

  it('latency percentile per service and operation', async () => {
    const h = harness('t-latency', {
      kind: 'latency_percentile',
      groupBy: ['service', 'operation'],
      percentile: 0.95,
      window: '5m',
      thresholdMs: 500,
    });
    await writeRows(clickhouse, 't-latency', 'otel_traces', [
      ...spans(40, { atMs: T0 - MIN, operation: 'POST /pay', durationMs: 900 }),
      ...spans(40, { atMs: T0 - MIN, operation: 'GET /cart', durationMs: 20 }),
    ]);
    await h.at(T0);
    expect(h.events).toHaveLength(1);
    expect(h.events[0]!.detail.series).toEqual({ service: 'checkout', operation: 'POST /pay' });
    expect(h.events[0]!.detail.value).toBeGreaterThan(800);
    expect(h.events[0]!.detail.value).toBeLessThan(1000);
    expect(h.events[0]!.detail.summary).toContain('ms > 500 ms');

    await writeRows(
      clickhouse,
      't-latency',
      'otel_traces',
      spans(60, { atMs: T0 + 5 * MIN, operation: 'POST /pay' }),
    );
    await h.at(T0 + 6 * MIN + 30_000);
    expect(h.events.map((e) => [e.detailType, e.detail.series.operation])).toEqual([
      ['AlertFiring', 'POST /pay'],
      ['AlertResolved', 'POST /pay'],
    ]);
  });

  it('log match count by severity and body text', async () => {
    const h = harness('t-logs', {
      kind: 'log_count',
      minSeverity: 'ERROR',
      bodyContains: 'TIMEOUT',
      window: '5m',
      op: '>=',
      threshold: 3,
    });
    await writeRows(clickhouse, 't-logs', 'otel_logs', [
      ...logs(4, { atMs: T0 - MIN, severity: ['ERROR', 17], body: 'payment provider timeout after 30s' }),
      ...logs(1, { atMs: T0 - MIN, severity: ['FATAL', 21], body: 'Timeout, giving up' }),
      // Not counted: right text, low severity; right severity, other text.
      ...logs(10, { atMs: T0 - MIN, severity: ['INFO', 9], body: 'timeout configured to 30s' }),
      ...logs(10, { atMs: T0 - MIN, severity: ['ERROR', 17], body: 'card declined' }),
    ]);
    await h.at(T0);
    expect(h.events).toHaveLength(1);
    expect(h.events[0]!.detail.value).toBe(5);
    expect(h.events[0]!.detail.queryUrl).toContain('/v1/query/logs?severity=ERROR&q=TIMEOUT&from=');

    await h.at(T0 + 6 * MIN);
    expect(h.events.map((e) => e.detailType)).toEqual(['AlertFiring', 'AlertResolved']);
    expect(h.events[1]!.detail.value).toBe(0);
  });

  it('metric threshold over a window', async () => {
    const h = harness('t-metric', {
      kind: 'metric_threshold',
      metric: 'queue.depth',
      aggregate: 'max',
      attributes: { queue: 'orders' },
      window: '5m',
      threshold: 100,
    });
    await writeRows(clickhouse, 't-metric', 'otel_metrics_gauge', [
      ...gauges([40, 150, 90], { atMs: T0 - MIN, metric: 'queue.depth', attributes: { queue: 'orders' } }),
      ...gauges([5000], { atMs: T0 - MIN, metric: 'queue.depth', attributes: { queue: 'audit' } }),
    ]);
    await h.at(T0);
    expect(h.events.map((e) => [e.detailType, e.detail.value])).toEqual([['AlertFiring', 150]]);
    expect(h.events[0]!.detail.queryUrl).toContain('/v1/query/metrics?name=queue.depth&agg=max');

    await writeRows(
      clickhouse,
      't-metric',
      'otel_metrics_gauge',
      gauges([20, 30], { atMs: T0 + 5 * MIN, metric: 'queue.depth', attributes: { queue: 'orders' } }),
    );
    await h.at(T0 + 6 * MIN + 30_000);
    expect(h.events.map((e) => [e.detailType, e.detail.value])).toEqual([
      ['AlertFiring', 150],
      ['AlertResolved', 30],
    ]);
  });

  it('absence of data for N minutes', async () => {
    const h = harness('t-absence', { kind: 'absence', signal: 'traces', service: 'checkout', after: '5m' });
    await writeRows(clickhouse, 't-absence', 'otel_traces', spans(1, { atMs: T0 - MIN }));
    const first = await h.at(T0);
    expect(first.outcomes[0]!.observations[0]).toMatchObject({ value: 1, breached: false });
    expect(h.events).toEqual([]);

    await h.at(T0 + 7 * MIN);
    expect(h.events.map((e) => [e.detailType, e.detail.value, e.detail.threshold])).toEqual([
      ['AlertFiring', 8, 5],
    ]);
    expect(h.events[0]!.detail.summary).toContain('8 min without data');

    await writeRows(clickhouse, 't-absence', 'otel_traces', spans(1, { atMs: T0 + 7 * MIN + 30_000 }));
    await h.at(T0 + 8 * MIN);
    expect(h.events.map((e) => e.detailType)).toEqual(['AlertFiring', 'AlertResolved']);
  });

  it('absence grouped by service names the silent service', async () => {
    const h = harness('t-absence-2', { kind: 'absence', signal: 'logs', groupBy: ['service'], after: '10m' });
    await writeRows(clickhouse, 't-absence-2', 'otel_logs', [
      ...logs(1, { atMs: T0 - 30 * MIN, service: 'billing' }),
      ...logs(1, { atMs: T0 - MIN, service: 'checkout' }),
    ]);
    await h.at(T0);
    expect(h.events.map((e) => [e.detail.series.service, e.detail.value])).toEqual([['billing', 30]]);
  });

  it('SLO burn rate over multiple windows, with the error budget left', async () => {
    const h = harness('t-slo', { kind: 'slo_burn_rate', objective: 0.99 });
    await writeRows(clickhouse, 't-slo', 'otel_traces', spans(9900, { atMs: T0 - 3 * 60 * MIN }));
    await writeRows(clickhouse, 't-slo', 'otel_traces', [
      ...spans(80, { atMs: T0 - 2 * MIN }),
      ...spans(20, { atMs: T0 - 2 * MIN, error: true }),
    ]);
    await h.at(T0);
    expect(h.events).toHaveLength(1);
    const d = h.events[0]!.detail;
    // 20 % errors in 1 h and 5 m: 20x a 1 % budget, past the 14.4x of the fast pair.
    expect(d.value).toBeCloseTo(20, 6);
    expect(d.threshold).toBe(14.4);
    expect(d.window).toBe('1h');
    expect(d.details?.burnRate1h).toBeCloseTo(20, 4);
    expect(d.details?.burnRate6h).toBeCloseTo(20 / 100, 4);
    // 20 errors of 10,000 requests in the budget period: 0.2 % of 1 %, so 80 % of the budget left.
    expect(d.details?.budgetRemaining).toBeCloseTo(0.8, 4);
    expect(d.summary).toContain('burn rate 20x');

    // 10 minutes later the 5-minute window is clean: the fast pair no longer holds.
    await writeRows(clickhouse, 't-slo', 'otel_traces', spans(50, { atMs: T0 + 8 * MIN }));
    await h.at(T0 + 10 * MIN);
    expect(h.events.map((e) => e.detailType)).toEqual(['AlertFiring', 'AlertResolved']);
    expect(h.events[1]!.detail.details?.budgetRemaining).toBeCloseTo(0.8, 2);
  });
});

describe('for and flapping on real data', () => {
  it('fires only after the condition held for `for`; a gap restarts the wait', async () => {
    const h = harness('t-for', {
      kind: 'log_count',
      minSeverity: 'ERROR',
      window: '1m',
      threshold: 0,
      for: '2m',
    });
    const errorsAt = async (t: number) =>
      writeRows(clickhouse, 't-for', 'otel_logs', logs(1, { atMs: t - 10_000, severity: ['ERROR', 17] }));

    // Breach, breach, gap, breach, breach: never two minutes in a row, never fires.
    for (const m of [0, 1, 3, 4]) await errorsAt(T0 + m * MIN);
    for (const m of [0, 1, 2, 3, 4]) await h.at(T0 + m * MIN);
    expect(h.events).toEqual([]);

    // Breach at 5 as well: held from 3 to 5, i.e. for 2 minutes: fires at 5, once.
    await errorsAt(T0 + 5 * MIN);
    await errorsAt(T0 + 6 * MIN);
    await h.at(T0 + 5 * MIN);
    await h.at(T0 + 6 * MIN);
    expect(h.events.map((e) => [e.detailType, e.detail.startsAt])).toEqual([
      ['AlertFiring', new Date(T0 + 3 * MIN).toISOString()],
    ]);
  });
});
