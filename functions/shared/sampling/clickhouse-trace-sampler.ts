import type { ClickHouseClient } from '@clickhouse/client';
import {
  createTableStatement,
  DEFAULT_HOT_RETENTION_DAYS,
  ident,
  qualified,
  SAMPLING_KEEP_TABLE,
  SAMPLING_RULES_TABLE,
} from '../clickhouse/ddl.js';
import { type ClickHouseRequests, clickHouseRequests } from '../clickhouse/requests.js';
import { ClickHouseTelemetryWriter, type PositionedEnvelope } from '../clickhouse/writer.js';
import type { ColumnBatch } from '../rows/batch.js';
import { SAMPLE_RATE_COLUMN } from '../schema/columns.js';
import {
  type BatchDecision,
  decideBatch,
  headSampled,
  markedTraces,
  type SamplingRule,
  undecidedTraces,
  validateRule,
} from './sampling.js';

/**
 * The ClickHouse side of hot-tier sampling (ADR 0009), behind the hot writer's `TraceSampler` port:
 * - `otel_sampling_rules`: one rule per tenant (the tenants CLI's `set-sampling`), read at most once
 *   a minute per container;
 * - `otel_sampling_keep`: trace ids kept for an error or slow span (1 day), so the trace's later
 *   spans are kept wherever they arrive;
 * - `<database>_deferred.otel_traces`: the spans of traces not (yet) kept, for a day, written by the
 *   same exactly-once writer; a marked trace's earlier spans are promoted from there into
 *   otel_traces with weight 0 by one INSERT ... SELECT per batch that marks something.
 */

export { SAMPLING_KEEP_TABLE, SAMPLING_RULES_TABLE };
/** Deferred spans live this long: a trace marked later than this after its first spans is kept partly. */
export const DEFERRED_RETENTION_DAYS = 1;
/** Keep-list entries promoted again by every batch (stragglers written after the marking batch promoted). */
export const PROMOTE_LOOKBACK_MINUTES = 15;

export function deferredDatabase(database: string | undefined): string {
  return `${database ?? 'default'}_deferred`;
}

