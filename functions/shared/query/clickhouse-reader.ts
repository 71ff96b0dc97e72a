import type { ClickHouseClient } from '@clickhouse/client';
import {
  EDGES_1H_TABLE,
  LOG_COUNTS_1M_TABLE,
  LOG_COUNTS_TABLE,
  METRIC_NAMES_1H_TABLE,
  qualified,
  SERVICE_RED_1M_TABLE,
  SERVICE_RED_TABLE,
  SPAN_COUNTS_1M_TABLE,
  TRACE_LOOKUP_TABLE,
} from '../clickhouse/ddl.js';
import type { TableName } from '../schema/columns.js';
import {
  type ClickHouseStatement,
  type HotRollups,
  logHistogramRawSql,
  logHistogramRollupSql,
  logSearchSql,
  metricBucketsSql,
  metricHistogramsSql,
  metricNamesRollupSql,
  metricNamesSql,
  serviceSeriesRawSql,
  serviceSeriesRollupSql,
  servicesRawSql,
  servicesRollupSql,
  type TableSource,
  traceLookupSql,
  traceSearchSql,
  traceSpansSql,
  tracesWithSpansInSql,
} from './clickhouse-sql.js';
import {
  classifyHours,
  closeEdgeHoursSql,
  edgeHourCountsSql,
  edgesSql,
  hourRanges,
  parentWindow,
  planEdgeHours,
} from './edge-rollup.js';
import { QueryEngineError, QueryTimeoutError, QueryTooLargeError } from './errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from './limits.js';
import {
  type HistogramBucket,
  type LogCount,
  type LogHistogramQuery,
  type LogRecordRow,
  type LogSearchQuery,
  METRIC_TABLES,
  type MetricBucket,
  type MetricName,
  type MetricNamesQuery,
  type MetricQuery,
  type MetricType,
  type QueryBudget,
  type ServiceBucket,
  type ServiceEdge,
  type ServiceSeriesQuery,
  type ServiceStats,
  type ServicesQuery,
  type SpanRecord,
  type TelemetryReader,
  type Tier,
  type TierResult,
  type TierStats,
  type TraceQuery,
  type TraceSearchQuery,
  type TraceSummary,
} from './model.js';
import { NS_PER_MS, type TimeRange } from './time.js';

/**
 * The TelemetryReader over ClickHouse: the hot tier's tables, or (local mode) the lake's Parquet
 * files read by embedded ClickHouse. What differs is only where a table's rows come from
 * (`ClickHouseTableSources`) and whether the hot rollups exist.
 */

/** Where a table's rows come from for a tenant and range; undefined when nothing can match. */
export interface ClickHouseTableSources {
  resolve(table: TableName, tenant: string, range: TimeRange): Promise<TableSource | undefined>;
}

/** The hot tier's own tables. */
export class HotTableSources implements ClickHouseTableSources {
  constructor(private readonly database?: string) {}
  async resolve(table: TableName): Promise<TableSource> {
    return { expr: qualified(table, this.database), params: {} };
  }
}

