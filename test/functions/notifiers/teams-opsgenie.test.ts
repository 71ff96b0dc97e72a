import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertEvent, buildAlertEvent } from '../../../functions/shared/alerts/events.js';
import { sparkline } from '../../../functions/shared/alerts/format.js';
import { createNotifier } from '../../../functions/shared/alerts/notifier.js';
import { RuleFileSchema } from '../../../functions/shared/alerts/rules.js';
import { LocalSecretSource } from '../../../functions/shared/alerts/secrets.js';
import { type Receiver, startReceiver } from '../shared/alerts/support.js';

/** The new channels against a real HTTP receiver on loopback: what a person would see. */

const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:alerts/${name}`;
const NOW = Date.parse('2026-11-23T10:15:00.000Z');
const STARTED = NOW - 12 * 60_000;
const TREND = [0.01, 0.02, 0.02, 0.08, 0.12, 0.125];

let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

const file = RuleFileSchema.parse({
  tenant: 'acme',
  channels: {
    teams: { type: 'teams', secret: arn('teams') },
    genie: { type: 'opsgenie', secret: arn('genie') },
    slack: { type: 'slack', secret: arn('slack') },
  },
  rules: [
    {
      id: 'checkout-errors',
      name: 'Checkout error ratio above 5 %',
      description: 'More than 5 % of checkout requests fail.',
      severity: 'critical',
      labels: { team: 'payments' },
      runbook: 'https://runbooks.example.com/checkout',
      channels: ['teams', 'genie', 'slack'],
      kind: 'error_ratio',
      window: '5m',
      threshold: 0.05,
    },
  ],
});

function event(transition: 'firing' | 'resolved'): AlertEvent {
  return buildAlertEvent({
    tenant: 'acme',
    rule: file.rules[0]!,
    channels: file.channels,
    transition,
    observation: {
      series: { service: 'checkout' },
      value: transition === 'firing' ? 0.125 : 0.01,
      threshold: 0.05,
      op: '>',
      windowMs: 300_000,
    },
    startsAt: STARTED,
    now: NOW,
    queryBaseUrl: 'https://api.example.com',
    consoleBaseUrl: 'https://console.example.com',
    trend: TREND,
  });
}

function notifier(prefix: string) {
  return createNotifier({
    secrets: new LocalSecretSource({
      [arn('teams')]: `${receiver.url}/${prefix}/teams`,
      [arn('slack')]: JSON.stringify({ webhookUrl: `${receiver.url}/${prefix}/slack` }),
      [arn('genie')]: JSON.stringify({ apiKey: 'genie-key-1', url: `${receiver.url}/${prefix}/v2/alerts` }),
    }),
    retry: { baseDelayMs: 1 },
  });
}

const received = (prefix: string) => receiver.requests.filter((r) => r.path.startsWith(`/${prefix}/`));

describe('sparkline', () => {
  it('scales values between their min and max, a flat series in the middle', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([5, 5, 5])).toBe('▄▄▄');
    expect(sparkline([1, Number.NaN, 3])).toBe('▁ █');
    expect(sparkline([])).toBe('');
  });
});

describe('Microsoft Teams channel', () => {
  it('posts an Adaptive Card with the value, threshold, trend and links, and says how long it fired', async () => {
    const n = notifier('teams');
    await n.deliver(event('firing'), 'teams');
    await n.deliver(event('resolved'), 'teams');
    const [fire, resolve, ...more] = received('teams');
    expect(more).toEqual([]);
    expect(fire?.path).toBe('/teams/teams');
    expect(fire?.headers['content-type']).toBe('application/json');
    const body = JSON.parse(fire!.body);
    expect(body.type).toBe('message');
    const [attachment] = body.attachments;
    expect(attachment.contentType).toBe('application/vnd.microsoft.card.adaptive');
    const card = attachment.content;
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
    const texts = card.body
      .filter((b: { type: string }) => b.type === 'TextBlock')
      .map((b: { text: string }) => b.text);
    expect(texts[0]).toBe('Firing: Checkout error ratio above 5 %');
    expect(texts[1]).toBe('**12.5%** > 5% over 5m');
    const facts = Object.fromEntries(
      card.body
        .find((b: { type: string }) => b.type === 'FactSet')
        .facts.map((f: { title: string; value: string }) => [f.title, f.value]),
    );
    expect(facts).toMatchObject({
      Severity: 'critical',
      Tenant: 'acme',
      Series: 'service=checkout',
      Since: new Date(STARTED).toISOString(),
      Trend: `${sparkline(TREND)}  1% … 12.5%`,
    });
    expect(card.actions.map((a: { title: string; url: string }) => [a.title, a.url])).toEqual([
      [
        'Show the data',
        expect.stringMatching(
          /^https:\/\/api\.example\.com\/v1\/query\/traces\?service=checkout&status=error/,
        ),
      ],
      ['Runbook', 'https://runbooks.example.com/checkout'],
      [
        'Open in console',
        expect.stringMatching(
          /^https:\/\/console\.example\.com\/#\/traces\?service=checkout&status=error&from=/,
        ),
      ],
    ]);

    const resolved = JSON.parse(resolve!.body).attachments[0].content;
    expect(resolved.body[0].text).toBe('Resolved: Checkout error ratio above 5 %');
    expect(resolved.body[1].text).toBe('**1%** vs 5% over 5m (fired for 12 min)');
    expect(resolved.body.find((b: { type: string }) => b.type === 'FactSet').facts).toContainEqual({
      title: 'Fired for',
      value: '12 min',
    });
  });
});

describe('Opsgenie channel', () => {
  it('creates an alert by alias with GenieKey auth, then closes the same alias', async () => {
    const n = notifier('genie');
    const firing = event('firing');
    await n.deliver(firing, 'opsgenie');
    await n.deliver(event('resolved'), 'opsgenie');
    const [create, close] = received('genie');
    expect(create?.path).toBe('/genie/v2/alerts');
    expect(create?.headers.authorization).toBe('GenieKey genie-key-1');
    const body = JSON.parse(create!.body);
    expect(body).toMatchObject({
      message: firing.detail.summary.slice(0, 130),
      alias: firing.detail.dedupKey,
      priority: 'P1',
      entity: 'checkout',
      source: 'otlp-pipeline alerts',
      tags: ['severity:critical', 'kind:error_ratio', 'tenant:acme'],
      details: {
        tenant: 'acme',
        rule: 'checkout-errors',
        value: '0.125',
        threshold: '0.05',
        window: '5m',
        runbook: 'https://runbooks.example.com/checkout',
        'label.team': 'payments',
        'label.service': 'checkout',
      },
    });
    expect(body.message.length).toBeLessThanOrEqual(130);
    expect(body.description).toContain('Value: 12.5% > 5% over 5m');
    expect(body.description).toContain(`Trend: ${sparkline(TREND)}`);
    expect(body.description).toContain('Runbook: https://runbooks.example.com/checkout');

    expect(close?.path).toBe(
      `/genie/v2/alerts/${encodeURIComponent(firing.detail.dedupKey)}/close?identifierType=alias`,
    );
    expect(close?.headers.authorization).toBe('GenieKey genie-key-1');
    expect(JSON.parse(close!.body).note).toContain('fired for 12 min');
  });

  it('does not retry a rejected key (4xx) and says which channel failed', async () => {
    receiver.statuses.push(403);
    await expect(notifier('denied').deliver(event('firing'), 'opsgenie')).rejects.toThrow(
      /genie \(POST .* answered 403\)/,
    );
    expect(received('denied')).toHaveLength(1);
  });
});

describe('Slack channel', () => {
  it('carries the trend, the console link and how long the alert fired', async () => {
    const n = notifier('slack');
    await n.deliver(event('firing'), 'slack');
    await n.deliver(event('resolved'), 'slack');
    const [fire, resolve] = received('slack').map((r) => JSON.parse(r.body));
    const fields = fire.blocks
      .find((b: { fields?: unknown }) => b.fields)
      .fields.map((f: { text: string }) => f.text);
    expect(fields).toContain(`*Trend*\n\`${sparkline(TREND)}  1% … 12.5%\``);
    const buttons = fire.blocks.find((b: { type: string }) => b.type === 'actions').elements;
    expect(buttons.map((b: { text: { text: string } }) => b.text.text)).toEqual([
      'Show the data',
      'Runbook',
      'Open in console',
    ]);
    expect(resolve.blocks[1].text.text).toContain('(fired for 12 min)');
  });
});
