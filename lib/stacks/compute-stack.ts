import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ALERTS_ROUTES } from '../../functions/shared/alerts/alerts-routes.js';
import { STREAM_ALERT_WINDOW_SECONDS } from '../../functions/shared/alerts/evaluation-path.js';
import type { ChannelType } from '../../functions/shared/alerts/rules.js';
import { CONSOLE_ROUTES } from '../../functions/shared/console/static-site.js';
import { metricsNamespace, PIPELINE_METRICS } from '../../functions/shared/costs/pipeline-metrics.js';
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
} from '../../functions/shared/http/cors.js';
import { STAGING_PREFIX } from '../../functions/shared/lake/layout.js';
import { ensureConsoleBuiltSync } from '../console-assets.js';
import { AlertNotifiers } from '../constructs/alert-notifiers.js';
import { ClickHouseMigrations } from '../constructs/clickhouse-migrations.js';
import { mountRoutes } from '../constructs/http-routes.js';
import { PipelineDashboard } from '../constructs/pipeline-dashboard.js';
import { PipelineFunction } from '../constructs/pipeline-function.js';
import { QueryEndpoint } from '../constructs/query-endpoint.js';
import { ScheduledFunction } from '../constructs/scheduled-function.js';
import { StreamConsumer } from '../constructs/stream-consumer.js';
import { tagComponent } from '../cost-tags.js';
import type { FunctionEnvironment } from '../function-environments.js';
import {
  HOT_WRITER_MAX_SEMI_SPACE_MIB,
  INGEST_RUNTIME_PROVIDED_MODULES,
  PARQUET_WASM_FILE,
} from '../lambda-bundling.js';
import { acknowledge, acknowledgeWildcardResource } from '../nag.js';
import { alertSecretPrefix, type Settings } from '../settings.js';

/** OTLP/HTTP paths (the OTLP defaults), one route each to the ingest function. */
export const INGEST_PATHS = ['/v1/traces', '/v1/logs', '/v1/metrics'] as const;

/** Where the alert rule files sit inside the evaluator's bundle (the function's cwd is /var/task). */
export const BUNDLED_ALERT_RULES_DIR = 'alerts';

/** How long a consumer keeps retrying before a batch goes to its DLQ; both leave ≥12 h to replay. */
const HOT_WRITER_MAX_RECORD_AGE = Duration.hours(6);
const LAKE_WRITER_MAX_RECORD_AGE = Duration.hours(12);

/**
 * The lake writer and the compactor share one environment schema (functions/lake-writer/config.ts).
 * An hour is compacted only once no retried batch can still write into it.
 */
const lakeEnvironment = (props: ComputeStackProps): FunctionEnvironment<'lake-writer'> => ({
  LAKE_BUCKET: props.lakeBucket.bucketName,
  DEAD_LETTER_BUCKET: props.deadLetterBucket.bucketName,
  COMPACTION_TARGET_BYTES: String(128 * 1024 * 1024),
  COMPACTION_GRACE_MINUTES: String(LAKE_WRITER_MAX_RECORD_AGE.toMinutes() + 60),
});

export interface ComputeStackProps extends StackProps {
  readonly settings: Settings;
  readonly stream: kinesis.IStream;
  readonly lakeBucket: s3.IBucket;
  readonly deadLetterBucket: s3.IBucket;
  readonly tenantsTable: dynamodb.ITable;
  readonly rateLimitTable: dynamodb.ITable;
  readonly clickhouseSecret: secretsmanager.ISecret;
  readonly hotWriterDeadLetterQueue: sqs.IQueue;
  readonly lakeWriterDeadLetterQueue: sqs.IQueue;
  readonly streamAlertsDeadLetterQueue: sqs.IQueue;
  readonly alarmTopic: sns.ITopic;
  /** Athena writes query results here (the workgroup's `results/` prefix). */
  readonly athenaResultsBucket: s3.IBucket;
  readonly athenaWorkGroupName: string;
  readonly glueDatabaseName: string;
  /** Lake tables: Glue table `<name>` over `s3://<lake>/<name>/`. */
  readonly glueTableNames: readonly string[];
  readonly alertStateTable: dynamodb.ITable;
  readonly alertConfigTable: dynamodb.ITable;
  readonly alertHistoryTable: dynamodb.ITable;
  readonly queryCursorSecret: secretsmanager.ISecret;
  readonly alertEmailTopic: sns.ITopic;
}

