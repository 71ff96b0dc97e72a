import type { AlertEvent } from './events.js';
import type { Severity } from './rules.js';
import { formatThreshold, formatValue } from './value-format.js';

/** How each channel shows an alert event. Pure: no I/O. */

const SEVERITY_EMOJI: Readonly<Record<Severity, string>> = {
  critical: ':red_circle:',
  error: ':large_orange_circle:',
  warning: ':large_yellow_circle:',
  info: ':large_blue_circle:',
};

const truncate = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/** Slack mrkdwn treats &, < and > as control characters. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const pairs = (labels: Readonly<Record<string, string>>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

const SPARK = '▁▂▃▄▅▆▇█';

/**
 * A text sparkline of the values, one block per value scaled between their min and max (a flat
 * series is a row of the middle block); non-finite values are a space. Empty for no values.
 */
export function sparkline(values: readonly number[]): string {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return '';
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  return values
    .map((v) => {
      if (!Number.isFinite(v)) return ' ';
      if (max === min) return SPARK[3];
      return SPARK[Math.min(SPARK.length - 1, Math.floor(((v - min) / (max - min)) * SPARK.length))];
    })
    .join('');
}

/** `sparkline  min … max` in the rule's unit, or undefined without a trend of two values or more. */
export function trendText(kind: string, trend: readonly number[] | undefined): string | undefined {
  if (!trend || trend.length < 2) return undefined;
  const finite = trend.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return undefined;
  return `${sparkline(trend)}  ${formatValue(kind, Math.min(...finite))} … ${formatValue(kind, Math.max(...finite))}`;
}

/** How long an alert fired, for resolve messages: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`. */
export function firedFor(startsAt: string, endsAt: string): string {
  const ms = Math.max(0, Date.parse(endsAt) - Date.parse(startsAt));
  const min = Math.round(ms / 60_000);
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return `${h} h${min % 60 ? ` ${min % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

/** The outbound view of an event: routing (channel names, secret references) stays internal. */
export function publicPayload(event: AlertEvent): Record<string, unknown> {
  const { channels: _channels, ...detail } = event.detail;
  return { type: event.detailType, time: event.time, ...detail };
}

export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly Record<string, unknown>[];
}

/** A Block Kit message: header, value against threshold, facts, labels, and buttons to act on. */
export function slackMessage(event: AlertEvent): SlackMessage {
  const d = event.detail;
  const firing = d.status === 'firing';
  const icon = firing ? SEVERITY_EMOJI[d.rule.severity] : ':white_check_mark:';
  const value = `*${esc(formatValue(d.rule.kind, d.value))}* ${firing ? esc(d.op) : 'vs'} ${esc(formatThreshold(d.rule.kind, d.threshold))} over ${d.window}`;
  const since = Math.floor(Date.parse(d.startsAt) / 1000);
  const facts = [
    `*Severity*\n${d.rule.severity}`,
    `*Tenant*\n${esc(d.tenant)}`,
    `*Series*\n${esc(pairs(d.series) || 'all')}`,
    `*${firing ? 'Since' : 'Lasted'}*\n${
      firing
        ? `<!date^${since}^{date_short_pretty} {time}|${d.startsAt}>`
        : firedFor(d.startsAt, d.endsAt ?? d.evaluatedAt)
    }`,
  ];
  if (d.details?.budgetRemaining !== undefined) {
    facts.push(`*Error budget left*\n${Math.round(d.details.budgetRemaining * 1000) / 10}%`);
  }
  const trend = trendText(d.rule.kind, d.trend);
  if (trend) facts.push(`*Trend*\n\`${trend}\``);
  const blocks: Record<string, unknown>[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(`${firing ? 'Firing' : 'Resolved'}: ${d.rule.name}`, 150),
        emoji: true,
      },
    },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: truncate(
          `${icon} ${value}${firing ? '' : ` (fired for ${firedFor(d.startsAt, d.endsAt ?? d.evaluatedAt)})`}${d.rule.description ? `\n${esc(d.rule.description)}` : ''}`,
          3000,
        ),
      },
    },
    { type: 'section', fields: facts.map((f) => ({ type: 'mrkdwn', text: truncate(f, 2000) })) },
    {
      type: 'context',
      elements: [
        { type: 'mrkdwn', text: truncate(`rule \`${esc(d.rule.id)}\` · ${esc(pairs(d.labels))}`, 3000) },
      ],
    },
    {
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: { type: 'plain_text', text: 'Show the data' },
          url: d.queryUrl,
          action_id: 'query',
        },
        {
          type: 'button',
          text: { type: 'plain_text', text: 'Runbook' },
          url: d.rule.runbook,
          action_id: 'runbook',
        },
        ...(d.consoleUrl
          ? [
              {
                type: 'button',
                text: { type: 'plain_text', text: 'Open in console' },
                url: d.consoleUrl,
                action_id: 'console',
              },
            ]
          : []),
      ],
    },
  ];
  return { text: d.summary, blocks };
}

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/** A PagerDuty Events API v2 event: trigger or resolve, sharing the alert's dedup key. */
export function pagerDutyEvent(event: AlertEvent, routingKey: string): Record<string, unknown> {
  const d = event.detail;
  if (d.status === 'resolved') {
    return { routing_key: routingKey, event_action: 'resolve', dedup_key: d.dedupKey };
  }
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: d.dedupKey,
    payload: {
      summary: truncate(d.summary, 1024),
      source: d.series.service ?? d.tenant,
      severity: d.rule.severity,
      timestamp: d.startsAt,
      component: d.series.service,
      group: d.tenant,
      class: d.rule.kind,
      custom_details: {
        rule: d.rule.id,
        value: d.value,
        threshold: d.threshold,
        window: d.window,
        labels: d.labels,
        ...(d.details ? { details: d.details } : {}),
      },
    },
    links: [
      { href: d.queryUrl, text: 'The data behind this alert' },
      { href: d.rule.runbook, text: 'Runbook' },
    ],
    client: 'otlp-pipeline alerts',
    client_url: d.queryUrl,
  };
}