export interface ClickHouseReaderOptions {
  readonly tier: Tier;
  readonly engine: TierStats['engine'];
  readonly sources: ClickHouseTableSources;
  /** The hot tier's trace lookup and RED rollup; without them raw spans are read. */
  readonly rollups?: HotRollups;
  /** Upper bound of ClickHouse's `max_execution_time` per statement (seconds). @default 10 */
  readonly maxExecutionSeconds?: number;
  /** ClickHouse `max_rows_to_read` per statement. @default DEFAULT_MAX_ROWS_TO_READ */
  readonly maxRowsToRead?: number;
  /** ClickHouse `max_bytes_to_read` per statement (uncompressed). @default DEFAULT_MAX_BYTES_TO_READ */
  readonly maxBytesToRead?: number;
  /**
   * Most bytes of log records one search fetches (cut in ClickHouse, see logSearchSql); the API's
   * response cap; `Infinity` turns the cut off. @default DEFAULT_MAX_RESPONSE_BYTES
   */
  readonly maxPageBytes?: number;
  /**
   * Whether the service map may store the edges of closed hours it joined (EDGES_1H_TABLE), so the
   * next query reads them; off (a read-only user), closed hours are joined on every query. @default true
   */
  readonly closeEdgeHours?: boolean;
  /** Most services returned. @default 1000 */
  readonly servicesLimit?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export function hotRollups(database?: string): HotRollups {
  return {
    traceLookup: qualified(TRACE_LOOKUP_TABLE, database),
    serviceRed: qualified(SERVICE_RED_TABLE, database),
    serviceRed1m: qualified(SERVICE_RED_1M_TABLE, database),
    logCounts: qualified(LOG_COUNTS_TABLE, database),
    logCounts1m: qualified(LOG_COUNTS_1M_TABLE, database),
    spanCounts1m: qualified(SPAN_COUNTS_1M_TABLE, database),
    edges1h: qualified(EDGES_1H_TABLE, database),
    metricNames1h: qualified(METRIC_NAMES_1H_TABLE, database),
  };
}

type Row = Record<string, unknown>;

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v);
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const nullableNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strMap = (v: unknown): Record<string, string> => {
  if (typeof v !== 'object' || v === null) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = str(x);
  return out;
};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function toSpan(r: Row): SpanRecord {
  const eventTimes = arr(r.EventTimes);
  const eventNames = arr(r.EventNames);
  const eventAttrs = arr(r.EventAttributes);
  const linkTraces = arr(r.LinkTraceIds);
  const linkSpans = arr(r.LinkSpanIds);
  const linkStates = arr(r.LinkTraceStates);
  const linkAttrs = arr(r.LinkAttributes);
  return {
    traceId: str(r.TraceId),
    spanId: str(r.SpanId),
    parentSpanId: str(r.ParentSpanId),
    traceState: str(r.TraceState),
    name: str(r.SpanName),
    kind: str(r.SpanKind),
    serviceName: str(r.ServiceName),
    startTimeUnixNano: str(r.StartNs),
    durationNanos: str(r.DurationNs),
    statusCode: str(r.StatusCode),
    statusMessage: str(r.StatusMessage),
    attributes: strMap(r.SpanAttributes),
    resourceAttributes: strMap(r.ResourceAttributes),
    scopeName: str(r.ScopeName),
    scopeVersion: str(r.ScopeVersion),
    events: eventTimes.map((t, i) => ({
      timeUnixNano: str(t),
      name: str(eventNames[i]),
      attributes: strMap(eventAttrs[i]),
    })),
    links: linkTraces.map((t, i) => ({
      traceId: str(t),
      spanId: str(linkSpans[i]),
      traceState: str(linkStates[i]),
      attributes: strMap(linkAttrs[i]),
    })),
  };
}

function toTraceSummary(r: Row): TraceSummary {
  return {
    traceId: str(r.TraceId),
    startTimeUnixNano: str(r.StartNs),
    serviceName: str(r.FirstService),
    operation: str(r.Operation),
    maxDurationNanos: str(r.MaxDurationNs),
    spanCount: num(r.Spans),
    errorCount: num(r.Errors),
  };
}

function toLog(r: Row): LogRecordRow {
  return {
    timeUnixNano: str(r.TimeNs),
    serviceName: str(r.ServiceName),
    severityText: str(r.SeverityText),
    severityNumber: num(r.SeverityNumber),
    body: str(r.Body),
    traceId: str(r.TraceId),
    spanId: str(r.SpanId),
    attributes: strMap(r.LogAttributes),
    resourceAttributes: strMap(r.ResourceAttributes),
  };
}

function toBucket(r: Row): MetricBucket {
  return {
    metricType: str(r.MetricType) as MetricType,
    serviceName: str(r.ServiceName),
    bucketMs: num(r.BucketMs),
    sum: num(r.Sum),
    count: num(r.Count),
    min: nullableNum(r.Min),
    max: nullableNum(r.Max),
  };
}