/**
 * Everything stateless: the HTTP API and ingest function, the stream consumers, the compactor
 * schedule, the ClickHouse migrations custom resource, the alert bus, the dashboard and alarms.
 * It can be destroyed and redeployed without losing data.
 */
export class ComputeStack extends Stack {
  /** The OTLP/HTTP ingest API (POST /v1/traces|logs|metrics); CORS, when configured, is here only. */
  public readonly api: apigwv2.HttpApi;
  /** The query API (GET /v1/query/...): its own HTTP API, so browser CORS never reaches it. */
  public readonly queryApi: apigwv2.HttpApi;
  public readonly ingest: PipelineFunction<'ingest'>;
  public readonly hotWriter: PipelineFunction<'hot-writer'>;
  public readonly lakeWriter: PipelineFunction<'lake-writer'>;
  public readonly compactor: PipelineFunction<'compactor'>;
  public readonly query: PipelineFunction<'query'>;
  /** The console's files (GET /, /assets/...) on the query API's origin (docs/decisions/0007-console.md). */
  public readonly console: PipelineFunction<'console'>;
  public readonly alertEvaluator: PipelineFunction<'alert-evaluator'>;
  /** /v1/alerts/... (rules, channels, silences, state, history) on the query HTTP API. */
  public readonly alertsApi: PipelineFunction<'alerts-api'>;
  /** The stream's third consumer: decides the stream-owned alert rules per tumbling window. */
  public readonly streamAlertEvaluator: PipelineFunction<'stream-alert-evaluator'>;
  /** One notifier function per channel type. */
  public readonly notifiers: ReadonlyMap<ChannelType, PipelineFunction<'notifiers'>>;
  public readonly alertBus: events.EventBus;
  public readonly dashboard: PipelineDashboard;

