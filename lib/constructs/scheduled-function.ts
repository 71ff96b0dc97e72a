import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeWildcardResource } from '../nag.js';
import type { PipelineFunction } from './pipeline-function.js';

export interface ScheduledFunctionProps {
  readonly target: PipelineFunction;
  /** e.g. `scheduler.ScheduleExpression.rate(Duration.hours(1))`. */
  readonly schedule: scheduler.ScheduleExpression;
  readonly description: string;
  readonly alarmTopic: sns.ITopic;
  /** Invocation retries (Scheduler backs off) before the event goes to the DLQ. @default 3 */
  readonly retryAttempts?: number;
  /** An invocation still undelivered after this long goes to the DLQ. @default Duration.hours(1) */
  readonly maxEventAge?: Duration;
}

/**
 * Invokes a pipeline function on an EventBridge Scheduler schedule, with a retry policy, an SQS
 * dead-letter queue for invocations Scheduler could not deliver, and alarms on that queue and on
 * the function's errors. The compactor uses it now; the alert evaluator (rate(1 minute)) will too.
 *
 * @example
 * new ScheduledFunction(this, 'CompactorSchedule', {
 *   target: compactor, schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
 *   description: 'Compact the lake hourly', alarmTopic,
 * });
 */
export class ScheduledFunction extends Construct {
  public readonly schedule: scheduler.Schedule;
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ScheduledFunctionProps) {
    super(scope, id);
    const retryAttempts = props.retryAttempts ?? 3;
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
      'This queue is itself the dead-letter queue of the schedule.',
    );
    acknowledge(
      this.deadLetterQueue,
      'Serverless-SQSRedrivePolicy',
      'This queue is itself the dead-letter queue of the schedule.',
    );
    props.target.sendFailedInvocationsTo(this.deadLetterQueue);
    // Our own role rather than the target's shared stack-level one, so findings stay with this construct.
    const invokeRole = new iam.Role(this, 'InvokeRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    });
    acknowledgeWildcardResource(
      invokeRole,
      `${props.target.function.functionArn}:*`,
      'Scheduler may invoke any version of this one function (the grant covers `<function ARN>:*`).',
    );
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      schedule: props.schedule,
      description: props.description,
      target: new targets.LambdaInvoke(props.target.function, {
        role: invokeRole,
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts,
        maxEventAge: props.maxEventAge ?? Duration.hours(1),
      }),
    });

    const topicAction = new actions.SnsAction(props.alarmTopic);
    const alarms = [
      new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
        alarmDescription: `Scheduled invocations of ${props.target.name} could not be delivered (see its dead-letter queue).`,
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: Duration.minutes(5),
        }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'ErrorsAlarm', {
        alarmDescription: `${props.target.name} failed on its schedule.`,
        metric: props.target.function.metricErrors({ statistic: 'Sum', period: Duration.hours(1) }),
        threshold: 0,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    for (const alarm of alarms) {
      alarm.addAlarmAction(topicAction);
      alarm.addOkAction(topicAction);
    }
  }
}