function quantiles(v: unknown, n: number): [number, number, number] | null {
  const q = arr(v).map(Number);
  return n > 0 && q.length === 3 && q.every(Number.isFinite) ? [q[0]!, q[1]!, q[2]!] : null;
}

function toServiceStats(r: Row): ServiceStats {
  const requests = num(r.Requests);
  return {
    serviceName: str(r.ServiceName),
    ...(r.SpanName !== undefined && { operation: str(r.SpanName) }),
    requests,
    errors: num(r.Errors),
    quantilesNs: quantiles(r.Quantiles, requests),
  };
}

const toServiceBucket = (r: Row): ServiceBucket => ({ ...toServiceStats(r), bucketMs: num(r.BucketMs) });

function toEdge(r: Row): ServiceEdge {
  const calls = num(r.Calls);
  return {
    parent: str(r.Parent),
    child: str(r.Child),
    calls,
    errors: num(r.Errors),
    quantilesNs: quantiles(r.Quantiles, calls),
  };
}

const toLogCount = (r: Row): LogCount => ({
  bucketMs: num(r.BucketMs),
  severityNumber: num(r.SeverityNumber),
  severityText: str(r.Severity),
  count: num(r.Count),
});

const toMetricName = (r: Row): MetricName => ({
  name: str(r.MetricName),
  type: str(r.MetricType) as MetricType,
  unit: str(r.Unit),
  description: str(r.Description),
  services: arr(r.Services).map(str),
});

const toHistogram = (r: Row): HistogramBucket => ({
  group: str(r.Grp),
  bucketMs: num(r.BucketMs),
  bounds: arr(r.Bounds).map(Number),
  counts: arr(r.Counts).map(Number),
  min: nullableNum(r.Min),
  max: nullableNum(r.Max),
});

/**
 * Per-statement read caps: what one query may take from the engine all tenants share. ClickHouse
 * checks them against its estimate after index analysis, so an over-wide query fails before it
 * reads, and again while reading. 100 M rows / 10 GiB is a few seconds of a ClickHouse Cloud
 * replica; a tenant's own rows in a 31-day range at a few thousand items/s stay under it only
 * with filters, which is the point.
 */
export const DEFAULT_MAX_ROWS_TO_READ = 100_000_000;
export const DEFAULT_MAX_BYTES_TO_READ = 10 * 1024 ** 3;

/** Windows a hot trace or log search tries, newest first, before the whole range (see searchTraces). */
const NEWEST_WINDOWS_MS = [3_600_000, 6 * 3_600_000, 36 * 3_600_000];
/** READONLY, ACCESS_DENIED, NOT_ENOUGH_PRIVILEGES: this user may not store closed hours. */
const NO_INSERT_CODES = new Set(['164', '497', '501']);
/** After storing closed hours was refused, how long the service map only joins them. */
const EDGE_CLOSE_RETRY_MS = 10 * 60_000;
/** Extra traces a window fetches, for those that turn out to start before it. */
const TRACE_SEARCH_SLACK = 50;

/** ClickHouse's TIMEOUT_EXCEEDED and TOO_SLOW (estimated to exceed max_execution_time). */
const TIMEOUT_CODES = new Set(['159', '160']);
/** TOO_MANY_ROWS, TOO_MANY_BYTES: a read cap (max_rows_to_read, max_bytes_to_read) was hit. */
const READ_CAP_CODES = new Set(['158', '307']);

class StatsCollector {
  queries = 0;
  rowsRead = 0;
  bytesRead = 0;
  private readonly started: number;
  constructor(
    private readonly reader: ClickHouseTelemetryReader,
    private readonly now: () => number,
  ) {
    this.started = now();
  }
  done<T>(rows: T[]): TierResult<T> {
    return {
      rows,
      stats: {
        tier: this.reader.tier,
        engine: this.reader.engine,
        queries: this.queries,
        rowsRead: this.rowsRead,
        bytesRead: this.bytesRead,
        elapsedMs: this.now() - this.started,
      },
    };
  }
}

