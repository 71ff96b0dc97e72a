import { createHash } from 'node:crypto';
import * as z from 'zod';
import { formatDuration } from './duration.js';
import type { Observation, SeriesLabels } from './queries.js';
import { seriesKey } from './queries.js';
import { type AlertRule, CHANNEL_TYPES, type Channel, OPERATORS, SEVERITIES } from './rules.js';
import { isOverflowSeries } from './series-cap.js';
import type { Transition } from './state.js';
import { formatThreshold, formatValue } from './value-format.js';

/**
 * The events the evaluator puts on the alert bus, one per state transition: detail-type
 * `AlertFiring` or `AlertResolved`, source `otlp.alerts`. Notifier rules match on the detail-type and
 * on `detail.channels.type` (EventBridge matches a field inside an array of objects when any element
 * matches), so each channel type's notifier receives only events routed to it.
 */

export const ALERT_EVENT_SOURCE = 'otlp.alerts';
export const ALERT_FIRING = 'AlertFiring';
export const ALERT_RESOLVED = 'AlertResolved';
export const ALERT_DETAIL_TYPES = [ALERT_FIRING, ALERT_RESOLVED] as const;
export type AlertDetailType = (typeof ALERT_DETAIL_TYPES)[number];

const labels = z.record(z.string(), z.string());

export const RoutedChannelSchema = z.object({
  name: z.string(),
  type: z.enum(CHANNEL_TYPES),
  secret: z.string().optional(),
  topicArn: z.string().optional(),
});
export type RoutedChannel = z.infer<typeof RoutedChannelSchema>;

export const AlertEventDetailSchema = z.object({
  schemaVersion: z.literal(1),
  /** Unique per transition: receivers deduplicate redeliveries on it (webhook X-Alert-Id). */
  transitionId: z.string(),
  /** Same for an alert's firing and resolution (rule + tenant + series): PagerDuty's dedup_key. */
  dedupKey: z.string(),
  status: z.enum(['firing', 'resolved']),
  tenant: z.string(),
  rule: z.object({
    id: z.string(),
    name: z.string(),
    kind: z.string(),
    severity: z.enum(SEVERITIES),
    description: z.string().optional(),
    runbook: z.string(),
  }),
  /** The rule's labels and the series' (service, operation), merged. */
  labels,
  series: labels,
  value: z.number(),
  threshold: z.number(),
  op: z.enum(OPERATORS),
  /** The window the value covers, e.g. `5m`. */
  window: z.string(),
  details: z.record(z.string(), z.number()).optional(),
  /** When the episode's first breach was seen. */
  startsAt: z.string(),
  /** When it resolved (AlertResolved only). */
  endsAt: z.string().optional(),
  evaluatedAt: z.string(),
  /** The query API request that shows the data behind the value. */
  queryUrl: z.string(),
  /** The console page of the same data (`<consoleBase>/#/...`), when a console base URL is set. */
  consoleUrl: z.string().optional(),
  /** Recent observed values of the series, oldest first (the evaluations of the episode and before it). */
  trend: z.array(z.number()).max(60).optional(),
  /** Set on a firing event that a silence held back, published once the silence ended. */
  silenceEnded: z.boolean().optional(),
  summary: z.string(),
  channels: z.array(RoutedChannelSchema),
});
export type AlertEventDetail = z.infer<typeof AlertEventDetailSchema>;

/** An event as the bus carries it (the EventBridge envelope's fields we use). */
export interface AlertEvent {
  readonly source: typeof ALERT_EVENT_SOURCE;
  readonly detailType: AlertDetailType;
  readonly time: string;
  readonly detail: AlertEventDetail;
}

/** Puts alert events on the bus. Resolves only when every event was accepted. */
export interface EventPublisher {
  publish(events: readonly AlertEvent[]): Promise<void>;
}

export class EventPublishError extends Error {
  override readonly name = 'EventPublishError';
}

/** Most values an event's trend carries (and a state item keeps). */
export const MAX_TREND = 30;

const hash = (...parts: string[]) =>
  createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

/** PagerDuty-style dedup key: one per (tenant, rule, series), shared by trigger and resolve. */
export function dedupKey(tenant: string, ruleId: string, series: SeriesLabels): string {
  return `${tenant}/${ruleId}/${hash(tenant, ruleId, seriesKey(series))}`;
}

/**
 * The console page showing the data behind an observation: the console's hash routes
 * (`/#/traces?from=&to=&service=`, `/#/logs`, `/#/metrics`, `/#/services/<name>`).
 */
