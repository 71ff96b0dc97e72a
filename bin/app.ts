import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { glueTables } from '../functions/shared/glue/glue-tables.js';
import { DEFAULT_RETENTION_FILE } from '../functions/shared/tenants/retention.js';
import { tagDeployment } from '../lib/cost-tags.js';
import { readSettings, type Settings } from '../lib/settings.js';
import { ComputeStack } from '../lib/stacks/compute-stack.js';
import { OperationsStack } from '../lib/stacks/operations-stack.js';
import { StatefulStack } from '../lib/stacks/stateful-stack.js';

/**
 * CDK feature flags this app is written against (newer, safer behaviour than the v2 defaults).
 * Set here rather than in cdk.json so tests synthesize exactly what `cdk synth` does.
 */
export const FEATURE_FLAGS: Readonly<Record<string, unknown>> = {
  // Access logs delivered under a bucket policy, not an ACL (ACLs are disabled on every bucket).
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  // Custom resources use the SDK in the Lambda runtime: nothing is downloaded at deploy time.
  '@aws-cdk/customresources:installLatestAwsSdkDefault': false,
  // Strong cross-stack references: the stateful stack cannot drop an output a consumer still imports.
  '@aws-cdk/core:defaultCrossStackReferences': 'strong',
};

export interface PipelineApp {
  readonly app: App;
  readonly settings: Settings;
  readonly stateful: StatefulStack;
  readonly operations: OperationsStack;
  readonly compute: ComputeStack;
}

/**
 * The CDK app: settings from context (lib/settings.ts), three stacks split by lifecycle, cost tags,
 * and the cdk-nag packs (a finding fails `cdk synth`). Environment-agnostic: no lookups, so it
 * synthesizes offline without credentials; the account and region come from the deploy.
 */
export function createApp(props: AppProps = {}): PipelineApp {
  const app = new App({ ...props, context: { ...FEATURE_FLAGS, ...props.context } });
  // Tenants' retention: from context when given, else the file the tenants CLI writes.
  const retentionFile = fileURLToPath(new URL(`../${DEFAULT_RETENTION_FILE}`, import.meta.url));
  const settings = readSettings((key) => {
    const value: unknown = app.node.tryGetContext(key);
    if (key === 'tenantRetention' && value === undefined && existsSync(retentionFile)) {
      return readFileSync(retentionFile, 'utf8');
    }
    return value;
  });
  const prefix = `OtlpPipeline-${settings.environment}`;
  const description = (part: string) => `OTLP pipeline (${settings.environment}): ${part}`;

  const stateful = new StatefulStack(app, `${prefix}-Stateful`, {
    description: description('stream, lake, catalog, tenants, alert state, secrets'),
    settings,
    glueTables,
  });
  const operations = new OperationsStack(app, `${prefix}-Operations`, {
    description: description('alarm topic, budget, cost anomaly detection'),
    settings,
  });
  const compute = new ComputeStack(app, `${prefix}-Compute`, {
    description: description('API, functions, schedules, alerting, dashboard'),
    settings,
    stream: stateful.stream,
    lakeBucket: stateful.lakeBucket,
    deadLetterBucket: stateful.deadLetterBucket,
    tenantsTable: stateful.tenantsTable,
    rateLimitTable: stateful.rateLimitTable,
    clickhouseSecret: stateful.clickhouseSecret,
    hotWriterDeadLetterQueue: stateful.hotWriterDeadLetterQueue,
    lakeWriterDeadLetterQueue: stateful.lakeWriterDeadLetterQueue,
    streamAlertsDeadLetterQueue: stateful.streamAlertsDeadLetterQueue,
    alarmTopic: operations.alarmTopic,
    athenaResultsBucket: stateful.athenaResultsBucket,
    athenaWorkGroupName: stateful.athenaWorkGroupName,
    glueDatabaseName: stateful.glueDatabaseName,
    glueTableNames: stateful.glueTableNames,
    alertStateTable: stateful.alertStateTable,
    alertConfigTable: stateful.alertConfigTable,
    alertHistoryTable: stateful.alertHistoryTable,
    queryCursorSecret: stateful.queryCursorSecret,
    alertEmailTopic: stateful.alertEmailTopic,
  });

  tagDeployment(app, {
    project: settings.project,
    environment: settings.environment,
    costCenter: settings.costCenter,
  });
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true }),
    new ServerlessChecks(app, { verbose: true }),
  );
  return { app, settings, stateful, operations, compute };
}

const invokedDirectly =
  process.argv[1] !== undefined &&
  realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) createApp();
