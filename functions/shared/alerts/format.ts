import { type AlertEvent, formatThreshold, formatValue } from './events.js';
import type { Severity } from './rules.js';

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
        : `${Math.max(1, Math.round((Date.parse(d.endsAt ?? d.evaluatedAt) - Date.parse(d.startsAt)) / 60_000))} min`
    }`,
  ];
  if (d.details?.budgetRemaining !== undefined) {
    facts.push(`*Error budget left*\n${Math.round(d.details.budgetRemaining * 1000) / 10}%`);
  }
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
        text: truncate(`${icon} ${value}${d.rule.description ? `\n${esc(d.rule.description)}` : ''}`, 3000),
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
