import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { QUERY_ROUTES } from '../../functions/shared/query/routes.js';
import { acknowledgeWildcardResource } from '../nag.js';
import { mountRoutes } from './http-routes.js';
import { PipelineFunction } from './pipeline-function.js';

export interface QueryEndpointProps {
  /** The HTTP API that serves GET /v1/query/... (without CORS: keys in web pages are public). */
  readonly httpApi: apigwv2.HttpApi;
  readonly tenantsTable: dynamodb.ITable;
  /** Per-tenant query rate, counted across instances (keys `query:<tenant>#<window>`). */
  readonly rateLimitTable: dynamodb.ITable;
  readonly clickhouseSecret: secretsmanager.ISecret;
  /** HMAC key of page cursors. */
  readonly cursorSecret: secretsmanager.ISecret;
  /** The Parquet lake: read only, under the Glue tables' prefixes. */
  readonly lakeBucket: s3.IBucket;
  /** Athena writes query results here, under `results/` (the workgroup enforces it). */
  readonly athenaResultsBucket: s3.IBucket;
  readonly athenaWorkGroupName: string;
  readonly glueDatabaseName: string;
  /** Lake tables: Glue table `<name>` over `s3://<lake>/<name>/`; the function may read exactly these. */
  readonly glueTableNames: readonly string[];
  /** CloudWatch namespace of the function's Powertools metrics: `metricsNamespace(environment)`. */
  readonly metricsNamespace: string;
  /** Days the hot tier (ClickHouse) answers; older ranges go to Athena. @default 7 */
  readonly hotRetentionDays?: number;
  /**
   * Budget of one request across tiers, under API Gateway's 30 s and the function's 29 s timeout.
   * @default - the function's own default, 25 s (functions/query/config.ts)
   */
  readonly queryTimeout?: Duration;
  /** @default 1024 */
  readonly memorySize?: number;
}

/**
 * The query API: the query function (ClickHouse for the hot window, Athena over the lake for older
 * data), its routes on the given HTTP API, and read-only access to exactly the lake tables, their
 * Glue catalog entries, the Athena workgroup and its results prefix.
 *
 * @example
 * new QueryEndpoint(this, 'Query', {
 *   httpApi: queryApi, tenantsTable, rateLimitTable, clickhouseSecret, cursorSecret, lakeBucket,
 *   athenaResultsBucket, athenaWorkGroupName: 'otlp-prod', glueDatabaseName: 'otlp_prod',
 *   glueTableNames: ['otel_traces'], metricsNamespace: metricsNamespace('prod'),
 * });
 */
export class QueryEndpoint extends Construct {
  public readonly function: PipelineFunction<'query'>;

  constructor(scope: Construct, id: string, props: QueryEndpointProps) {
    super(scope, id);
    const hotRetentionDays = props.hotRetentionDays ?? 7;
    if (!Number.isInteger(hotRetentionDays) || hotRetentionDays < 1) {
      throw new Error(`\`hotRetentionDays\` must be a positive integer, got: ${hotRetentionDays}`);
    }
    const timeoutMs = props.queryTimeout?.toMilliseconds();
    if (timeoutMs !== undefined && (timeoutMs < 1_000 || timeoutMs > 28_000)) {
      throw new Error(`\`queryTimeout\` must be 1..28 s (the function stops at 29 s), got: ${timeoutMs} ms`);
    }
    const fn = new PipelineFunction(this, 'Function', {
      name: 'query',
      invocation: 'synchronous',
      metricsNamespace: props.metricsNamespace,
      component: 'query',
      description: 'Query API: ClickHouse for the hot window, Athena over the lake for older data',
      memorySize: props.memorySize ?? 1024,
      // API Gateway stops waiting at 30 s; the request budget (QUERY_TIMEOUT_MS) stays below this.
      timeout: Duration.seconds(29),
      environment: {
        TENANTS_TABLE: props.tenantsTable.tableName,
        ATHENA_WORKGROUP: props.athenaWorkGroupName,
        GLUE_DATABASE: props.glueDatabaseName,
        LAKE_BUCKET: props.lakeBucket.bucketName,
        CURSOR_SECRET_ARN: props.cursorSecret.secretArn,
        CLICKHOUSE_SECRET_ARN: props.clickhouseSecret.secretArn,
        HOT_RETENTION_DAYS: String(hotRetentionDays),
        QUERY_TIMEOUT_MS: timeoutMs === undefined ? undefined : String(timeoutMs),
        RATE_LIMIT_TABLE: props.rateLimitTable.tableName,
      },
    });
    this.function = fn;
    props.tenantsTable.grantReadData(fn);
    props.rateLimitTable.grantReadWriteData(fn);
    props.clickhouseSecret.grantRead(fn);
    props.cursorSecret.grantRead(fn);

    const { partition, region, account } = Stack.of(this);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'athena:StartQueryExecution',
          'athena:GetQueryExecution',
          'athena:GetQueryResults',
          'athena:StopQueryExecution',
        ],
        resources: [`arn:${partition}:athena:${region}:${account}:workgroup/${props.athenaWorkGroupName}`],
      }),
    );
    // Athena reads the catalog as the caller: the database and exactly the lake's tables.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartition', 'glue:GetPartitions'],
        resources: [
          `arn:${partition}:glue:${region}:${account}:catalog`,
          `arn:${partition}:glue:${region}:${account}:database/${props.glueDatabaseName}`,
          ...props.glueTableNames.map(
            (t) => `arn:${partition}:glue:${region}:${account}:table/${props.glueDatabaseName}/${t}`,
          ),
        ],
      }),
    );
    // The lake, read only and only under the tables' prefixes (what the Glue tables publish).
    const lakePrefixes = props.glueTableNames.map((t) => `${t}/`);
    const lakeObjects = lakePrefixes.map((p) => props.lakeBucket.arnForObjects(`${p}*`));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: lakeObjects }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [props.lakeBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': lakePrefixes.map((p) => `${p}*`) } },
      }),
    );
    // Athena writes results as the caller; the workgroup enforces the `results/` location.
    const results = props.athenaResultsBucket.arnForObjects('results/*');
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [results],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [props.athenaResultsBucket.bucketArn, props.lakeBucket.bucketArn],
      }),
    );
    const role = fn.role;
    if (role !== undefined) {
      for (const objects of lakeObjects) {
        acknowledgeWildcardResource(
          role,
          objects,
          'Athena reads the Parquet files of one lake table (keys carry tenant, day, hour and stream position), read only.',
        );
      }
      acknowledgeWildcardResource(
        role,
        results,
        'Athena writes and reads query results under generated keys, in the results bucket only.',
      );
    }

    mountRoutes(
      props.httpApi,
      new HttpLambdaIntegration('QueryIntegration', fn.function),
      QUERY_ROUTES,
      (r) =>
        r.authenticated
          ? 'Callers send a tenant API key (Authorization: Bearer / x-api-key); the query function verifies its hash against the tenants table and scopes every query to that tenant.'
          : 'The API description (OpenAPI document) is public on purpose: it holds no tenant data.',
    );
  }
}
