import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';
import type { PipelineFunction } from './pipeline-function.js';

export interface BusSubscriptionProps {
  readonly bus: events.IEventBus;
  /**
   * Which events the function receives, e.g.
   * `{ source: ['otlp.alerts'], detailType: ['AlertFiring', 'AlertResolved'], detail: { channels: { type: ['slack'] } } }`
   * (functions/shared/alerts/events.ts).
   */
  readonly eventPattern: events.EventPattern;
  readonly target: PipelineFunction;
  readonly description: string;
  readonly alarmTopic: sns.ITopic;
  /** @default 8 */
  readonly retryAttempts?: number;
  /** @default Duration.hours(2) */
  readonly maxEventAge?: Duration;
}

/**
 * A rule on the alert bus delivering to one function (a notifier), with a retry policy, an SQS
 * dead-letter queue for events EventBridge could not deliver, and an alarm on that queue.
 *
 * @example
 * new BusSubscription(this, 'SlackNotifier', {
 *   bus: alertBus, target: slackNotifier, alarmTopic, description: 'Alerts routed to Slack channels',
 *   eventPattern: {
 *     source: ['otlp.alerts'], detailType: ['AlertFiring', 'AlertResolved'],
 *     detail: { channels: { type: ['slack'] } },
 *   },
 * });
 */
export class BusSubscription extends Construct {
  public readonly rule: events.Rule;
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: BusSubscriptionProps) {
    super(scope, id);
    const retryAttempts = props.retryAttempts ?? 8;
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 185) {
      throw new Error(`\`retryAttempts\` must be 0..185, got: ${retryAttempts}`);
    }
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.deadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter queue of the rule target.',
    );
    acknowledge(
      this.deadLetterQueue,
      'Serverless-SQSRedrivePolicy',
      'This queue is itself the dead-letter queue of the rule target.',
    );
    props.target.sendFailedInvocationsTo(this.deadLetterQueue);
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.bus,
      eventPattern: props.eventPattern,
      description: props.description,
      targets: [
        new eventTargets.LambdaFunction(props.target.function, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts,
          maxEventAge: props.maxEventAge ?? Duration.hours(2),
        }),
      ],
    });
    const alarm = new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: `Events for ${props.target.name} could not be delivered (see its dead-letter queue).`,
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
  }
}
