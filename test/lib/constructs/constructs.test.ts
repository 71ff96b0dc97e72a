import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { AlertNotifiers } from '../../../lib/constructs/alert-notifiers.js';
import { BusSubscription } from '../../../lib/constructs/bus-subscription.js';
import { ClickHouseMigrations } from '../../../lib/constructs/clickhouse-migrations.js';
import { PipelineFunction, type PipelineFunctionProps } from '../../../lib/constructs/pipeline-function.js';
import { QueryEndpoint } from '../../../lib/constructs/query-endpoint.js';
import { QueryWorkgroup } from '../../../lib/constructs/query-workgroup.js';
import { STREAM_CONSUMER_DEFAULTS, StreamConsumer } from '../../../lib/constructs/stream-consumer.js';

const stack = () =>
  new Stack(
    new App({ builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': [] } }),
    'Test',
  );
const fnProps = (over: Partial<PipelineFunctionProps> = {}): PipelineFunctionProps => ({
  name: 'compactor',
  component: 'lake',
  memorySize: 512,
  timeout: Duration.minutes(1),
  invocation: 'synchronous',
  metricsNamespace: 'OtlpPipeline/test',
  ...over,
});

describe('constructs', () => {
  it('PipelineFunction refuses a missing handler, bad memory or timeout with a clear message', () => {
    // The compiler already refuses a name outside lib/function-environments.ts; a cast gets past it.
    expect(() => new PipelineFunction(stack(), 'F', fnProps({ name: 'no-such-function' as never }))).toThrow(
      /no handler for function `no-such-function`/,
    );
    expect(() => new PipelineFunction(stack(), 'F', fnProps({ memorySize: 64 }))).toThrow(
      '`memorySize` must be 128..10240 MB, got: 64',
    );
    expect(() => new PipelineFunction(stack(), 'F', fnProps({ maxSemiSpaceMiB: 0.5 }))).toThrow(
      '`maxSemiSpaceMiB` must be an integer 1..256, got: 0.5',
    );
    expect(() => new PipelineFunction(stack(), 'F', fnProps({ timeout: Duration.minutes(16) }))).toThrow(
      '`timeout` must be at most 900 s, got: 960',
    );
  });

  it('PipelineFunction refuses bundled folders that are missing or outside the repository', () => {
    expect(
      () => new PipelineFunction(stack(), 'F', fnProps({ bundledPaths: [{ from: 'no-such-dir', to: 'x' }] })),
    ).toThrow(/`bundledPaths` names a missing path: .*no-such-dir/);
    expect(
      () => new PipelineFunction(stack(), 'F', fnProps({ bundledPaths: [{ from: '../etc', to: 'x' }] })),
    ).toThrow('`bundledPaths` `from` must be a relative path without .., got: ../etc');
    // The service name (metrics dimension, alarm text) can differ from the handler folder.
    const s = stack();
    new PipelineFunction(s, 'F', fnProps({ name: 'notifiers', serviceName: 'notifier-slack' }));
    Template.fromStack(s).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'notifier-slack' }) },
    });
  });

  it('PipelineFunction fails synthesis when an asynchronous function has no dead-letter queue', () => {
    const s = stack();
    new PipelineFunction(s, 'F', fnProps({ invocation: 'asynchronous' }));
    expect(() => Template.fromStack(s)).toThrow(/invoked asynchronously but has no dead-letter queue/);
  });

  it('StreamConsumer validates batch size, window, retries and record age, wherever they come from', () => {
    const s = stack();
    const consumer = new PipelineFunction(s, 'F', fnProps());
    const base = {
      consumer,
      stream: new kinesis.Stream(s, 'S'),
      deadLetterQueue: new sqs.Queue(s, 'Q'),
      alarmTopic: new sns.Topic(s, 'T'),
    };
    expect(
      () => new StreamConsumer(s, 'A', { ...base, kinesisEventSourceProps: { batchSize: 20_000 } }),
    ).toThrow('`batchSize` must be 1..10000, got: 20000');
    expect(
      () =>
        new StreamConsumer(s, 'B', {
          ...base,
          kinesisEventSourceProps: { maxBatchingWindow: Duration.minutes(6) },
        }),
    ).toThrow('`maxBatchingWindow (s)` must be 0..300, got: 360');
    expect(
      () => new StreamConsumer(s, 'C', { ...base, kinesisEventSourceProps: { retryAttempts: -1 } }),
    ).toThrow(/`retryAttempts` must be 0..10000/);
    expect(
      () =>
        new StreamConsumer(s, 'D', {
          ...base,
          kinesisEventSourceProps: { maxRecordAge: Duration.seconds(30) },
        }),
    ).toThrow(/`maxRecordAge \(s\)` must be 60..604800/);
  });

  it('PipelineFunction is IGrantable: a grant on the construct lands in its function role', () => {
    const s = stack();
    const fn = new PipelineFunction(s, 'F', fnProps());
    new s3.Bucket(s, 'B').grantRead(fn);
    const policies = Object.values(Template.fromStack(s).findResources('AWS::IAM::Policy'));
    expect(policies).toHaveLength(1);
    expect(JSON.stringify(policies[0])).toContain('s3:GetObject');
    expect(JSON.stringify(policies[0]?.Properties.Roles)).toContain(
      s.getLogicalId(fn.function.role?.node.defaultChild as never),
    );
  });

  it('StreamConsumer merges event-source overrides over its safe defaults, and keeps its failure handling', () => {
    const s = stack();
    const consumer = new PipelineFunction(s, 'F', fnProps());
    new StreamConsumer(s, 'A', {
      consumer,
      stream: new kinesis.Stream(s, 'S'),
      deadLetterQueue: new sqs.Queue(s, 'Q'),
      alarmTopic: new sns.Topic(s, 'T'),
      kinesisEventSourceProps: {
        batchSize: 500,
        startingPosition: lambda.StartingPosition.LATEST,
        filters: [lambda.FilterCriteria.filter({ partitionKey: lambda.FilterRule.isEqual('t1') })],
        // An explicit undefined leaves the default in place.
        maxRecordAge: undefined,
        // Past the types (a JavaScript caller): the failure handling is still set.
        ...({ reportBatchItemFailures: false, bisectBatchOnError: false } as object),
      },
    });
    Template.fromStack(s).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 500,
      StartingPosition: 'LATEST',
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ partitionKey: ['t1'] }) }] },
      MaximumBatchingWindowInSeconds: STREAM_CONSUMER_DEFAULTS.maxBatchingWindow.toSeconds(),
      MaximumRetryAttempts: STREAM_CONSUMER_DEFAULTS.retryAttempts,
      MaximumRecordAgeInSeconds: STREAM_CONSUMER_DEFAULTS.maxRecordAge.toSeconds(),
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('ClickHouseMigrations refuses an impossible hot retention and re-runs on code or retention change', () => {
    const secret = (s: Stack) => new secretsmanager.Secret(s, 'CH');
    const s0 = stack();
    expect(
      () =>
        new ClickHouseMigrations(s0, 'M', {
          clickhouseSecret: secret(s0),
          metricsNamespace: 'x',
          hotRetentionDays: 0,
        }),
    ).toThrow('`hotRetentionDays` must be 1..3650, got: 0');
    const s = stack();
    new ClickHouseMigrations(s, 'M', { clickhouseSecret: secret(s), metricsNamespace: 'x' });
    Template.fromStack(s).hasResourceProperties('Custom::ClickHouseMigrations', {
      HotRetentionDays: '7',
      TenantRetention: JSON.stringify({ tenants: {} }),
      CodeVersion: Match.anyValue(),
    });
  });

  it('AlertNotifiers deploys one notifier per channel type asked for, with only what its channel needs', () => {
    const s = stack();
    const notifiers = new AlertNotifiers(s, 'N', {
      bus: new events.EventBus(s, 'Bus'),
      emailTopic: new sns.Topic(s, 'Email'),
      alarmTopic: new sns.Topic(s, 'T'),
      metricsNamespace: 'x',
      secretPrefix: 'p/',
      channels: ['slack', 'email'],
    });
    expect([...notifiers.functions.keys()]).toEqual(['slack', 'email']);
    const t = Template.fromStack(s);
    t.resourceCountIs('AWS::Events::Rule', 2);
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('sns:Publish');
    expect(policies).toContain('secretsmanager:GetSecretValue');
    expect(
      () =>
        new AlertNotifiers(stack(), 'N', {
          bus: undefined as never,
          emailTopic: undefined as never,
          alarmTopic: undefined as never,
          metricsNamespace: 'x',
          secretPrefix: '',
        }),
    ).toThrow('`secretPrefix` must not be empty');
  });

  it('QueryEndpoint refuses a request budget the function could not keep', () => {
    const props = { metricsNamespace: 'x' } as ConstructorParameters<typeof QueryEndpoint>[2];
    expect(() => new QueryEndpoint(stack(), 'Q', { ...props, queryTimeout: Duration.seconds(29) })).toThrow(
      '`queryTimeout` must be 1..28 s (the function stops at 29 s), got: 29000 ms',
    );
    expect(() => new QueryEndpoint(stack(), 'Q', { ...props, hotRetentionDays: 0 })).toThrow(
      '`hotRetentionDays` must be a positive integer, got: 0',
    );
  });

  it('QueryWorkgroup refuses a cutoff below Athena’s 10 MB minimum', () => {
    expect(
      () =>
        new QueryWorkgroup(stack(), 'W', {
          name: 'w',
          resultsBucket: undefined as never,
          bytesScannedCutoffPerQuery: 1024,
        }),
    ).toThrow('`bytesScannedCutoffPerQuery` must be an integer >= 10000000, got: 1024');
  });

  it('BusSubscription delivers bus events to a notifier with retries, a DLQ for undeliverable events and an alarm', () => {
    const s = stack();
    const notifier = new PipelineFunction(s, 'Notifier', fnProps({ invocation: 'asynchronous' }));
    new BusSubscription(s, 'Slack', {
      bus: new events.EventBus(s, 'Bus'),
      eventPattern: {
        source: ['otlp.alerts'],
        detailType: ['AlertFiring', 'AlertResolved'],
        detail: { channels: { type: ['slack'] } },
      },
      target: notifier,
      description: 'Alert state changes to Slack',
      alarmTopic: new sns.Topic(s, 'T'),
    });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.anyValue(),
      EventPattern: {
        source: ['otlp.alerts'],
        'detail-type': ['AlertFiring', 'AlertResolved'],
        detail: { channels: { type: ['slack'] } },
      },
      Targets: [
        Match.objectLike({
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 },
          DeadLetterConfig: { Arn: Match.anyValue() },
        }),
      ],
    });
    // Failed asynchronous invocations of the notifier itself land in the same queue.
    t.hasResourceProperties('AWS::Lambda::Function', { DeadLetterConfig: { TargetArn: Match.anyValue() } });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateNumberOfMessagesVisible' });
    expect(t.findResources('AWS::SQS::Queue')).not.toEqual({});
  });
});
