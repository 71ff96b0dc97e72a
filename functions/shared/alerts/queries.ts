import {
  ENTRY_SPAN_KINDS,
  ERROR_STATUS_CODES,
  qualified,
  RED_QUANTILES,
  ROLLUP_RETENTION_DAYS,
  SERVICE_RED_TABLE,
} from '../clickhouse/ddl.js';
import { LOG_SEVERITY_NUMBERS } from '../otlp/severity.js';
import { SIGNAL_TABLES, TABLES, type TableName } from '../schema/columns.js';
import { DAY_MS, detectAnomaly, type HourlyPoint, PERIOD_MS, SENSITIVITY_Z } from './anomaly.js';
import { formatDuration } from './duration.js';
import type { AlertRule, Operator, RuleOf } from './rules.js';

/**
 * Each rule kind as parameterised ClickHouse SQL over the hot tier, and the reading of its result
 * as one observation per series (a series is one value of the rule's `groupBy`: a service, or a
 * service and operation). Values are bound parameters (`{name:Type}`), never spliced in; the tenant
 * is always one of them, and the time range is bound as epoch milliseconds so the evaluator's clock,
 * not the server's, decides what "the last 5 minutes" is.
 *
 * Minute-level windows (5 m, 30 m, 1 h, 6 h) read the raw tables: the only rollups are hourly
 * (`otel_traces_service_red_1h`, `otel_logs_counts_1h`), and a 5-minute window cannot be cut from an
 * hourly bucket. The sort keys lead with (TenantId, ServiceName) and the tables are partitioned by
 * day, so such a read touches one tenant's recent granules only. The SLO's error budget over days
 * reads the hourly RED rollup, where hour resolution is plenty and a raw scan would be days of spans.
 */

/** Entry spans, as the RED rollup counts them (ddl.ts): server/consumer spans, or roots. */
const sqlList = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');
// Requests and errors are counted exactly as the hourly RED rollup counts them (clickhouse/ddl.ts).
const ENTRY_SPAN = `(SpanKind IN (${sqlList(ENTRY_SPAN_KINDS)}) OR ParentSpanId = '')`;
const IS_ERROR = `StatusCode IN (${sqlList(ERROR_STATUS_CODES)})`;

export { LOG_SEVERITY_NUMBERS };

export type SeriesLabels = Readonly<Record<string, string>>;

/** What one evaluation saw for one series. */
export interface Observation {
  readonly series: SeriesLabels;
  /** The compared value, in the rule's unit (ratio, ms, count, minutes, burn rate). */
  readonly value: number;
  readonly threshold: number;
  readonly op: Operator;
  readonly breached: boolean;
  /** The window the value covers. */
  readonly windowMs: number;
  /** Kind-specific figures (requests, per-window burn rates, budget left, …). */
  readonly details?: Readonly<Record<string, number>>;
}

export interface BoundQuery {
  readonly query: string;
  readonly params: Record<string, unknown>;
}

export type ResultRow = Readonly<Record<string, unknown>>;

export interface RulePlan {
  readonly queries: readonly BoundQuery[];
  /** `results[i]` are the rows of `queries[i]`. */
  interpret(results: readonly (readonly ResultRow[])[]): Observation[];
}

export interface PlanOptions {
  /** Qualifies the table names; omitted, the connection's database. */
  readonly database?: string;
}

