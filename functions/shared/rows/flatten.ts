import type {
  Exemplar,
  KeyValue,
  LogsRequest,
  Metric,
  MetricsRequest,
  OtlpRequest,
  TracesRequest,
} from '../otlp/model.js';
import { payloadColumns, SIGNAL_TABLES, type Signal, type TableName } from '../schema/columns.js';
import type { ColumnBatch } from './batch.js';
import { DEFAULT_ROW_LIMITS, type RowLimits } from './limits.js';
import { compileRedaction, type Redactor } from './redact.js';
import {
  beyondStoredRange,
  durationNs,
  FlattenError,
  normalizeNs,
  type RedactionCounts,
  Sanitizer,
  type TruncationCounts,
} from './sanitize.js';

/**
 * Decoded OTLP request -> column batches in the otel_* schema, mapped as the OpenTelemetry
 * Collector's ClickHouse exporter maps pdata, with sanitation (rejections, clamping, caps) and
 * redaction applied on the way, so no row leaves this function unsanitised.
 */

export type { RedactionCounts, TruncationCounts };
export { FlattenError };

/** A logging port (Powertools' Logger fits it). */
export interface FlattenLogger {
  warn(message: string, extra: Record<string, unknown>): void;
}

export interface FlattenOptions {
  /** @default DEFAULT_ROW_LIMITS */
  readonly limits?: RowLimits;
  /** Compiled once by the caller. @default compileRedaction() (the documented defaults) */
  readonly redactor?: Redactor;
  /** Told once per request when something was truncated. */
  readonly logger?: FlattenLogger;
}

export interface FlattenInput {
  /** From the authenticated key: every row's TenantId, whatever the payload says. */
  readonly tenant: string;
  readonly otlp: OtlpRequest;
  /** Decimal nanoseconds since the epoch. */
  readonly receivedAtNs: string;
}

export interface FlattenResult {
  /** One batch per table that has rows, in SIGNAL_TABLES order. */
  readonly batches: ColumnBatch[];
  /** Items kept: spans, log records or metric data points. */
  readonly accepted: number;
  readonly rejected: number;
  /** Rejection reason -> count. */
  readonly rejections: Record<string, number>;
  /** For partial_success.error_message; undefined when nothing was rejected. */
  readonly message: string | undefined;
  /** Rows whose time is `receivedAtNs` (their item had none): a resend will not share it. */
  readonly timesFilled: number;
  readonly truncated: TruncationCounts;
  readonly redacted: RedactionCounts;
}

let defaultRedactor: Redactor | undefined;

function getDefaultRedactor(): Redactor {
  defaultRedactor ??= compileRedaction();
  return defaultRedactor;
}

export function flatten(input: FlattenInput, options: FlattenOptions = {}): FlattenResult {
  const limits = options.limits ?? DEFAULT_ROW_LIMITS;
  const redactor = options.redactor ?? getDefaultRedactor();
  const s = new Sanitizer(limits, redactor, input.receivedAtNs);
  const out = new Batches();
  let accepted: number;
  switch (input.otlp.signal) {
    case 'traces':
      accepted = flattenTraces(input.otlp.request, input.tenant, s, out);
      break;
    case 'logs':
      accepted = flattenLogs(input.otlp.request, input.tenant, s, out);
      break;
    case 'metrics':
      accepted = flattenMetrics(input.otlp.request, input.tenant, s, out);
      break;
  }
  const signal = input.otlp.signal;
  const batches = out.finish(signal);
  const truncated = s.truncated;
  if (options.logger && Object.values(truncated).some((n) => n > 0)) {
    options.logger.warn('telemetry truncated to row limits', { tenant: input.tenant, signal, truncated });
  }
  return {
    batches,
    accepted,
    rejected: s.rejected,
    rejections: s.rejections,
    message: rejectionMessage(signal, s.rejected, s.rejections),
    timesFilled: s.timesFilled,
    truncated,
    redacted: s.redacted,
  };
}

const ITEM_NOUN: Record<Signal, [string, string]> = {
  traces: ['span', 'spans'],
  logs: ['log record', 'log records'],
  metrics: ['data point', 'data points'],
};

