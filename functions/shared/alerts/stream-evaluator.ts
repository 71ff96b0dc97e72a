import { createHash } from 'node:crypto';
import type { KinesisStreamStateResponse, KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import { unpackEnvelope } from '../envelope/envelope.js';
import { type AlertHistoryStore, type Silence, type SilenceSource, silencesAt } from './config-store.js';
import { isStreamRule, type StreamRule } from './evaluation-path.js';
import { applyObservations, RecentValues, RuleEvaluationError, type RuleOutcome } from './evaluator.js';
import type { EventPublisher } from './events.js';
import { type Observation, seriesKey } from './queries.js';
import type { RuleSource } from './rule-source.js';
import type { RuleFile } from './rules.js';
import { capSeries, describeCut, OVERFLOW_SERIES } from './series-cap.js';
import type { AlertSliceStore, ShardActivity, WindowSlices } from './slice-store.js';
import type { AlertStateStore } from './state-store.js';
import { foldBatch, observe, type RuleSlices, windowTotals } from './stream-partials.js';

/**
 * The stream evaluator: a consumer of the Kinesis stream with Lambda tumbling windows that decides
 * the rules `evaluationPath` gives the stream (evaluation-path.ts), seconds after their data
 * arrives, with the scheduled evaluator's semantics, state machine, once-only events and bus.
 *
 * - Every invocation of a window folds its records' rows into partial aggregates per (rule,
 *   slice of the rows' own time, series) and returns them as the window's `state`.
 * - The final invocation (`isFinalInvokeForWindow`) writes the window's partials to the slice store
 *   (one item per rule, idempotent key), then decides each rule at the window's end: the rule
 *   window's slices from every shard merged into one observation per series, the same observations
 *   the SQL would make (stream-partials.ts), through the shared applyObservations (conditional
 *   writes, outbox, publish). The decision time is the window's end, not the clock, so a retried
 *   or redelivered final invocation decides at the same time and its writes lose to the first
 *   (`evaluatedAt < now`): no second event.
 * - A shard steps only the series whose rows it carries (the partition key is tenant:service), and
 *   the series with no data at all (so alerts resolve when their traffic stops); it keeps deciding
 *   a rule while the rule's lookback covers the last window it saw data for (the shard's activity).
 * - A state that grows past `stateBudgetBytes` (Lambda's limit is 1 MB) is flushed to the store
 *   early and the window continues with an empty state; so is a window Lambda terminates early.
 */

export const STREAM_STATE_VERSION = 1;
/** Below Lambda's 1 MB state limit, with room for one more batch. */
export const DEFAULT_STATE_BUDGET_BYTES = 512 * 1024;
/** Rows stamped up to this far ahead of their arrival (client clocks) still land in their window. */
export const CLOCK_SKEW_MS = 60_000;

export interface StreamEvaluatorPorts {
  readonly rules: RuleSource;
  readonly state: AlertStateStore;
  readonly slices: AlertSliceStore;
  readonly publisher: EventPublisher;
  readonly queryBaseUrl: string;
  /** @default 120_000 (as the scheduled evaluator) */
  readonly outboxGraceMs?: number;
  /** @default DEFAULT_STATE_BUDGET_BYTES */
  readonly stateBudgetBytes?: number;
  /** Rules decided at once. @default 8 */
  readonly concurrency?: number;
  /** Silences (alerts API), as the scheduled evaluator honours them. @default none */
  readonly silences?: SilenceSource;
  /** Where every state change is recorded (GET /v1/alerts/history). @default none */
  readonly history?: AlertHistoryStore;
  /** Base URL of the console, for the links to the data in events and history. */
  readonly consoleBaseUrl?: string;
}

export interface StreamWindowReport {
  readonly final: boolean;
  readonly records: number;
  readonly undecodable: number;
  readonly rowsMatched: number;
  /** Slice items written (final, early or over-budget flush). */
  readonly flushed: number;
  readonly outcomes: readonly RuleOutcome[];
}

/** The window's state as it travels between invocations. */
interface WindowState {
  readonly v: typeof STREAM_STATE_VERSION;
  /** `<tenant>\u0000<rule id>` -> its slices. */
  readonly r: Record<string, RuleSlices>;
}

const ref = (tenant: string, ruleId: string) => `${tenant}\u0000${ruleId}`;

function readState(raw: unknown): WindowState {
  const s = raw as Partial<WindowState> | undefined;
  if (s && s.v === STREAM_STATE_VERSION && typeof s.r === 'object' && s.r !== null) return { v: 1, r: s.r };
  return { v: 1, r: {} };
}

interface TenantRules {
  readonly file: RuleFile;
  readonly rule: StreamRule;
}

async function pool<T>(items: readonly T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(size, items.length)) }, worker));
}

