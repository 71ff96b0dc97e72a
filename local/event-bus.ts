import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AlertHistoryStore, SilenceSource } from '../functions/shared/alerts/config-store.js';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../functions/shared/alerts/dynamo-alert-state-store.js';
import {
  createAlertEvaluator,
  type EvaluationReport,
  type RuleOutcome,
} from '../functions/shared/alerts/evaluator.js';
import {
  ALERT_DETAIL_TYPES,
  ALERT_EVENT_SOURCE,
  type AlertEvent,
  AlertEventDetailSchema,
  type EventPublisher,
} from '../functions/shared/alerts/events.js';
import { consoleLine } from '../functions/shared/alerts/format.js';
import { createNotifier, type RetryPolicy } from '../functions/shared/alerts/notifier.js';
import type { RuleSource } from '../functions/shared/alerts/rule-source.js';
import { type AlertRule, CHANNEL_TYPES } from '../functions/shared/alerts/rules.js';
import type { SecretSource } from '../functions/shared/alerts/secrets.js';
import type { DeadLetterSink } from '../functions/shared/dead-letter/dead-letter.js';
import { QuotaWarningDetailSchema } from '../functions/shared/tenants/quota-event-schema.js';
import {
  QUOTA_EVENT_SOURCE,
  QUOTA_WARNING,
  type QuotaEventSink,
} from '../functions/shared/tenants/quota-events.js';

/**
 * Local mode's EventBridge: an in-process bus with rules (patterns on source, detail-type and
 * detail fields, with EventBridge's matching of arrays) delivering to targets, each delivery retried
 * with exponential backoff and dead-lettered when it still fails, the way a rule's retry policy and
 * SQS DLQ behave in AWS. Deliveries run in the background; `drain()` waits for them.
 */

export interface BusEvent {
  readonly id: string;
  readonly source: string;
  readonly detailType: string;
  readonly time: string;
  readonly detail: unknown;
}

/** A subset of EventBridge patterns: leaves are lists of allowed values, objects nest. */
export type DetailPattern = {
  readonly [key: string]: readonly (string | number | boolean)[] | DetailPattern;
};

export interface BusPattern {
  readonly source?: readonly string[];
  readonly detailType?: readonly string[];
  readonly detail?: DetailPattern;
}

export interface BusRetryPolicy {
  /** Deliveries in all (the first included). @default 4 */
  readonly attempts: number;
  /** @default 200 */
  readonly baseDelayMs: number;
  /** @default 5_000 */
  readonly maxDelayMs: number;
}

export interface BusRule {
  readonly name: string;
  readonly pattern: BusPattern;
  readonly target: (event: BusEvent) => Promise<void>;
  readonly retry?: Partial<BusRetryPolicy>;
}

export interface InProcessEventBusOptions {
  readonly deadLetters: DeadLetterSink;
  readonly retry?: Partial<BusRetryPolicy>;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told about every failed delivery attempt and every dead letter. */
  readonly onFailure?: (rule: string, event: BusEvent, error: unknown, final: boolean) => void;
}

const DEFAULT_BUS_RETRY: BusRetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 5_000 };

function matchesValue(allowed: DetailPattern[string], value: unknown): boolean {
  if (Array.isArray(value)) return value.some((v) => matchesValue(allowed, v));
  if (Array.isArray(allowed)) return (allowed as readonly unknown[]).includes(value);
  if (typeof value !== 'object' || value === null) return false;
  const obj = value as Record<string, unknown>;
  return Object.entries(allowed as DetailPattern).every(([k, sub]) => matchesValue(sub, obj[k]));
}

export function matchesPattern(pattern: BusPattern, event: BusEvent): boolean {
  if (pattern.source && !pattern.source.includes(event.source)) return false;
  if (pattern.detailType && !pattern.detailType.includes(event.detailType)) return false;
  if (pattern.detail && !matchesValue(pattern.detail, event.detail)) return false;
  return true;
}

