import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import {
  type AthenaStatement,
  type AthenaTables,
  athenaLogHistogramSql,
  athenaLogSearchSql,
  athenaMetricBucketsSql,
  athenaMetricHistogramsSql,
  athenaMetricNamesSql,
  athenaServiceEdgesSql,
  athenaServiceSeriesSql,
  athenaServicesSql,
  athenaTraceSearchSql,
  athenaTraceSpansSql,
  glueTables,
} from './athena-sql.js';
import { QueryEngineError, QueryTimeoutError } from './errors.js';
import type {
  HistogramBucket,
  LogCount,
  LogHistogramQuery,
  LogRecordRow,
  LogSearchQuery,
  MetricBucket,
  MetricName,
  MetricNamesQuery,
  MetricQuery,
  MetricType,
  QueryBudget,
  ServiceBucket,
  ServiceEdge,
  ServiceSeriesQuery,
  ServiceStats,
  ServicesQuery,
  SpanRecord,
  TelemetryReader,
  TierResult,
  TraceQuery,
  TraceSearchQuery,
  TraceSummary,
} from './model.js';

/**
 * The cold tier in AWS: Athena over the Glue tables of the lake. StartQueryExecution in the
 * workgroup (whose enforced bytes-scanned cutoff bounds a runaway query) with the statement's
 * execution parameters, poll GetQueryExecution until done or the request's deadline (then
 * StopQueryExecution), read GetQueryResults pages, report the bytes scanned.
 */

/** The one method of the SDK client used here (a mocked client implements just this). */
export type AthenaSender = Pick<AthenaClient, 'send'>;

export interface AthenaReaderOptions {
  readonly workgroup: string;
  /** The Glue database of the lake tables. */
  readonly database: string;
  /** @default 1000 */
  readonly servicesLimit?: number;
  /** First poll delay (ms), doubled up to 1 s. @default 200 */
  readonly pollMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
}

type Row = Record<string, string | undefined>;

const parseJson = (v: string | undefined): unknown => {
  if (v === undefined || v === '') return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return undefined;
  }
};
const strMap = (v: unknown): Record<string, string> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = typeof x === 'string' ? x : String(x ?? '');
  return out;
};
/** A JSON-cast ROW: an object by field name (Trino) or an array by position (older engines). */
const field = (v: unknown, name: string, index: number): unknown => {
  if (Array.isArray(v)) return v[index];
  if (typeof v === 'object' && v !== null) return (v as Record<string, unknown>)[name];
  return undefined;
};
const msToNs = (v: string | number | undefined | unknown): string => {
  const n = typeof v === 'number' ? v : Number(v ?? 0);
  return Number.isFinite(n) ? `${BigInt(Math.round(n))}000000` : '0';
};
const nullableNum = (v: string | undefined): number | null =>
  v === undefined || v === '' ? null : Number(v);

function toSpan(r: Row): SpanRecord {
  const events = parseJson(r.events);
  const links = parseJson(r.links);
  return {
    traceId: r.traceid ?? '',
    spanId: r.spanid ?? '',
    parentSpanId: r.parentspanid ?? '',
    traceState: r.tracestate ?? '',
    name: r.spanname ?? '',
    kind: r.spankind ?? '',
    serviceName: r.servicename ?? '',
    startTimeUnixNano: msToNs(r.start_ms),
    durationNanos: r.duration ?? '0',
    statusCode: r.statuscode ?? '',
    statusMessage: r.statusmessage ?? '',
    attributes: strMap(parseJson(r.span_attributes)),
    resourceAttributes: strMap(parseJson(r.resource_attributes)),
    scopeName: r.scopename ?? '',
    scopeVersion: r.scopeversion ?? '',
    events: (Array.isArray(events) ? events : []).map((e) => ({
      timeUnixNano: msToNs(field(e, 'time_ms', 0)),
      name: String(field(e, 'name', 1) ?? ''),
      attributes: strMap(field(e, 'attributes', 2)),
    })),
    links: (Array.isArray(links) ? links : []).map((l) => ({
      traceId: String(field(l, 'trace_id', 0) ?? ''),
      spanId: String(field(l, 'span_id', 1) ?? ''),
      traceState: String(field(l, 'trace_state', 2) ?? ''),
      attributes: strMap(field(l, 'attributes', 3)),
    })),
  };
}