export function consoleUrl(
  consoleBase: string,
  rule: AlertRule,
  series: SeriesLabels,
  fromMs: number,
  toMs: number,
): string {
  const api = new URL(queryUrl('http://x', rule, series, fromMs, toMs));
  const view = api.pathname.replace(/^\/v1\/query\//, '');
  const params = new URLSearchParams(api.search);
  const base = consoleBase.replace(/\/+$/, '');
  if (view === 'services') {
    const service = params.get('service');
    params.delete('service');
    return `${base}/#/services${service ? `/${encodeURIComponent(service)}` : ''}?${params.toString()}`;
  }
  return `${base}/#/${view}?${params.toString()}`;
}

/** The query API request showing the data behind an observation (tenant comes from the API key). */
export function queryUrl(
  baseUrl: string,
  rule: AlertRule,
  series: SeriesLabels,
  fromMs: number,
  toMs: number,
): string {
  const params = new URLSearchParams();
  const service = series.service ?? ('service' in rule ? rule.service : undefined);
  const operation = series.operation ?? ('operation' in rule ? rule.operation : undefined);
  let path: string;
  switch (rule.kind) {
    case 'error_ratio':
    case 'slo_burn_rate':
      path = 'traces';
      if (service) params.set('service', service);
      if (operation) params.set('operation', operation);
      params.set('status', 'error');
      break;
    case 'latency_percentile':
      path = 'traces';
      if (service) params.set('service', service);
      if (operation) params.set('operation', operation);
      params.set('minDurationMs', String(rule.thresholdMs));
      break;
    case 'log_count':
      path = 'logs';
      if (service) params.set('service', service);
      if (rule.minSeverity) params.set('severity', rule.minSeverity);
      if (rule.bodyContains) params.set('q', rule.bodyContains);
      break;
    case 'metric_threshold':
      path = 'metrics';
      params.set('name', rule.metric);
      if (service) params.set('service', service);
      params.set('agg', rule.aggregate === 'last' ? 'avg' : rule.aggregate);
      break;
    case 'anomaly':
      if (rule.signal === 'metric') {
        path = 'metrics';
        params.set('name', rule.metric ?? '');
        params.set('agg', rule.aggregate);
      } else {
        path = 'traces';
        if (rule.signal === 'error_ratio') params.set('status', 'error');
      }
      if (service) params.set('service', service);
      break;
    case 'absence':
      if (rule.signal === 'metrics' && rule.metric) {
        path = 'metrics';
        params.set('name', rule.metric);
      } else path = rule.signal === 'metrics' ? 'services' : rule.signal;
      if (service && path !== 'services') params.set('service', service);
      break;
  }
  params.set('from', new Date(fromMs).toISOString());
  params.set('to', new Date(toMs).toISOString());
  return `${baseUrl.replace(/\/+$/, '')}/v1/query/${path}?${params.toString()}`;
}

export interface BuildEventInput {
  readonly tenant: string;
  readonly rule: AlertRule;
  readonly channels: Readonly<Record<string, Channel>>;
  readonly transition: Transition;
  readonly observation: Pick<Observation, 'series' | 'value' | 'threshold' | 'op' | 'windowMs' | 'details'>;
  readonly startsAt: number;
  readonly now: number;
  readonly queryBaseUrl: string;
  /** Appended to the summary (the overflow event names the series it cut). */
  readonly note?: string;
  /** Base URL of the console, for `consoleUrl`. */
  readonly consoleBaseUrl?: string;
  /** Recent values of the series, oldest first. */
  readonly trend?: readonly number[];
}

export function buildAlertEvent(input: BuildEventInput): AlertEvent {
  const { tenant, rule, transition, observation: o, now } = input;
  const key = dedupKey(tenant, rule.id, o.series);
  const seriesText = Object.entries(o.series)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const window = formatDuration(o.windowMs);
  const head = `[${transition === 'firing' ? 'FIRING' : 'RESOLVED'}] ${rule.name}`;
  const summary = isOverflowSeries(o.series)
    ? transition === 'firing'
      ? `${head}: ${o.value} series, over the rule's cap of ${o.threshold}; ${o.value - o.threshold} not evaluated${input.note ? ` (${input.note})` : ''}`
      : `${head}: series back within the rule's cap of ${o.threshold}`
    : `${head}${seriesText ? ` (${seriesText})` : ''}: ` +
      `${formatValue(rule.kind, o.value)} ${transition === 'firing' ? o.op : 'vs'} ${formatThreshold(rule.kind, o.threshold)} over ${window}`;
  const detail: AlertEventDetail = {
    schemaVersion: 1,
    transitionId: hash(key, transition, String(input.startsAt)),
    dedupKey: key,
    status: transition,
    tenant,
    rule: {
      id: rule.id,
      name: rule.name,
      kind: rule.kind,
      severity: rule.severity,
      ...(rule.description ? { description: rule.description } : {}),
      runbook: rule.runbook,
    },
    labels: { ...rule.labels, ...o.series },
    series: { ...o.series },
    value: o.value,
    threshold: o.threshold,
    op: o.op,
    window,
    ...(o.details ? { details: { ...o.details } } : {}),
    startsAt: new Date(input.startsAt).toISOString(),
    ...(transition === 'resolved' ? { endsAt: new Date(now).toISOString() } : {}),
    evaluatedAt: new Date(now).toISOString(),
    queryUrl: queryUrl(input.queryBaseUrl, rule, o.series, now - o.windowMs, now),
    ...(input.consoleBaseUrl && {
      consoleUrl: consoleUrl(input.consoleBaseUrl, rule, o.series, now - o.windowMs, now),
    }),
    ...(input.trend && input.trend.length > 0 && { trend: input.trend.slice(-MAX_TREND) }),
    summary,
    channels: rule.channels.flatMap((name) => {
      const c = input.channels[name];
      return c ? [{ name, ...c }] : [];
    }),
  };
  return {
    source: ALERT_EVENT_SOURCE,
    detailType: transition === 'firing' ? ALERT_FIRING : ALERT_RESOLVED,
    time: new Date(now).toISOString(),
    detail,
  };
}
