import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ComputeStack } from '../../../lib/stacks/compute-stack.js';
import { testApp } from '../support/app.js';

let stack: ComputeStack;
let template: Template;

beforeAll(() => {
  stack = testApp({ environment: 'prod', apiThrottleRate: 500, apiThrottleBurst: 800 }).compute;
  template = Template.fromStack(stack);
});

type Resource = { Type: string; Properties: Record<string, unknown> };
const ofType = (type: string): [string, Resource][] =>
  Object.entries(template.toJSON().Resources as Record<string, Resource>).filter(([, r]) => r.Type === type);
const fnLogicalId = (name: 'ingest' | 'hotWriter' | 'lakeWriter' | 'compactor') =>
  stack.getLogicalId(stack[name].function.node.defaultChild as never);
const fnProps = (name: 'ingest' | 'hotWriter' | 'lakeWriter' | 'compactor') =>
  (template.toJSON().Resources as Record<string, Resource>)[fnLogicalId(name)]?.Properties ?? {};

describe('compute stack', () => {
  it('runs every pipeline function on arm64 nodejs22.x with tracing, JSON logs, explicit memory and timeout', () => {
    const pipelineFns = ofType('AWS::Lambda::Function').filter(([, r]) =>
      String(
        (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.POWERTOOLS_SERVICE_NAME ?? '',
      ),
    );
    expect(
      pipelineFns
        .map(
          ([, r]) =>
            (r.Properties.Environment as { Variables: Record<string, string> }).Variables
              .POWERTOOLS_SERVICE_NAME,
        )
        .sort(),
    ).toEqual([
      'alert-evaluator',
      'alerts-api',
      'compactor',
      'console',
      'hot-writer',
      'ingest',
      'lake-writer',
      'migrate',
      'notifier-email',
      'notifier-opsgenie',
      'notifier-pagerduty',
      'notifier-slack',
      'notifier-teams',
      'notifier-webhook',
      'query',
      'stream-alert-evaluator',
    ]);
    const dataPath = ['ingest', 'hot-writer', 'lake-writer'];
    for (const [id, fn] of pipelineFns) {
      const service = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables
        .POWERTOOLS_SERVICE_NAME!;
      expect(fn.Properties, id).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        // The data path's X-Ray is off by default (dataPathTracing); the low-volume functions trace.
        TracingConfig: { Mode: dataPath.includes(service) ? 'PassThrough' : 'Active' },
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.any(String) } },
        MemorySize: expect.any(Number),
        Timeout: expect.any(Number),
        Environment: {
          Variables: expect.objectContaining({ POWERTOOLS_METRICS_NAMESPACE: 'OtlpPipeline/prod' }),
        },
      });
    }
    expect(fnProps('ingest')).toMatchObject({ MemorySize: 1024, Timeout: 29 });
    // The hot writer's young generation (ADR 0004: fewer scavenges copying a batch's live rows).
    expect(fnProps('hotWriter')).toMatchObject({
      Environment: { Variables: expect.objectContaining({ NODE_OPTIONS: '--max-semi-space-size=64' }) },
    });
    expect(
      (fnProps('ingest').Environment as { Variables: Record<string, string> }).Variables.NODE_OPTIONS,
    ).toBeUndefined();
  });

  it('traces the data path (ingest, hot writer, lake writer) only with -c dataPathTracing=active', () => {
    const active = testApp({ environment: 'prod', dataPathTracing: 'active' }).compute;
    const t = Template.fromStack(active).toJSON().Resources as Record<string, Resource>;
    for (const name of ['ingest', 'hotWriter', 'lakeWriter'] as const) {
      const id = active.getLogicalId(active[name].function.node.defaultChild as never);
      expect(t[id]?.Properties.TracingConfig, name).toEqual({ Mode: 'Active' });
      expect(fnProps(name).TracingConfig, name).toEqual({ Mode: 'PassThrough' });
    }
  });

  it('keeps every log group for a month', () => {
    const groups = ofType('AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(7);
    for (const [id, g] of groups) expect(g.Properties.RetentionInDays, id).toBe(30);
  });

  it('hands each function the environment its config.ts reads', () => {
    const env = (name: Parameters<typeof fnProps>[0]) =>
      (fnProps(name).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(env('ingest'))).toEqual(
      expect.arrayContaining([
        'STREAM_NAME',
        'TENANTS_TABLE',
        'RATE_LIMIT_TABLE',
        'STREAM_ARN',
        'MAX_BODY_BYTES',
        'MAX_DECOMPRESSED_BYTES',
        'HOT_RETENTION_DAYS',
      ]),
    );
    expect(env('ingest')).toMatchObject({ MAX_BODY_BYTES: String(4 * 1024 * 1024), HOT_RETENTION_DAYS: '7' });
    expect(Object.keys(env('hotWriter'))).toEqual(
      expect.arrayContaining(['CLICKHOUSE_SECRET_ARN', 'DEAD_LETTER_BUCKET', 'HOT_RETENTION_DAYS']),
    );
    expect(Object.keys(env('lakeWriter'))).toEqual(
      expect.arrayContaining(['LAKE_BUCKET', 'DEAD_LETTER_BUCKET']),
    );
    expect(env('compactor')).toMatchObject({
      LAKE_BUCKET: expect.anything(),
      COMPACTION_TARGET_BYTES: String(128 * 1024 * 1024),
      // The grace outlasts the lake writer's maximum record age (12 h), so no retry lands in a compacted hour.
      COMPACTION_GRACE_MINUTES: '780',
    });
  });

  it('consumes the stream with partial batch responses, bisect, bounded retries and age, and a DLQ', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping')
      .map(([, r]) => r.Properties)
      .filter((m) => !JSON.stringify(m.FunctionName).includes('StreamAlertEvaluator'));
    expect(mappings).toHaveLength(2);
    const byFn = (id: string) => mappings.find((m) => JSON.stringify(m.FunctionName).includes(id));
    for (const [fn, window, age] of [
      [fnLogicalId('hotWriter'), 5, 6 * 3600],
      [fnLogicalId('lakeWriter'), 300, 12 * 3600],
    ] as const) {
      expect(byFn(fn), fn).toMatchObject({
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 10,
        MaximumRecordAgeInSeconds: age,
        MaximumBatchingWindowInSeconds: window,
        BatchSize: 10_000,
        StartingPosition: 'TRIM_HORIZON',
        DestinationConfig: { OnFailure: { Destination: expect.anything() } },
      });
    }
    // Each consumer fails over to its own queue from the stateful stack.
    const destinations = mappings.map((m) => JSON.stringify(m.DestinationConfig));
    expect(destinations[0]).toContain('HotWriterDeadLetterQueue');
    expect(destinations[1]).toContain('LakeWriterDeadLetterQueue');
  });

  it('takes the hot writer batching window from the settings (fewer, larger invocations for later hot data)', () => {
    const other = Template.fromStack(testApp({ hotBatchingWindowSeconds: 20 }).compute);
    const windows = Object.values(other.findResources('AWS::Lambda::EventSourceMapping')).map((r) =>
      Number((r as Resource).Properties.MaximumBatchingWindowInSeconds),
    );
    // 0: the stream alert evaluator (its tumbling window, not a batching wait, sets its pace).
    expect(windows.sort((a, b) => a - b)).toEqual([0, 20, 300]);
  });

  it('decides stream-owned alert rules in a third consumer with 5 s tumbling windows, its own DLQ, from LATEST', () => {
    const mapping = ofType('AWS::Lambda::EventSourceMapping')
      .map(([, r]) => r.Properties)
      .find((m) => JSON.stringify(m.FunctionName).includes('StreamAlertEvaluator'));
    expect(mapping).toMatchObject({
      TumblingWindowInSeconds: 5,
      StartingPosition: 'LATEST',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRecordAgeInSeconds: 3600,
      BatchSize: 1000,
    });
    expect(JSON.stringify(mapping?.DestinationConfig)).toContain('StreamAlertsDeadLetterQueue');
    const vars = ofType('AWS::Lambda::Function').map(
      ([, r]) =>
        (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {},
    );
    const env = (name: string) => vars.find((v) => v.POWERTOOLS_SERVICE_NAME === name) ?? {};
    expect(Object.keys(env('stream-alert-evaluator'))).toEqual(
      expect.arrayContaining(['ALERT_STATE_TABLE', 'ALERT_BUS_NAME', 'ALERT_RULES_DIR', 'QUERY_API_URL']),
    );
    // The scheduled evaluator then skips the stream's rules and sweeps their silent shards.
    expect(env('alert-evaluator')).toMatchObject({ ALERT_STREAM_WINDOW_SECONDS: '5' });
  });

  it('alarms on iterator age and dead-letter depth for both consumers, to the alarm topic', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
    const iteratorAge = alarms.filter((a) => a.MetricName === 'IteratorAge');
    const dlqDepth = alarms.filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(iteratorAge).toHaveLength(3);
    expect(iteratorAge.map((a) => Number(a.Threshold)).sort((a, b) => a - b)).toEqual([
      60_000, 300_000, 900_000,
    ]);
    // Two stream consumers, the compactor and alert evaluator schedules, four notifier subscriptions.
    expect(dlqDepth.length).toBeGreaterThanOrEqual(8);
    for (const a of [...iteratorAge, ...dlqDepth]) {
      expect(a).toMatchObject({
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(JSON.stringify(a.AlarmActions)).toContain('Operations');
    }
    expect(alarms.some((a) => a.MetricName === '5xx')).toBe(true);
    // Poison records the consumers dead-letter themselves (their Powertools DeadLetters metric).
    const poison = alarms.filter((a) => a.MetricName === 'DeadLetters');
    expect(
      poison.map((a) => a.Dimensions).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([
      [{ Name: 'service', Value: 'hot-writer' }],
      [{ Name: 'service', Value: 'lake-writer' }],
      [{ Name: 'service', Value: 'stream-alert-evaluator' }],
    ]);
    for (const a of poison) {
      expect(a).toMatchObject({
        Namespace: 'OtlpPipeline/prod',
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(JSON.stringify(a.AlarmActions)).toContain('Operations');
    }
    expect(alarms.some((a) => a.MetricName === 'WriteProvisionedThroughputExceeded')).toBe(true);
  });

  it('alarms when the compactor quarantines a staging file or leaves partitions, and when the lake writer rewrites broken files', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
    const on = (metricName: string) => alarms.filter((a) => a.MetricName === metricName);

    for (const [metricName, service] of [
      ['LakeFilesQuarantined', 'compactor'],
      ['CompactionPartitionsFailed', 'compactor'],
      ['LakeFilesReplaced', 'lake-writer'],
    ] as const) {
      expect(on(metricName), metricName).toHaveLength(1);
      expect(on(metricName)[0], metricName).toMatchObject({
        Namespace: 'OtlpPipeline/prod',
        Dimensions: [{ Name: 'service', Value: service }],
        Statistic: 'Sum',
        Period: 3600,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(JSON.stringify(on(metricName)[0]!.AlarmActions), metricName).toContain('Operations');
    }
  });

  it('routes POST /v1/traces, /v1/logs and /v1/metrics to ingest, throttled, with JSON access logs', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey as string);
    expect(routes.filter((r) => r.startsWith('POST') && !r.includes(' /v1/alerts/')).sort()).toEqual([
      'POST /v1/logs',
      'POST /v1/metrics',
      'POST /v1/traces',
    ]);
    // Everything else is the read-only query API and usage, the console's files and the alerts API
    // beside them (compute-query-alerting.test.ts).
    for (const r of routes.filter((r) => !/^POST \/v1\/(traces|logs|metrics)$/.test(r))) {
      expect(r).toMatch(
        /^(GET (\/v1\/query\/|\/v1\/usage$|\/$|\/index\.html$|\/assets\/\{file\}$)|(GET|POST|PUT|DELETE) \/v1\/alerts\/)/,
      );
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 800 },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    template.hasOutput('ApiEndpoint', {});
  });

  it('leaves cross-origin access off unless origins are listed, then lets API Gateway answer browser preflights on the ingest API only', () => {
    for (const [, api] of ofType('AWS::ApiGatewayV2::Api'))
      expect(api.Properties.CorsConfiguration).toBeUndefined();
    const withCors = Template.fromStack(
      testApp({ corsAllowedOrigins: 'https://app.example.com,http://localhost:3000' }).compute,
    );
    const apis = Object.values(withCors.findResources('AWS::ApiGatewayV2::Api')) as {
      Properties: { Description: string; CorsConfiguration?: unknown };
    }[];
    expect(
      apis.map((a) => [a.Properties.Description, a.Properties.CorsConfiguration !== undefined]).sort(),
    ).toEqual([
      ['OTLP/HTTP ingest API', true],
      ['Query API (read with a query-scoped tenant key)', false],
    ]);
    withCors.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://app.example.com', 'http://localhost:3000'],
        AllowMethods: ['POST'],
        AllowHeaders: Match.arrayWith(['authorization', 'content-encoding', 'content-type', 'x-api-key']),
        ExposeHeaders: ['retry-after'],
        MaxAge: 3600,
      },
    });
  });

  it('runs the compactor hourly through Scheduler, with a retry policy and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: {
        Arn: { 'Fn::GetAtt': [fnLogicalId('compactor'), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: Match.anyValue() },
      },
    });
    // Asynchronous failures of the compactor itself land in the same queue.
    expect(fnProps('compactor').DeadLetterConfig).toEqual({ TargetArn: expect.anything() });
    // One run at a time (ADR 0005).
    expect(fnProps('compactor').ReservedConcurrentExecutions).toBe(1);
  });

  it('applies the ClickHouse migrations on deploy through a custom resource, unless turned off', () => {
    template.hasResourceProperties('Custom::ClickHouseMigrations', {
      HotRetentionDays: '7',
      CodeVersion: Match.anyValue(),
      ServiceToken: Match.anyValue(),
    });
    // The functions that use ClickHouse get their new code only after the migrations ran.
    const [[migrations]] = ofType('Custom::ClickHouseMigrations') as [[string, Resource]];
    const resources = template.toJSON().Resources as Record<string, { DependsOn?: string[] }>;
    for (const fn of [stack.hotWriter, stack.query, stack.alertEvaluator]) {
      expect(resources[stack.getLogicalId(fn.function.node.defaultChild as never)]?.DependsOn).toContain(
        migrations,
      );
    }
    expect(resources[fnLogicalId('ingest')]?.DependsOn ?? []).not.toContain(migrations);
    const off = Template.fromStack(testApp({ migrateOnDeploy: 'false' }).compute);
    off.resourceCountIs('Custom::ClickHouseMigrations', 0);
  });

  it('grants least privilege: ingest writes the stream, only the compactor deletes published lake objects', () => {
    const policies = ofType('AWS::IAM::Policy').map(([, r]) => JSON.stringify(r.Properties));
    const policyOf = (fn: string) => policies.filter((p) => p.includes(`"${fn}FunctionServiceRole`)).join('');
    expect(policyOf('Ingest')).toContain('kinesis:PutRecords');
    expect(policyOf('HotWriter')).toContain('secretsmanager:GetSecretValue');
    expect(policyOf('HotWriter')).toContain('s3:PutObject');
    expect(policyOf('HotWriter')).not.toContain('s3:DeleteObject');
    expect(policyOf('LakeWriter')).toContain('s3:PutObject');
    // The lake writer deletes only staging files (an incomplete one it rewrote and quarantined).
    const lakeWriterDeletes = ofType('AWS::IAM::Policy')
      .filter(([, r]) => JSON.stringify(r.Properties).includes('"LakeWriterFunctionServiceRole'))
      .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
      .filter((st) => JSON.stringify(st.Action).includes('s3:DeleteObject'));
    expect(lakeWriterDeletes).toHaveLength(1);
    expect(lakeWriterDeletes[0]!.Action).toBe('s3:DeleteObject');
    expect(JSON.stringify(lakeWriterDeletes[0]!.Resource)).toMatch(/\/staging\/\*"\]\]\}$/);
    expect(policyOf('Compactor')).toContain('s3:DeleteObject');
    expect(policies.join('')).not.toMatch(/"s3:\*"|"kinesis:\*"|"dynamodb:\*"/);
  });

  it('creates the alert bus and a dashboard covering ingest, stream, consumers, dead letters and ClickHouse', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    const [, dashboard] = ofType('AWS::CloudWatch::Dashboard')[0] ?? [];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const expected of [
      'Ingest requests',
      'IncomingBytes',
      'IteratorAge',
      'Dead letters',
      'ClickHouseInsertLatency',
      'TenantRowsWritten',
      'RowsInserted',
      'ItemsAccepted',
      'OtlpPipeline/prod',
    ]) {
      expect(body).toContain(expected);
    }
  });
});
