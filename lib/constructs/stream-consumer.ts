import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  KinesisEventSource,
  type KinesisEventSourceProps,
  SqsDlq,
} from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PIPELINE_METRICS } from '../../functions/shared/costs/pipeline-metrics.js';
import type { PipelineFunction } from './pipeline-function.js';

/**
 * Event-source settings a consumer may override: every `KinesisEventSourceProps` field except the
 * failure handling the construct always sets (partial batch responses, bisect on error, the SQS
 * on-failure destination), which no consumer may turn off.
 */
export type StreamConsumerEventSourceProps = Partial<
  Omit<KinesisEventSourceProps, 'reportBatchItemFailures' | 'bisectBatchOnError' | 'onFailure'>
>;

/**
 * The defaults the overrides are merged over: Lambda's defaults where they are safe, bounded where
 * Lambda's are not (its retries and record age are unbounded: a poison batch would block its shard
 * for the stream's whole retention).
 */
export const STREAM_CONSUMER_DEFAULTS = {
  /** Nothing already on the stream is skipped. */
  startingPosition: lambda.StartingPosition.TRIM_HORIZON,
  batchSize: 1000,
  /** How long Lambda gathers records before invoking. */
  maxBatchingWindow: Duration.seconds(5),
  /** Retries of a failing batch (halved by bisect each time) before it goes to the DLQ. */
  retryAttempts: 10,
  /** Records older than this go to the DLQ instead of being retried again. */
  maxRecordAge: Duration.hours(6),
  /** Concurrent batches per shard: 1 keeps a shard's records in order. */
  parallelizationFactor: 1,
} as const satisfies StreamConsumerEventSourceProps;

export interface StreamConsumerProps {
  readonly consumer: PipelineFunction;
  readonly stream: kinesis.IStream;
  /**
   * Receives a record of every batch Lambda gives up on (shard, sequence range, reason); the
   * records themselves stay in the stream for its retention period, so they can be replayed.
   */
  readonly deadLetterQueue: sqs.IQueue;
  /** Alarms notify this topic. */
  readonly alarmTopic: sns.ITopic;
  /**
   * Event-source settings merged over STREAM_CONSUMER_DEFAULTS, e.g. `{ batchSize: 10_000,
   * maxBatchingWindow: Duration.seconds(300) }` or a `tumblingWindow` (1..900 s). Validated: batch
   * size 1..10000, window 0..300 s, retries 0..10000 (never infinite), record age 60 s..7 days.
   * @default STREAM_CONSUMER_DEFAULTS
   */
  readonly kinesisEventSourceProps?: StreamConsumerEventSourceProps;
  /** Alarm when the oldest unprocessed record is older than this. @default Duration.minutes(5) */
  readonly iteratorAgeAlarmThreshold?: Duration;
}

/**
 * A Kinesis event source mapping with the failure settings every consumer needs: partial batch
 * responses, bisect on error, bounded retries and record age, an SQS on-failure destination, and
 * alarms on iterator age and DLQ depth.
 *
 * Caller settings are merged over STREAM_CONSUMER_DEFAULTS (as Solutions Constructs merge
 * overrides); the failure handling is not overridable.
 *
 * @example
 * new StreamConsumer(this, 'HotWriterSource', {
 *   consumer: hotWriter, stream, deadLetterQueue: hotWriterDlq, alarmTopic,
 *   kinesisEventSourceProps: { batchSize: 10_000, maxBatchingWindow: Duration.seconds(5) },
 * });
 */
export class StreamConsumer extends Construct {
  public readonly eventSource: KinesisEventSource;
  public readonly iteratorAgeAlarm: cloudwatch.Alarm;
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  /** Records the consumer itself dead-lettered (poison: undecodable, or refused by the sink). */
  public readonly deadLettersAlarm: cloudwatch.Alarm;
  public readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: StreamConsumerProps) {
    super(scope, id);
    const settings = { ...STREAM_CONSUMER_DEFAULTS, ...definedProps(props.kinesisEventSourceProps) };
    const { batchSize, maxBatchingWindow, retryAttempts, maxRecordAge, parallelizationFactor } = settings;
    checkRange('batchSize', batchSize, 1, 10_000);
    checkRange('retryAttempts', retryAttempts, 0, 10_000);
    checkRange('parallelizationFactor', parallelizationFactor, 1, 10);
    if (!maxBatchingWindow.isUnresolved()) {
      checkRange('maxBatchingWindow (s)', maxBatchingWindow.toSeconds(), 0, 300);
    }
    if (!maxRecordAge.isUnresolved()) checkRange('maxRecordAge (s)', maxRecordAge.toSeconds(), 60, 604_800);
    if (settings.tumblingWindow && !settings.tumblingWindow.isUnresolved()) {
      checkRange('tumblingWindow (s)', settings.tumblingWindow.toSeconds(), 1, 900);
    }

    const fn = props.consumer.function;
    this.eventSource = new KinesisEventSource(props.stream, {
      ...settings,
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      onFailure: new SqsDlq(props.deadLetterQueue),
    });
    fn.addEventSource(this.eventSource);

    const topicAction = new actions.SnsAction(props.alarmTopic);
    const threshold = props.iteratorAgeAlarmThreshold ?? Duration.minutes(5);
    this.iteratorAgeAlarm = new cloudwatch.Alarm(this, 'IteratorAgeAlarm', {
      alarmDescription: `${props.consumer.name} is falling behind the stream: its oldest unprocessed record is older than ${threshold.toHumanString()}.`,
      metric: fn.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) }),
      threshold: threshold.toMilliseconds(),
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: `${props.consumer.name} gave up on at least one batch: see its dead-letter queue and replay from the stream.`,
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.minutes(1),
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.deadLettersAlarm = new cloudwatch.Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: `${props.consumer.name} dead-lettered records it can never write (see the dead-letter/ prefix of the lake bucket and the DeadLettersByReason metric); the rest of their batches were written.`,
      metric: props.consumer.metric(PIPELINE_METRICS.deadLetters, {
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: `${props.consumer.name} fails invocations repeatedly (the batch is being retried).`,
      metric: fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
      threshold: 0,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [
      this.iteratorAgeAlarm,
      this.deadLetterAlarm,
      this.deadLettersAlarm,
      this.errorsAlarm,
    ]) {
      alarm.addAlarmAction(topicAction);
      alarm.addOkAction(topicAction);
    }
  }
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`\`${name}\` must be ${min}..${max}, got: ${value}`);
  }
}

/** An explicit `undefined` in the overrides means "not overridden", not "unset the default". */
function definedProps<T extends object>(props: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(props ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