function toTraceSummary(r: Row): TraceSummary {
  return {
    traceId: r.traceid ?? '',
    startTimeUnixNano: msToNs(r.start_ms),
    serviceName: r.service_name ?? '',
    operation: r.operation ?? '',
    maxDurationNanos: r.max_duration ?? '0',
    spanCount: Number(r.spans ?? 0),
    errorCount: Number(r.errors ?? 0),
  };
}

function toLog(r: Row): LogRecordRow {
  return {
    timeUnixNano: msToNs(r.time_ms),
    serviceName: r.servicename ?? '',
    severityText: r.severitytext ?? '',
    severityNumber: Number(r.severitynumber ?? 0),
    body: r.body ?? '',
    traceId: r.traceid ?? '',
    spanId: r.spanid ?? '',
    attributes: strMap(parseJson(r.log_attributes)),
    resourceAttributes: strMap(parseJson(r.resource_attributes)),
  };
}

function toBucket(r: Row): MetricBucket {
  return {
    metricType: (r.metric_type ?? 'gauge') as MetricType,
    serviceName: r.servicename ?? '',
    bucketMs: Number(r.bucket_ms ?? 0),
    sum: Number(r.sum ?? 0),
    count: Number(r.count ?? 0),
    min: nullableNum(r.min),
    max: nullableNum(r.max),
  };
}

function quantiles(v: string | undefined, n: number): [number, number, number] | null {
  const q = parseJson(v);
  const values = Array.isArray(q) ? q.map(Number) : [];
  return n > 0 && values.length === 3 && values.every(Number.isFinite)
    ? [values[0]!, values[1]!, values[2]!]
    : null;
}

function toServiceStats(r: Row): ServiceStats {
  const requests = Number(r.requests ?? 0);
  return {
    serviceName: r.servicename ?? '',
    ...(r.spanname !== undefined && { operation: r.spanname }),
    requests,
    errors: Number(r.errors ?? 0),
    quantilesNs: quantiles(r.quantiles, requests),
  };
}

const toServiceBucket = (r: Row): ServiceBucket => ({
  ...toServiceStats(r),
  bucketMs: Number(r.bucket_ms ?? 0),
});

function toEdge(r: Row): ServiceEdge {
  const calls = Number(r.calls ?? 0);
  return {
    parent: r.parent ?? '',
    child: r.child ?? '',
    calls,
    errors: Number(r.errors ?? 0),
    quantilesNs: quantiles(r.quantiles, calls),
  };
}

const toLogCount = (r: Row): LogCount => ({
  bucketMs: Number(r.bucket_ms ?? 0),
  severityNumber: Number(r.severitynumber ?? 0),
  severityText: r.severity ?? '',
  count: Number(r.count ?? 0),
});

const toMetricName = (r: Row): MetricName => {
  const services = parseJson(r.services);
  return {
    name: r.metricname ?? '',
    type: (r.metric_type ?? 'gauge') as MetricType,
    unit: r.unit ?? '',
    description: r.description ?? '',
    services: Array.isArray(services) ? services.map(String) : [],
  };
};

const numbers = (v: string | undefined): number[] => {
  const a = parseJson(v);
  return Array.isArray(a) ? a.map(Number) : [];
};

const toHistogram = (r: Row): HistogramBucket => ({
  group: r.grp ?? '',
  bucketMs: Number(r.bucket_ms ?? 0),
  bounds: numbers(r.bounds),
  counts: numbers(r.counts),
  min: nullableNum(r.min),
  max: nullableNum(r.max),
});

