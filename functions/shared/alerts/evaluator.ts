import type { ClickHouseClient } from '@clickhouse/client';
import {
  type AlertHistoryStore,
  externalState,
  type HistoryEntry,
  type Silence,
  type SilenceSource,
  silenceMatches,
  silencesAt,
} from './config-store.js';
import {
  type AlertEvent,
  buildAlertEvent,
  consoleUrl,
  type EventPublisher,
  MAX_TREND,
  queryUrl,
} from './events.js';
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
  /** Silences (rules API): a muted transition is saved and recorded, not published. @default none */
  readonly silences?: SilenceSource;
  /** Where every state change is recorded (GET /v1/alerts/history). @default none */
  readonly history?: AlertHistoryStore;
  /** Base URL of the console, for the links to the data in events and history. */
  readonly consoleBaseUrl?: string;
  /**
   * Recent values of series that are not stored (plainly ok), for the trend of the first firing
   * message. Keep one per process (a warm Lambda keeps it between rounds). @default a new one
   */
  readonly recentValues?: RecentValues;
  /**
   * Which rules this evaluator owns. The Lambda and local mode pass `isScheduledRule`
   * (evaluation-path.ts): rules decided on the stream are not evaluated here as well.
   * @default every rule
   */
  readonly owns?: (rule: AlertRule) => boolean;
}

/** Recent observed values per series, in memory and bounded (least recently updated go first). */
export class RecentValues {
  private readonly map = new Map<string, number[]>();
  constructor(private readonly maxSeries = 20_000) {}
  get(key: string): readonly number[] | undefined {
    return this.map.get(key);
  }
  set(key: string, values: number[]): void {
    this.map.delete(key);
    this.map.set(key, values);
    while (this.map.size > this.maxSeries) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }
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
  /** Data series evaluated; each rule's series-cap guard (always observed) is not one. */
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
  const recent = ports.recentValues ?? new RecentValues();

  async function evaluateRule(
    file: RuleFile,
    rule: AlertRule,
    now: number,
    silencesOf: (tenant: string) => Promise<readonly Silence[]>,
  ): Promise<RuleOutcome> {
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
    let silences: readonly Silence[] = [];
    try {
      const plan = planRule(rule, tenant, now, { database: ports.database });
      const [results, states, active] = await Promise.all([
        Promise.all(plan.queries.map((q) => runQuery(ports.clickhouse, q.query, q.params))),
        ports.state.load(tenant, rule.id),
        silencesOf(tenant),
      ]);
      silences = active;
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
        recentValues: recent,
        ...(ports.history && { history: ports.history }),
        ...(ports.consoleBaseUrl && { consoleBaseUrl: ports.consoleBaseUrl }),
      },
      { file, rule, observations, stored, cutKeys, cutText, now, silences },
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
      const silencesOf = silencesAt(ports.silences, now);
      const outcomes = await pool(work, ports.concurrency ?? 4, ({ file, rule }) =>
        evaluateRule(file, rule, now, silencesOf),
      );
      return {
        evaluatedAt: now,
        rules: outcomes.length,
        series: outcomes.reduce(
          (n, o) => n + o.observations.filter((x) => !isOverflowSeries(x.series)).length,
          0,
        ),
        published: outcomes.flatMap((o) => o.published),
        conflicts: outcomes.reduce((n, o) => n + o.conflicts, 0),
        republished: outcomes.reduce((n, o) => n + o.republished, 0),
        errors: outcomes.flatMap((o) => (o.error ? [o.error] : [])),
        outcomes,
      };
    },
  };
}

/** Where the outcome of a rule's observations goes: shared by the scheduled and the stream evaluator. */
export interface ObservationSinkPorts {
  readonly state: AlertStateStore;
  readonly publisher: EventPublisher;
  readonly queryBaseUrl: string;
  /** An unpublished outbox older than this is taken as abandoned and republished. */
  readonly outboxGraceMs: number;
  /** Where every state change is recorded (GET /v1/alerts/history). @default none */
  readonly history?: AlertHistoryStore;
  /** Base URL of the console, for the links to the data in events and history. */
  readonly consoleBaseUrl?: string;
  /** Recent values of series not stored (plainly ok), for the first firing message's trend. */
  readonly recentValues: RecentValues;
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
  /** The tenant's active silences: a muted firing is saved and recorded, not published. */
  readonly silences?: readonly Silence[];
}