/** How long after its last data a shard keeps deciding a rule: long enough to resolve it. */
function lookbackMs(rule: StreamRule): number {
  return rule.window + rule.keepFiringFor + CLOCK_SKEW_MS;
}

const emptyOutcome = (tenant: string, ruleId: string): RuleOutcome => ({
  tenant,
  ruleId,
  observations: [],
  states: [],
  published: [],
  conflicts: 0,
  republished: 0,
});

/**
 * A series the stream has not decided for this many windows has a silent shard: Lambda invokes a
 * window only when records arrive, so a shard with no traffic at all decides nothing, and its
 * firing alerts would never resolve. The sweep (run by the scheduled evaluator) decides those.
 */
export const STALE_WINDOWS = 3;

export class StreamEvaluationError extends Error {
  override readonly name = 'StreamEvaluationError';
}

export function createStreamEvaluator(ports: StreamEvaluatorPorts) {
  const budget = ports.stateBudgetBytes ?? DEFAULT_STATE_BUDGET_BYTES;
  const grace = ports.outboxGraceMs ?? 120_000;
  // Kept by the warm container between windows, as the scheduled evaluator keeps its own.
  const recent = new RecentValues();

  async function streamRules(): Promise<Map<string, TenantRules>> {
    const out = new Map<string, TenantRules>();
    for (const file of await ports.rules.load()) {
      for (const rule of file.rules) {
        if (isStreamRule(rule)) out.set(ref(file.tenant, rule.id), { file, rule: rule as StreamRule });
      }
    }
    return out;
  }

  function toItems(state: WindowState, shardId: string, windowEnd: number, part: string): WindowSlices[] {
    return Object.entries(state.r).flatMap(([key, slices]) => {
      if (Object.keys(slices).length === 0) return [];
      const [tenant = '', ruleId = ''] = key.split('\u0000');
      return [{ tenant, ruleId, shardId, windowEnd, part, slices }];
    });
  }

  const contentPart = (state: WindowState) =>
    `f${createHash('sha256').update(JSON.stringify(state)).digest('hex').slice(0, 16)}`;

  async function decide(
    entry: TenantRules,
    shardId: string | undefined,
    now: number,
    silencesOf: (tenant: string) => Promise<readonly Silence[]>,
    staleBefore?: number,
  ): Promise<RuleOutcome> {
    const { file, rule } = entry;
    try {
      const loadSlices = () =>
        ports.slices.load(file.tenant, rule.id, now - rule.window - CLOCK_SKEW_MS, now);
      // A sweep reads the slices only when some series is stale (the usual answer is none).
      const stored = await ports.state.load(file.tenant, rule.id);
      const isStale = (s: (typeof stored)[number]) =>
        staleBefore !== undefined &&
        (s.status === 'pending' || s.status === 'firing') &&
        s.evaluatedAt < staleBefore;
      if (staleBefore !== undefined && !stored.some(isStale)) {
        return { ...emptyOutcome(file.tenant, rule.id), states: stored };
      }
      const items = await loadSlices();
      const totals = windowTotals(
        rule,
        items.map((i) => i.slices),
        now,
      );
      const observations: Observation[] = [];
      for (const p of totals.values()) {
        const o = observe(rule, p);
        if (o) observations.push(o);
      }
      // Series this shard carries; series nobody carries (their data stopped) are anyone's to step.
      const mine = new Set<string>();
      const anyone = new Set<string>();
      for (const item of items) {
        for (const bySeries of Object.values(item.slices)) {
          for (const key of Object.keys(bySeries)) {
            anyone.add(key);
            if (item.shardId === shardId) mine.add(key);
          }
        }
      }
      const only = new Set(mine);
      for (const s of stored) if (!anyone.has(s.seriesKey)) only.add(s.seriesKey);
      only.add(seriesKey(OVERFLOW_SERIES));
      if (staleBefore !== undefined) {
        // A sweep: only the active series no shard has decided lately (their shard went silent).
        only.clear();
        for (const s of stored) if (isStale(s)) only.add(s.seriesKey);
      }
      const capped = capSeries(observations, stored, rule.maxSeries);
      const silences = await silencesOf(file.tenant);
      return await applyObservations(
        {
          recentValues: recent,
          state: ports.state,
          publisher: ports.publisher,
          queryBaseUrl: ports.queryBaseUrl,
          outboxGraceMs: grace,
          ...(ports.history && { history: ports.history }),
          ...(ports.consoleBaseUrl && { consoleBaseUrl: ports.consoleBaseUrl }),
        },
        {
          file,
          rule,
          observations: [...capped.kept, capped.overflow],
          stored,
          cutKeys: capped.cutKeys,
          cutText: describeCut(capped.cut),
          now,
          only,
          silences,
        },
      );
    } catch (cause) {
      return {
        ...emptyOutcome(file.tenant, rule.id),
        error: new RuleEvaluationError(
          `${file.tenant}/${rule.id}: stream evaluation failed`,
          file.tenant,
          rule.id,
          {
            cause,
          },
        ),
      };
    }
  }

  return {
    /**
     * Decides, at the last window boundary before `nowMs`, the pending or firing series of
     * stream-owned rules that no shard has decided for STALE_WINDOWS windows of `windowMs`, from the
     * stored slices (their shard is silent, so its slices are complete). The scheduled evaluator
     * runs it every minute; while shards have traffic it changes nothing.
     */
    async sweep(nowMs: number, windowMs: number): Promise<RuleOutcome[]> {
      const now = Math.floor(nowMs / windowMs) * windowMs;
      const outcomes: RuleOutcome[] = [];
      const silencesOf = silencesAt(ports.silences, now);
      await pool([...(await streamRules()).values()], ports.concurrency ?? 8, async (entry) => {
        outcomes.push(await decide(entry, undefined, now, silencesOf, now - STALE_WINDOWS * windowMs));
      });
      return outcomes;
    },

    /** One invocation of a tumbling window; throws when the window's decisions could not all be made. */
    async handle(
      event: KinesisStreamTumblingWindowEvent & { shardId?: string },
    ): Promise<{ response: KinesisStreamStateResponse; report: StreamWindowReport }> {
      const rules = await streamRules();
      const state = readState(event.state);
      const windowEnd = Date.parse(event.window.end);
      const firstId = event.Records[0]?.eventID ?? '';
      const shardId = event.shardId ?? (firstId.slice(0, firstId.lastIndexOf(':')) || 'unknown-shard');
      let undecodable = 0;
      let rowsMatched = 0;
      const byTenant = new Map<string, TenantRules[]>();
      for (const e of rules.values()) {
        const list = byTenant.get(e.file.tenant) ?? [];
        list.push(e);
        byTenant.set(e.file.tenant, list);
      }
      for (const record of event.Records) {
        let envelope: ReturnType<typeof unpackEnvelope>;
        try {
          envelope = unpackEnvelope(Buffer.from(record.kinesis.data, 'base64'));
        } catch {
          // The hot writer dead-letters it; here it only must not hold up the alerts.
          undecodable++;
          continue;
        }
        const sliceMs = sliceMsOf(event);
        for (const { rule } of byTenant.get(envelope.header.tenant) ?? []) {
          const key = ref(envelope.header.tenant, rule.id);
          const slices = state.r[key] ?? {};
          state.r[key] = slices;
          for (const batch of envelope.batches) {
            rowsMatched += foldBatch(rule, batch, slices, sliceMs, windowEnd - rule.window);
          }
        }
      }

      const base = { records: event.Records.length, undecodable, rowsMatched };
      if (!event.isFinalInvokeForWindow) {
        if (JSON.stringify(state).length <= budget) {
          return {
            response: { state, batchItemFailures: [] },
            report: { ...base, final: false, flushed: 0, outcomes: [] },
          };
        }
        const items = toItems(state, shardId, windowEnd, contentPart(state));
        await ports.slices.put(items);
        return {
          response: { state: { v: STREAM_STATE_VERSION, r: {} }, batchItemFailures: [] },
          report: { ...base, final: false, flushed: items.length, outcomes: [] },
        };
      }

      // Final invocation: the window's partials are stored, then (unless Lambda ended the window
      // early, in which case the same window continues) its rules are decided at the window's end.
      const part = event.isWindowTerminatedEarly ? contentPart(state) : 'final';
      const items = toItems(state, shardId, windowEnd, part);
      await ports.slices.put(items);
      if (event.isWindowTerminatedEarly) {
        return {
          response: { state: { v: STREAM_STATE_VERSION, r: {} }, batchItemFailures: [] },
          report: { ...base, final: true, flushed: items.length, outcomes: [] },
        };
      }
      const activity: ShardActivity = await ports.slices.activity(shardId);
      for (const item of items) activity[ref(item.tenant, item.ruleId)] = windowEnd;
      const due: TenantRules[] = [];
      for (const [key, last] of Object.entries(activity)) {
        const entry = rules.get(key);
        if (!entry || windowEnd - last > lookbackMs(entry.rule)) {
          delete activity[key];
          continue;
        }
        due.push(entry);
      }
      await ports.slices.saveActivity(shardId, activity);
      const outcomes: RuleOutcome[] = [];
      // One read of each tenant's silences for the window's decisions, not one per rule.
      const silencesOf = silencesAt(ports.silences, windowEnd);
      await pool(due, ports.concurrency ?? 8, async (entry) => {
        outcomes.push(await decide(entry, shardId, windowEnd, silencesOf));
      });
      const errors = outcomes.flatMap((o) => (o.error ? [o.error] : []));
      if (errors.length > 0) {
        // Lambda retries the final invocation (the shard waits); decisions already saved are not
        // made twice (same decision time), the rest are made then.
        throw new StreamEvaluationError(
          `${errors.length} of ${due.length} stream rules could not be decided: ${errors.map((e) => `${e.message} (${String(e.cause)})`).join('; ')}`,
          { cause: errors[0] },
        );
      }
      return {
        response: { state: { v: STREAM_STATE_VERSION, r: {} }, batchItemFailures: [] },
        report: { ...base, final: true, flushed: items.length, outcomes },
      };
    },
  };
}

export type StreamEvaluator = ReturnType<typeof createStreamEvaluator>;

/** The tumbling window's length: slices are as long as the windows that fold them. */
export function sliceMsOf(event: KinesisStreamTumblingWindowEvent): number {
  const ms = Date.parse(event.window.end) - Date.parse(event.window.start);
  if (!(ms > 0) || 60_000 % ms !== 0) {
    throw new StreamEvaluationError(
      `tumbling window ${event.window.start}..${event.window.end} must divide a minute (1-60 s)`,
    );
  }
  return ms;
}
