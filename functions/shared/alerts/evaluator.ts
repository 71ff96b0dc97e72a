import type { ClickHouseClient } from '@clickhouse/client';
import { type AlertEvent, buildAlertEvent, type EventPublisher } from './events.js';
import { type Observation, planRule, type ResultRow, seriesKey } from './queries.js';
import type { RuleSource } from './rule-source.js';
import type { AlertRule, RuleFile } from './rules.js';
import { capSeries, describeCut, isOverflowSeries } from './series-cap.js';
import { nextState } from './state.js';
import type { AlertStateStore, StoredAlertState } from './state-store.js';

/**
 * One evaluation round: every tenant's rules, each as queries on the hot tier, the observations run
 * through the state machine (state.ts) per series, transitions saved with conditional writes, and
 * the events of saved transitions published.
 *
 * Exactly-once emission: a transition's event is written into the state item (its outbox) by the
 * same conditional put that records the transition. Two evaluations racing on a series read the same
 * version; only one put succeeds, and only its writer publishes. A series already evaluated at this
 * time or later is skipped (a late duplicate invocation). If the writer dies between the put and the
 * publish, the event stays in the outbox; once it is older than `outboxGraceMs` (longer than an
 * evaluation can run), the next evaluation that wins the series' write republishes it. What remains:
 * a crash after the bus accepted the event but before the outbox was cleared gives, after the grace,
 * a second copy with the same `transitionId` (receivers can drop it; PagerDuty does by dedup_key).
 */

export interface AlertEvaluatorPorts {
  readonly rules: RuleSource;
  readonly clickhouse: ClickHouseClient;
  readonly state: AlertStateStore;
  readonly publisher: EventPublisher;
  /** Base URL of the query API, for the event's link to the data. */
  readonly queryBaseUrl: string;
  /** Milliseconds since the epoch. @default Date.now */
  readonly clock?: () => number;
  /** Qualifies table names; omitted, the client's database. */
  readonly database?: string;
  /** Rules evaluated at once. @default 4 */
  readonly concurrency?: number;
  /** An unpublished outbox older than this is taken as abandoned and republished. @default 120_000 */
  readonly outboxGraceMs?: number;
  /**
   * Which rules this evaluator owns. The Lambda and local mode pass `isScheduledRule`
   * (evaluation-path.ts): rules decided on the stream are not evaluated here as well.
   * @default every rule
   */
  readonly owns?: (rule: AlertRule) => boolean;
}

export class RuleEvaluationError extends Error {
  override readonly name = 'RuleEvaluationError';
  constructor(
    message: string,
    readonly tenant: string,
    readonly ruleId: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface RuleOutcome {
  readonly tenant: string;
  readonly ruleId: string;
  readonly observations: readonly Observation[];
  /** Series states after this evaluation (those this evaluation wrote or left ok). */
  readonly states: readonly StoredAlertState[];
  readonly published: readonly AlertEvent[];
  /** Series whose write lost to another evaluation (their transitions were dropped here). */
  readonly conflicts: number;
  /** Outbox events of an earlier, abandoned evaluation published by this one. */
  readonly republished: number;
  readonly error?: RuleEvaluationError;
}

export interface EvaluationReport {
  readonly evaluatedAt: number;
  readonly rules: number;
  readonly series: number;
  readonly published: readonly AlertEvent[];
  readonly conflicts: number;
  readonly republished: number;
  readonly errors: readonly RuleEvaluationError[];
  readonly outcomes: readonly RuleOutcome[];
}

export interface AlertEvaluator {
  evaluate(): Promise<EvaluationReport>;
}

async function runQuery(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown>,
): Promise<ResultRow[]> {
  const rs = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<ResultRow>();
}

async function pool<T, R>(items: readonly T[], size: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await run(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(size, items.length)) }, worker));
  return out;
}

export function createAlertEvaluator(ports: AlertEvaluatorPorts): AlertEvaluator {
  const clock = ports.clock ?? Date.now;
  const grace = ports.outboxGraceMs ?? 120_000;

  async function evaluateRule(file: RuleFile, rule: AlertRule, now: number): Promise<RuleOutcome> {
    const { tenant } = file;
    const empty = {
      tenant,
      ruleId: rule.id,
      observations: [],
      states: [],
      published: [],
      conflicts: 0,
      republished: 0,
    };
    let observations: Observation[];
    let stored: StoredAlertState[];
    let cutKeys: ReadonlySet<string> = new Set();
    let cutText = '';
    try {
      const plan = planRule(rule, tenant, now, { database: ports.database });
      const [results, states] = await Promise.all([
        Promise.all(plan.queries.map((q) => runQuery(ports.clickhouse, q.query, q.params))),
        ports.state.load(tenant, rule.id),
      ]);
      stored = states;
      const capped = capSeries(plan.interpret(results), stored, rule.maxSeries);
      observations = [...capped.kept, capped.overflow];
      cutKeys = capped.cutKeys;
      cutText = describeCut(capped.cut);
    } catch (cause) {
      // No answer is not "no breach": states stay as they are until the rule can be evaluated.
      return {
        ...empty,
        error: new RuleEvaluationError(`${tenant}/${rule.id}: evaluation failed`, tenant, rule.id, { cause }),
      };
    }

    return applyObservations(
      {
        state: ports.state,
        publisher: ports.publisher,
        queryBaseUrl: ports.queryBaseUrl,
        outboxGraceMs: grace,
      },
      { file, rule, observations, stored, cutKeys, cutText, now },
    );
  }

  return {
    async evaluate(): Promise<EvaluationReport> {
      const now = clock();
      const files = await ports.rules.load();
      const owns = ports.owns ?? (() => true);
      const work = files.flatMap((file) =>
        file.rules.filter((rule) => owns(rule)).map((rule) => ({ file, rule })),
      );
      const outcomes = await pool(work, ports.concurrency ?? 4, ({ file, rule }) =>
        evaluateRule(file, rule, now),
      );
      return {
        evaluatedAt: now,
        rules: outcomes.length,
        series: outcomes.reduce((n, o) => n + o.observations.length, 0),
        published: outcomes.flatMap((o) => o.published),
        conflicts: outcomes.reduce((n, o) => n + o.conflicts, 0),
        republished: outcomes.reduce((n, o) => n + o.republished, 0),
        errors: outcomes.flatMap((o) => (o.error ? [o.error] : [])),
        outcomes,
      };
    },
  };
}

