import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KinesisStreamRecord, KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Silence } from '../../../../functions/shared/alerts/config-store.js';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../../../../functions/shared/alerts/dynamo-alert-state-store.js';
import { evaluationPath } from '../../../../functions/shared/alerts/evaluation-path.js';
import { createAlertEvaluator, type RuleOutcome } from '../../../../functions/shared/alerts/evaluator.js';
import type { AlertEvent, EventPublisher } from '../../../../functions/shared/alerts/events.js';
import { compare, planRule, seriesKey } from '../../../../functions/shared/alerts/queries.js';
import { StaticRuleSource } from '../../../../functions/shared/alerts/rule-source.js';
import { type RuleFile, RuleFileSchema } from '../../../../functions/shared/alerts/rules.js';
import { DynamoAlertSliceStore } from '../../../../functions/shared/alerts/slice-store.js';
import {
  createStreamEvaluator,
  STALE_WINDOWS,
} from '../../../../functions/shared/alerts/stream-evaluator.js';
import { packEnvelopes } from '../../../../functions/shared/envelope/envelope.js';
import type { Signal, TableName } from '../../../../functions/shared/schema/columns.js';
import { localDynamoClient } from '../../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../../local/emulators.js';
import { batchOf } from '../clickhouse/support.js';
import { embeddedClickHouse, writeRows } from './support.js';

/**
 * Both paths on the same generated data: rows "arrive" window by window; before each decision
 * time the scheduled evaluator's ClickHouse holds exactly the rows the stream evaluator has folded,
 * and both decide at the same times. They must make the same observations (values within the
 * percentile sketch's error) and the same transitions (status, series, startsAt, time).
 */

const W = 10_000; // tumbling window (and decision step)
const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN - 20 * MIN;
const TENANT = 'acme';

let clickhouse: ClickHouseClient;
let emulators: Emulators;
let dynamo: DynamoDBClient;

beforeAll(async () => {
  clickhouse = await embeddedClickHouse();
  emulators = await startEmulators({ dataDir: await mkdtemp(join(tmpdir(), 'stream-eval-')) });
  dynamo = localDynamoClient(emulators.dynamoEndpoint);
  await ensureAlertStateTable(dynamo, 'stream-state');
  await ensureAlertStateTable(dynamo, 'scheduled-state');
}, 60_000);

afterAll(async () => {
  await clickhouse?.close();
  await emulators?.close();
});

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ns = (ms: number, sub = 0) => (BigInt(Math.floor(ms)) * 1_000_000n + BigInt(sub)).toString();

const base = { severity: 'critical', runbook: 'https://runbooks.example.com/x' } as const;
const RULES: RuleFile = RuleFileSchema.parse({
  tenant: TENANT,
  rules: [
    {
      ...base,
      id: 'errors',
      name: 'errors',
      kind: 'error_ratio',
      window: '1m',
      threshold: 0.1,
      minRequests: 5,
    },
    {
      ...base,
      id: 'errors-by-op',
      name: 'errors by op',
      kind: 'error_ratio',
      groupBy: ['operation'],
      window: '2m',
      for: '1m',
      threshold: 0.1,
    },
    {
      ...base,
      id: 'p95',
      name: 'p95',
      kind: 'latency_percentile',
      percentile: 0.95,
      window: '1m',
      thresholdMs: 200,
      keepFiringFor: '1m',
    },
    {
      ...base,
      id: 'error-logs',
      name: 'error logs',
      kind: 'log_count',
      groupBy: ['service'],
      minSeverity: 'ERROR',
      bodyContains: 'timeout',
      window: '1m',
      threshold: 4,
    },
    {
      ...base,
      id: 'queue-depth',
      name: 'queue depth',
      kind: 'metric_threshold',
      metric: 'queue.depth',
      groupBy: ['service'],
      attributes: { queue: 'orders' },
      aggregate: 'avg',
      window: '1m',
      threshold: 50,
    },
    {
      ...base,
      id: 'bytes-last',
      name: 'bytes last',
      kind: 'metric_threshold',
      metric: 'bytes.sent',
      metricType: 'sum',
      service: 'checkout',
      aggregate: 'last',
      window: '1m',
      op: '>=',
      threshold: 1000,
    },
  ],
});