/**
 * A rule's observations through the state machine, per series: transitions saved with conditional
 * writes (the outbox), recorded in the history, and published unless a silence mutes them.
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
  const silences = input.silences ?? [];
  const recent = ports.recentValues;
  const byKey = new Map(stored.map((s) => [s.seriesKey, s]));
  const observed = new Map(observations.map((o) => [seriesKey(o.series), o]));
  const keys = new Set([...observed.keys(), ...byKey.keys()]);
  const timing = { forMs: rule.for, keepFiringForMs: rule.keepFiringFor };
  const states: StoredAlertState[] = [];
  const toPublish: { event: AlertEvent; state: StoredAlertState }[] = [];
  const history: HistoryEntry[] = [];
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
    const memoryKey = `${tenant}\u0000${rule.id}\u0000${key}`;
    const trend = [...(prev?.trend ?? recent.get(memoryKey) ?? [])];
    if (obs?.value !== undefined && Number.isFinite(obs.value)) trend.push(obs.value);
    if (trend.length > MAX_TREND) trend.splice(0, trend.length - MAX_TREND);
    const unchangedOk = step.state.status === 'ok' && (prev === undefined || prev.status === 'ok');
    if (unchangedOk && !abandoned) {
      recent.set(memoryKey, trend);
      if (prev) states.push(prev);
      continue;
    }
    const series = obs?.series ?? prev?.series ?? {};
    const labels = { ...rule.labels, ...series };
    const silenced = silences.some((s) => silenceMatches(s, rule.id, labels, now));
    const last = obs
      ? {
          threshold: obs.threshold,
          op: obs.op,
          windowMs: obs.windowMs,
          ...(obs.details ? { details: obs.details } : {}),
        }
      : prev?.last;
    // Silences: a firing a silence mutes is saved and recorded, its event held back (`muted`); the
    // first evaluation after the silence ends that finds the alert still firing publishes it, once
    // (the conditional put owns it, as any transition). A resolution is sent exactly when its
    // firing was: an incident people were told about is closed even during a silence (PagerDuty,
    // Opsgenie), and the end of one nobody was told about is not announced.
    let transition = step.transition;
    let muted = prev?.muted === true && step.state.status === 'firing';
    let silenceEnded = false;
    if (transition === 'firing' && silenced) {
      transition = undefined;
      muted = true;
    } else if (transition === 'resolved' && prev?.muted) {
      transition = undefined;
    } else if (!transition && muted && !silenced) {
      transition = 'firing';
      muted = false;
      silenceEnded = true;
    }
    const event =
      transition && last
        ? buildAlertEvent({
            tenant,
            rule,
            channels: file.channels,
            transition,
            observation: { series, value: step.state.value ?? 0, ...last },
            startsAt: step.state.activeSince ?? now,
            now,
            queryBaseUrl: ports.queryBaseUrl,
            trend,
            ...(ports.consoleBaseUrl && { consoleBaseUrl: ports.consoleBaseUrl }),
            ...(isOverflowSeries(series) && transition === 'firing' && { note: `cut: ${cutText}` }),
          })
        : undefined;
    if (event && silenceEnded) event.detail.silenceEnded = true;
    const next: StoredAlertState = {
      ...step.state,
      tenant,
      ruleId: rule.id,
      seriesKey: key,
      series,
      version: (prev?.version ?? 0) + 1,
      ...(last ? { last } : {}),
      ...(step.state.status === 'ok' ? {} : { trend }),
      ...(muted ? { muted: true } : {}),
      ...(event ? { outbox: event } : carried ? { outbox: carried } : {}),
    };
    if (!(await ports.state.save(next))) {
      conflicts++;
      continue;
    }
    states.push(next);
    recent.set(memoryKey, trend);
    const from = externalState(prev?.status ?? 'ok');
    const to = externalState(next.status);
    if (from !== to) {
      history.push({
        tenant,
        at: now,
        ruleId: rule.id,
        ruleName: rule.name,
        series,
        labels,
        from,
        to,
        value: next.value ?? null,
        threshold: last?.threshold ?? null,
        windowMs: last?.windowMs ?? null,
        ...(last && {
          link: ports.consoleBaseUrl
            ? consoleUrl(ports.consoleBaseUrl, rule, series, now - last.windowMs, now)
            : queryUrl(ports.queryBaseUrl, rule, series, now - last.windowMs, now),
        }),
        ...(silenced && { silenced: true }),
      });
    }
    // This write owns the series now: it publishes what an abandoned evaluation left behind.
    if (abandoned && carried) {
      toPublish.push({ event: carried, state: next });
      republished++;
    }
    if (event) toPublish.push({ event, state: next });
  }

  let error: RuleEvaluationError | undefined;
  if (ports.history && history.length > 0) {
    try {
      await ports.history.record(history);
    } catch (cause) {
      // The states are saved (and their events go out below); only the record is missing.
      error = new RuleEvaluationError(`${tenant}/${rule.id}: recording the history failed`, tenant, rule.id, {
        cause,
      });
    }
  }
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