export interface EmailMessage {
  /** SNS e-mail subjects: at most 100 printable ASCII characters. */
  readonly subject: string;
  readonly body: string;
}

export function emailMessage(event: AlertEvent): EmailMessage {
  const d = event.detail;
  const subject = truncate(
    `[${d.status === 'firing' ? 'FIRING' : 'RESOLVED'}] ${d.rule.name}`.replace(/[^\x20-\x7e]/g, '?'),
    100,
  );
  const lines = [
    d.summary,
    '',
    `Rule:      ${d.rule.name} (${d.rule.id})`,
    `Severity:  ${d.rule.severity}`,
    `Tenant:    ${d.tenant}`,
    `Value:     ${formatValue(d.rule.kind, d.value)} (threshold ${formatThreshold(d.rule.kind, d.threshold)}, window ${d.window})`,
    `Labels:    ${pairs(d.labels)}`,
    `Started:   ${d.startsAt}`,
    ...(d.endsAt ? [`Resolved:  ${d.endsAt}`] : []),
    ...(d.details?.budgetRemaining !== undefined
      ? [`Budget:    ${Math.round(d.details.budgetRemaining * 1000) / 10}% of the error budget left`]
      : []),
    ...(d.rule.description ? ['', d.rule.description] : []),
    '',
    `Data:      ${d.queryUrl}`,
    `Runbook:   ${d.rule.runbook}`,
  ];
  return { subject, body: lines.join('\n') };
}

/** One line for a terminal (local mode). */
export function consoleLine(event: AlertEvent): string {
  return `${event.time} ${event.detail.summary} ${event.detail.queryUrl}`;
}

/**
 * A Microsoft Teams message for an incoming webhook or a Workflows "post to a channel when a webhook
 * request is received" flow: one Adaptive Card (1.4) attachment with the title, the value against
 * the threshold, facts (severity, tenant, series, since / fired for, trend) and buttons to the data,
 * the runbook and the console.
 */