/** "3 spans rejected: 2 timestamp older than the 7-day hot retention; 1 trace_id is empty" */
export function rejectionMessage(
  signal: Signal,
  rejected: number,
  rejections: Record<string, number>,
): string | undefined {
  if (rejected === 0) return undefined;
  const [one, many] = ITEM_NOUN[signal];
  const reasons = Object.entries(rejections)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([reason, n]) => `${n} ${reason}`)
    .join('; ');
  return `${rejected} ${rejected === 1 ? one : many} rejected: ${reasons}`;
}

// ---- batches ----

class Batches {
  private readonly byTable = new Map<TableName, ColumnBatch>();

  /** The column arrays of `table`, created on first use with every physical column, in order. */
  columns(table: TableName): Record<string, unknown[]> {
    let batch = this.byTable.get(table);
    if (!batch) {
      const columns: Record<string, unknown[]> = {};
      for (const col of payloadColumns(table)) columns[col.name] = [];
      batch = { table, rowCount: 0, columns };
      this.byTable.set(table, batch);
    }
    return batch.columns;
  }

  finish(signal: Signal): ColumnBatch[] {
    const result: ColumnBatch[] = [];
    for (const table of SIGNAL_TABLES[signal]) {
      const batch = this.byTable.get(table);
      if (!batch) continue;
      const lengths = new Set(Object.values(batch.columns).map((a) => a.length));
      const [rowCount] = lengths;
      if (lengths.size !== 1 || rowCount === undefined)
        throw new FlattenError(`columns of ${table} are misaligned: lengths ${[...lengths].join(', ')}`);
      batch.rowCount = rowCount;
      if (rowCount > 0) result.push(batch);
    }
    return result;
  }
}

function column(columns: Record<string, unknown[]>, name: string): unknown[] {
  const a = columns[name];
  if (!a) throw new FlattenError(`no column ${name}`);
  return a;
}

/**
 * The arrays of `names`, looked up once per request: one object of a fixed shape per table, so
 * each push in the row loop is a monomorphic property load, not a keyed lookup by column name.
 */
function bindColumns<const N extends readonly string[]>(
  columns: Record<string, unknown[]>,
  names: N,
): { readonly [K in N[number]]: unknown[] } {
  const bound: Record<string, unknown[]> = {};
  for (const name of names) bound[name] = column(columns, name);
  return bound as { readonly [K in N[number]]: unknown[] };
}

const TRACE_COLUMNS = [
  'TenantId',
  'Timestamp',
  'TraceId',
  'SpanId',
  'ParentSpanId',
  'TraceState',
  'SpanName',
  'SpanKind',
  'ServiceName',
  'ResourceAttributes',
  'ScopeName',
  'ScopeVersion',
  'SpanAttributes',
  'Duration',
  'StatusCode',
  'StatusMessage',
  'Events.Timestamp',
  'Events.Name',
  'Events.Attributes',
  'Links.TraceId',
  'Links.SpanId',
  'Links.TraceState',
  'Links.Attributes',
] as const;

const LOG_COLUMNS = [
  'TenantId',
  'Timestamp',
  'TraceId',
  'SpanId',
  'TraceFlags',
  'SeverityText',
  'SeverityNumber',
  'ServiceName',
  'Body',
  'ResourceSchemaUrl',
  'ResourceAttributes',
  'ScopeSchemaUrl',
  'ScopeName',
  'ScopeVersion',
  'ScopeAttributes',
  'LogAttributes',
  'EventName',
] as const;