/** Migration 4's sampling statements (the SampleRate column and the weighted rollup are in migrations.ts). */
export function samplingStatements(database: string | undefined): string[] {
  const deferred = deferredDatabase(database);
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(SAMPLING_RULES_TABLE, database)} (
  TenantId LowCardinality(String),
  OneIn UInt32,
  KeepErrors Bool,
  SlowMs UInt64,
  UpdatedAt DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY TenantId`,
    `CREATE TABLE IF NOT EXISTS ${qualified(SAMPLING_KEEP_TABLE, database)} (
  TenantId LowCardinality(String),
  TraceId String,
  KeptAt DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(KeptAt)
ORDER BY (TenantId, TraceId)
TTL KeptAt + toIntervalDay(1)`,
    `CREATE DATABASE IF NOT EXISTS ${ident(deferred)}`,
    createTableStatement('otel_traces', { database: deferred, hotRetentionDays: DEFERRED_RETENTION_DAYS })
      // Read by trace id (promotion), never by service.
      .replace(/ORDER BY \([^)]*\)\)/, 'ORDER BY (TenantId, TraceId)'),
  ];
}

/** The row `set-sampling` writes: a rule, or rate 1 (no sampling). */
export function setSamplingStatement(database: string | undefined): string {
  return `INSERT INTO ${qualified(SAMPLING_RULES_TABLE, database)} (TenantId, OneIn, KeepErrors, SlowMs) VALUES ({tenant:String}, {oneIn:UInt32}, {keepErrors:Bool}, {slowMs:UInt64})`;
}

export interface SamplingPlan {
  /** The envelopes with their span batches cut to the kept rows (SampleRate set). */
  readonly envelopes: readonly PositionedEnvelope[];
  /**
   * Before the kept rows are written: the deferred rows. Throws to have the batch redelivered with
   * nothing of it kept yet: the writer skips an envelope already stored in a cell, so rows deferred
   * after their siblings were kept, and decided otherwise on redelivery (the trace marked meanwhile),
   * would be in neither table.
   */
  writeDeferred(): Promise<void>;
  /** After the kept rows are written: keep list, promotion. Throws to have the batch redelivered. */
  commit(): Promise<SamplingCommitStats>;
}

export interface SamplingCommitStats {
  readonly deferredRows: number;
  readonly markedTraces: number;
  readonly promoted: boolean;
}

/** The hot writer's port. */
export interface TraceSampler {
  plan(envelopes: readonly PositionedEnvelope[]): Promise<SamplingPlan>;
}

export interface ClickHouseTraceSamplerOptions {
  readonly database?: string;
  /** @default 60_000 */
  readonly rulesTtlMs?: number;
  readonly now?: () => number;
  readonly hotRetentionDays?: number;
}

export class ClickHouseTraceSampler implements TraceSampler {
  private rules?: { at: number; byTenant: Map<string, SamplingRule> };
  private readonly deferredWriter: ClickHouseTelemetryWriter;
  private readonly requests: ClickHouseRequests;

  /** `client`: a ClickHouse client (its cheapest port is used) or the port itself. */
  constructor(
    client: ClickHouseClient | ClickHouseRequests,
    private readonly options: ClickHouseTraceSamplerOptions = {},
  ) {
    this.requests = clickHouseRequests(client);
    this.deferredWriter = new ClickHouseTelemetryWriter(this.requests, {
      database: deferredDatabase(options.database),
      hotRetentionDays: Math.min(
        options.hotRetentionDays ?? DEFAULT_HOT_RETENTION_DAYS,
        DEFERRED_RETENTION_DAYS,
      ),
    });
  }

  async rulesByTenant(): Promise<Map<string, SamplingRule>> {
    const now = (this.options.now ?? Date.now)();
    if (this.rules && now - this.rules.at < (this.options.rulesTtlMs ?? 60_000)) return this.rules.byTenant;
    const rows = await this.requests.rows<{
      TenantId: string;
      OneIn: number;
      KeepErrors: boolean;
      SlowMs: string | number;
    }>({
      query: `SELECT TenantId, argMax(OneIn, UpdatedAt) AS OneIn, argMax(KeepErrors, UpdatedAt) AS KeepErrors,
  argMax(SlowMs, UpdatedAt) AS SlowMs
FROM ${qualified(SAMPLING_RULES_TABLE, this.options.database)} GROUP BY TenantId`,
    });
    const byTenant = new Map<string, SamplingRule>();
    for (const r of rows) {
      const rule = validateRule({
        oneIn: Number(r.OneIn),
        keepErrors: Boolean(r.KeepErrors),
        slowMs: Number(r.SlowMs),
      });
      if (rule.oneIn > 1) byTenant.set(r.TenantId, rule);
    }
    this.rules = { at: now, byTenant };
    return byTenant;
  }

  async plan(envelopes: readonly PositionedEnvelope[]): Promise<SamplingPlan> {
    const rules = await this.rulesByTenant();
    const sampled = envelopes.some(
      (e) => rules.has(e.tenant) && e.batches.some((b) => b.table === 'otel_traces'),
    );
    if (!sampled) {
      // Nothing sampled: every span kept at weight 1 (the column's absent value), no extra round trip.
      return {
        envelopes,
        writeDeferred: async () => {},
        commit: async () => ({ deferredRows: 0, markedTraces: 0, promoted: false }),
      };
    }
    // Marks of the whole batch first: a trace whose error span is in a later envelope of this
    // batch keeps its spans of earlier envelopes without a promotion.
    const marked = new Map<string, Set<string>>();
    const undecided = new Map<string, Set<string>>();
    for (const e of envelopes) {
      const rule = rules.get(e.tenant);
      if (!rule) continue;
      const m = marked.get(e.tenant) ?? new Set<string>();
      marked.set(e.tenant, m);
      for (const b of e.batches)
        if (b.table === 'otel_traces') for (const id of markedTraces(b, rule)) m.add(id);
    }
    for (const e of envelopes) {
      const rule = rules.get(e.tenant);
      if (!rule) continue;
      const u = undecided.get(e.tenant) ?? new Set<string>();
      undecided.set(e.tenant, u);
      for (const b of e.batches)
        if (b.table === 'otel_traces')
          for (const id of undecidedTraces(b, rule, marked.get(e.tenant)!)) u.add(id);
    }
    const keptBefore = await this.lookupKept(undecided);

    const kept: PositionedEnvelope[] = [];
    const deferred: PositionedEnvelope[] = [];
    let deferredRows = 0;
    for (const e of envelopes) {
      const rule = rules.get(e.tenant);
      const keepBatches: ColumnBatch[] = [];
      const deferBatches: ColumnBatch[] = [];
      for (const b of e.batches) {
        if (b.table !== 'otel_traces') {
          keepBatches.push(b);
          continue;
        }
        const d: BatchDecision = decideBatch(
          b,
          rule,
          marked.get(e.tenant) ?? new Set(),
          keptBefore.get(e.tenant) ?? new Set(),
        );
        if (d.kept) keepBatches.push(d.kept);
        if (d.deferred) {
          deferBatches.push(d.deferred);
          deferredRows += d.deferred.rowCount;
        }
      }
      kept.push({ ...e, batches: keepBatches });
      if (deferBatches.length > 0) deferred.push({ ...e, batches: deferBatches });
    }
    // Marked traces the head decision dropped: their earlier and later spans need the keep list.
    const toMark: { TenantId: string; TraceId: string }[] = [];
    for (const [tenant, ids] of marked) {
      const rule = rules.get(tenant)!;
      for (const id of ids) if (!headSampled(id, rule.oneIn)) toMark.push({ TenantId: tenant, TraceId: id });
    }
    return {
      envelopes: kept,
      writeDeferred: async () => {
        if (deferred.length === 0) return;
        const r = await this.deferredWriter.write(deferred);
        // Rows the column model refuses are refused in the kept part too (dead-lettered there).
        if (r.pending.length > 0) throw r.error ?? new Error('deferred spans not written');
      },
      commit: async () => {
        if (toMark.length > 0) {
          await this.requests.insertObjects({
            table: qualified(SAMPLING_KEEP_TABLE, this.options.database),
            objects: toMark,
            columns: ['TenantId', 'TraceId'],
          });
        }
        // Every batch of a sampled tenant promotes the recent keep list: a straggler deferred by
        // another shard just before the trace was marked is picked up by the next batch.
        await this.promote([...marked.keys()]);
        return { deferredRows, markedTraces: toMark.length, promoted: true };
      },
    };
  }

  private async lookupKept(
    undecided: ReadonlyMap<string, ReadonlySet<string>>,
  ): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    const pairs: [string, string][] = [];
    for (const [tenant, ids] of undecided) for (const id of ids) pairs.push([tenant, id]);
    if (pairs.length === 0) return out;
    const rows = await this.requests.rows<{ TenantId: string; TraceId: string }>({
      query: `SELECT DISTINCT TenantId, TraceId FROM ${qualified(SAMPLING_KEEP_TABLE, this.options.database)}
WHERE (TenantId, TraceId) IN (SELECT arrayJoin(arrayZip({tenants:Array(String)}, {ids:Array(String)})))`,
      params: { tenants: pairs.map((p) => p[0]), ids: pairs.map((p) => p[1]) },
    });
    for (const r of rows) {
      const set = out.get(r.TenantId) ?? new Set<string>();
      set.add(r.TraceId);
      out.set(r.TenantId, set);
    }
    return out;
  }

  private async promote(tenants: readonly string[]): Promise<void> {
    if (tenants.length === 0) return;
    const db = this.options.database;
    const keep = `SELECT TenantId, TraceId FROM ${qualified(SAMPLING_KEEP_TABLE, db)}
    WHERE TenantId IN {tenants:Array(String)} AND KeptAt >= now() - toIntervalMinute(${PROMOTE_LOOKBACK_MINUTES})`;
    await this.requests.command({
      query: `INSERT INTO ${qualified('otel_traces', db)}
SELECT * REPLACE (toUInt32(0) AS ${SAMPLE_RATE_COLUMN})
FROM ${qualified('otel_traces', deferredDatabase(db))}
WHERE (TenantId, TraceId) IN (${keep})
  AND (TenantId, TraceId, SpanId) NOT IN (
    SELECT TenantId, TraceId, SpanId FROM ${qualified('otel_traces', db)} WHERE (TenantId, TraceId) IN (${keep}))
LIMIT 1 BY TenantId, TraceId, SpanId`,
      params: { tenants },
    });
  }
}