export class ClickHouseTelemetryReader implements TelemetryReader {
  readonly tier: Tier;
  readonly engine: TierStats['engine'];
  private readonly sources: ClickHouseTableSources;
  private readonly rollups?: HotRollups;
  private readonly maxExecutionSeconds: number;
  private readonly maxRowsToRead: number;
  private readonly maxBytesToRead: number;
  private readonly maxPageBytes: number;
  private readonly servicesLimit: number;
  private readonly closeEdgeHours: boolean;
  private closeRetryAtMs = 0;
  private readonly now: () => number;

  constructor(
    private readonly client: ClickHouseClient,
    options: ClickHouseReaderOptions,
  ) {
    this.tier = options.tier;
    this.engine = options.engine;
    this.sources = options.sources;
    this.rollups = options.rollups;
    this.maxExecutionSeconds = options.maxExecutionSeconds ?? 10;
    this.maxRowsToRead = options.maxRowsToRead ?? DEFAULT_MAX_ROWS_TO_READ;
    this.maxBytesToRead = options.maxBytesToRead ?? DEFAULT_MAX_BYTES_TO_READ;
    this.maxPageBytes = options.maxPageBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.servicesLimit = options.servicesLimit ?? 1000;
    this.closeEdgeHours = options.closeEdgeHours ?? true;
    this.now = options.now ?? Date.now;
  }

  async trace(q: TraceQuery, budget: QueryBudget): Promise<TierResult<SpanRecord>> {
    const stats = new StatsCollector(this, this.now);
    let range = q.range;
    if (this.rollups) {
      // The lookup narrows the span scan to the trace's own time range (a few partitions at most).
      const [found] = await this.run(traceLookupSql(q, this.rollups), budget, stats);
      if (!found || num(found.Found) === 0) return stats.done([]);
      const start = BigInt(str(found.StartNs));
      const end = BigInt(str(found.EndNs)) + 1n;
      range = {
        fromNs: start > range.fromNs ? start : range.fromNs,
        toNs: end < range.toNs ? end : range.toNs,
      };
      if (range.fromNs >= range.toNs) return stats.done([]);
    }
    const source = await this.sources.resolve('otel_traces', q.tenant, range);
    if (!source) return stats.done([]);
    const rows = await this.run(traceSpansSql({ ...q, range }, source), budget, stats);
    return stats.done(rows.map(toSpan));
  }

  async searchTraces(q: TraceSearchQuery, budget: QueryBudget): Promise<TierResult<TraceSummary>> {
    const stats = new StatsCollector(this, this.now);
    const source = await this.sources.resolve('otel_traces', q.tenant, q.range);
    if (!source) return stats.done([]);
    // Hot tier: the newest traces are in the newest spans. Search the last hour of the range first
    // (then wider), and accept the page when enough traces start inside that window: a trace
    // starts there if none of its matching spans lies before it (checked by trace id), and then
    // all of them lie inside it, so its figures are whole; every other trace starts earlier.
    // Not with a duration or status filter: such pages are sparse, the windows would be wasted reads.
    if (this.rollups && q.minDurationNs === undefined && q.status === undefined) {
      for (const ms of NEWEST_WINDOWS_MS) {
        const windowFrom = q.range.toNs - BigInt(ms) * NS_PER_MS;
        if (windowFrom <= q.range.fromNs) break;
        const window = { fromNs: windowFrom, toNs: q.range.toNs };
        const rows = await this.run(
          traceSearchSql({ ...q, range: window, limit: q.limit + TRACE_SEARCH_SLACK }, source),
          budget,
          stats,
        );
        if (rows.length < q.limit) continue;
        const ids = rows.map((r) => str(r.TraceId));
        const before = { fromNs: q.range.fromNs, toNs: windowFrom };
        const earlier = new Set(
          (await this.run(tracesWithSpansInSql(q, before, ids, source), budget, stats)).map((r) =>
            str(r.TraceId),
          ),
        );
        const starting = rows.filter((r) => !earlier.has(str(r.TraceId)));
        if (starting.length >= q.limit) return stats.done(starting.slice(0, q.limit).map(toTraceSummary));
      }
    }
    return stats.done((await this.run(traceSearchSql(q, source), budget, stats)).map(toTraceSummary));
  }