/** The Collector exporter's float64 rendering, with JSON-safe non-finite values (columns.ts). */
function f64(v: number | undefined): number | string {
  if (v === undefined) return 0;
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/** f64 of each element; a plain copy when all are finite (nearly always). */
function f64s(a: readonly number[]): (number | string)[] {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return a.map((x) => f64(x));
  return a.slice();
}

function serviceNameOf(attrs: Record<string, string>): string {
  return Object.hasOwn(attrs, 'service.name') ? (attrs['service.name'] as string) : '';
}

// ---- traces ----

/**
 * The value of a nested column for a span without events or links (most spans): one shared, frozen
 * empty array instead of seven new ones per span, which a 30k-span request feels in its peak memory.
 */
const NO_ITEMS: never[] = Object.freeze([]) as unknown as never[];

const START_BEYOND_RANGE = 'start time after 2255-06-05, beyond what storage holds';
const END_BEYOND_RANGE = 'end time after 2255-06-05, beyond what storage holds';

/**
 * SpanKind / StatusCode as the Collector's ClickHouse exporter writes them (its current values), by
 * OTLP enum number: Grafana's OTel mode and ClickStack filter on `SpanKind = 'Server'` and
 * `StatusCode = 'Error'`. Rows written before migration 2 carry the proto names (SPAN_KIND_SERVER).
 */
const SPAN_KINDS = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'] as const;
const STATUS_CODES = ['Unset', 'Ok', 'Error'] as const;

function flattenTraces(req: TracesRequest, tenant: string, s: Sanitizer, out: Batches): number {
  const limits = s.limits;
  let accepted = 0;
  let cols: ReturnType<typeof bindColumns<typeof TRACE_COLUMNS>> | undefined;
  for (const rs of req.resourceSpans) {
    const resourceAttrs = s.attributes(rs.resource.attributes);
    const serviceName = serviceNameOf(resourceAttrs);
    for (const ss of rs.scopeSpans) {
      const scopeName = s.name(ss.scope.name);
      const scopeVersion = s.name(ss.scope.version);
      for (const span of ss.spans) {
        if (span.invalid !== undefined) {
          s.reject(span.invalid);
          continue;
        }
        if (span.traceId === '') {
          s.reject('trace_id is empty');
          continue;
        }
        if (span.spanId === '') {
          s.reject('span_id is empty');
          continue;
        }
        let start = normalizeNs(span.startTimeUnixNano);
        if (start === undefined) {
          s.reject('start time is not a number');
          continue;
        }
        if (start === '0') {
          start = s.receivedAtNs;
          s.timesFilled++;
        }
        const tooOld = s.timeRejection(start);
        if (tooOld !== undefined) {
          s.reject(tooOld);
          continue;
        }
        const end = normalizeNs(span.endTimeUnixNano) ?? '0';
        // The hot tier works out the end (Timestamp + Duration) in DateTime64(9): it must exist.
        if (beyondStoredRange(end)) {
          s.reject(END_BEYOND_RANGE);
          continue;
        }

        const events = span.events;
        const nEvents = Math.min(events.length, limits.maxSpanEvents);
        s.truncated.spanEvents += events.length - nEvents;
        const evTimes: string[] = nEvents === 0 ? NO_ITEMS : new Array<string>(nEvents);
        const evNames: string[] = nEvents === 0 ? NO_ITEMS : new Array<string>(nEvents);
        const evAttrs: Record<string, string>[] =
          nEvents === 0 ? NO_ITEMS : new Array<Record<string, string>>(nEvents);
        for (let i = 0; i < nEvents; i++) {
          const ev = events[i]!;
          const t = normalizeNs(ev.timeUnixNano);
          evTimes[i] = t === undefined || t === '0' || beyondStoredRange(t) ? start : t;
          evNames[i] = s.name(ev.name);
          evAttrs[i] = s.attributes(ev.attributes);
        }
        const links = span.links;
        const nLinks = Math.min(links.length, limits.maxSpanLinks);
        s.truncated.spanLinks += links.length - nLinks;
        const lkTrace: string[] = nLinks === 0 ? NO_ITEMS : new Array<string>(nLinks);
        const lkSpan: string[] = nLinks === 0 ? NO_ITEMS : new Array<string>(nLinks);
        const lkState: string[] = nLinks === 0 ? NO_ITEMS : new Array<string>(nLinks);
        const lkAttrs: Record<string, string>[] =
          nLinks === 0 ? NO_ITEMS : new Array<Record<string, string>>(nLinks);
        for (let i = 0; i < nLinks; i++) {
          const lk = links[i]!;
          lkTrace[i] = lk.traceId;
          lkSpan[i] = lk.spanId;
          lkState[i] = lk.traceState;
          lkAttrs[i] = s.attributes(lk.attributes);
        }

        cols ??= bindColumns(out.columns('otel_traces'), TRACE_COLUMNS);
        cols.TenantId.push(tenant);
        cols.Timestamp.push(start);
        cols.TraceId.push(span.traceId);
        cols.SpanId.push(span.spanId);
        cols.ParentSpanId.push(span.parentSpanId);
        cols.TraceState.push(span.traceState);
        cols.SpanName.push(s.name(span.name));
        cols.SpanKind.push(SPAN_KINDS[span.kind] ?? SPAN_KINDS[0]);
        cols.ServiceName.push(serviceName);
        cols.ResourceAttributes.push(resourceAttrs);
        cols.ScopeName.push(scopeName);
        cols.ScopeVersion.push(scopeVersion);
        cols.SpanAttributes.push(s.attributes(span.attributes));
        cols.Duration.push(durationNs(end, start));
        cols.StatusCode.push(STATUS_CODES[span.status.code] ?? STATUS_CODES[0]);
        cols.StatusMessage.push(s.text(span.status.message, limits.maxAttributeValueBytes, 'statusMessages'));
        cols['Events.Timestamp'].push(evTimes);
        cols['Events.Name'].push(evNames);
        cols['Events.Attributes'].push(evAttrs);
        cols['Links.TraceId'].push(lkTrace);
        cols['Links.SpanId'].push(lkSpan);
        cols['Links.TraceState'].push(lkState);
        cols['Links.Attributes'].push(lkAttrs);
        accepted++;
      }
    }
  }
  return accepted;
}

// ---- logs ----

function flattenLogs(req: LogsRequest, tenant: string, s: Sanitizer, out: Batches): number {
  let accepted = 0;
  let cols: ReturnType<typeof bindColumns<typeof LOG_COLUMNS>> | undefined;
  for (const rl of req.resourceLogs) {
    const resourceAttrs = s.attributes(rl.resource.attributes);
    const serviceName = serviceNameOf(resourceAttrs);
    for (const sl of rl.scopeLogs) {
      const scopeAttrs = s.attributes(sl.scope.attributes);
      const scopeName = s.name(sl.scope.name);
      const scopeVersion = s.name(sl.scope.version);
      for (const rec of sl.logRecords) {
        if (rec.invalid !== undefined) {
          s.reject(rec.invalid);
          continue;
        }
        // The exporter's rule (time, else observed time), with the receive time as the last resort.
        let ts = normalizeNs(rec.timeUnixNano);
        if (ts === undefined) {
          s.reject('time is not a number');
          continue;
        }
        if (ts === '0') {
          const observed = normalizeNs(rec.observedTimeUnixNano);
          if (observed !== undefined && observed !== '0') ts = observed;
          else {
            ts = s.receivedAtNs;
            s.timesFilled++;
          }
        }
        const why = s.timeRejection(ts);
        if (why !== undefined) {
          s.reject(why);
          continue;
        }
        cols ??= bindColumns(out.columns('otel_logs'), LOG_COLUMNS);
        cols.TenantId.push(tenant);
        cols.Timestamp.push(ts);
        cols.TraceId.push(rec.traceId);
        cols.SpanId.push(rec.spanId);
        cols.TraceFlags.push(rec.flags & 0xff);
        cols.SeverityText.push(s.name(rec.severityText));
        cols.SeverityNumber.push(rec.severityNumber);
        cols.ServiceName.push(serviceName);
        cols.Body.push(s.body(rec.body));
        cols.ResourceSchemaUrl.push(rl.schemaUrl);
        cols.ResourceAttributes.push(resourceAttrs);
        cols.ScopeSchemaUrl.push(sl.schemaUrl);
        cols.ScopeName.push(scopeName);
        cols.ScopeVersion.push(scopeVersion);
        cols.ScopeAttributes.push(scopeAttrs);
        cols.LogAttributes.push(s.attributes(rec.attributes));
        cols.EventName.push(s.name(rec.eventName));
        accepted++;
      }
    }
  }
  return accepted;
}

// ---- metrics ----

interface MetricContext {
  readonly tenant: string;
  readonly resourceAttrs: Record<string, string>;
  readonly resourceSchemaUrl: string;
  readonly scopeName: string;
  readonly scopeVersion: string;
  readonly scopeAttrs: Record<string, string>;
  readonly scopeDropped: number;
  readonly scopeSchemaUrl: string;
  readonly serviceName: string;
  readonly metricName: string;
  readonly description: string;
  readonly unit: string;
}

interface PointBase {
  readonly invalid?: string;
  readonly attributes: readonly KeyValue[];
  readonly startTimeUnixNano: string;
  readonly timeUnixNano: string;
}

function flattenMetrics(req: MetricsRequest, tenant: string, s: Sanitizer, out: Batches): number {
  let accepted = 0;
  for (const rm of req.resourceMetrics) {
    const resourceAttrs = s.attributes(rm.resource.attributes);
    const serviceName = serviceNameOf(resourceAttrs);
    for (const sm of rm.scopeMetrics) {
      const scope = {
        tenant,
        resourceAttrs,
        resourceSchemaUrl: rm.schemaUrl,
        scopeName: s.name(sm.scope.name),
        scopeVersion: s.name(sm.scope.version),
        scopeAttrs: s.attributes(sm.scope.attributes),
        scopeDropped: sm.scope.droppedAttributesCount,
        scopeSchemaUrl: sm.schemaUrl,
        serviceName,
      };
      for (const metric of sm.metrics) {
        if (!metric.data) continue;
        const ctx: MetricContext = {
          ...scope,
          metricName: s.name(metric.name),
          description: s.text(metric.description, s.limits.maxAttributeValueBytes, 'attributeValues'),
          unit: s.name(metric.unit),
        };
        accepted += flattenMetric(metric, ctx, s, out);
      }
    }
  }
  return accepted;
}

function flattenMetric(metric: Metric, ctx: MetricContext, s: Sanitizer, out: Batches): number {
  const data = metric.data;
  let accepted = 0;
  /** Checks a point, pushes the common columns and returns its columns, or undefined if rejected. */
  const common = (
    table: TableName,
    p: PointBase,
  ): { cols: Record<string, unknown[]>; time: string } | undefined => {
    if (p.invalid !== undefined) {
      s.reject(p.invalid);
      return undefined;
    }
    let time = normalizeNs(p.timeUnixNano);
    if (time === undefined) {
      s.reject('time is not a number');
      return undefined;
    }
    if (time === '0') {
      time = s.receivedAtNs;
      s.timesFilled++;
    }
    const why = s.timeRejection(time);
    if (why !== undefined) {
      s.reject(why);
      return undefined;
    }
    // Absent (0) is stored as 0, the epoch, as the Collector's exporter stores it.
    const start = normalizeNs(p.startTimeUnixNano);
    if (start === undefined || beyondStoredRange(start)) {
      s.reject(start === undefined ? 'start time is not a number' : START_BEYOND_RANGE);
      return undefined;
    }
    const cols = out.columns(table);
    column(cols, 'TenantId').push(ctx.tenant);
    column(cols, 'ResourceAttributes').push(ctx.resourceAttrs);
    column(cols, 'ResourceSchemaUrl').push(ctx.resourceSchemaUrl);
    column(cols, 'ScopeName').push(ctx.scopeName);
    column(cols, 'ScopeVersion').push(ctx.scopeVersion);
    column(cols, 'ScopeAttributes').push(ctx.scopeAttrs);
    column(cols, 'ScopeDroppedAttrCount').push(ctx.scopeDropped);
    column(cols, 'ScopeSchemaUrl').push(ctx.scopeSchemaUrl);
    column(cols, 'ServiceName').push(ctx.serviceName);
    column(cols, 'MetricName').push(ctx.metricName);
    column(cols, 'MetricDescription').push(ctx.description);
    column(cols, 'MetricUnit').push(ctx.unit);
    column(cols, 'Attributes').push(s.attributes(p.attributes));
    column(cols, 'StartTimeUnix').push(start);
    column(cols, 'TimeUnix').push(time);
    accepted++;
    return { cols, time };
  };
  const exemplars = (cols: Record<string, unknown[]>, list: readonly Exemplar[], pointTime: string): void => {
    const n = list.length;
    const attrs = new Array<Record<string, string>>(n);
    const times = new Array<string>(n);
    const values = new Array<number | string>(n);
    const spanIds = new Array<string>(n);
    const traceIds = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const e = list[i]!;
      attrs[i] = s.attributes(e.filteredAttributes);
      const t = normalizeNs(e.timeUnixNano);
      times[i] = t === undefined || t === '0' || beyondStoredRange(t) ? pointTime : t;
      values[i] = f64(e.value);
      spanIds[i] = e.spanId;
      traceIds[i] = e.traceId;
    }
    column(cols, 'Exemplars.FilteredAttributes').push(attrs);
    column(cols, 'Exemplars.TimeUnix').push(times);
    column(cols, 'Exemplars.Value').push(values);
    column(cols, 'Exemplars.SpanId').push(spanIds);
    column(cols, 'Exemplars.TraceId').push(traceIds);
  };

  switch (data?.type) {
    case 'gauge':
    case 'sum': {
      const table = data.type === 'gauge' ? 'otel_metrics_gauge' : 'otel_metrics_sum';
      for (const p of data.dataPoints) {
        const row = common(table, p);
        if (!row) continue;
        column(row.cols, 'Value').push(f64(p.value));
        column(row.cols, 'Flags').push(p.flags);
        exemplars(row.cols, p.exemplars, row.time);
        if (data.type === 'sum') {
          column(row.cols, 'AggregationTemporality').push(data.aggregationTemporality);
          column(row.cols, 'IsMonotonic').push(data.isMonotonic);
        }
      }
      break;
    }
    case 'histogram':
      for (const p of data.dataPoints) {
        const row = common('otel_metrics_histogram', p);
        if (!row) continue;
        const c = row.cols;
        column(c, 'Count').push(p.count);
        column(c, 'Sum').push(f64(p.sum));
        column(c, 'BucketCounts').push(p.bucketCounts.slice());
        column(c, 'ExplicitBounds').push(f64s(p.explicitBounds));
        exemplars(c, p.exemplars, row.time);
        column(c, 'Flags').push(p.flags);
        column(c, 'Min').push(f64(p.min));
        column(c, 'Max').push(f64(p.max));
        column(c, 'AggregationTemporality').push(data.aggregationTemporality);
      }
      break;
    case 'exponential_histogram':
      for (const p of data.dataPoints) {
        const row = common('otel_metrics_exponential_histogram', p);
        if (!row) continue;
        const c = row.cols;
        column(c, 'Count').push(p.count);
        column(c, 'Sum').push(f64(p.sum));
        column(c, 'Scale').push(p.scale);
        column(c, 'ZeroCount').push(p.zeroCount);
        column(c, 'PositiveOffset').push(p.positive.offset);
        column(c, 'PositiveBucketCounts').push(p.positive.bucketCounts.slice());
        column(c, 'NegativeOffset').push(p.negative.offset);
        column(c, 'NegativeBucketCounts').push(p.negative.bucketCounts.slice());
        exemplars(c, p.exemplars, row.time);
        column(c, 'Flags').push(p.flags);
        column(c, 'Min').push(f64(p.min));
        column(c, 'Max').push(f64(p.max));
        column(c, 'AggregationTemporality').push(data.aggregationTemporality);
      }
      break;
    case 'summary':
      for (const p of data.dataPoints) {
        const row = common('otel_metrics_summary', p);
        if (!row) continue;
        const c = row.cols;
        column(c, 'Count').push(p.count);
        column(c, 'Sum').push(f64(p.sum));
        column(c, 'ValueAtQuantiles.Quantile').push(p.quantileValues.map((q) => f64(q.quantile)));
        column(c, 'ValueAtQuantiles.Value').push(p.quantileValues.map((q) => f64(q.value)));
        column(c, 'Flags').push(p.flags);
      }
      break;
    case undefined:
      break;
  }
  return accepted;
}