/** Services and the shard their partition key (tenant:service) lands on. */
const SHARDS: Record<string, string> = {
  checkout: 'shardId-000000000000',
  cart: 'shardId-000000000000',
  search: 'shardId-000000000001',
  steady: 'shardId-000000000001',
};

interface Arrival {
  readonly windowEnd: number;
  readonly service: string;
  readonly table: TableName;
  readonly rows: Record<string, unknown>[];
}

const SIGNAL: Record<string, Signal> = {
  otel_traces: 'traces',
  otel_logs: 'logs',
  otel_metrics_gauge: 'metrics',
  otel_metrics_sum: 'metrics',
};

/** Eight minutes of traffic in phases: healthy, breaching, quiet (search stops), recovering. */
function generate(seed: number): Arrival[] {
  const rand = rng(seed);
  const out: Arrival[] = [];
  let id = 0;
  for (let end = T0 + W; end <= T0 + 8 * MIN; end += W) {
    const phase = Math.floor((end - T0 - 1) / (2 * MIN)); // 0..3
    for (const service of Object.keys(SHARDS)) {
      if (service === 'search' && phase === 2) continue; // traffic stops: alerts must resolve
      const breach = phase === 1 || (phase === 3 && service === 'cart');
      const spans: Record<string, unknown>[] = [];
      const n = 8 + Math.floor(rand() * 8);
      for (let i = 0; i < n; i++) {
        // Row time inside this window; some rows arrive one window late (their own time earlier).
        const at = end - W + 1 + rand() * (W - 2);
        const slow = breach && service !== 'steady' && rand() < 0.3;
        const error = service !== 'steady' && rand() < (breach ? 0.35 : 0.02);
        spans.push({
          Timestamp: ns(at, Math.floor(rand() * 999_999)),
          TraceId: `t${++id}`,
          SpanId: `s${id}`,
          ParentSpanId: rand() < 0.2 ? `p${id}` : '',
          SpanName: rand() < 0.5 ? 'GET /a' : 'POST /b',
          SpanKind: rand() < 0.7 ? 'Server' : 'Internal',
          ServiceName: service,
          // Fast 20-120 ms or slow 300-500 ms: the p95 never sits near the 200 ms threshold.
          Duration: Math.round((slow ? 300 + rand() * 200 : 20 + rand() * 100) * 1_000_000),
          StatusCode: error ? 'Error' : rand() < 0.5 ? 'Ok' : 'Unset',
        });
      }
      const logs = Array.from({ length: breach ? 2 : rand() < 0.3 ? 1 : 0 }, (_, i) => ({
        Timestamp: ns(end - W + 100 + i * 37 + rand() * 5000),
        ServiceName: service,
        SeverityText: rand() < 0.8 ? 'ERROR' : 'WARN',
        SeverityNumber: rand() < 0.8 ? 17 : 13,
        Body: rand() < 0.7 ? `upstream TimeOut after ${i}s` : 'other',
      }));
      const gauges = Array.from({ length: 3 }, (_, i) => ({
        TimeUnix: ns(end - W + 200 + i * 3000 + Math.floor(rand() * 1000)),
        StartTimeUnix: ns(end - W),
        ServiceName: service,
        MetricName: 'queue.depth',
        Attributes: { queue: rand() < 0.8 ? 'orders' : 'other' },
        Value: breach ? 40 + rand() * 40 : rand() * 45,
      }));
      const sums = [
        {
          TimeUnix: ns(end - W + 500 + Math.floor(rand() * 8000)),
          StartTimeUnix: ns(T0),
          ServiceName: service,
          MetricName: 'bytes.sent',
          Value: breach ? 1000 + Math.floor(rand() * 500) : Math.floor(rand() * 999),
        },
      ];
      const late = rand() < 0.15 ? W : 0;
      out.push({ windowEnd: end + late, service, table: 'otel_traces', rows: spans });
      if (logs.length > 0) out.push({ windowEnd: end, service, table: 'otel_logs', rows: logs });
      out.push({ windowEnd: end, service, table: 'otel_metrics_gauge', rows: gauges });
      out.push({ windowEnd: end, service, table: 'otel_metrics_sum', rows: sums });
    }
  }
  return out;
}

