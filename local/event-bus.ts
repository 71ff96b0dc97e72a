import type { PutEventsCommand, PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import type { Context, EventBridgeEvent, ScheduledEvent } from 'aws-lambda';
import { alertEventFrom } from '../functions/notifiers/handler.js';
import type { EvaluationReport } from '../functions/shared/alerts/evaluator.js';
import {
  ALERT_DETAIL_TYPES,
  ALERT_EVENT_SOURCE,
  type AlertEvent,
  type EventPublisher,
} from '../functions/shared/alerts/events.js';
import { consoleLine } from '../functions/shared/alerts/format.js';
import { CHANNEL_TYPES, type ChannelType } from '../functions/shared/alerts/rules.js';
import type { DeadLetterSink } from '../functions/shared/dead-letter/dead-letter.js';
import { QuotaWarningDetailSchema } from '../functions/shared/tenants/quota-event-schema.js';
import { QUOTA_EVENT_SOURCE, QUOTA_WARNING } from '../functions/shared/tenants/quota-events.js';
import { lambdaContext } from './lambda-context.js';

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
    for (const e of events) this.route({ ...e, id: this.nextId() });
  }

  private nextId(): string {
    return `local-${Date.now()}-${++this.seq}`;
  }

  private route(event: BusEvent): void {
    for (const rule of this.rules) {
      if (!matchesPattern(rule.pattern, event)) continue;
      const delivery = this.deliver(rule, event).finally(() => this.inflight.delete(delivery));
      this.inflight.add(delivery);
    }
  }

  /** The evaluator's port: alert events onto this bus. */
  publish(events: readonly AlertEvent[]): Promise<void> {
    return this.put(events);
  }

  /**
   * EventBridge's PutEvents, so the functions' own EventBridge adapters publish here unchanged
   * (the alert and quota publishers take this bus as their client). Every entry is accepted.
   */
  async send(command: PutEventsCommand): Promise<PutEventsCommandOutput> {
    const entries = command.input.Entries ?? [];
    const ids: string[] = [];
    for (const e of entries) {
      const id = this.nextId();
      ids.push(id);
      this.route({
        id,
        source: e.Source ?? '',
        detailType: e.DetailType ?? '',
        time: (e.Time ?? new Date()).toISOString(),
        detail: e.Detail === undefined ? {} : (JSON.parse(e.Detail) as unknown),
      });
    }
    return { $metadata: {}, FailedEntryCount: 0, Entries: ids.map((EventId) => ({ EventId })) };
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

/** The bus event as EventBridge hands it to a rule's Lambda target. */
export function eventBridgeEventOf(event: BusEvent): EventBridgeEvent<string, unknown> {
  return {
    version: '0',
    id: event.id,
    'detail-type': event.detailType,
    source: event.source,
    account: '000000000000',
    time: event.time,
    region: 'us-east-1',
    resources: [],
    detail: event.detail,
  };
}

/** The event a schedule (EventBridge Scheduler, a scheduled rule) hands its Lambda target. */
export function scheduledEvent(source: 'aws.scheduler' | 'aws.events', now = new Date()): ScheduledEvent {
  const time = now.toISOString();
  return {
    version: '0',
    id: `local-schedule-${time}`,
    'detail-type': 'Scheduled Event',
    source,
    account: '000000000000',
    time,
    region: 'us-east-1',
    resources: [],
    detail: {},
  };
}

/** The bus event as the notifier handler sees it, validated (the notifier's own parsing). */
export function alertEventOf(event: BusEvent): AlertEvent {
  return alertEventFrom(eventBridgeEventOf(event));
}

type LambdaHandler<E, R> = (event: E, context: Context) => Promise<R>;

export interface LocalAlertingOptions {
  /** The bus the functions publish on (their EventBridge client). */
  readonly bus: InProcessEventBus;
  /** The alert evaluator function, invoked on the schedule as EventBridge Scheduler does. */
  readonly evaluator: LambdaHandler<ScheduledEvent, EvaluationReport>;
  /** One notifier function per channel type, each behind its own rule, as the stack deploys them. */
  readonly notifiers: Readonly<
    Record<ChannelType, LambdaHandler<EventBridgeEvent<string, unknown>, unknown>>
  >;
  /** The schedule: one evaluation per interval (the first at start). */
  readonly intervalMs: number;
  /** Where the console rule prints alert events and quota warnings. @default console.log */
  readonly log?: (line: string) => void;
  readonly onEvaluated?: (report: EvaluationReport) => void;
}

export interface LocalAlerting {
  readonly bus: InProcessEventBus;
  /** One evaluation now (the timer's runs do the same); rejects when a rule could not be evaluated. */
  evaluateNow(): Promise<EvaluationReport>;
  /** Stops the timer and waits for deliveries in flight. */
  close(): Promise<void>;
}

/** The rules the stack makes on the alert bus: one per channel type to its notifier function. */
export function notifierRules(notifiers: LocalAlertingOptions['notifiers']): BusRule[] {
  const base = { source: [ALERT_EVENT_SOURCE], detailType: [...ALERT_DETAIL_TYPES] };
  return CHANNEL_TYPES.map((type) => ({
    name: `notifier-${type}`,
    pattern: { ...base, detail: { channels: { type: [type] } } },
    target: async (event: BusEvent) => {
      await notifiers[type](eventBridgeEventOf(event), lambdaContext({ functionName: `notifier-${type}` }));
    },
  }));
}

/**
 * Alerting in local mode: the evaluator function on a timer (Scheduler's rate), its events on the
 * in-process bus, the bus's rules delivering to the notifier functions (posting to real HTTP
 * endpoints; e-mail printed by the local stand-in), and a console rule printing every alert event
 * and quota warning.
 */
export function startLocalAlerting(options: LocalAlertingOptions): LocalAlerting {
  const log = options.log ?? ((line: string) => console.log(line));
  const { bus } = options;
  bus.addRule({
    name: 'console-quota',
    pattern: { source: [QUOTA_EVENT_SOURCE], detailType: [QUOTA_WARNING] },
    target: async (event) => log(`quota warning: ${QuotaWarningDetailSchema.parse(event.detail).summary}`),
  });
  bus.addRule({
    name: 'console',
    pattern: { source: [ALERT_EVENT_SOURCE], detailType: [...ALERT_DETAIL_TYPES] },
    target: async (event) => log(consoleLine(alertEventOf(event))),
  });
  for (const rule of notifierRules(options.notifiers)) bus.addRule(rule);

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let closed = false;
  const evaluateNow = async () => {
    const report = await options.evaluator(
      scheduledEvent('aws.scheduler'),
      lambdaContext({ functionName: 'alert-evaluator', remaining: { timeoutMs: 60_000 } }),
    );
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