/** What applyObservations needs: the state store, the bus, and how to describe events. */
export interface ObservationSinkPorts {
  readonly state: AlertStateStore;
  readonly publisher: EventPublisher;
  readonly queryBaseUrl: string;
  /** An unpublished outbox older than this is taken as abandoned and republished. */
  readonly outboxGraceMs: number;
}

export interface ObservedRule {
  readonly file: RuleFile;
  readonly rule: AlertRule;
  /** This evaluation's observations (kept series and the overflow series). */
  readonly observations: readonly Observation[];
  /** The rule's stored series states, as loaded before observing. */
  readonly stored: readonly StoredAlertState[];
  /** Series keys to leave untouched (cut by the series cap, or owned by another evaluator). */
  readonly cutKeys?: ReadonlySet<string>;
  readonly cutText?: string;
  readonly now: number;
  /**
   * Only these series keys are stepped (others keep their stored state). Omitted: every series
   * observed or stored. The stream evaluator steps the series whose data its shard carries.
   */
  readonly only?: ReadonlySet<string>;
}

/**
 * The second half of a rule's evaluation, shared by the scheduled and the stream evaluator:
 * observations through the state machine per series, transitions saved with conditional writes
 * (their events in the outbox), then the saved events published and the outboxes cleared.
 */
export async function applyObservations(
  ports: ObservationSinkPorts,
  input: ObservedRule,
): Promise<RuleOutcome> {
  const { file, rule, observations, stored, now } = input;
  const { tenant } = file;
  const grace = ports.outboxGraceMs;
  const cutKeys = input.cutKeys ?? new Set<string>();
  const cutText = input.cutText ?? '';
  const byKey = new Map(stored.map((s) => [s.seriesKey, s]));
  const observed = new Map(observations.map((o) => [seriesKey(o.series), o]));
  const keys = new Set([...observed.keys(), ...byKey.keys()]);
  const timing = { forMs: rule.for, keepFiringForMs: rule.keepFiringFor };
  const states: StoredAlertState[] = [];
  const toPublish: { event: AlertEvent; state: StoredAlertState }[] = [];
  let conflicts = 0;
  let republished = 0;

  for (const key of keys) {
    if (input.only && !input.only.has(key)) continue;
    // A cut series is neither evaluated nor resolved: its stored state waits for a later round.
    if (cutKeys.has(key)) continue;
    const prev = byKey.get(key);
    const obs = observed.get(key);
    if (prev && prev.evaluatedAt >= now) continue; // evaluated at this time or later already
    const step = nextState(prev, { breached: obs?.breached ?? false, value: obs?.value }, timing, now);
    const carried = prev?.outbox;
    const abandoned = carried !== undefined && now - Date.parse(carried.time) >= grace;
    const unchangedOk = step.state.status === 'ok' && (prev === undefined || prev.status === 'ok');
    if (unchangedOk && !abandoned) {
      if (prev) states.push(prev);
      continue;
    }
    const series = obs?.series ?? prev?.series ?? {};
    const last = obs
      ? {
          threshold: obs.threshold,
          op: obs.op,
          windowMs: obs.windowMs,
          ...(obs.details ? { details: obs.details } : {}),
        }
      : prev?.last;
    const event =
      step.transition && last
        ? buildAlertEvent({
            tenant,
            rule,
            channels: file.channels,
            transition: step.transition,
            observation: { series, value: step.state.value ?? 0, ...last },
            startsAt: step.state.activeSince ?? now,
            now,
            queryBaseUrl: ports.queryBaseUrl,
            ...(isOverflowSeries(series) && step.transition === 'firing' && { note: `cut: ${cutText}` }),
          })
        : undefined;
    const next: StoredAlertState = {
      ...step.state,
      tenant,
      ruleId: rule.id,
      seriesKey: key,
      series,
      version: (prev?.version ?? 0) + 1,
      ...(last ? { last } : {}),
      ...(event ? { outbox: event } : carried ? { outbox: carried } : {}),
    };
    if (!(await ports.state.save(next))) {
      conflicts++;
      continue;
    }
    states.push(next);
    // This write owns the series now: it publishes what an abandoned evaluation left behind.
    if (abandoned && carried) {
      toPublish.push({ event: carried, state: next });
      republished++;
    }
    if (event) toPublish.push({ event, state: next });
  }

  let error: RuleEvaluationError | undefined;
  const published: AlertEvent[] = [];
  if (toPublish.length > 0) {
    try {
      await ports.publisher.publish(toPublish.map((p) => p.event));
      published.push(...toPublish.map((p) => p.event));
      await Promise.all(toPublish.map((p) => ports.state.clearOutbox(p.state, p.event.detail.transitionId)));
    } catch (cause) {
      // The outboxes stay; an evaluation after the grace period publishes them.
      error = new RuleEvaluationError(
        `${tenant}/${rule.id}: publishing alert events failed`,
        tenant,
        rule.id,
        {
          cause,
        },
      );
    }
  }
  return {
    tenant,
    ruleId: rule.id,
    observations,
    states,
    published,
    conflicts,
    republished,
    ...(error ? { error } : {}),
  };
}