  constructor(scope: Construct, id: string, props: ComputeStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const hotRetention = String(s.hotRetentionDays);
    const namespace = metricsNamespace(s.environment);
    const dataPathTracing =
      s.dataPathTracing === 'active' ? lambda.Tracing.ACTIVE : lambda.Tracing.PASS_THROUGH;

    // --- Ingest: HTTP API -> ingest -> stream
    this.ingest = new PipelineFunction(this, 'Ingest', {
      name: 'ingest',
      tracing: dataPathTracing,
      invocation: 'synchronous',
      metricsNamespace: namespace,
      component: 'ingest',
      description: 'OTLP/HTTP receiver: authenticate, decode, flatten, pack, put on the stream',
      memorySize: 1024,
      // Quota warnings (once per tenant and day) load the EventBridge client on first use.
      runtimeProvidedModules: INGEST_RUNTIME_PROVIDED_MODULES,
      // API Gateway stops waiting at 30 s.
      timeout: Duration.seconds(29),
      environment: {
        STREAM_NAME: props.stream.streamName,
        STREAM_ARN: props.stream.streamArn,
        TENANTS_TABLE: props.tenantsTable.tableName,
        RATE_LIMIT_TABLE: props.rateLimitTable.tableName,
        MAX_BODY_BYTES: String(s.maxBodyBytes),
        MAX_DECOMPRESSED_BYTES: String(s.maxDecompressedBytes),
        HOT_RETENTION_DAYS: hotRetention,
        // Unset settings stay unset (undefined values are left out): the function's defaults apply.
        REDACTION_RULES: s.redactionRules,
        DEFAULT_ITEMS_PER_SECOND: optionalString(s.defaultItemsPerSecond),
        DEFAULT_BURST: optionalString(s.defaultBurst),
        DEFAULT_BYTES_PER_DAY: optionalString(s.defaultBytesPerDay),
        DEFAULT_ITEMS_PER_DAY: optionalString(s.defaultItemsPerDay),
      },
    });
    props.stream.grantWrite(this.ingest);
    // Keys are only read; the rate-limit windows are counted with conditional updates.
    props.tenantsTable.grantReadData(this.ingest);
    props.rateLimitTable.grantReadWriteData(this.ingest);
    this.api = this.createApi(s);
    this.queryApi = this.createHttpApi(
      s,
      'QueryApi',
      'Query API (read with a query-scoped tenant key)',
      false,
    );
    tagComponent(this.queryApi, 'query');

    // --- Hot tier: stream -> hot-writer -> ClickHouse
    this.hotWriter = new PipelineFunction(this, 'HotWriter', {
      name: 'hot-writer',
      tracing: dataPathTracing,
      invocation: 'synchronous',
      metricsNamespace: namespace,
      component: 'hot-tier',
      description: 'Stream consumer: one ClickHouse insert per table per batch',
      memorySize: 1024,
      maxSemiSpaceMiB: HOT_WRITER_MAX_SEMI_SPACE_MIB,
      timeout: Duration.minutes(5),
      environment: {
        CLICKHOUSE_SECRET_ARN: props.clickhouseSecret.secretArn,
        DEAD_LETTER_BUCKET: props.deadLetterBucket.bucketName,
        HOT_RETENTION_DAYS: hotRetention,
      },
    });
    props.clickhouseSecret.grantRead(this.hotWriter);
    allowObjects(
      this.hotWriter,
      props.deadLetterBucket,
      ['s3:PutObject'],
      'writes dead letters under keys it derives',
    );
    const hotSource = new StreamConsumer(this, 'HotWriterSource', {
      consumer: this.hotWriter,
      stream: props.stream,
      deadLetterQueue: props.hotWriterDeadLetterQueue,
      alarmTopic: props.alarmTopic,
      kinesisEventSourceProps: {
        batchSize: 10_000,
        maxBatchingWindow: Duration.seconds(s.hotBatchingWindowSeconds),
        maxRecordAge: HOT_WRITER_MAX_RECORD_AGE,
      },
    });
    tagComponent(hotSource, 'hot-tier');

    // --- Lake: stream -> lake-writer -> Parquet on S3, compacted hourly
    this.lakeWriter = new PipelineFunction(this, 'LakeWriter', {
      name: 'lake-writer',
      tracing: dataPathTracing,
      invocation: 'synchronous',
      metricsNamespace: namespace,
      component: 'lake',
      description: 'Stream consumer: Parquet files per table, tenant and hour',
      memorySize: 2048,
      timeout: Duration.minutes(10),
      environment: lakeEnvironment(props),
    });
    // Lists and reads a partition to skip envelopes already written (retries after a bisect).
    allowObjects(
      this.lakeWriter,
      props.lakeBucket,
      ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
      'writes Parquet files under keys derived from table, tenant, hour and stream position',
      { list: true },
    );
    // Only staging files: an incomplete one it rewrote is moved to _quarantine/ (copy, then delete).
    allowObjects(
      this.lakeWriter,
      props.lakeBucket,
      ['s3:DeleteObject'],
      'moves incomplete staging files it rewrote to _quarantine/ (copy, then delete), under staging/ only',
      { keys: `${STAGING_PREFIX}*` },
    );
    allowObjects(
      this.lakeWriter,
      props.deadLetterBucket,
      ['s3:PutObject'],
      'writes dead letters under keys it derives',
    );
    const lakeSource = new StreamConsumer(this, 'LakeWriterSource', {
      consumer: this.lakeWriter,
      stream: props.stream,
      deadLetterQueue: props.lakeWriterDeadLetterQueue,
      alarmTopic: props.alarmTopic,
      kinesisEventSourceProps: {
        batchSize: 10_000,
        // Larger files, fewer PUTs: the lake is not the low-latency path.
        maxBatchingWindow: Duration.seconds(300),
        maxRecordAge: LAKE_WRITER_MAX_RECORD_AGE,
      },
      iteratorAgeAlarmThreshold: Duration.minutes(15),
    });
    tagComponent(lakeSource, 'lake');

    if (s.dataPathTracing === 'pass-through') {
      for (const fn of [this.ingest, this.hotWriter, this.lakeWriter]) {
        acknowledge(
          fn.function,
          'Serverless-LambdaTracing',
          'X-Ray is off on the data path by default (-c dataPathTracing=active turns it on): Lambda would trace ~every invocation at its fixed 1/s + 5% rate, costing as much as the function (docs/decisions/0006-infrastructure.md); the dashboard metrics give its latency.',
        );
      }
    }

    this.compactor = new PipelineFunction(this, 'Compactor', {
      name: 'compactor',
      invocation: 'asynchronous',
      metricsNamespace: namespace,
      component: 'lake',
      description: 'Hourly: merge the small Parquet files of closed hours',
      memorySize: 4096,
      timeout: Duration.minutes(15),
      // One run at a time (ADR 0005): two runs could group the same staging files differently.
      reservedConcurrentExecutions: 1,
      environment: lakeEnvironment(props),
      // It reads the small files with parquet-wasm.
      bundledPaths: [PARQUET_WASM_FILE],
    });
    allowObjects(
      this.compactor,
      props.lakeBucket,
      ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      'merges the files of any closed partition, so it reads, writes and deletes across the lake',
      { list: true },
    );
    const compaction = new ScheduledFunction(this, 'CompactorSchedule', {
      target: this.compactor,
      schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      description: 'Compact the lake: merge small Parquet files of closed hours',
      alarmTopic: props.alarmTopic,
    });
    tagComponent(compaction, 'lake');
    this.createLakeAlarms(props, namespace);

    // --- ClickHouse migrations on deploy: re-run when the migrate function's code or the retention
    // changes (a custom resource runs only when its properties change; forward-only and idempotent)
    const migrations = s.migrateOnDeploy
      ? new ClickHouseMigrations(this, 'ClickHouseSchema', {
          clickhouseSecret: props.clickhouseSecret,
          metricsNamespace: namespace,
          hotRetentionDays: s.hotRetentionDays,
          tenantRetention: s.tenantRetention,
        })
      : undefined;

    // --- Query: HTTP API GET /v1/query/... -> query -> ClickHouse (hot) and Athena (older data)
    this.query = new QueryEndpoint(this, 'QueryEndpoint', {
      httpApi: this.queryApi,
      tenantsTable: props.tenantsTable,
      rateLimitTable: props.rateLimitTable,
      clickhouseSecret: props.clickhouseSecret,
      cursorSecret: props.queryCursorSecret,
      lakeBucket: props.lakeBucket,
      athenaResultsBucket: props.athenaResultsBucket,
      athenaWorkGroupName: props.athenaWorkGroupName,
      glueDatabaseName: props.glueDatabaseName,
      glueTableNames: props.glueTableNames,
      metricsNamespace: namespace,
      hotRetentionDays: s.hotRetentionDays,
      queryTimeout: Duration.millis(s.queryTimeoutMs),
    }).function;
    this.console = this.createConsole(s);

    // --- Alerting: evaluator (every minute) -> alert bus -> one notifier per channel type.
    this.alertBus = new events.EventBus(this, 'AlertBus', { description: 'Alert state changes' });
    tagComponent(this.alertBus, 'alerting');
    // Daily quota warnings (80%) from the ingest go on the same bus (functions/shared/tenants/quota-events.ts).
    this.ingest.addEnvironment('QUOTA_EVENT_BUS', this.alertBus.eventBusName);
    this.alertBus.grantPutEventsTo(this.ingest);
    this.alertEvaluator = this.createAlertEvaluator(props);
    this.streamAlertEvaluator = this.createStreamAlertEvaluator(props);
    this.notifiers = new AlertNotifiers(this, 'Notifiers', {
      bus: this.alertBus,
      emailTopic: props.alertEmailTopic,
      alarmTopic: props.alarmTopic,
      metricsNamespace: namespace,
      secretPrefix: alertSecretPrefix(s),
      secretArns: s.alertSecretArns,
    }).functions;
    this.alertsApi = this.createAlertsApi(props);

    // The functions that use ClickHouse are updated only after the migrations ran (a failed
    // migration fails the deploy first): new code never meets the tables of the previous schema.
    for (const fn of [this.hotWriter, this.query, this.alertEvaluator]) {
      if (migrations) fn.function.node.addDependency(migrations.resource);
    }

    // --- Monitoring
    this.dashboard = new PipelineDashboard(this, 'Dashboard', {
      metricsNamespace: namespace,
      api: this.api,
      stream: props.stream,
      ingest: this.ingest,
      consumers: [
        { fn: this.hotWriter, deadLetterQueue: props.hotWriterDeadLetterQueue },
        { fn: this.lakeWriter, deadLetterQueue: props.lakeWriterDeadLetterQueue },
      ],
      others: [
        this.compactor,
        this.query,
        this.console,
        this.alertsApi,
        this.alertEvaluator,
        this.streamAlertEvaluator,
        ...this.notifiers.values(),
      ],
    });
    tagComponent(this.dashboard, 'monitoring');
    this.createIngestAlarms(props);

    new CfnOutput(this, 'ApiEndpoint', {
      value: this.api.apiEndpoint,
      description: 'OTLP/HTTP endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT to this',
    });
    new CfnOutput(this, 'QueryApiUrl', {
      value: `${this.queryApi.apiEndpoint}/v1/query`,
      description:
        'Query API: GET <this>/traces, /logs, /metrics, /services with Authorization: Bearer <tenant key>',
    });
    new CfnOutput(this, 'ConsoleUrl', {
      value: `${this.queryApi.apiEndpoint}/`,
      description: 'The console: open it and enter a tenant key with the query scope',
    });
    new CfnOutput(this, 'AlertBusName', {
      value: this.alertBus.eventBusName,
      description: 'Alert events bus',
    });
    new CfnOutput(this, 'DashboardName', {
      value: this.dashboard.dashboard.dashboardName,
      description: 'CloudWatch dashboard of the pipeline',
    });
  }

