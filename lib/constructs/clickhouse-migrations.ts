import { CustomResource, Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { NO_RETENTION_OVERRIDES, type RetentionSettings } from '../../functions/shared/tenants/retention.js';
import { tagComponent } from '../cost-tags.js';
import { acknowledge, acknowledgeWildcardResource } from '../nag.js';
import { PipelineFunction } from './pipeline-function.js';

export interface ClickHouseMigrationsProps {
  /** The ClickHouse connection secret (url, username, password, database) the migrate function reads. */
  readonly clickhouseSecret: secretsmanager.ISecret;
  /** CloudWatch namespace of the migrate function's Powertools metrics: `metricsNamespace(environment)`. */
  readonly metricsNamespace: string;
  /** Days of hot data: every table's TTL. A change re-runs the migrations, which alter the TTLs. @default 7 */
  readonly hotRetentionDays?: number;
  /** Tenants' own hot retention; a change re-runs the migrations too. @default - none */
  readonly tenantRetention?: RetentionSettings;
  /** Retention of the provider framework's logs. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The ClickHouse schema as a CloudFormation custom resource (functions/migrate/handler.ts): forward-only,
 * idempotent migrations applied on deploy. A custom resource runs only when its properties change,
 * so they re-run when the migrate function's code (a new version: possibly new migrations), the hot
 * retention or the tenants' retention changes, not on every deploy. Delete does nothing: tearing
 * down the stack never drops telemetry.
 *
 * @example
 * new ClickHouseMigrations(this, 'Migrations', {
 *   clickhouseSecret, metricsNamespace: metricsNamespace('prod'), hotRetentionDays: 7,
 * });
 */
export class ClickHouseMigrations extends Construct {
  public readonly function: PipelineFunction<'migrate'>;
  public readonly provider: cr.Provider;
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: ClickHouseMigrationsProps) {
    super(scope, id);
    const hotRetentionDays = props.hotRetentionDays ?? 7;
    if (!Number.isInteger(hotRetentionDays) || hotRetentionDays < 1 || hotRetentionDays > 3650) {
      throw new Error(`\`hotRetentionDays\` must be 1..3650, got: ${hotRetentionDays}`);
    }
    this.function = new PipelineFunction(this, 'Migrate', {
      name: 'migrate',
      invocation: 'synchronous',
      metricsNamespace: props.metricsNamespace,
      component: 'hot-tier',
      description: 'CloudFormation custom resource: apply ClickHouse migrations',
      memorySize: 512,
      timeout: Duration.minutes(5),
      environment: { CLICKHOUSE_SECRET_ARN: props.clickhouseSecret.secretArn },
    });
    props.clickhouseSecret.grantRead(this.function);
    const providerLogs = new logs.LogGroup(this, 'ProviderLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.function.function,
      logGroup: providerLogs,
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: 'Custom::ClickHouseMigrations',
      properties: {
        HotRetentionDays: String(hotRetentionDays),
        // Tenants' own hot retention: a change re-runs the migrations, which rewrite the TTLs.
        TenantRetention: JSON.stringify(props.tenantRetention ?? NO_RETENTION_OVERRIDES),
        // A new function version (new code, hence possibly new migrations) re-runs them.
        CodeVersion: this.function.function.currentVersion.version,
      },
    });
    const why = 'CDK custom resource provider framework, invoked only by CloudFormation on deploy: ';
    acknowledge(
      this.provider,
      'AwsSolutions-IAM4',
      `${why}AWSLambdaBasicExecutionRole only writes its logs.`,
      'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
    );
    acknowledgeWildcardResource(
      this.provider,
      `${this.function.function.functionArn}:*`,
      `${why}it may invoke any version of the migrate function.`,
    );
    acknowledge(this.provider, 'Serverless-LambdaDefaultMemorySize', `${why}its memory is not configurable.`);
    acknowledge(
      this.provider,
      'Serverless-LambdaDLQ',
      `${why}invoked synchronously, failures fail the deploy.`,
    );
    acknowledge(this.provider, 'Serverless-LambdaTracing', `${why}the migrate function it calls is traced.`);
    tagComponent(this, 'hot-tier');
  }
}