let seq = 0;
function record(a: Arrival): KinesisStreamRecord {
  const [packed] = packEnvelopes(TENANT, SIGNAL[a.table]!, [
    batchOf(
      a.table,
      a.rows.map((r) => ({ ...r, TenantId: TENANT })),
    ),
  ]);
  const sequenceNumber = String(++seq).padStart(20, '0');
  const shardId = SHARDS[a.service]!;
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: `${TENANT}:${a.service}`,
      sequenceNumber,
      data: Buffer.from(packed!.data).toString('base64'),
      approximateArrivalTimestamp: (a.windowEnd - W / 2) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/test',
  };
}

function recorder(): EventPublisher & { events: AlertEvent[] } {
  const events: AlertEvent[] = [];
  return {
    events,
    async publish(batch) {
      events.push(...batch);
    },
  };
}

const transitions = (events: readonly AlertEvent[]) =>
  events
    .map((e) => ({
      rule: e.detail.rule.id,
      status: e.detail.status,
      series: seriesKey(e.detail.series),
      startsAt: e.detail.startsAt,
      at: e.detail.evaluatedAt,
      transitionId: e.detail.transitionId,
    }))
    .sort((a, b) => (a.at + a.rule + a.series).localeCompare(b.at + b.rule + b.series));

describe('stream evaluator', () => {
  it('every rule of the test is owned by the stream (and a tenant-wide one is not)', () => {
    for (const rule of RULES.rules) expect(evaluationPath(rule)).toBe('stream');
    const wide = RuleFileSchema.parse({
      tenant: TENANT,
      rules: [
        { ...base, id: 'w', name: 'w', kind: 'log_count', minSeverity: 'ERROR', window: '1m', threshold: 1 },
      ],
    }).rules[0]!;
    expect(evaluationPath(wide)).toBe('scheduled');
  });

  it('makes the same observations and transitions as the scheduled evaluator on the same data', async () => {
    const arrivals = generate(20261207);
    const streamEvents = recorder();
    const scheduledEvents = recorder();
    const rules = new StaticRuleSource([RULES]);
    const stream = createStreamEvaluator({
      rules,
      state: new DynamoAlertStateStore(dynamo, 'stream-state'),
      slices: new DynamoAlertSliceStore(dynamo, 'stream-state'),
      publisher: streamEvents,
      queryBaseUrl: 'http://127.0.0.1:4318',
    });
    let now = 0;
    const scheduled = createAlertEvaluator({
      rules,
      clickhouse,
      state: new DynamoAlertStateStore(dynamo, 'scheduled-state'),
      publisher: scheduledEvents,
      queryBaseUrl: 'http://127.0.0.1:4318',
      clock: () => now,
    });

    let compared = 0;
    let maxLatencyError = 0;
    let latencyCompared = 0;
    let tdigestDisagreements = 0;
    const p95Rule = RULES.rules.find((r) => r.id === 'p95')!;
    const exactP95 = async (at: number) => {
      const plan = planRule(p95Rule, TENANT, at);
      const q = plan.queries[0]!;
      const rs = await clickhouse.query({
        query: q.query.replace('quantileTDigest', 'quantileExact'),
        query_params: q.params,
        format: 'JSONEachRow',
      });
      const rows = await rs.json<{ service: string; value: number }>();
      return new Map(rows.map((r) => [r.service, Number(r.value)]));
    };
    for (let end = T0 + W; end <= T0 + 10 * MIN; end += W) {
      now = end;
      const arrived = arrivals.filter((a) => a.windowEnd === end);
      for (const a of arrived) await writeRows(clickhouse, TENANT, a.table, a.rows);
      const window = { start: new Date(end - W).toISOString(), end: new Date(end).toISOString() };
      const streamOutcomes: RuleOutcome[] = [];
      for (const shardId of new Set(Object.values(SHARDS))) {
        const records = arrived.filter((a) => SHARDS[a.service] === shardId).map(record);
        if (records.length === 0) continue; // no records, no window (as in Lambda)
        const event = (
          rs: KinesisStreamRecord[],
          state: Record<string, unknown>,
          final: boolean,
        ): KinesisStreamTumblingWindowEvent & { shardId: string } => ({
          Records: rs,
          window,
          state,
          shardId,
          isFinalInvokeForWindow: final,
          isWindowTerminatedEarly: false,
        });
        // Two aggregating invocations (the state carried between them), then the final one.
        const half = Math.ceil(records.length / 2);
        const first = await stream.handle(event(records.slice(0, half), {}, false));
        const second = await stream.handle(event(records.slice(half), first.response.state, false));
        const final = await stream.handle(event([], second.response.state, true));
        streamOutcomes.push(...final.report.outcomes);
      }
      // The scheduled evaluator's sweep of series whose shard went silent (a no-op while it is not).
      const swept = await stream.sweep(end, W);
      expect(swept.flatMap((o) => (o.error ? [o.error] : []))).toEqual([]);
      const report = await scheduled.evaluate();
      expect(report.errors).toEqual([]);

      // Observations: each series the stream stepped, against the scheduled evaluator's.
      for (const o of streamOutcomes) {
        const sched = report.outcomes.find((x) => x.ruleId === o.ruleId)!;
        const mine = new Set(o.states.map((s) => s.seriesKey));
        for (const obs of o.observations) {
          const key = seriesKey(obs.series);
          if (!mine.has(key) || key.includes('overflow')) continue;
          const other = sched.observations.find((x) => seriesKey(x.series) === key);
          expect(other, `${o.ruleId} ${key} at ${new Date(end).toISOString()}`).toBeDefined();
          if (o.ruleId === 'p95') {
            // The oracle: ClickHouse's exact quantile over the same rows.
            const exact = (await exactP95(end)).get(obs.series.service ?? '')!;
            const rel = Math.abs(obs.value - exact) / exact;
            maxLatencyError = Math.max(maxLatencyError, rel);
            expect(obs.breached).toBe(compare(exact, '>', 200));
            expect(obs.details).toEqual(other!.details);
            if (obs.breached !== other!.breached) tdigestDisagreements++;
            latencyCompared++;
          } else {
            expect(obs.breached, `${o.ruleId} ${key}: ${obs.value} vs ${other!.value}`).toBe(other!.breached);
            expect(obs.value).toBeCloseTo(other!.value, 9);
            expect(obs.details).toEqual(other!.details);
          }
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(300);
    expect(latencyCompared).toBeGreaterThan(50);
    // The sketch's guarantee against the exact order statistic.
    expect(maxLatencyError).toBeLessThanOrEqual(0.01 + 1e-9);
    console.log(
      `p95: ${latencyCompared} observations, max relative error vs quantileExact ${(maxLatencyError * 100).toFixed(3)} %, verdicts differing from the scheduled t-digest: ${tdigestDisagreements}`,
    );

    // While records arrive, identical transitions; once the whole stream is silent (no windows),
    // the sweep resolves what is left, at most STALE_WINDOWS + 1 windows after the schedule would.
    const lastArrival = Math.max(...arrivals.map((a) => a.windowEnd));
    const during = (t: { at: string }) => Date.parse(t.at) <= lastArrival;
    const fmt = (t: ReturnType<typeof transitions>) =>
      t.map((x) => `${x.at} ${x.rule} ${x.series} ${x.status}`);
    const s = transitions(streamEvents.events);
    const c = transitions(scheduledEvents.events);
    expect(fmt(s.filter(during))).toEqual(fmt(c.filter(during)));
    const sAfter = s.filter((t) => !during(t));
    const cAfter = c.filter((t) => !during(t));
    expect(cAfter.length).toBeGreaterThan(0);
    expect(sAfter.map((t) => `${t.rule} ${t.series} ${t.status}`).sort()).toEqual(
      cAfter.map((t) => `${t.rule} ${t.series} ${t.status}`).sort(),
    );
    for (const t of sAfter) {
      const other = cAfter.find((x) => x.rule === t.rule && x.series === t.series)!;
      const lag = Date.parse(t.at) - Date.parse(other.at);
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThanOrEqual((STALE_WINDOWS + 1) * W);
    }
    expect(s.length).toBeGreaterThan(10);
    expect(s.filter((t) => t.status === 'resolved').length).toBeGreaterThan(3);
    // Same transitions, hence the same transitionIds (receivers deduplicate on them).
    expect(s.filter(during).map((t) => t.transitionId)).toEqual(c.filter(during).map((t) => t.transitionId));
  }, 240_000);

  it('reads each tenant’s silences once per evaluation (a window’s decisions, a sweep), not once per rule, and still applies them', async () => {
    await ensureAlertStateTable(dynamo, 'silence-reads');
    const rule = (id: string, threshold: number) => ({
      ...base,
      id,
      name: id,
      kind: 'error_ratio',
      window: '1m',
      threshold,
    });
    const files = [
      RuleFileSchema.parse({
        tenant: 'acme',
        rules: [rule('e1', 0.1), rule('e2', 0.2), rule('e3', 0.3)],
      }),
      RuleFileSchema.parse({ tenant: 'beta', rules: [rule('e1', 0.1)] }),
    ];
    const reads: [string, number][] = [];
    const muteE2: Silence = {
      tenant: 'acme',
      id: 'mute-e2',
      ruleId: 'e2',
      matchers: {},
      startsAt: 0,
      endsAt: Number.MAX_SAFE_INTEGER,
      reason: 'deploying',
      author: 'jane',
      createdAt: 0,
      createdBy: 'key1',
    };
    const events = recorder();
    const stream = createStreamEvaluator({
      rules: new StaticRuleSource(files),
      state: new DynamoAlertStateStore(dynamo, 'silence-reads'),
      slices: new DynamoAlertSliceStore(dynamo, 'silence-reads'),
      publisher: events,
      queryBaseUrl: 'http://127.0.0.1:4318',
      silences: {
        active: async (tenant, now) => {
          reads.push([tenant, now]);
          return tenant === 'acme' ? [muteE2] : [];
        },
      },
    });
    const end = T0 + 30 * MIN;
    const shardId = 'shardId-000000000009';
    // Every span an error: every rule of both tenants fires in this window.
    const records = ['acme', 'beta'].map((tenant, t) => {
      const rows = Array.from({ length: 10 }, (_, i) => ({
        TenantId: tenant,
        Timestamp: ns(end - W + 100 + i * 100),
        TraceId: `st${t}-${i}`,
        SpanId: `ss${t}-${i}`,
        SpanName: 'GET /a',
        SpanKind: 'Server',
        ServiceName: 'checkout',
        Duration: 1_000_000,
        StatusCode: 'Error',
      }));
      const [packed] = packEnvelopes(tenant, 'traces', [batchOf('otel_traces', rows)]);
      const sequenceNumber = String(900 + t).padStart(20, '0');
      return {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: `${tenant}:checkout`,
          sequenceNumber,
          data: Buffer.from(packed!.data).toString('base64'),
          approximateArrivalTimestamp: (end - W / 2) / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${shardId}:${sequenceNumber}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
        awsRegion: 'us-east-1',
        eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/test',
      } satisfies KinesisStreamRecord;
    });
    const window = { start: new Date(end - W).toISOString(), end: new Date(end).toISOString() };
    const event = (rs: KinesisStreamRecord[], state: Record<string, unknown>, final: boolean) => ({
      Records: rs,
      window,
      state,
      shardId,
      isFinalInvokeForWindow: final,
      isWindowTerminatedEarly: false,
    });
    const folded = await stream.handle(event(records, {}, false));
    const final = await stream.handle(event([], folded.response.state, true));

    expect(final.report.outcomes.map((o) => o.error)).toEqual([undefined, undefined, undefined, undefined]);
    expect(reads.sort()).toEqual([
      ['acme', end],
      ['beta', end],
    ]);
    // Applied as before: the muted rule fires without an event, the others notify.
    const fired = (tenant: string, id: string) =>
      final.report.outcomes.find((o) => o.tenant === tenant && o.ruleId === id)!;
    expect(fired('acme', 'e2').states.map((x) => x.status)).toContain('firing');
    expect(fired('acme', 'e2').published).toEqual([]);
    for (const [tenant, id] of [
      ['acme', 'e1'],
      ['acme', 'e3'],
      ['beta', 'e1'],
    ] as const)
      expect(fired(tenant, id).published.map((e) => e.detail.status)).toEqual(['firing']);

    // The shard goes silent: a sweep decides the stale firing series, again one read per tenant.
    reads.length = 0;
    const later = end + (STALE_WINDOWS + 1) * W;
    const swept = await stream.sweep(later, W);
    expect(swept.flatMap((o) => (o.error ? [o.error] : []))).toEqual([]);
    expect(swept.filter((o) => o.states.length > 0)).toHaveLength(4);
    expect(reads.sort()).toEqual([
      ['acme', later],
      ['beta', later],
    ]);
  });
});