  async searchLogs(q: LogSearchQuery, budget: QueryBudget): Promise<TierResult<LogRecordRow>> {
    const stats = new StatsCollector(this, this.now);
    const source = await this.sources.resolve('otel_logs', q.tenant, q.range);
    if (!source) return stats.done([]);
    const maxBytes = Number.isFinite(this.maxPageBytes) ? this.maxPageBytes : undefined;
    const page = (rows: Row[]) => {
      const cut = rows.length > 0 && num(rows[0]!.Total) > rows.length;
      return { ...stats.done(rows.map(toLog)), ...(cut && { cut: true }) };
    };
    // Hot tier: the newest records are in the last hour before the page's end (then 6 h, 36 h). When
    // that window holds a whole page, every record before it is older than all of them: same page.
    // Not with a text or trace filter: such pages are sparse (and a trace id skips by its index).
    if (this.rollups && q.text === undefined && q.traceId === undefined) {
      const end =
        q.atOrBeforeNs !== undefined && q.atOrBeforeNs < q.range.toNs ? q.atOrBeforeNs + 1n : q.range.toNs;
      for (const ms of NEWEST_WINDOWS_MS) {
        const windowFrom = end - BigInt(ms) * NS_PER_MS;
        if (windowFrom <= q.range.fromNs) break;
        const window = { fromNs: windowFrom, toNs: q.range.toNs };
        const rows = await this.run(logSearchSql({ ...q, range: window }, source, maxBytes), budget, stats);
        // Total: the records of the page before the size cut (the page is cut by LIMIT first).
        const total = maxBytes === undefined ? rows.length : num(rows[0]?.Total);
        if (total >= q.limit) return page(rows);
      }
    }
    return page(await this.run(logSearchSql(q, source, maxBytes), budget, stats));
  }

  async metricBuckets(q: MetricQuery, budget: QueryBudget): Promise<TierResult<MetricBucket>> {
    const stats = new StatsCollector(this, this.now);
    const sources: { type: MetricType; source: TableSource }[] = [];
    for (const [type, table] of Object.entries(METRIC_TABLES) as [MetricType, TableName][]) {
      const source = await this.sources.resolve(table, q.tenant, q.range);
      if (source) sources.push({ type, source: prefixParams(source, `src_${type}_`) });
    }
    if (sources.length === 0) return stats.done([]);
    return stats.done((await this.run(metricBucketsSql(q, sources), budget, stats)).map(toBucket));
  }

  async services(q: ServicesQuery, budget: QueryBudget): Promise<TierResult<ServiceStats>> {
    const stats = new StatsCollector(this, this.now);
    if (this.rollups) {
      const rows = await this.run(servicesRollupSql(q, this.rollups, this.servicesLimit), budget, stats);
      return stats.done(rows.map(toServiceStats));
    }
    const source = await this.sources.resolve('otel_traces', q.tenant, q.range);
    if (!source) return stats.done([]);
    const rows = await this.run(servicesRawSql(q, source, this.servicesLimit), budget, stats);
    return stats.done(rows.map(toServiceStats));
  }

  async serviceSeries(q: ServiceSeriesQuery, budget: QueryBudget): Promise<TierResult<ServiceBucket>> {
    const stats = new StatsCollector(this, this.now);
    if (this.rollups) {
      return stats.done(
        (await this.run(serviceSeriesRollupSql(q, this.rollups), budget, stats)).map(toServiceBucket),
      );
    }
    const source = await this.sources.resolve('otel_traces', q.tenant, q.range);
    if (!source) return stats.done([]);
    return stats.done((await this.run(serviceSeriesRawSql(q, source), budget, stats)).map(toServiceBucket));
  }