export function compare(value: number, op: Operator, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

/** A stable, readable key of a series' labels (never empty: DynamoDB keys cannot be). */
export function seriesKey(series: SeriesLabels): string {
  return JSON.stringify(Object.entries(series).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

const ms = (name: string) => `fromUnixTimestamp64Milli(toInt64({${name}:Int64}))`;

interface Scope {
  readonly where: string[];
  readonly params: Record<string, unknown>;
  readonly select: string[];
  readonly groupBy: string[];
  readonly labels: readonly ('service' | 'operation')[];
}

/** Tenant, time range and the common service/operation filters and grouping. */
function scope(
  tenant: string,
  time: string,
  fromMs: number,
  nowMs: number,
  rule: { service?: string; operation?: string; groupBy: readonly ('service' | 'operation')[] },
): Scope {
  const where = ['TenantId = {tenant:String}', `${time} > ${ms('from')}`, `${time} <= ${ms('now')}`];
  const params: Record<string, unknown> = { tenant, from: fromMs, now: nowMs };
  if (rule.service !== undefined) {
    where.push('ServiceName = {service:String}');
    params.service = rule.service;
  }
  if (rule.operation !== undefined) {
    where.push('SpanName = {operation:String}');
    params.operation = rule.operation;
  }
  // Grouping by operation implies by service: span names repeat across services.
  const labels = rule.groupBy.includes('operation')
    ? (['service', 'operation'] as const)
    : rule.groupBy.includes('service')
      ? (['service'] as const)
      : ([] as const);
  const column = { service: 'ServiceName', operation: 'SpanName' } as const;
  return {
    where,
    params,
    labels,
    select: labels.map((l) => `${column[l]} AS ${l}`),
    groupBy: labels.map((l) => l),
  };
}

function seriesOf(row: ResultRow, labels: readonly string[]): SeriesLabels {
  const out: Record<string, string> = {};
  for (const l of labels) out[l] = String(row[l] ?? '');
  return out;
}

function sql(
  select: readonly string[],
  from: string,
  where: readonly string[],
  groupBy: readonly string[],
): string {
  return [
    `SELECT ${select.join(', ')}`,
    `FROM ${from}`,
    `WHERE ${where.join('\n  AND ')}`,
    ...(groupBy.length > 0 ? [`GROUP BY ${groupBy.join(', ')}`] : []),
  ].join('\n');
}

function metricThreshold(
  rule: RuleOf<'metric_threshold'>,
  tenant: string,
  nowMs: number,
  o: PlanOptions,
): RulePlan {
  const table = `otel_metrics_${rule.metricType}` as TableName;
  const s = scope(tenant, 'TimeUnix', nowMs - rule.window, nowMs, rule);
  s.where.push('MetricName = {metric:String}');
  s.params.metric = rule.metric;
  Object.entries(rule.attributes).forEach(([k, v], i) => {
    s.where.push(`Attributes[{ak${i}:String}] = {av${i}:String}`);
    s.params[`ak${i}`] = k;
    s.params[`av${i}`] = v;
  });
  const hist = rule.metricType === 'histogram';
  const value = {
    avg: hist ? 'sum(Sum) / sum(Count)' : 'avg(Value)',
    min: hist ? 'min(Min)' : 'min(Value)',
    max: hist ? 'max(Max)' : 'max(Value)',
    sum: hist ? 'sum(Sum)' : 'sum(Value)',
    count: hist ? 'sum(Count)' : 'count()',
    last: hist ? 'argMax(Sum / Count, TimeUnix)' : 'argMax(Value, TimeUnix)',
  }[rule.aggregate];
  const query = sql(
    [...s.select, `toFloat64(${value}) AS value`, 'count() AS points'],
    qualified(table, o.database),
    s.where,
    s.groupBy,
  );
  return {
    queries: [{ query, params: s.params }],
    interpret: ([rows = []]) =>
      rows.flatMap((row) => {
        const value = num(row.value);
        // No points: nothing to compare (count over no points is 0, a value).
        if (num(row.points) === 0 && rule.aggregate !== 'count') return [];
        if (!Number.isFinite(value)) return [];
        return [
          observation(rule, seriesOf(row, s.labels), value, rule.threshold, rule.window, {
            points: num(row.points),
          }),
        ];
      }),
  };
}

function observation(
  rule: { op: Operator },
  series: SeriesLabels,
  value: number,
  threshold: number,
  windowMs: number,
  details?: Record<string, number>,
  gate = true,
): Observation {
  return {
    series,
    value,
    threshold,
    op: rule.op,
    breached: gate && compare(value, rule.op, threshold),
    windowMs,
    ...(details ? { details } : {}),
  };
}

function errorRatio(rule: RuleOf<'error_ratio'>, tenant: string, nowMs: number, o: PlanOptions): RulePlan {
  const s = scope(tenant, 'Timestamp', nowMs - rule.window, nowMs, rule);
  s.where.push(ENTRY_SPAN);
  const query = sql(
    // Re-weighted by SampleRate (ADR 0009): 1 for unsampled tenants, so exact counts there.
    [...s.select, 'sum(SampleRate) AS requests', `sumIf(SampleRate, ${IS_ERROR}) AS errors`],
    qualified('otel_traces', o.database),
    s.where,
    s.groupBy,
  );
  return {
    queries: [{ query, params: s.params }],
    interpret: ([rows = []]) =>
      rows.map((row) => {
        const requests = num(row.requests);
        const errors = num(row.errors);
        const value = requests > 0 ? errors / requests : 0;
        return observation(
          rule,
          seriesOf(row, s.labels),
          value,
          rule.threshold,
          rule.window,
          { requests, errors },
          requests >= rule.minRequests,
        );
      }),
  };
}

function latencyPercentile(
  rule: RuleOf<'latency_percentile'>,
  tenant: string,
  nowMs: number,
  o: PlanOptions,
): RulePlan {
  const s = scope(tenant, 'Timestamp', nowMs - rule.window, nowMs, rule);
  s.where.push(ENTRY_SPAN);
  s.params.p = rule.percentile;
  const query = sql(
    // t-digest, as the rollup uses: bounded memory whatever the request count.
    // Over the sample only: rows kept just for an error or slow span (weight 0) would skew it slow.
    [
      ...s.select,
      'quantileTDigestIf({p:Float64})(Duration, SampleRate > 0) / 1e6 AS value',
      'sum(SampleRate) AS requests',
    ],
    qualified('otel_traces', o.database),
    s.where,
    s.groupBy,
  );
  return {
    queries: [{ query, params: s.params }],
    interpret: ([rows = []]) =>
      rows.flatMap((row) => {
        const requests = num(row.requests);
        const value = num(row.value);
        if (requests === 0 || !Number.isFinite(value)) return [];
        return [
          observation(
            rule,
            seriesOf(row, s.labels),
            value,
            rule.thresholdMs,
            rule.window,
            { requests },
            requests >= rule.minRequests,
          ),
        ];
      }),
  };
}

function logCount(rule: RuleOf<'log_count'>, tenant: string, nowMs: number, o: PlanOptions): RulePlan {
  const s = scope(tenant, 'Timestamp', nowMs - rule.window, nowMs, rule);
  if (rule.minSeverity !== undefined) {
    s.where.push('SeverityNumber >= {severity:UInt8}');
    s.params.severity = LOG_SEVERITY_NUMBERS[rule.minSeverity];
  }
  if (rule.bodyContains !== undefined) {
    s.where.push('positionCaseInsensitiveUTF8(Body, {text:String}) > 0');
    s.params.text = rule.bodyContains;
  }
  const query = sql(
    [...s.select, 'count() AS value'],
    qualified('otel_logs', o.database),
    s.where,
    s.groupBy,
  );
  return {
    queries: [{ query, params: s.params }],
    interpret: ([rows = []]) =>
      rows.map((row) =>
        observation(rule, seriesOf(row, s.labels), num(row.value), rule.threshold, rule.window),
      ),
  };
}

function absence(rule: RuleOf<'absence'>, tenant: string, nowMs: number, o: PlanOptions): RulePlan {
  const s = scope(tenant, 'ts', nowMs - rule.lookback, nowMs, rule);
  const tables = SIGNAL_TABLES[rule.signal];
  const inner = tables.map((t) => {
    const time = TABLES[t].timeColumn;
    const where = [
      'TenantId = {tenant:String}',
      `${time} > ${ms('from')}`,
      `${time} <= ${ms('now')}`,
      ...(rule.metric !== undefined ? ['MetricName = {metric:String}'] : []),
    ];
    return `SELECT TenantId, ServiceName, ${time} AS ts FROM ${qualified(t, o.database)} WHERE ${where.join(' AND ')}`;
  });
  if (rule.metric !== undefined) s.params.metric = rule.metric;
  const query = sql(
    [...s.select, 'toUnixTimestamp64Milli(max(ts)) AS last', 'count() AS points'],
    `(${inner.join('\nUNION ALL\n')})`,
    s.where,
    s.groupBy,
  );
  const lookbackMin = rule.lookback / 60_000;
  return {
    queries: [{ query, params: s.params }],
    interpret: ([rows = []]) =>
      rows.map((row) => {
        // Minutes since the newest datum; "at least the lookback" when there is none.
        const points = num(row.points);
        const minutes = points > 0 ? Math.max(0, (nowMs - num(row.last)) / 60_000) : lookbackMin;
        const value = Math.round(Math.min(minutes, lookbackMin) * 100) / 100;
        return observation({ op: '>=' }, seriesOf(row, s.labels), value, rule.after / 60_000, rule.lookback, {
          points,
        });
      }),
  };
}

function sloBurnRate(rule: RuleOf<'slo_burn_rate'>, tenant: string, nowMs: number, o: PlanOptions): RulePlan {
  const durations = [...new Set(rule.windows.flatMap((w) => [w.long, w.short]))].sort((a, b) => a - b);
  const longest = durations[durations.length - 1]!;
  const s = scope(tenant, 'Timestamp', nowMs - longest, nowMs, rule);
  s.where.push(ENTRY_SPAN);
  const counts = durations.flatMap((d, i) => {
    s.params[`w${i}`] = nowMs - d;
    const inWindow = `Timestamp > ${ms(`w${i}`)}`;
    return [
      `sumIf(SampleRate, ${inWindow}) AS r${i}`,
      `sumIf(SampleRate, ${inWindow} AND ${IS_ERROR}) AS e${i}`,
    ];
  });
  const burnQuery = sql([...s.select, ...counts], qualified('otel_traces', o.database), s.where, s.groupBy);

  // The budget: hourly rollup over the period (the current hour included, partly filled).
  const b = scope(tenant, 'Hour', nowMs - rule.budgetPeriod, nowMs, rule);
  b.where[1] = `Hour >= toStartOfHour(${ms('from')})`;
  const budgetQuery = sql(
    [...b.select, 'sum(Requests) AS requests', 'sum(Errors) AS errors'],
    qualified(SERVICE_RED_TABLE, o.database),
    b.where,
    b.groupBy,
  );
  const budget = 1 - rule.objective;
  return {
    queries: [
      { query: burnQuery, params: s.params },
      { query: budgetQuery, params: b.params },
    ],
    interpret: ([rows = [], budgetRows = []]) => {
      const spent = new Map<string, number>();
      for (const row of budgetRows) {
        const requests = num(row.requests);
        if (requests > 0) spent.set(seriesKey(seriesOf(row, b.labels)), num(row.errors) / requests / budget);
      }
      return rows.map((row) => {
        const series = seriesOf(row, s.labels);
        const burn = new Map<number, number>();
        const details: Record<string, number> = {};
        durations.forEach((d, i) => {
          const r = num(row[`r${i}`]);
          const rate = r >= rule.minRequests ? num(row[`e${i}`]) / r / budget : 0;
          burn.set(d, rate);
          details[`burnRate${formatDuration(d)}`] = round(rate);
        });
        // The pair closest to (or furthest past) its factor speaks for the rule.
        let best = { burn: 0, factor: rule.windows[0]!.factor, long: rule.windows[0]!.long, ratio: -1 };
        for (const w of rule.windows) {
          const pairBurn = Math.min(burn.get(w.long) ?? 0, burn.get(w.short) ?? 0);
          const ratio = pairBurn / w.factor;
          if (ratio > best.ratio) best = { burn: pairBurn, factor: w.factor, long: w.long, ratio };
        }
        details.budgetRemaining = round(1 - (spent.get(seriesKey(series)) ?? 0));
        details.budgetPeriodHours = rule.budgetPeriod / 3_600_000;
        return observation({ op: '>=' }, series, round(best.burn), best.factor, best.long, details);
      });
    },
  };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * The current window from the raw table, the history as hourly values of complete hours: the RED
 * rollup for trace signals (kept ROLLUP_RETENTION_DAYS, so weekly seasonality has its weeks), the
 * metric table grouped by hour for metrics (as far back as the hot retention keeps points).
 */
function anomaly(rule: RuleOf<'anomaly'>, tenant: string, nowMs: number, o: PlanOptions): RulePlan {
  const periodMs = PERIOD_MS[rule.seasonality];
  const minHistoryMs = rule.minHistory ?? 2 * periodMs;
  // Enough periods for the profile's references and the recent residuals.
  const lookbackMs = Math.min(
    ROLLUP_RETENTION_DAYS * DAY_MS,
    rule.seasonality === 'weekly' ? 35 * DAY_MS : 9 * DAY_MS,
  );
  const windowS = rule.window / 1000;
  const cur = scope(
    tenant,
    rule.signal === 'metric' ? 'TimeUnix' : 'Timestamp',
    nowMs - rule.window,
    nowMs,
    rule,
  );
  let current: string;
  let history: string;
  const hist = scope(tenant, 'Hour', nowMs - lookbackMs, nowMs, rule);
  if (rule.signal === 'metric') {
    const table = qualified(`otel_metrics_${rule.metricType}`, o.database);
    cur.where.push('MetricName = {metric:String}');
    cur.params.metric = rule.metric;
    const agg = { avg: 'avg', min: 'min', max: 'max', sum: 'sum' }[rule.aggregate];
    current = sql(
      [
        ...cur.select,
        `toFloat64(${agg}(Value)) AS value`,
        'count() AS points',
        // The standard error of an average; other aggregates carry no noise estimate.
        `${rule.aggregate === 'avg' ? 'stddevPop(Value) / sqrt(count())' : '0'} AS noise`,
      ],
      table,
      cur.where,
      cur.groupBy,
    );
    const hourExpr = 'toStartOfHour(TimeUnix)';
    hist.where[1] = `TimeUnix > ${ms('from')}`;
    hist.where[2] = `TimeUnix < toStartOfHour(${ms('now')})`;
    hist.where.push('MetricName = {metric:String}');
    hist.params.metric = rule.metric;
    history = sql(
      [...hist.select, `toUnixTimestamp(${hourExpr}) * 1000 AS t`, `toFloat64(${agg}(Value)) AS value`],
      table,
      hist.where,
      [...hist.groupBy, 't'],
    );
  } else {
    cur.where.push(ENTRY_SPAN);
    cur.params.p = rule.percentile;
    current = sql(
      [
        ...cur.select,
        // Re-weighted by SampleRate as the other trace kinds (ADR 0009); latency over the sample.
        'sum(SampleRate) AS requests',
        `sumIf(SampleRate, ${IS_ERROR}) AS errors`,
        'quantileTDigestIf({p:Float64})(Duration, SampleRate > 0) / 1e6 AS latency',
      ],
      qualified('otel_traces', o.database),
      cur.where,
      cur.groupBy,
    );
    // Complete hours only: the current hour's rollup row is still filling.
    hist.where[1] = `Hour >= toStartOfHour(${ms('from')})`;
    hist.where[2] = `Hour < toStartOfHour(${ms('now')})`;
    const q = RED_QUANTILES.indexOf(rule.percentile) + 1;
    history = sql(
      [
        ...hist.select,
        'toUnixTimestamp(Hour) * 1000 AS t',
        'sum(Requests) AS requests',
        'sum(Errors) AS errors',
        `quantilesTDigestMerge(${RED_QUANTILES.join(', ')})(DurationQuantiles)[${q}] / 1e6 AS latency`,
      ],
      qualified(SERVICE_RED_TABLE, o.database),
      hist.where,
      [...hist.groupBy, 'Hour'],
    );
  }

  const hourly = (row: ResultRow): number | undefined => {
    switch (rule.signal) {
      case 'requests':
        return num(row.requests) / 3600;
      case 'error_ratio':
        return num(row.requests) > 0 ? num(row.errors) / num(row.requests) : undefined;
      case 'latency':
        return num(row.requests) > 0 ? num(row.latency) : undefined;
      case 'metric':
        return num(row.value);
    }
  };
  const now = (row: ResultRow): { value: number; noise: number; gate: boolean } | undefined => {
    const requests = num(row.requests);
    switch (rule.signal) {
      case 'requests':
        return { value: requests / windowS, noise: Math.sqrt(requests) / windowS, gate: true };
      case 'error_ratio': {
        if (requests === 0) return undefined;
        const p = Math.min(1, Math.max(num(row.errors), 0.5) / requests);
        return {
          value: num(row.errors) / requests,
          noise: Math.sqrt((p * (1 - p)) / requests),
          gate: requests >= rule.minRequests,
        };
      }
      case 'latency':
        return requests === 0
          ? undefined
          : { value: num(row.latency), noise: 0, gate: requests >= rule.minRequests };
      case 'metric':
        return num(row.points) === 0
          ? undefined
          : { value: num(row.value), noise: num(row.noise) || 0, gate: true };
    }
  };

  return {
    queries: [
      { query: current, params: cur.params },
      { query: history, params: hist.params },
    ],
    interpret: ([rows = [], historyRows = []]) => {
      const bySeries = new Map<string, HourlyPoint[]>();
      for (const row of historyRows) {
        const v = hourly(row);
        if (v === undefined || !Number.isFinite(v)) continue;
        const key = seriesKey(seriesOf(row, hist.labels));
        const list = bySeries.get(key) ?? [];
        list.push({ t: num(row.t), value: v });
        bySeries.set(key, list);
      }
      // A series with history but no data now is a request rate of 0 (a drop), not "no value".
      const seen = new Set<string>();
      const currentRows = rows.map((row) => {
        seen.add(seriesKey(seriesOf(row, cur.labels)));
        return row;
      });
      if (rule.signal === 'requests') {
        for (const key of bySeries.keys()) {
          if (seen.has(key)) continue;
          const labels = Object.fromEntries(JSON.parse(key) as [string, string][]);
          currentRows.push({ ...labels, requests: 0, errors: 0, latency: 0 });
        }
      }
      return currentRows.flatMap((row) => {
        const series = seriesOf(row, cur.labels);
        const c = now(row);
        if (c === undefined || !Number.isFinite(c.value)) return [];
        const v = detectAnomaly({
          history: bySeries.get(seriesKey(series)) ?? [],
          nowMs,
          windowMs: rule.window,
          current: c.value,
          noise: c.noise,
          direction: rule.direction,
          z: SENSITIVITY_Z[rule.sensitivity],
          minHistoryMs,
          seasonality: rule.seasonality,
        });
        const above = c.value >= (Number.isFinite(v.baseline) ? v.baseline : c.value);
        const bound = above ? v.upper : v.lower;
        return [
          {
            series,
            value: round(c.value),
            threshold: Number.isFinite(bound) ? round(bound) : 0,
            op: above ? ('>' as const) : ('<' as const),
            breached: c.gate && v.breached,
            windowMs: rule.window,
            details: {
              ready: v.ready ? 1 : 0,
              baseline: Number.isFinite(v.baseline) ? round(v.baseline) : 0,
              score: round(v.score),
              historyHours: Math.round(v.historyMs / 3_600_000),
              minHistoryHours: Math.round(minHistoryMs / 3_600_000),
            },
          },
        ];
      });
    },
  };
}

/** The queries of `rule` evaluated at `nowMs` for `tenant`, and how to read their rows. */
export function planRule(
  rule: AlertRule,
  tenant: string,
  nowMs: number,
  options: PlanOptions = {},
): RulePlan {
  switch (rule.kind) {
    case 'metric_threshold':
      return metricThreshold(rule, tenant, nowMs, options);
    case 'error_ratio':
      return errorRatio(rule, tenant, nowMs, options);
    case 'latency_percentile':
      return latencyPercentile(rule, tenant, nowMs, options);
    case 'log_count':
      return logCount(rule, tenant, nowMs, options);
    case 'absence':
      return absence(rule, tenant, nowMs, options);
    case 'slo_burn_rate':
      return sloBurnRate(rule, tenant, nowMs, options);
    case 'anomaly':
      return anomaly(rule, tenant, nowMs, options);
  }
}
