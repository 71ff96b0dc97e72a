import { createHmac } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifierHandler, InvalidAlertEventError } from '../../../functions/notifiers/handler.js';
import { type AlertEvent, buildAlertEvent } from '../../../functions/shared/alerts/events.js';
import {
  createNotifier,
  type DeliveryReport,
  type EmailPublisher,
  NotificationError,
} from '../../../functions/shared/alerts/notifier.js';
import { type ChannelType, RuleFileSchema } from '../../../functions/shared/alerts/rules.js';
import { LocalSecretSource } from '../../../functions/shared/alerts/secrets.js';
import { verifyWebhookSignature } from '../../../functions/shared/alerts/signing.js';
import { lambdaContext } from '../../../local/lambda-context.js';
import { type Receiver, startReceiver } from '../shared/alerts/support.js';

process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:alerts/${name}`;
const HMAC_KEY = 'receiver-shared-key-42';
const NOW = Date.parse('2026-11-23T10:15:00.000Z');

const context = lambdaContext({
  functionName: 'notifier',
  requestId: 'req-1',
  account: '123456789012',
  // A constant remaining time: nothing here depends on the clock.
  remaining: { constantMs: 30_000 },
});

let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

const file = () =>
  RuleFileSchema.parse({
    tenant: 'acme',
    channels: {
      team: { type: 'slack', secret: arn('slack') },
      pager: { type: 'pagerduty', secret: arn('pd') },
      hook: { type: 'webhook', secret: arn('hook') },
      mail: { type: 'email', topicArn: 'arn:aws:sns:us-east-1:123456789012:ops' },
    },
    rules: [
      {
        id: 'checkout-errors',
        name: 'Checkout error ratio above 5 %',
        description: 'More than 5 % of checkout requests fail.',
        severity: 'critical',
        labels: { team: 'payments' },
        runbook: 'https://runbooks.example.com/checkout',
        channels: ['team', 'pager', 'hook', 'mail'],
        kind: 'error_ratio',
        window: '5m',
        threshold: 0.05,
      },
    ],
  });

function alert(transition: 'firing' | 'resolved'): AlertEvent {
  const f = file();
  return buildAlertEvent({
    tenant: f.tenant,
    rule: f.rules[0]!,
    channels: f.channels,
    transition,
    observation: {
      series: { service: 'checkout' },
      value: transition === 'firing' ? 0.125 : 0.01,
      threshold: 0.05,
      op: '>',
      windowMs: 300_000,
      details: { requests: 400, errors: 50 },
    },
    startsAt: NOW - 180_000,
    now: transition === 'firing' ? NOW : NOW + 600_000,
    queryBaseUrl: 'https://api.example.com',
  });
}

function envelope(e: AlertEvent): EventBridgeEvent<string, unknown> {
  return {
    version: '0',
    id: 'evt-1',
    'detail-type': e.detailType,
    source: e.source,
    account: '123456789012',
    time: e.time,
    region: 'us-east-1',
    resources: [],
    detail: JSON.parse(JSON.stringify(e.detail)),
  };
}

function handlerFor(channel: ChannelType, path: string, email?: EmailPublisher, attempts = 3) {
  const secrets = new LocalSecretSource({
    [arn('slack')]: `${receiver.url}/${path}`,
    [arn('pd')]: JSON.stringify({ routingKey: 'R0UTINGKEY', url: `${receiver.url}/${path}` }),
    [arn('hook')]: JSON.stringify({ url: `${receiver.url}/${path}`, hmacKey: HMAC_KEY }),
  });
  const notifier = createNotifier({
    secrets,
    ...(email ? { email } : {}),
    retry: { attempts, baseDelayMs: 1, maxDelayMs: 5 },
  });
  const handler = createNotifierHandler({
    channel: () => channel,
    notifier: () => notifier,
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'notifier' }),
  });
  return (e: EventBridgeEvent<string, unknown>) => handler(e, context) as Promise<DeliveryReport>;
}

interface Block {
  readonly type: string;
  readonly text?: { readonly text: string };
  readonly fields?: readonly { readonly text: string }[];
  readonly elements?: readonly { readonly url?: string }[];
}

interface PagerDutyBody {
  readonly routing_key: string;
  readonly event_action: string;
  readonly dedup_key: string;
  readonly payload?: { readonly summary: string };
  readonly links?: readonly { readonly href: string }[];
}

const at = (path: string) => receiver.requests.filter((r) => r.path === `/${path}`);

describe('notifiers post to real HTTP endpoints', () => {
  it('Slack: a readable Block Kit message with the value, facts and buttons to the data and runbook', async () => {
    const report = await handlerFor('slack', 'slack')(envelope(alert('firing')));
    expect(report).toEqual({ delivered: ['team'], attempts: 1 });
    const [req] = at('slack');
    const msg = JSON.parse(req!.body) as { text: string; blocks: Block[] };
    expect(msg.text).toBe('[FIRING] Checkout error ratio above 5 % (service=checkout): 12.5% > 5% over 5m');
    expect(msg.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context', 'actions']);
    expect(msg.blocks[0]!.text?.text).toBe('Firing: Checkout error ratio above 5 %');
    expect(msg.blocks[1]!.text?.text).toContain('*12.5%* &gt; 5% over 5m');
    expect(msg.blocks[2]!.fields?.map((f) => f.text)).toEqual(
      expect.arrayContaining(['*Severity*\ncritical', '*Tenant*\nacme', '*Series*\nservice=checkout']),
    );
    expect(msg.blocks[4]!.elements?.map((b) => b.url)).toEqual([
      alert('firing').detail.queryUrl,
      'https://runbooks.example.com/checkout',
    ]);
  });

  it('PagerDuty Events v2: trigger and resolve share one dedup key', async () => {
    const send = handlerFor('pagerduty', 'pd');
    await send(envelope(alert('firing')));
    await send(envelope(alert('resolved')));
    const [trigger, resolve] = at('pd').map((r) => JSON.parse(r.body) as PagerDutyBody);
    expect(trigger).toMatchObject({
      routing_key: 'R0UTINGKEY',
      event_action: 'trigger',
      payload: {
        severity: 'critical',
        source: 'checkout',
        group: 'acme',
        class: 'error_ratio',
        timestamp: new Date(NOW - 180_000).toISOString(),
      },
    });
    expect(trigger!.payload?.summary).toContain('12.5%');
    expect(trigger!.links?.[0]?.href).toContain('https://api.example.com/v1/query/traces?service=checkout');
    expect(resolve).toEqual({
      routing_key: 'R0UTINGKEY',
      event_action: 'resolve',
      dedup_key: trigger!.dedup_key,
    });
    expect(trigger!.dedup_key).toMatch(/^acme\/checkout-errors\/[0-9a-f]{32}$/);
  });

  it('generic webhook: the receiver verifies the HMAC-SHA256 signature over timestamp, X-Alert-Id and body', async () => {
    await handlerFor('webhook', 'hook')(envelope(alert('resolved')));
    const [req] = at('hook');
    const timestamp = req!.headers['x-timestamp'] as string;
    const alertId = req!.headers['x-alert-id'] as string;
    const check = (body: string, key = HMAC_KEY, headers = { timestamp, alertId }) =>
      verifyWebhookSignature({
        body,
        ...headers,
        signature: req!.headers['x-signature-256'] as string,
        key,
      });
    expect(alertId).toBe(alert('resolved').detail.transitionId);
    expect(check(req!.body)).toEqual({ ok: true });
    expect(check(req!.body, 'another-key-of-some-length')).toEqual({ ok: false, reason: 'mismatch' });
    // A replay under another id (to slip past the receiver's deduplication) or time fails.
    const otherId = `${alertId.slice(0, -1)}${alertId.endsWith('0') ? '1' : '0'}`;
    expect(check(req!.body, HMAC_KEY, { timestamp, alertId: otherId })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(check(req!.body, HMAC_KEY, { timestamp: String(Number(timestamp) - 1), alertId })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(check(req!.body, HMAC_KEY, { timestamp, alertId: '' })).toEqual({ ok: false, reason: 'missing' });
    expect(req!.headers['x-signature-256']).toBe(
      `sha256=${createHmac('sha256', HMAC_KEY).update(`${timestamp}.${alertId}.${req!.body}`).digest('hex')}`,
    );
    expect(
      verifyWebhookSignature({
        body: req!.body,
        timestamp: req!.headers['x-timestamp'] as string,
        alertId: req!.headers['x-alert-id'] as string,
        signature: req!.headers['x-signature-256'] as string,
        key: HMAC_KEY,
        nowMs: Date.now() + 3_600_000,
      }),
    ).toEqual({ ok: false, reason: 'expired' });
    expect(JSON.parse(req!.body)).toMatchObject({
      type: 'AlertResolved',
      status: 'resolved',
      endsAt: new Date(NOW + 600_000).toISOString(),
      labels: { team: 'payments', service: 'checkout' },
    });
  });

  it('e-mail through SNS (mocked: no local SNS): subject and a plain-text body with the links', async () => {
    const sent: { topicArn: string; subject: string; body: string }[] = [];
    const email: EmailPublisher = {
      async publish(topicArn, subject, body) {
        sent.push({ topicArn, subject, body });
      },
    };
    await handlerFor('email', 'unused', email)(envelope(alert('firing')));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.topicArn).toBe('arn:aws:sns:us-east-1:123456789012:ops');
    expect(sent[0]!.subject).toBe('[FIRING] Checkout error ratio above 5 %');
    expect(sent[0]!.body).toContain('Runbook:   https://runbooks.example.com/checkout');
    expect(sent[0]!.body).toContain('Data:      https://api.example.com/v1/query/traces?');
  });
});

describe('notifier failures', () => {
  it('retries an endpoint answering 503 and delivers once it recovers', async () => {
    receiver.statuses = [503, 503];
    const report = await handlerFor('webhook', 'flaky')(envelope(alert('firing')));
    expect(report).toEqual({ delivered: ['hook'], attempts: 3 });
    expect(at('flaky')).toHaveLength(3);
    // The same event id on every attempt, for the receiver to deduplicate.
    expect(new Set(at('flaky').map((r) => r.headers['x-alert-id'])).size).toBe(1);
  });

  it('throws after the last attempt so Lambda retries and the dead-letter queue take over', async () => {
    receiver.statuses = [500, 500, 500];
    const err = await handlerFor('slack', 'down')(envelope(alert('firing'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotificationError);
    expect((err as NotificationError).failures).toEqual({ team: expect.stringContaining('answered 500') });
    expect(at('down')).toHaveLength(3);
  });

  it('does not retry a request the endpoint rejects as malformed (400)', async () => {
    receiver.statuses = [400];
    await expect(handlerFor('slack', 'bad')(envelope(alert('firing')))).rejects.toThrow('answered 400');
    expect(at('bad')).toHaveLength(1);
  });

  it('rejects an event that is not an alert event', async () => {
    const e = envelope(alert('firing'));
    await expect(handlerFor('slack', 'x')({ ...e, detail: { hello: 'world' } })).rejects.toThrow(
      InvalidAlertEventError,
    );
    expect(at('x')).toEqual([]);
  });
});