  async serviceEdges(q: ServicesQuery, budget: QueryBudget): Promise<TierResult<ServiceEdge>> {
    const stats = new StatsCollector(this, this.now);
    const limit = this.servicesLimit * 10;
    // Without rollups (the lake), the whole range is joined; with them, only what is not closed.
    const plan = this.rollups ? planEdgeHours(q.range, this.now()) : { hours: [], tail: [q.range] };
    let usable: [number, string][] = [];
    const tail = [...plan.tail];
    if (this.rollups && plan.hours.length > 0) {
      const rows = await this.run(edgeHourCountsSql(q.tenant, plan.hours, this.rollups), budget, stats);
      const split = classifyHours(plan.hours, rows as { Kind: unknown; H: unknown; N: unknown }[]);
      usable = split.usable;
      if (split.stale.length > 0) {
        const mayStore = this.closeEdgeHours && this.now() >= this.closeRetryAtMs;
        const stored = mayStore && (await this.closeHours(q.tenant, split.stale, budget, stats));
        if (stored) usable = [...usable, ...split.stale];
        else tail.push(...hourRanges(split.stale.map(([h]) => h)));
      }
    }
    const wide = tail.length > 0 ? coverOf(tail.map(parentWindow)) : undefined;
    const children = wide && (await this.sources.resolve('otel_traces', q.tenant, coverOf(tail)));
    const parents = wide && (await this.sources.resolve('otel_traces', q.tenant, wide));
    const stmt = edgesSql(
      q.tenant,
      usable,
      children && parents ? tail : [],
      {
        ...(this.rollups && { rollups: this.rollups }),
        ...(children && { children }),
        ...(parents && { parents: prefixParams(parents, 'parent_src_') }),
      },
      limit,
    );
    if (!stmt) return stats.done([]);
    return stats.done((await this.run(stmt, budget, stats)).map(toEdge));
  }

  /** Stores the edges of closed hours; false when the store failed (then they are joined). */
  private async closeHours(
    tenant: string,
    hours: [number, string][],
    budget: QueryBudget,
    stats: StatsCollector,
  ): Promise<boolean> {
    const source = await this.sources.resolve(
      'otel_traces',
      tenant,
      coverOf(hourRanges(hours.map(([h]) => h))),
    );
    if (!source || !this.rollups) return false;
    const stmt = closeEdgeHoursSql(tenant, hours, this.rollups, source);
    const remainingMs = budget.deadlineMs - this.now();
    if (remainingMs < 1_000) return false;
    try {
      // The same caps as a read: storing hours reads what joining them would.
      await this.client.command({
        query: stmt.sql,
        query_params: stmt.params,
        clickhouse_settings: {
          max_execution_time: Math.max(1, Math.min(this.maxExecutionSeconds, Math.floor(remainingMs / 1000))),
          timeout_overflow_mode: 'throw',
          max_rows_to_read: String(this.maxRowsToRead),
          max_bytes_to_read: String(this.maxBytesToRead),
          read_overflow_mode: 'throw',
        },
      });
      stats.queries++;
      return true;
    } catch (err) {
      // This answer joins the hours instead (and meets the same caps or timeout, with their status).
      // Without the right to insert (a read-only user), storing is not tried again for a while, so
      // such a user does not pay a failing statement on every request.
      const code = (err as { code?: unknown }).code;
      if (code === undefined || NO_INSERT_CODES.has(String(code))) {
        this.closeRetryAtMs = this.now() + EDGE_CLOSE_RETRY_MS;
      }
      return false;
    }
  }