export class AthenaTelemetryReader implements TelemetryReader {
  readonly tier = 'cold' as const;
  private readonly tables: AthenaTables;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly athena: AthenaSender,
    private readonly options: AthenaReaderOptions,
  ) {
    this.tables = glueTables(options.database);
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async trace(q: TraceQuery, budget: QueryBudget): Promise<TierResult<SpanRecord>> {
    return this.run(athenaTraceSpansSql(q, this.tables), budget, toSpan);
  }

  async searchTraces(q: TraceSearchQuery, budget: QueryBudget): Promise<TierResult<TraceSummary>> {
    return this.run(athenaTraceSearchSql(q, this.tables), budget, toTraceSummary);
  }

  async searchLogs(q: LogSearchQuery, budget: QueryBudget): Promise<TierResult<LogRecordRow>> {
    return this.run(athenaLogSearchSql(q, this.tables), budget, toLog);
  }

  async metricBuckets(q: MetricQuery, budget: QueryBudget): Promise<TierResult<MetricBucket>> {
    return this.run(athenaMetricBucketsSql(q, this.tables), budget, toBucket);
  }

  async services(q: ServicesQuery, budget: QueryBudget): Promise<TierResult<ServiceStats>> {
    return this.run(
      athenaServicesSql(q, this.tables, this.options.servicesLimit ?? 1000),
      budget,
      toServiceStats,
    );
  }

  async serviceSeries(q: ServiceSeriesQuery, budget: QueryBudget): Promise<TierResult<ServiceBucket>> {
    return this.run(athenaServiceSeriesSql(q, this.tables), budget, toServiceBucket);
  }

  async serviceEdges(q: ServicesQuery, budget: QueryBudget): Promise<TierResult<ServiceEdge>> {
    const limit = (this.options.servicesLimit ?? 1000) * 10;
    return this.run(athenaServiceEdgesSql(q, this.tables, limit), budget, toEdge);
  }

  async logHistogram(q: LogHistogramQuery, budget: QueryBudget): Promise<TierResult<LogCount>> {
    return this.run(athenaLogHistogramSql(q, this.tables), budget, toLogCount);
  }

  async metricNames(q: MetricNamesQuery, budget: QueryBudget): Promise<TierResult<MetricName>> {
    return this.run(athenaMetricNamesSql(q, this.tables), budget, toMetricName);
  }

  async metricHistograms(q: MetricQuery, budget: QueryBudget): Promise<TierResult<HistogramBucket>> {
    return this.run(athenaMetricHistogramsSql(q, this.tables), budget, toHistogram);
  }

  private async run<T>(
    stmt: AthenaStatement,
    budget: QueryBudget,
    convert: (r: Row) => T,
  ): Promise<TierResult<T>> {
    const started = this.now();
    let id: string | undefined;
    try {
      const start = await this.athena.send(
        new StartQueryExecutionCommand({
          QueryString: stmt.sql,
          WorkGroup: this.options.workgroup,
          QueryExecutionContext: { Database: this.options.database },
          ...(stmt.params.length > 0 && { ExecutionParameters: stmt.params }),
        }),
      );
      id = start.QueryExecutionId;
    } catch (cause) {
      throw new QueryEngineError('cold', 'Athena did not start the query', { cause });
    }
    if (!id) throw new QueryEngineError('cold', 'Athena returned no query execution id');

    let delay = this.options.pollMs ?? 200;
    let bytesScanned = 0;
    for (;;) {
      const out = await this.athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
      const exec = out.QueryExecution;
      const state = exec?.Status?.State;
      bytesScanned = exec?.Statistics?.DataScannedInBytes ?? bytesScanned;
      if (state === 'SUCCEEDED') break;
      if (state === 'FAILED' || state === 'CANCELLED') {
        const reason = exec?.Status?.StateChangeReason ?? state;
        throw new QueryEngineError('cold', `Athena query ${state.toLowerCase()}: ${reason}`);
      }
      if (this.now() + delay > budget.deadlineMs) {
        await this.athena
          .send(new StopQueryExecutionCommand({ QueryExecutionId: id }))
          .catch(() => undefined);
        throw new QueryTimeoutError('cold', 'the Athena query did not finish in time (stopped)');
      }
      await this.sleep(delay);
      delay = Math.min(1_000, delay * 2);
    }

    const rows: T[] = [];
    let names: string[] | undefined;
    let token: string | undefined;
    let first = true;
    do {
      const page: GetQueryResultsCommandOutput = await this.athena.send(
        new GetQueryResultsCommand({
          QueryExecutionId: id,
          MaxResults: 1000,
          ...(token && { NextToken: token }),
        }),
      );
      names ??= (page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) =>
        (c.Label ?? c.Name ?? '').toLowerCase(),
      );
      const data = page.ResultSet?.Rows ?? [];
      // The first row of the first page repeats the column names.
      for (const [i, r] of data.entries()) {
        if (first && i === 0) continue;
        const row: Row = {};
        (r.Data ?? []).forEach((d, j) => {
          const name = names?.[j];
          if (name !== undefined) row[name] = d.VarCharValue;
        });
        rows.push(convert(row));
      }
      first = false;
      token = page.NextToken;
    } while (token);
    return {
      rows,
      stats: { tier: 'cold', engine: 'athena', queries: 1, bytesScanned, elapsedMs: this.now() - started },
    };
  }
}
