import { Duration, Stack } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ALERT_DETAIL_TYPES, ALERT_EVENT_SOURCE } from '../../functions/shared/alerts/events.js';
import { CHANNEL_TYPES, type ChannelType } from '../../functions/shared/alerts/rules.js';
import { tagComponent } from '../cost-tags.js';
import { acknowledgeWildcardResource } from '../nag.js';
import { BusSubscription } from './bus-subscription.js';
import { PipelineFunction } from './pipeline-function.js';

/**
 * What each channel type's notifier may reach: the email topic (SNS), or the channel secrets
 * (Slack, webhook, PagerDuty, Teams, Opsgenie read their URL or key from Secrets Manager). A
 * record over ChannelType, so a new channel type does not compile until its access is chosen here.
 */
const CHANNEL_ACCESS: { readonly [C in ChannelType]: 'email-topic' | 'channel-secrets' } = {
  slack: 'channel-secrets',
  webhook: 'channel-secrets',
  pagerduty: 'channel-secrets',
  teams: 'channel-secrets',
  opsgenie: 'channel-secrets',
  email: 'email-topic',
};

export interface AlertNotifiersProps {
  /** The alert bus the evaluators put state changes on (functions/shared/alerts/events.ts). */
  readonly bus: events.IEventBus;
  /** The topic the email notifier publishes to (subscriptions are the addresses). */
  readonly emailTopic: sns.ITopic;
  /** Undeliverable-event alarms notify this topic. */
  readonly alarmTopic: sns.ITopic;
  /** CloudWatch namespace of the notifiers' Powertools metrics: `metricsNamespace(environment)`. */
  readonly metricsNamespace: string;
  /** Notifiers may read the secrets whose name starts with this prefix (`alertSecretPrefix(settings)`). */
  readonly secretPrefix: string;
  /** Secrets outside the prefix the rule files name, by full ARN. @default [] */
  readonly secretArns?: readonly string[];
  /** Channel types to deploy a notifier for. @default CHANNEL_TYPES (every type a rule may name) */
  readonly channels?: readonly ChannelType[];
}

/**
 * One notifier function per channel type (functions/notifiers/handler.ts, `NOTIFIER_CHANNEL`), each
 * subscribed to the alert bus for the events routed to its type, with its own retry policy, DLQ
 * and alarm (BusSubscription), and access to exactly what its channel needs.
 *
 * @example
 * const notifiers = new AlertNotifiers(this, 'Notifiers', {
 *   bus: alertBus, emailTopic, alarmTopic, metricsNamespace: metricsNamespace('prod'),
 *   secretPrefix: 'otlp-pipeline/prod/alerts/',
 * });
 * notifiers.functions.get('slack');
 */
export class AlertNotifiers extends Construct {
  /** The notifier of each deployed channel type. */
  public readonly functions: ReadonlyMap<ChannelType, PipelineFunction<'notifiers'>>;

  constructor(scope: Construct, id: string, props: AlertNotifiersProps) {
    super(scope, id);
    const channels = props.channels ?? CHANNEL_TYPES;
    if (props.secretPrefix.length === 0) throw new Error('`secretPrefix` must not be empty');
    const { partition, region, account } = Stack.of(this);
    const prefixArn = `arn:${partition}:secretsmanager:${region}:${account}:secret:${props.secretPrefix}*`;
    const functions = new Map<ChannelType, PipelineFunction<'notifiers'>>();
    for (const channel of new Set(channels)) {
      const fnId = `${channel.charAt(0).toUpperCase()}${channel.slice(1)}Notifier`;
      const fn = new PipelineFunction(this, fnId, {
        name: 'notifiers',
        serviceName: `notifier-${channel}`,
        invocation: 'asynchronous',
        metricsNamespace: props.metricsNamespace,
        component: 'alerting',
        description: `Deliver alert events routed to ${channel} channels`,
        memorySize: 256,
        // NOTIFIER_ATTEMPTS (4) x NOTIFIER_TIMEOUT_MS (10 s) plus backoff fits.
        timeout: Duration.seconds(60),
        environment: { NOTIFIER_CHANNEL: channel },
      });
      if (CHANNEL_ACCESS[channel] === 'email-topic') {
        props.emailTopic.grantPublish(fn);
      } else {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['secretsmanager:GetSecretValue'],
            resources: [prefixArn, ...(props.secretArns ?? [])],
          }),
        );
        const role = fn.role;
        if (role !== undefined) {
          acknowledgeWildcardResource(
            role,
            prefixArn,
            `The ${channel} notifier reads the channel secrets the rule files name, all under one name prefix (the alertSecretPrefix setting); nothing else.`,
          );
        }
      }
      new BusSubscription(this, `${fnId}Subscription`, {
        bus: props.bus,
        target: fn,
        alarmTopic: props.alarmTopic,
        description: `Alert events routed to ${channel} channels`,
        eventPattern: {
          source: [ALERT_EVENT_SOURCE],
          detailType: [...ALERT_DETAIL_TYPES],
          detail: { channels: { type: [channel] } },
        },
      });
      functions.set(channel, fn);
    }
    this.functions = functions;
    tagComponent(this, 'alerting');
  }
}
