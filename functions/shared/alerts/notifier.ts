import * as z from 'zod';
import type { AlertEvent, RoutedChannel } from './events.js';
import {
  emailMessage,
  OPSGENIE_ALERTS_URL,
  opsgenieRequest,
  PAGERDUTY_EVENTS_URL,
  pagerDutyEvent,
  publicPayload,
  slackMessage,
  teamsMessage,
} from './format.js';
import type { ChannelType } from './rules.js';
import type { SecretSource } from './secrets.js';
import { signWebhook } from './signing.js';

/**
 * Delivers an alert event to the channels of one type it is routed to, retrying each with
 * exponential backoff (and Retry-After) inside the invocation. What still fails is thrown as a
 * `NotificationError`: in AWS, Lambda's async retries and the subscription's dead-letter queue take
 * over; locally, the in-process bus's retries and its dead-letter sink.
 *
 * One notifier function per channel type (deployed from one handler, see functions/notifiers) keeps
 * a Slack outage from re-sending pages: a retried event only re-runs the channels of its type.
 */

/** SNS (or anything else) sending e-mail to a topic's subscribers. */
export interface EmailPublisher {
  publish(topicArn: string, subject: string, body: string): Promise<void>;
}

export interface RetryPolicy {
  /** @default 4 */
  readonly attempts: number;
  /** Delay before the 2nd attempt; doubled after, with jitter. @default 500 */
  readonly baseDelayMs: number;
  /** @default 10_000 */
  readonly maxDelayMs: number;
  /** Per request. @default 10_000 */
  readonly timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  timeoutMs: 10_000,
};

export interface NotifierPorts {
  readonly secrets: SecretSource;
  readonly email?: EmailPublisher;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  readonly retry?: Partial<RetryPolicy>;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Called before each retry, for logs. */
  readonly onRetry?: (channel: string, attempt: number, error: Error) => void;
}

