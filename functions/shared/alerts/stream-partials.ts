import { ENTRY_SPAN_KINDS, ERROR_STATUS_CODES } from '../clickhouse/ddl.js';
import { LOG_SEVERITY_NUMBERS } from '../otlp/severity.js';
import type { ColumnBatch } from '../rows/batch.js';
import type { TableName } from '../schema/columns.js';
import type { StreamRule } from './evaluation-path.js';
import { QuantileSketch, type SketchData } from './quantile-sketch.js';
import { compare, type Observation, type SeriesLabels, seriesKey } from './queries.js';

/**
 * The stream evaluator's arithmetic: rows in flight folded into mergeable partial aggregates per
 * (rule, slice, series), and a rule window's partials merged back into the observation the
 * scheduled evaluator's SQL (queries.ts) would make of the same rows. Same filters (entry spans,
 * error status, severity, body text, metric name and attributes), same grouping labels, same
 * "no rows, no observation" and `minRequests` gates.
 *
 * A slice is the time range (end - sliceMs, end] of the rows' own timestamps, the way the SQL's
 * `Timestamp > from AND Timestamp <= now` cuts a window: a rule window ending at a slice boundary
 * is exactly the union of its slices, so the value does not depend on when rows arrived.
 */

/** Log match count. */
export interface CountPartial {
  n: number;
}
/** Entry spans and those in error. */
export interface RequestPartial {
  r: number;
  e: number;
}
/** Entry-span durations (nanoseconds) in a quantile sketch. */
export interface LatencyPartial {
  r: number;
  q: SketchData;
}
/** Gauge/sum points: count, sum, min, max and the latest point (time as ns text, value). */
export interface PointPartial {
  n: number;
  s: number;
  lo: number;
  hi: number;
  lt: string;
  lv: number;
}
export type Partial = CountPartial | RequestPartial | LatencyPartial | PointPartial;

/** One series' partial in one slice. */
export interface SeriesPartial {
  readonly s: SeriesLabels;
  a: Partial;
}

/** slice end (epoch ms, as text) -> series key -> partial. */
export type RuleSlices = Record<string, Record<string, SeriesPartial>>;

const ENTRY_KINDS = new Set<string>(ENTRY_SPAN_KINDS);
const ERROR_CODES = new Set<string>(ERROR_STATUS_CODES);

export function ruleTable(rule: StreamRule): TableName {
  switch (rule.kind) {
    case 'log_count':
      return 'otel_logs';
    case 'error_ratio':
    case 'latency_percentile':
      return 'otel_traces';
    case 'metric_threshold':
      return rule.metricType === 'sum' ? 'otel_metrics_sum' : 'otel_metrics_gauge';
  }
}