  /**
   * An HTTP API with its throttled `$default` stage and JSON access logs. Ingest and query are two
   * APIs because HTTP API CORS applies to a whole API: browsers may export telemetry (ingest) but
   * must not get answers from the query API (keys in web pages are public).
   */
  private createHttpApi(s: Settings, id: string, description: string, cors: boolean): apigwv2.HttpApi {
    const api = new apigwv2.HttpApi(this, id, {
      description,
      createDefaultStage: false,
      // API Gateway answers preflights itself and puts these headers on every answer.
      ...(cors &&
        s.corsAllowedOrigins.length > 0 && {
          corsPreflight: {
            allowOrigins: s.corsAllowedOrigins,
            allowMethods: CORS_ALLOW_METHODS.map((m) => apigwv2.CorsHttpMethod[m]),
            allowHeaders: [...CORS_ALLOW_HEADERS],
            exposeHeaders: [...CORS_EXPOSE_HEADERS],
            maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
          },
        }),
    });
    const accessLogs = new logs.LogGroup(this, `${id}AccessLogs`, {
      retention: logs.RetentionDays.ONE_MONTH,
    });
    const stage = new apigwv2.HttpStage(this, `${id}Stage`, {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: s.apiThrottleRate, burstLimit: s.apiThrottleBurst },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            userAgent: '$context.identity.userAgent',
          }),
        ),
      },
    });
    tagComponent(stage, cors ? 'ingest' : 'query');
    tagComponent(accessLogs, cors ? 'ingest' : 'query');
    return api;
  }

  private createApi(s: Settings): apigwv2.HttpApi {
    const api = this.createHttpApi(s, 'Api', 'OTLP/HTTP ingest API', true);
    mountRoutes(
      api,
      new HttpLambdaIntegration('IngestIntegration', this.ingest.function),
      INGEST_PATHS.map((path) => ({ path, method: 'POST' as const })),
      () =>
        'OTLP exporters send a tenant API key (Authorization: Bearer / x-api-key); the ingest function verifies its hash against the tenants table before anything else.',
    );
    tagComponent(api, 'ingest');
    return api;
  }

  /**
   * The console on the query API: same origin as the routes it calls, so the query API stays
   * without CORS and the CSP can say `connect-src 'self'`. The built files travel in the
   * function's package (built here when console/src is newer than console/dist).
   */
  private createConsole(s: Settings): PipelineFunction<'console'> {
    ensureConsoleBuiltSync();
    const fn = new PipelineFunction(this, 'Console', {
      name: 'console',
      invocation: 'synchronous',
      metricsNamespace: metricsNamespace(s.environment),
      component: 'query',
      description: "Console: the web UI's static files, on the query API's origin",
      memorySize: 256,
      timeout: Duration.seconds(10),
      bundledPaths: [{ from: 'console/dist', to: 'console' }],
    });
    mountRoutes(
      this.queryApi,
      new HttpLambdaIntegration('ConsoleIntegration', fn.function),
      CONSOLE_ROUTES.map((path) => ({ path, method: 'GET' as const })),
      () =>
        "The console's HTML, JS and CSS are public on purpose: they hold no data; every query the page makes carries the user's tenant key.",
    );
    return fn;
  }

  private createAlertEvaluator(props: ComputeStackProps): PipelineFunction<'alert-evaluator'> {
    const s = props.settings;
    const fn = new PipelineFunction(this, 'AlertEvaluator', {
      name: 'alert-evaluator',
      invocation: 'asynchronous',
      metricsNamespace: metricsNamespace(s.environment),
      component: 'alerting',
      description: 'Every minute: evaluate the alert rules on ClickHouse, put state changes on the alert bus',
      memorySize: 512,
      // Shorter than the schedule's period, so one round ends before the next starts.
      timeout: Duration.seconds(50),
      // One round at a time: state transitions are conditional writes, a second round only wastes work.
      reservedConcurrentExecutions: 1,
      bundledPaths: [{ from: s.alertRulesDir, to: BUNDLED_ALERT_RULES_DIR }],
      environment: {
        ALERT_RULES_DIR: BUNDLED_ALERT_RULES_DIR,
        ALERT_STATE_TABLE: props.alertStateTable.tableName,
        ALERT_BUS_NAME: this.alertBus.eventBusName,
        QUERY_API_URL: this.queryApi.apiEndpoint,
        // The console is served on the query API's origin: events and history link to its pages.
        CONSOLE_BASE_URL: this.queryApi.apiEndpoint,
        CLICKHOUSE_SECRET_ARN: props.clickhouseSecret.secretArn,
        ALERT_CONCURRENCY: String(s.alertConcurrency),
        ALERT_CONFIG_TABLE: props.alertConfigTable.tableName,
        ALERT_HISTORY_TABLE: props.alertHistoryTable.tableName,
        // The stream evaluator owns the rules evaluationPath gives it; this one sweeps their silent shards.
        ALERT_STREAM_WINDOW_SECONDS: String(STREAM_ALERT_WINDOW_SECONDS),
      },
    });
    // A failed or throttled round is not retried: the next one, a minute later, evaluates afresh.
    fn.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(2) });
    acknowledge(
      fn.function.node.findChild('EventInvokeConfig'),
      'Serverless-LambdaAsyncFailureDestination',
      'Failed asynchronous invocations already go to the schedule dead-letter queue (the function DeadLetterConfig, set by ScheduledFunction); a destination too would deliver every failure twice.',
    );
    this.alertBus.grantPutEventsTo(fn);
    props.clickhouseSecret.grantRead(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [props.alertStateTable.tableArn],
      }),
    );
    // Rules and silences from the alerts API (read), transitions into the history (write).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Scan', 'dynamodb:Query'],
        resources: [props.alertConfigTable.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem'],
        resources: [props.alertHistoryTable.tableArn],
      }),
    );
    const schedule = new ScheduledFunction(this, 'AlertEvaluatorSchedule', {
      target: fn,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(1)),
      description: 'Evaluate the alert rules every minute',
      alarmTopic: props.alarmTopic,
      retryAttempts: 2,
      maxEventAge: Duration.minutes(2),
    });
    tagComponent(schedule, 'alerting');
    return fn;
  }

  /**
   * The alerts API on the query HTTP API (no CORS there): reads with a query-scoped key, writes
   * with an admin-scoped one. It writes channel secrets into Secrets Manager under the alert
   * secret prefix, which is where the notifiers may read.
   */
  private createAlertsApi(props: ComputeStackProps): PipelineFunction<'alerts-api'> {
    const s = props.settings;
    const { partition, region, account } = this;
    const prefix = alertSecretPrefix(s);
    const fn = new PipelineFunction(this, 'AlertsApi', {
      name: 'alerts-api',
      invocation: 'synchronous',
      metricsNamespace: metricsNamespace(s.environment),
      component: 'alerting',
      description: 'Alerts API: rules, channels, silences, state and history per tenant',
      memorySize: 512,
      timeout: Duration.seconds(29),
      bundledPaths: [{ from: s.alertRulesDir, to: BUNDLED_ALERT_RULES_DIR }],
      environment: {
        TENANTS_TABLE: props.tenantsTable.tableName,
        RATE_LIMIT_TABLE: props.rateLimitTable.tableName,
        ALERT_CONFIG_TABLE: props.alertConfigTable.tableName,
        ALERT_HISTORY_TABLE: props.alertHistoryTable.tableName,
        ALERT_STATE_TABLE: props.alertStateTable.tableName,
        ALERT_RULES_DIR: BUNDLED_ALERT_RULES_DIR,
        ALERT_SECRET_PREFIX: prefix,
      },
    });
    props.tenantsTable.grantReadData(fn);
    props.rateLimitTable.grantReadWriteData(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [props.alertConfigTable.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [props.alertHistoryTable.tableArn, props.alertStateTable.tableArn],
      }),
    );
    const secretsArn = `arn:${partition}:secretsmanager:${region}:${account}:secret:${prefix}*`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'secretsmanager:CreateSecret',
          'secretsmanager:PutSecretValue',
          'secretsmanager:TagResource',
        ],
        resources: [secretsArn],
      }),
    );
    const role = fn.role;
    if (role !== undefined) {
      acknowledgeWildcardResource(
        role,
        secretsArn,
        'The alerts API creates one secret per channel a tenant makes, named under the alert secret prefix (alertSecretPrefix); nothing else.',
      );
    }
    mountRoutes(
      this.queryApi,
      new HttpLambdaIntegration('AlertsApiIntegration', fn.function),
      ALERTS_ROUTES,
      () =>
        'Callers send a tenant API key (Authorization: Bearer / x-api-key); the alerts API function verifies its hash against the tenants table, needs the query scope to read and the admin scope to write, and scopes everything to that tenant.',
    );
    return fn;
  }

  private createStreamAlertEvaluator(props: ComputeStackProps): PipelineFunction<'stream-alert-evaluator'> {
    const s = props.settings;
    const fn = new PipelineFunction(this, 'StreamAlertEvaluator', {
      name: 'stream-alert-evaluator',
      invocation: 'synchronous',
      metricsNamespace: metricsNamespace(s.environment),
      component: 'alerting',
      description:
        'Stream consumer with tumbling windows: decide the stream-owned alert rules within seconds',
      memorySize: 512,
      timeout: Duration.minutes(1),
      bundledPaths: [{ from: s.alertRulesDir, to: BUNDLED_ALERT_RULES_DIR }],
      environment: {
        ALERT_RULES_DIR: BUNDLED_ALERT_RULES_DIR,
        ALERT_STATE_TABLE: props.alertStateTable.tableName,
        ALERT_BUS_NAME: this.alertBus.eventBusName,
        QUERY_API_URL: this.queryApi.apiEndpoint,
        CONSOLE_BASE_URL: this.queryApi.apiEndpoint,
        // The scheduled evaluator's rules and silences (alerts API), history included.
        ALERT_CONFIG_TABLE: props.alertConfigTable.tableName,
        ALERT_HISTORY_TABLE: props.alertHistoryTable.tableName,
      },
    });
    this.alertBus.grantPutEventsTo(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Scan', 'dynamodb:Query'],
        resources: [props.alertConfigTable.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem'],
        resources: [props.alertHistoryTable.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [props.alertStateTable.tableArn],
      }),
    );
    const source = new StreamConsumer(this, 'StreamAlertEvaluatorSource', {
      consumer: fn,
      stream: props.stream,
      deadLetterQueue: props.streamAlertsDeadLetterQueue,
      alarmTopic: props.alarmTopic,
      kinesisEventSourceProps: {
        batchSize: 1000,
        // Inside a window records go on at once: the window's end, not a batching wait, is the delay.
        maxBatchingWindow: Duration.seconds(0),
        tumblingWindow: Duration.seconds(STREAM_ALERT_WINDOW_SECONDS),
        // Alerts are about now: an hour-old backlog is not worth deciding (and the sweep covers it).
        maxRecordAge: Duration.hours(1),
        startingPosition: lambda.StartingPosition.LATEST,
      },
      iteratorAgeAlarmThreshold: Duration.minutes(1),
    });
    tagComponent(source, 'alerting');
    return fn;
  }

  /**
   * Lake integrity: a staging file the compactor had to quarantine (its rows are not published:
   * someone must look), a partition a run could not compact, and incomplete files the lake writer
   * rewrote (S3 puts are atomic, so on AWS any is a surprise worth a look).
   */
  private createLakeAlarms(props: ComputeStackProps, namespace: string): void {
    const action = new actions.SnsAction(props.alarmTopic);
    const metric = (service: string, metricName: string) =>
      new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap: { service },
        statistic: 'Sum',
        period: Duration.hours(1),
      });
    const alarms = [
      new cloudwatch.Alarm(this, 'LakeQuarantineAlarm', {
        alarmDescription:
          'The compactor quarantined unreadable staging files (see _quarantine/ in the lake bucket, each with a .json reason).',
        metric: metric(this.compactor.name, PIPELINE_METRICS.lakeFilesQuarantined),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'CompactionPartitionsFailedAlarm', {
        alarmDescription:
          'Compactor runs left partitions uncompacted two hours running (see its error logs).',
        metric: metric(this.compactor.name, PIPELINE_METRICS.compactionPartitionsFailed),
        threshold: 0,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'LakeFilesReplacedAlarm', {
        alarmDescription:
          'The lake writer found incomplete staging files and rewrote their records (the broken files are under _quarantine/).',
        metric: metric(this.lakeWriter.name, PIPELINE_METRICS.lakeFilesReplaced),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    for (const alarm of alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      tagComponent(alarm, 'lake');
    }
  }

  private createIngestAlarms(props: ComputeStackProps): void {
    const action = new actions.SnsAction(props.alarmTopic);
    const alarms = [
      new cloudwatch.Alarm(this, 'Api5xxAlarm', {
        alarmDescription: 'The ingest API answers 5xx: exporters are retrying or dropping telemetry.',
        metric: this.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 10,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'IngestErrorsAlarm', {
        alarmDescription: 'The ingest function fails (unhandled errors).',
        metric: this.ingest.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 5,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'StreamThrottledAlarm', {
        alarmDescription: 'Writes to the stream are throttled: add shards or switch to on-demand.',
        metric: props.stream.metricWriteProvisionedThroughputExceeded({
          period: Duration.minutes(5),
          statistic: 'Sum',
        }),
        threshold: 0,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    for (const alarm of alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      tagComponent(alarm, 'monitoring');
    }
  }
}

/**
 * Grants object actions on one bucket (and ListBucket when asked), without the action wildcards
 * of `bucket.grantReadWrite()`. Object keys are computed at run time, so the resource is
 * `<bucket ARN>/<keys>` (`*` unless narrowed to a prefix): that one finding is acknowledged with
 * the reason.
 */
function allowObjects(
  fn: PipelineFunction,
  bucket: s3.IBucket,
  actions: string[],
  reason: string,
  options: { list?: boolean; keys?: string } = {},
): void {
  const objects = bucket.arnForObjects(options.keys ?? '*');
  fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [objects] }));
  if (options.list) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
    );
  }
  const role = fn.role;
  if (role !== undefined) acknowledgeWildcardResource(role, objects, `${fn.name} ${reason}.`);
}

const optionalString = (n: number | undefined): string | undefined =>
  n === undefined ? undefined : String(n);