export function teamsMessage(event: AlertEvent): Record<string, unknown> {
  const d = event.detail;
  const firing = d.status === 'firing';
  const value = `**${formatValue(d.rule.kind, d.value)}** ${firing ? d.op : 'vs'} ${formatThreshold(d.rule.kind, d.threshold)} over ${d.window}`;
  const trend = trendText(d.rule.kind, d.trend);
  const facts = [
    { title: 'Severity', value: d.rule.severity },
    { title: 'Tenant', value: d.tenant },
    { title: 'Series', value: pairs(d.series) || 'all' },
    firing
      ? { title: 'Since', value: d.startsAt }
      : { title: 'Fired for', value: firedFor(d.startsAt, d.endsAt ?? d.evaluatedAt) },
    ...(trend ? [{ title: 'Trend', value: trend }] : []),
    ...(d.details?.budgetRemaining !== undefined
      ? [{ title: 'Error budget left', value: `${Math.round(d.details.budgetRemaining * 1000) / 10}%` }]
      : []),
    { title: 'Rule', value: d.rule.id },
  ];
  const card = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    msteams: { width: 'Full' },
    body: [
      {
        type: 'TextBlock',
        size: 'Large',
        weight: 'Bolder',
        wrap: true,
        color: firing ? (d.rule.severity === 'info' ? 'Accent' : 'Attention') : 'Good',
        text: truncate(`${firing ? 'Firing' : 'Resolved'}: ${d.rule.name}`, 200),
      },
      {
        type: 'TextBlock',
        wrap: true,
        text: `${value}${firing ? '' : ` (fired for ${firedFor(d.startsAt, d.endsAt ?? d.evaluatedAt)})`}`,
      },
      ...(d.rule.description
        ? [{ type: 'TextBlock', wrap: true, isSubtle: true, text: truncate(d.rule.description, 2000) }]
        : []),
      { type: 'FactSet', facts: facts.map((f) => ({ title: f.title, value: truncate(f.value, 500) })) },
    ],
    actions: [
      { type: 'Action.OpenUrl', title: 'Show the data', url: d.queryUrl },
      { type: 'Action.OpenUrl', title: 'Runbook', url: d.rule.runbook },
      ...(d.consoleUrl ? [{ type: 'Action.OpenUrl', title: 'Open in console', url: d.consoleUrl }] : []),
    ],
  };
  return {
    type: 'message',
    summary: truncate(d.summary, 250),
    attachments: [
      { contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card },
    ],
  };
}

export const OPSGENIE_ALERTS_URL = 'https://api.opsgenie.com/v2/alerts';

const OPSGENIE_PRIORITY: Readonly<Record<Severity, string>> = {
  critical: 'P1',
  error: 'P2',
  warning: 'P3',
  info: 'P5',
};

/**
 * An Opsgenie Alerts API v2 request: create (POST <base>) with the dedup key as `alias`, so Opsgenie
 * folds repeats into one alert, or close (POST <base>/<alias>/close?identifierType=alias), which
 * closes the alert the create opened.
 */
export function opsgenieRequest(
  event: AlertEvent,
  baseUrl: string,
): { url: string; body: Record<string, unknown> } {
  const d = event.detail;
  const base = baseUrl.replace(/\/+$/, '');
  // Opsgenie caps alias at 512 and message at 130 characters.
  const alias = truncate(d.dedupKey, 512);
  if (d.status === 'resolved') {
    return {
      url: `${base}/${encodeURIComponent(alias)}/close?identifierType=alias`,
      body: {
        source: 'otlp-pipeline alerts',
        note: truncate(`${d.summary} (fired for ${firedFor(d.startsAt, d.endsAt ?? d.evaluatedAt)})`, 25_000),
      },
    };
  }
  const trend = trendText(d.rule.kind, d.trend);
  const description = [
    d.summary,
    '',
    `Value: ${formatValue(d.rule.kind, d.value)} ${d.op} ${formatThreshold(d.rule.kind, d.threshold)} over ${d.window}`,
    ...(trend ? [`Trend: ${trend}`] : []),
    `Series: ${pairs(d.series) || 'all'}`,
    `Since: ${d.startsAt}`,
    ...(d.rule.description ? ['', d.rule.description] : []),
    '',
    `Data: ${d.queryUrl}`,
    ...(d.consoleUrl ? [`Console: ${d.consoleUrl}`] : []),
    `Runbook: ${d.rule.runbook}`,
  ].join('\n');
  const details: Record<string, string> = {
    tenant: d.tenant,
    rule: d.rule.id,
    value: String(d.value),
    threshold: String(d.threshold),
    window: d.window,
    runbook: d.rule.runbook,
    data: d.queryUrl,
    ...(d.consoleUrl ? { console: d.consoleUrl } : {}),
    ...Object.fromEntries(Object.entries(d.labels).map(([k, v]) => [`label.${k}`, v])),
  };
  return {
    url: base,
    body: {
      message: truncate(d.summary, 130),
      alias,
      description: truncate(description, 15_000),
      tags: [`severity:${d.rule.severity}`, `kind:${d.rule.kind}`, `tenant:${d.tenant}`].map((t) =>
        truncate(t, 50),
      ),
      details,
      entity: truncate(d.series.service ?? d.tenant, 512),
      source: 'otlp-pipeline alerts',
      priority: OPSGENIE_PRIORITY[d.rule.severity],
    },
  };
}