export class InProcessEventBus implements EventPublisher {
  private readonly rules: BusRule[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private readonly sleep: (ms: number) => Promise<void>;
  private seq = 0;

  constructor(private readonly options: InProcessEventBusOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  addRule(rule: BusRule): this {
    this.rules.push(rule);
    return this;
  }

  /** Accepts the events (as PutEvents does) and delivers them in the background. */
  async put(events: readonly Omit<BusEvent, 'id'>[]): Promise<void> {
    for (const e of events) {
      const event: BusEvent = { ...e, id: `local-${Date.now()}-${++this.seq}` };
      for (const rule of this.rules) {
        if (!matchesPattern(rule.pattern, event)) continue;
        const delivery = this.deliver(rule, event).finally(() => this.inflight.delete(delivery));
        this.inflight.add(delivery);
      }
    }
  }

  /** The evaluator's port: alert events onto this bus. */
  publish(events: readonly AlertEvent[]): Promise<void> {
    return this.put(events);
  }

  /** Waits until every delivery so far (retries and dead-lettering included) has finished. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  private async deliver(rule: BusRule, event: BusEvent): Promise<void> {
    const policy = { ...DEFAULT_BUS_RETRY, ...this.options.retry, ...rule.retry };
    let last: unknown;
    for (let attempt = 1; attempt <= policy.attempts; attempt++) {
      try {
        await rule.target(event);
        return;
      } catch (err) {
        last = err;
        const final = attempt >= policy.attempts;
        this.options.onFailure?.(rule.name, event, err, false);
        if (!final) await this.sleep(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)));
      }
    }
    const reason = `rule ${rule.name}: delivery failed ${policy.attempts} times: ${last instanceof Error ? last.message : String(last)}`;
    this.options.onFailure?.(rule.name, event, last, true);
    try {
      await this.options.deadLetters.put([
        { source: `event-bus/${rule.name}`, reason, data: new TextEncoder().encode(JSON.stringify(event)) },
      ]);
    } catch (err) {
      this.options.onFailure?.(rule.name, event, err, true);
    }
  }
}

/** The bus event as the notifier handler sees it, validated. */
export function alertEventOf(event: BusEvent): AlertEvent {
  return {
    source: ALERT_EVENT_SOURCE,
    detailType: event.detailType === 'AlertResolved' ? 'AlertResolved' : 'AlertFiring',
    time: event.time,
    detail: AlertEventDetailSchema.parse(event.detail),
  };
}

export interface LocalAlertingOptions {
  readonly clickhouse: ClickHouseClient;
  readonly dynamo: DynamoDBClient;
  readonly rules: RuleSource;
  /** Base URL of the local query API, for the links in events. */
  readonly queryBaseUrl: string;
  readonly secrets: SecretSource;
  readonly deadLetters: DeadLetterSink;
  /** The schedule: one evaluation per interval (the first at start). */
  readonly intervalMs: number;
  /** @default 'alert-state' */
  readonly stateTable?: string;
  readonly database?: string;
  /** Where the console target, e-mails and failures are printed. @default console.log */
  readonly log?: (line: string) => void;
  readonly notifierRetry?: Partial<RetryPolicy>;
  readonly busRetry?: Partial<BusRetryPolicy>;
  readonly clock?: () => number;
  readonly onEvaluated?: (report: EvaluationReport) => void;
  /** Silences made through the alerts API. */
  readonly silences?: SilenceSource;
  /** Where state changes are recorded (GET /v1/alerts/history). */
  readonly history?: AlertHistoryStore;
  /** Base URL of the console, for links in events and history. */
  readonly consoleBaseUrl?: string;
  /** Rules the scheduled evaluator owns (local mode: `isScheduledRule`). @default every rule */
  readonly owns?: (rule: AlertRule) => boolean;
  /** Run after each evaluation: the stream evaluator's sweep of silent shards' series. */
  readonly sweep?: (nowMs: number) => Promise<readonly RuleOutcome[]>;
}

export interface LocalAlerting {
  readonly bus: InProcessEventBus;
  /** One evaluation now (the timer's runs do the same). */
  evaluateNow(): Promise<EvaluationReport>;
  /** Stops the timer and waits for deliveries in flight. */
  close(): Promise<void>;
}

/**
 * Alerting in local mode: the evaluator on a timer, state in the local DynamoDB, events on the
 * in-process bus, one rule per channel type to the same notifier code as in AWS (posting to real
 * HTTP endpoints; e-mail printed), and a console rule printing every alert event.
 */
export async function startLocalAlerting(options: LocalAlertingOptions): Promise<LocalAlerting> {
  const log = options.log ?? ((line: string) => console.log(line));
  const stateTable = options.stateTable ?? 'alert-state';
  await ensureAlertStateTable(options.dynamo, stateTable);
  const bus = new InProcessEventBus({
    deadLetters: options.deadLetters,
    ...(options.busRetry ? { retry: options.busRetry } : {}),
    onFailure: (rule, event, error, final) => {
      if (final) log(`alert bus: ${rule} dead-lettered event ${event.id}: ${String(error)}`);
    },
  });
  const notifier = createNotifier({
    secrets: options.secrets,
    email: {
      async publish(topicArn, subject, body) {
        log(`e-mail to ${topicArn}: ${subject}\n${body}`);
      },
    },
    ...(options.notifierRetry ? { retry: options.notifierRetry } : {}),
  });
  const base = { source: [ALERT_EVENT_SOURCE], detailType: [...ALERT_DETAIL_TYPES] };
  bus.addRule({
    name: 'console-quota',
    pattern: { source: [QUOTA_EVENT_SOURCE], detailType: [QUOTA_WARNING] },
    target: async (event) => log(`quota warning: ${QuotaWarningDetailSchema.parse(event.detail).summary}`),
  });
  bus.addRule({
    name: 'console',
    pattern: base,
    target: async (event) => log(consoleLine(alertEventOf(event))),
  });
  for (const type of CHANNEL_TYPES) {
    bus.addRule({
      name: `notifier-${type}`,
      pattern: { ...base, detail: { channels: { type: [type] } } },
      target: async (event) => {
        const alert = alertEventOf(event);
        await notifier.deliver(alert, type);
      },
    });
  }
  const evaluator = createAlertEvaluator({
    rules: options.rules,
    clickhouse: options.clickhouse,
    state: new DynamoAlertStateStore(options.dynamo, stateTable),
    publisher: bus,
    queryBaseUrl: options.queryBaseUrl,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.database ? { database: options.database } : {}),
    ...(options.silences && { silences: options.silences }),
    ...(options.history && { history: options.history }),
    ...(options.consoleBaseUrl && { consoleBaseUrl: options.consoleBaseUrl }),
    ...(options.owns ? { owns: options.owns } : {}),
  });

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let closed = false;
  const evaluateNow = async () => {
    const report = await evaluator.evaluate();
    for (const e of report.errors) log(`alert evaluator: ${e.message}: ${String(e.cause)}`);
    for (const o of options.sweep ? await options.sweep(report.evaluatedAt) : []) {
      if (o.error) log(`alert evaluator (stream sweep): ${o.error.message}: ${String(o.error.cause)}`);
    }
    options.onEvaluated?.(report);
    return report;
  };
  // Fixed rate like Scheduler's rate(1 minute), but never two evaluations at once.
  const tick = () => {
    const started = Date.now();
    running = evaluateNow()
      .catch((err: unknown) => log(`alert evaluator failed: ${String(err)}`))
      .finally(() => {
        if (!closed) timer = setTimeout(tick, Math.max(0, options.intervalMs - (Date.now() - started)));
      });
  };
  tick();
  return {
    bus,
    evaluateNow,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running;
      await bus.drain();
    },
  };
}

/** Quota warnings onto the in-process bus (the bus may be started after the ingest: `bus()` is read per event). */
export function busQuotaEventSink(bus: () => InProcessEventBus | undefined): QuotaEventSink {
  return {
    async warn(detail) {
      await bus()?.put([
        { source: QUOTA_EVENT_SOURCE, detailType: QUOTA_WARNING, time: new Date().toISOString(), detail },
      ]);
    },
  };
}