  async logHistogram(q: LogHistogramQuery, budget: QueryBudget): Promise<TierResult<LogCount>> {
    const stats = new StatsCollector(this, this.now);
    // The rollups count records by service and severity only: text and trace filters read records.
    if (this.rollups && q.text === undefined && q.traceId === undefined) {
      return stats.done(
        (await this.run(logHistogramRollupSql(q, this.rollups), budget, stats)).map(toLogCount),
      );
    }
    const source = await this.sources.resolve('otel_logs', q.tenant, q.range);
    if (!source) return stats.done([]);
    return stats.done((await this.run(logHistogramRawSql(q, source), budget, stats)).map(toLogCount));
  }

  async metricNames(q: MetricNamesQuery, budget: QueryBudget): Promise<TierResult<MetricName>> {
    const stats = new StatsCollector(this, this.now);
    const sources: { type: MetricType; source: TableSource }[] = [];
    for (const [type, table] of Object.entries(METRIC_TABLES) as [MetricType, TableName][]) {
      const source = await this.sources.resolve(table, q.tenant, q.range);
      if (source) sources.push({ type, source: prefixParams(source, `src_${type}_`) });
    }
    if (sources.length === 0) return stats.done([]);
    const stmt = this.rollups ? metricNamesRollupSql(q, this.rollups, sources) : metricNamesSql(q, sources);
    return stats.done((await this.run(stmt, budget, stats)).map(toMetricName));
  }

  async metricHistograms(q: MetricQuery, budget: QueryBudget): Promise<TierResult<HistogramBucket>> {
    const stats = new StatsCollector(this, this.now);
    const source = await this.sources.resolve('otel_metrics_histogram', q.tenant, q.range);
    if (!source) return stats.done([]);
    return stats.done((await this.run(metricHistogramsSql(q, source), budget, stats)).map(toHistogram));
  }

  private async run(stmt: ClickHouseStatement, budget: QueryBudget, stats: StatsCollector): Promise<Row[]> {
    const remainingMs = budget.deadlineMs - this.now();
    if (remainingMs < 50) throw new QueryTimeoutError(this.tier, 'the query ran out of time');
    const seconds = Math.max(1, Math.min(this.maxExecutionSeconds, Math.floor(remainingMs / 1000)));
    try {
      const rs = await this.client.query({
        query: stmt.sql,
        query_params: stmt.params,
        format: 'JSON',
        clickhouse_settings: {
          max_execution_time: seconds,
          timeout_overflow_mode: 'throw',
          max_rows_to_read: String(this.maxRowsToRead),
          max_bytes_to_read: String(this.maxBytesToRead),
          read_overflow_mode: 'throw',
        },
      });
      const body = await rs.json<Row>();
      stats.queries++;
      stats.rowsRead += num(body.statistics?.rows_read);
      stats.bytesRead += num(body.statistics?.bytes_read);
      return body.data;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
        throw new QueryTimeoutError(this.tier, `the ${this.tier} tier query exceeded ${seconds} s`, {
          cause: err,
        });
      }
      if (typeof code === 'string' && READ_CAP_CODES.has(code)) {
        throw new QueryTooLargeError(
          this.tier,
          `the query would read more than the ${this.tier} tier allows one query (${this.maxRowsToRead} rows or ${this.maxBytesToRead} bytes)`,
          { cause: err },
        );
      }
      throw new QueryEngineError(this.tier, `the ${this.tier} tier query failed`, { cause: err });
    }
  }
}

/** The smallest range covering `ranges`. */
function coverOf(ranges: readonly TimeRange[]): TimeRange {
  let fromNs = ranges[0]!.fromNs;
  let toNs = ranges[0]!.toNs;
  for (const r of ranges) {
    if (r.fromNs < fromNs) fromNs = r.fromNs;
    if (r.toNs > toNs) toNs = r.toNs;
  }
  return { fromNs, toNs };
}

/** Renames a source's parameters so several sources can share one statement. */
function prefixParams(source: TableSource, prefix: string): TableSource {
  let expr = source.expr;
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(source.params)) {
    expr = expr.replaceAll(`{${k}:`, `{${prefix}${k}:`);
    params[`${prefix}${k}`] = v;
  }
  return { expr, params };
}
