import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import {
  ALERT_EVENT_SOURCE,
  ALERT_RESOLVED,
  type AlertEvent,
  AlertEventDetailSchema,
} from '../shared/alerts/events.js';
import {
  createNotifier,
  type DeliveryReport,
  type EmailPublisher,
  type Notifier,
} from '../shared/alerts/notifier.js';
import type { ChannelType } from '../shared/alerts/rules.js';
import type { SecretSource } from '../shared/alerts/secrets.js';
import { SecretsManagerSecretSource } from '../shared/alerts/secrets-manager-secret-source.js';
import { SnsEmailPublisher } from '../shared/alerts/sns-email-publisher.js';
import { observability } from '../shared/observability/middleware.js';
import { type NotifierConfig, notifierConfig } from './config.js';

/**
 * A notifier Lambda, subscribed to the alert bus by an EventBridge rule that matches its channel
 * type (`detail.channels.type`). One handler, deployed once per channel type (NOTIFIER_CHANNEL):
 * each type gets its own rule, retries, dead-letter queue and IAM (only the e-mail one may publish to
 * SNS, each reads only its secrets), and a failing Slack webhook never re-sends a PagerDuty page,
 * because a retried event re-runs one channel type only. The code is shared: one bundle to build.
 */

export interface NotifierHandlerDeps {
  readonly channel: () => ChannelType;
  readonly notifier: () => Notifier;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

export class InvalidAlertEventError extends Error {
  override readonly name = 'InvalidAlertEventError';
}

/**
 * The alert event an EventBridge rule delivers, validated. Thrown, not dropped: after the retries
 * an invalid event lands in the dead-letter queue for someone to see.
 */
export function alertEventFrom(event: EventBridgeEvent<string, unknown>): AlertEvent {
  const parsed = AlertEventDetailSchema.safeParse(event.detail);
  if (event.source !== ALERT_EVENT_SOURCE || !parsed.success) {
    throw new InvalidAlertEventError(`not an alert event: ${event.source} ${event['detail-type']}`, {
      cause: parsed.error,
    });
  }
  return {
    source: ALERT_EVENT_SOURCE,
    detailType: event['detail-type'] === ALERT_RESOLVED ? ALERT_RESOLVED : 'AlertFiring',
    time: event.time,
    detail: parsed.data,
  };
}

export function createNotifierHandler(deps: NotifierHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();

  const lambdaHandler = async (
    event: EventBridgeEvent<string, unknown>,
    _context: Context,
  ): Promise<DeliveryReport> => {
    const channel = deps.channel();
    const alert = alertEventFrom(event);
    const fields = {
      channel,
      rule: alert.detail.rule.id,
      tenant: alert.detail.tenant,
      transitionId: alert.detail.transitionId,
    };
    try {
      const report = await deps.notifier().deliver(alert, channel);
      metrics.addMetric('NotificationsSent', MetricUnit.Count, report.delivered.length);
      metrics.addMetric('NotificationAttempts', MetricUnit.Count, report.attempts);
      logger.info('notified', { ...fields, delivered: report.delivered, attempts: report.attempts });
      return report;
    } catch (err) {
      metrics.addMetric('NotificationsFailed', MetricUnit.Count, 1);
      logger.error('notification failed', {
        ...fields,
        error: err instanceof Error ? err.message : String(err),
      });
      throw err;
    }
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

/**
 * Where a notifier reads channel secrets and sends e-mail: Secrets Manager and SNS in AWS; local
 * mode has neither, so a file of secrets and the terminal stand in (ADR 0010).
 */
export interface NotifierClients {
  readonly secrets: SecretSource;
  readonly email: EmailPublisher;
}

/**
 * A notifier's one composition, from the validated config (its channel type, retries) and the
 * clients, built on the first invocation. Local mode composes one per channel type, as the stack
 * deploys one per channel type (local/functions.ts).
 */
export function depsFromConfig(
  config: () => NotifierConfig = notifierConfig,
  clients?: NotifierClients,
): NotifierHandlerDeps {
  const tracer = new Tracer();
  const logger = new Logger();
  let notifier: Notifier | undefined;
  return {
    tracer,
    logger,
    channel: () => config().NOTIFIER_CHANNEL,
    notifier: () => {
      if (!notifier) {
        const c = config();
        const email =
          c.NOTIFIER_CHANNEL !== 'email'
            ? undefined
            : clients
              ? clients.email
              : new SnsEmailPublisher(tracer.captureAWSv3Client(new SNSClient({})));
        notifier = createNotifier({
          secrets:
            clients?.secrets ??
            new SecretsManagerSecretSource(tracer.captureAWSv3Client(new SecretsManagerClient({}))),
          ...(email && { email }),
          retry: {
            attempts: c.NOTIFIER_ATTEMPTS,
            baseDelayMs: c.NOTIFIER_BASE_DELAY_MS,
            timeoutMs: c.NOTIFIER_TIMEOUT_MS,
          },
          onRetry: (channel, attempt, error) =>
            logger.warn('notification retry', { channel, attempt, error: error.message }),
        });
      }
      return notifier;
    },
  };
}

export const handler = createNotifierHandler(depsFromConfig());