export class NotificationError extends Error {
  override readonly name = 'NotificationError';
  constructor(
    message: string,
    /** Channel name -> why it failed. */
    readonly failures: Readonly<Record<string, string>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One attempt's failure; `retryable` false stops the retries (a 4xx that will not change). */
class AttemptError extends Error {
  override readonly name = 'AttemptError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface DeliveryReport {
  /** Channel names delivered to. */
  readonly delivered: readonly string[];
  /** Attempts made in all (retries included). */
  readonly attempts: number;
}

export interface Notifier {
  deliver(event: AlertEvent, type: ChannelType): Promise<DeliveryReport>;
}

export const SlackSecret = z.union([
  z.url().transform((webhookUrl) => ({ webhookUrl })),
  z.object({ webhookUrl: z.url() }),
]);
export const WebhookSecret = z.object({ url: z.url(), hmacKey: z.string().min(16) });
export const PagerDutySecret = z.union([
  z
    .string()
    .min(1)
    .transform((routingKey) => ({ routingKey, url: PAGERDUTY_EVENTS_URL })),
  z.object({ routingKey: z.string().min(1), url: z.url().default(PAGERDUTY_EVENTS_URL) }),
]);

/** Teams: the incoming-webhook or Workflows URL. */
export const TeamsSecret = SlackSecret;
/** Opsgenie: an API integration key; `url` is the Alerts API base (the EU instance: api.eu.opsgenie.com). */
export const OpsgenieSecret = z.union([
  z
    .string()
    .min(1)
    .transform((apiKey) => ({ apiKey, url: OPSGENIE_ALERTS_URL })),
  z.object({ apiKey: z.string().min(1), url: z.url().default(OPSGENIE_ALERTS_URL) }),
]);

function parseSecret<T>(schema: z.ZodType<T>, raw: string, channel: string): T {
  let value: unknown = raw;
  if (raw.trimStart().startsWith('{')) {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new AttemptError(`channel ${channel}: its secret is not valid JSON`, false);
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AttemptError(`channel ${channel}: its secret has the wrong shape`, false);
  return parsed.data;
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export function createNotifier(ports: NotifierPorts): Notifier {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...ports.retry };
  const doFetch = ports.fetch ?? globalThis.fetch;
  const sleep = ports.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const clock = ports.clock ?? Date.now;

  async function post(url: string, body: string, headers: Record<string, string>): Promise<void> {
    let res: Response;
    try {
      res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'otlp-pipeline-alerts/1', ...headers },
        body,
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
    } catch (cause) {
      throw new AttemptError(`POST ${new URL(url).host} failed: ${String(cause)}`, true, undefined, {
        cause,
      });
    }
    // Drain the body so the socket can be reused.
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return;
    const retryable = res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500;
    throw new AttemptError(
      `POST ${new URL(url).host} answered ${res.status}`,
      retryable,
      retryAfterMs(res.headers.get('retry-after')),
    );
  }

  /** One send; secrets are read per attempt so a rotated secret is picked up by the retry. */
  async function sendOnce(event: AlertEvent, channel: RoutedChannel): Promise<void> {
    const secret = async () => {
      if (!channel.secret) throw new AttemptError(`channel ${channel.name} has no secret`, false);
      return ports.secrets.get(channel.secret);
    };
    switch (channel.type) {
      case 'slack': {
        const { webhookUrl } = parseSecret(SlackSecret, await secret(), channel.name);
        return post(webhookUrl, JSON.stringify(slackMessage(event)), {});
      }
      case 'webhook': {
        const { url, hmacKey } = parseSecret(WebhookSecret, await secret(), channel.name);
        const body = JSON.stringify(publicPayload(event));
        return post(url, body, signWebhook(hmacKey, event.detail.transitionId, body, clock()));
      }
      case 'pagerduty': {
        const { routingKey, url } = parseSecret(PagerDutySecret, await secret(), channel.name);
        return post(url, JSON.stringify(pagerDutyEvent(event, routingKey)), {});
      }
      case 'teams': {
        const { webhookUrl } = parseSecret(TeamsSecret, await secret(), channel.name);
        return post(webhookUrl, JSON.stringify(teamsMessage(event)), {});
      }
      case 'opsgenie': {
        const { apiKey, url } = parseSecret(OpsgenieSecret, await secret(), channel.name);
        const request = opsgenieRequest(event, url);
        return post(request.url, JSON.stringify(request.body), { authorization: `GenieKey ${apiKey}` });
      }
      case 'email': {
        if (!ports.email) throw new AttemptError('no e-mail publisher configured', false);
        if (!channel.topicArn) throw new AttemptError(`channel ${channel.name} has no topicArn`, false);
        const { subject, body } = emailMessage(event);
        try {
          await ports.email.publish(channel.topicArn, subject, body);
        } catch (cause) {
          throw new AttemptError(
            `SNS publish to ${channel.topicArn} failed: ${String(cause)}`,
            true,
            undefined,
            {
              cause,
            },
          );
        }
        return;
      }
      default: {
        // A channel type added to ChannelSchema fails to compile here until it is delivered.
        const unhandled: never = channel.type;
        throw new AttemptError(`no delivery for channel type ${String(unhandled)}`, false);
      }
    }
  }

  return {
    async deliver(event, type) {
      const channels = event.detail.channels.filter((c) => c.type === type);
      const delivered: string[] = [];
      const failures: Record<string, string> = {};
      let attempts = 0;
      for (const channel of channels) {
        for (let attempt = 1; ; attempt++) {
          attempts++;
          try {
            await sendOnce(event, channel);
            delivered.push(channel.name);
            break;
          } catch (err) {
            const e =
              err instanceof AttemptError
                ? err
                : new AttemptError(String(err), true, undefined, { cause: err });
            if (!e.retryable || attempt >= policy.attempts) {
              failures[channel.name] = e.message;
              break;
            }
            ports.onRetry?.(channel.name, attempt, e);
            const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
            // Equal jitter: half fixed, half random, so retries of many alerts spread out.
            const delay = Math.min(
              policy.maxDelayMs,
              e.retryAfterMs ?? backoff / 2 + (Math.random() * backoff) / 2,
            );
            await sleep(delay);
          }
        }
      }
      const failed = Object.keys(failures);
      if (failed.length > 0) {
        throw new NotificationError(
          `${event.detailType} ${event.detail.rule.id}: ${failed.length} ${type} channel(s) failed: ${failed
            .map((n) => `${n} (${failures[n]})`)
            .join('; ')}`,
          failures,
        );
      }
      return { delivered, attempts };
    },
  };
}