/** End of the slice holding a nanosecond timestamp: the smallest multiple of sliceMs >= it. */
export function sliceEndOf(timestampNs: unknown, sliceMs: number): number {
  const text = String(timestampNs ?? '0');
  const msText = text.length > 6 ? text.slice(0, -6) : '0';
  const ms = Number(msText);
  const exact = ms % sliceMs === 0 && /^0*$/.test(text.length > 6 ? text.slice(-6) : text);
  return exact ? ms : (Math.floor(ms / sliceMs) + 1) * sliceMs;
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
const float = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

function groupLabels(rule: StreamRule): readonly ('service' | 'operation')[] {
  const g = rule.groupBy as readonly string[];
  if (g.includes('operation')) return ['service', 'operation'];
  if (g.includes('service')) return ['service'];
  return [];
}

interface MatchedSeries {
  readonly key: string;
  readonly series: SeriesLabels;
}

/**
 * A row filter and series labeller for one rule over one batch's columns: a matching row's series
 * and its key, made once per distinct label values in the batch (not per row).
 */
function matcher(rule: StreamRule, b: ColumnBatch): (i: number) => MatchedSeries | undefined {
  const c = b.columns;
  const service = c.ServiceName ?? [];
  const labels = groupLabels(rule);
  const conditions: ((i: number) => boolean)[] = [];
  if (rule.service !== undefined) {
    const want = rule.service;
    conditions.push((i) => str(service[i]) === want);
  }
  const spanName = c.SpanName ?? [];
  switch (rule.kind) {
    case 'error_ratio':
    case 'latency_percentile': {
      if (rule.operation !== undefined) {
        const op = rule.operation;
        conditions.push((i) => str(spanName[i]) === op);
      }
      const kind = c.SpanKind ?? [];
      const parent = c.ParentSpanId ?? [];
      conditions.push((i) => ENTRY_KINDS.has(str(kind[i])) || str(parent[i]) === '');
      break;
    }
    case 'log_count': {
      if (rule.minSeverity !== undefined) {
        const min = LOG_SEVERITY_NUMBERS[rule.minSeverity];
        const sev = c.SeverityNumber ?? [];
        conditions.push((i) => float(sev[i]) >= min);
      }
      if (rule.bodyContains !== undefined) {
        const text = rule.bodyContains.toLowerCase();
        const body = c.Body ?? [];
        conditions.push((i) => str(body[i]).toLowerCase().includes(text));
      }
      break;
    }
    case 'metric_threshold': {
      const name = c.MetricName ?? [];
      const metric = rule.metric;
      conditions.push((i) => str(name[i]) === metric);
      const attrs = c.Attributes ?? [];
      for (const [k, v] of Object.entries(rule.attributes)) {
        // ClickHouse's map[k] is '' for a missing key; so is this.
        conditions.push((i) => str((attrs[i] as Record<string, string> | undefined)?.[k]) === v);
      }
      break;
    }
  }
  // groupLabels gives [], ['service'] or ['service', 'operation'].
  const byValues = new Map<string, MatchedSeries>();
  return (i) => {
    for (const ok of conditions) if (!ok(i)) return undefined;
    const sv = labels.length > 0 ? str(service[i]) : '';
    const ov = labels.length > 1 ? str(spanName[i]) : '';
    const id = labels.length > 1 ? `${sv}\u0000${ov}` : sv;
    let hit = byValues.get(id);
    if (!hit) {
      const series: Record<string, string> = {};
      if (labels.length > 0) series.service = sv;
      if (labels.length > 1) series.operation = ov;
      hit = { key: seriesKey(series), series };
      byValues.set(id, hit);
    }
    return hit;
  };
}

function emptyPartial(rule: StreamRule): Partial {
  switch (rule.kind) {
    case 'log_count':
      return { n: 0 };
    case 'error_ratio':
      return { r: 0, e: 0 };
    case 'latency_percentile':
      return { r: 0, q: { b: {}, z: 0 } };
    case 'metric_threshold':
      return { n: 0, s: 0, lo: Number.POSITIVE_INFINITY, hi: Number.NEGATIVE_INFINITY, lt: '', lv: 0 };
  }
}

/** Compares two nanosecond timestamps given as decimal text. */
function laterNs(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}

/**
 * Folds one batch of rows into `slices` for `rule`; returns the rows that matched. Rows are
 * attributed by their own timestamp; rows of slices ending at or before `oldestSliceEnd` are past
 * every window still to be decided and are skipped.
 */
export function foldBatch(
  rule: StreamRule,
  batch: ColumnBatch,
  slices: RuleSlices,
  sliceMs: number,
  oldestSliceEnd = Number.NEGATIVE_INFINITY,
): number {
  if (batch.table !== ruleTable(rule) || batch.rowCount === 0) return 0;
  const match = matcher(rule, batch);
  const time = batch.columns[rule.kind === 'metric_threshold' ? 'TimeUnix' : 'Timestamp'] ?? [];
  let matched = 0;
  // Sketches are rebuilt from their JSON once per (slice, series) per batch, not per row.
  const sketches = new Map<LatencyPartial, QuantileSketch>();
  for (let i = 0; i < batch.rowCount; i++) {
    const hit = match(i);
    if (!hit) continue;
    const end = sliceEndOf(time[i], sliceMs);
    if (end <= oldestSliceEnd) continue;
    matched++;
    const bySeries = slices[end] ?? {};
    slices[end] = bySeries;
    const key = hit.key;
    const entry = bySeries[key] ?? { s: hit.series, a: emptyPartial(rule) };
    bySeries[key] = entry;
    switch (rule.kind) {
      case 'log_count':
        (entry.a as CountPartial).n++;
        break;
      case 'error_ratio': {
        const a = entry.a as RequestPartial;
        a.r++;
        if (ERROR_CODES.has(str(batch.columns.StatusCode?.[i]))) a.e++;
        break;
      }
      case 'latency_percentile': {
        const a = entry.a as LatencyPartial;
        a.r++;
        let sketch = sketches.get(a);
        if (!sketch) {
          sketch = QuantileSketch.from(a.q);
          sketches.set(a, sketch);
        }
        sketch.add(float(batch.columns.Duration?.[i]));
        break;
      }
      case 'metric_threshold': {
        const a = entry.a as PointPartial;
        const v = float(batch.columns.Value?.[i]);
        const t = str(time[i]);
        a.n++;
        a.s += v;
        a.lo = Math.min(a.lo, v);
        a.hi = Math.max(a.hi, v);
        if (a.lt === '' || laterNs(t, a.lt)) {
          a.lt = t;
          a.lv = v;
        }
        break;
      }
    }
  }
  for (const [a, sketch] of sketches) a.q = sketch.toJSON();
  return matched;
}

/** Adds `from` into `into` (same rule). */
export function mergePartial(rule: StreamRule, into: Partial, from: Partial): Partial {
  switch (rule.kind) {
    case 'log_count':
      return { n: (into as CountPartial).n + (from as CountPartial).n };
    case 'error_ratio': {
      const a = into as RequestPartial;
      const b = from as RequestPartial;
      return { r: a.r + b.r, e: a.e + b.e };
    }
    case 'latency_percentile': {
      const a = into as LatencyPartial;
      const b = from as LatencyPartial;
      const sketch = QuantileSketch.from(a.q);
      sketch.merge(b.q);
      return { r: a.r + b.r, q: sketch.toJSON() };
    }
    case 'metric_threshold': {
      const a = into as PointPartial;
      const b = from as PointPartial;
      const bLater = a.lt === '' || (b.lt !== '' && laterNs(b.lt, a.lt));
      return {
        n: a.n + b.n,
        s: a.s + b.s,
        lo: Math.min(a.lo, b.lo),
        hi: Math.max(a.hi, b.hi),
        lt: bLater ? b.lt : a.lt,
        lv: bLater ? b.lv : a.lv,
      };
    }
  }
}

/** One partial per series over the slices ending in (nowMs - window, nowMs]. */
export function windowTotals(
  rule: StreamRule,
  slices: readonly RuleSlices[],
  nowMs: number,
): Map<string, SeriesPartial> {
  const from = nowMs - rule.window;
  const out = new Map<string, SeriesPartial>();
  for (const rs of slices) {
    for (const [endText, bySeries] of Object.entries(rs)) {
      const end = Number(endText);
      if (!(end > from && end <= nowMs)) continue;
      for (const [key, p] of Object.entries(bySeries)) {
        const have = out.get(key);
        out.set(key, have ? { s: have.s, a: mergePartial(rule, have.a, p.a) } : { s: p.s, a: p.a });
      }
    }
  }
  return out;
}

/** The observation the scheduled evaluator would make of these rows (queries.ts), or none. */
export function observe(rule: StreamRule, p: SeriesPartial): Observation | undefined {
  const base = { series: p.s, op: rule.op, windowMs: rule.window };
  switch (rule.kind) {
    case 'log_count': {
      const value = (p.a as CountPartial).n;
      return { ...base, value, threshold: rule.threshold, breached: compare(value, rule.op, rule.threshold) };
    }
    case 'error_ratio': {
      const { r, e } = p.a as RequestPartial;
      const value = r > 0 ? e / r : 0;
      return {
        ...base,
        value,
        threshold: rule.threshold,
        breached: r >= rule.minRequests && compare(value, rule.op, rule.threshold),
        details: { requests: r, errors: e },
      };
    }
    case 'latency_percentile': {
      const { r, q } = p.a as LatencyPartial;
      const ns = QuantileSketch.from(q).quantile(rule.percentile);
      if (r === 0 || ns === undefined) return undefined;
      const value = ns / 1e6;
      return {
        ...base,
        value,
        threshold: rule.thresholdMs,
        breached: r >= rule.minRequests && compare(value, rule.op, rule.thresholdMs),
        details: { requests: r },
      };
    }
    case 'metric_threshold': {
      const a = p.a as PointPartial;
      if (a.n === 0 && rule.aggregate !== 'count') return undefined;
      const value = {
        avg: a.s / a.n,
        min: a.lo,
        max: a.hi,
        sum: a.s,
        count: a.n,
        last: a.lv,
      }[rule.aggregate];
      if (!Number.isFinite(value)) return undefined;
      return {
        ...base,
        value,
        threshold: rule.threshold,
        breached: compare(value, rule.op, rule.threshold),
        details: { points: a.n },
      };
    }
  }
}
