import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { GlueTableSpec } from '../../functions/shared/glue/glue-spec.js';
import { lakeExpiryRules } from '../../functions/shared/tenants/retention.js';
import { GlueCatalog } from '../constructs/glue-catalog.js';
import { QueryWorkgroup } from '../constructs/query-workgroup.js';
import { SecureBucket } from '../constructs/secure-bucket.js';
import { tagComponent } from '../cost-tags.js';
import { acknowledge } from '../nag.js';
import type { Settings } from '../settings.js';

/** Server access logs are kept for audits this long. */
const ACCESS_LOG_RETENTION = Duration.days(90);

/**
 * Logical IDs of the resources that hold data. They are pinned (a test checks them): a refactor
 * that moved a construct must never make CloudFormation replace, i.e. orphan, a bucket or stream.
 */
export const STATEFUL_LOGICAL_IDS = {
  stream: 'Stream',
  lakeBucket: 'LakeBucket',
  deadLetterBucket: 'DeadLetterBucket',
  accessLogsBucket: 'AccessLogsBucket',
  athenaResultsBucket: 'AthenaResultsBucket',
  tenantsTable: 'TenantsTable',
  rateLimitTable: 'RateLimitTable',
  clickhouseSecret: 'ClickHouseSecret',
  hotWriterDeadLetterQueue: 'HotWriterDeadLetterQueue',
  lakeWriterDeadLetterQueue: 'LakeWriterDeadLetterQueue',
  streamAlertsDeadLetterQueue: 'StreamAlertsDeadLetterQueue',
  glueDatabase: 'GlueDatabase',
  athenaWorkGroup: 'AthenaWorkGroup',
  alertStateTable: 'AlertStateTable',
  alertConfigTable: 'AlertConfigTable',
  alertHistoryTable: 'AlertHistoryTable',
  queryCursorSecret: 'QueryCursorSecret',
  alertEmailTopic: 'AlertEmailTopic',
} as const;

/** Glue table logical IDs: `GlueTable` + the table name without underscores (otel_logs -> GlueTableotellogs). */
export const glueTableLogicalId = (table: string): string => `GlueTable${table.replace(/[^A-Za-z0-9]/g, '')}`;

export interface StatefulStackProps extends StackProps {
  readonly settings: Settings;
  /** Builds the Glue table specs for a lake location (`s3://bucket`); see functions/shared/glue. */
  readonly glueTables: (lakeLocation: string) => readonly GlueTableSpec[];
}

/**
 * Everything that holds data: the stream, the lake and its catalog, dead letters, the tenants
 * table, the ClickHouse secret. Termination protection on, every resource retained on delete, so
 * the stateless stacks can be destroyed and redeployed freely.
 */
export class StatefulStack extends Stack {
  public readonly stream: kinesis.IStream;
  public readonly lakeBucket: s3.IBucket;
  public readonly deadLetterBucket: s3.IBucket;
  public readonly accessLogsBucket: s3.IBucket;
  public readonly athenaResultsBucket: s3.IBucket;
  public readonly tenantsTable: dynamodb.ITable;
  public readonly rateLimitTable: dynamodb.ITable;
  public readonly clickhouseSecret: secretsmanager.ISecret;
  public readonly hotWriterDeadLetterQueue: sqs.IQueue;
  public readonly lakeWriterDeadLetterQueue: sqs.IQueue;
  /** Batches the stream alert evaluator gave up on (pointers into the stream). */
  public readonly streamAlertsDeadLetterQueue: sqs.IQueue;
  public readonly glueDatabaseName: string;
  public readonly athenaWorkGroupName: string;
  /** Names of the Glue tables (one per lake table, under `<name>/` in the lake bucket). */
  public readonly glueTableNames: readonly string[];
  /** Per-series alert state of the evaluator (pk/sk, TTL on expiresAt). */
  public readonly alertStateTable: dynamodb.ITable;
  /** Rules, channels and silences made through the alerts API (pk = tenant). */
  public readonly alertConfigTable: dynamodb.ITable;
  /** Alert state changes (GET /v1/alerts/history); TTL on expiresAt. */
  public readonly alertHistoryTable: dynamodb.ITable;
  /** HMAC key signing the query API's page cursors. */
  public readonly queryCursorSecret: secretsmanager.ISecret;
  /** The e-mail notifier publishes here; rule files name its ARN in `email` channels. */
  public readonly alertEmailTopic: sns.ITopic;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    const s = props.settings;

    const accessLogs = new SecureBucket(this, 'AccessLogs', {
      lifecycleRules: [{ id: 'expire-access-logs', expiration: ACCESS_LOG_RETENTION }],
    });
    tagComponent(accessLogs, 'monitoring');
    this.accessLogsBucket = pin(accessLogs.bucket, STATEFUL_LOGICAL_IDS.accessLogsBucket);

    // The stream: on-demand scales by itself; provisioned is cheaper at a steady, known rate.
    const stream = new kinesis.Stream(this, 'Stream', {
      streamMode:
        s.streamMode === 'provisioned' ? kinesis.StreamMode.PROVISIONED : kinesis.StreamMode.ON_DEMAND,
      shardCount: s.streamMode === 'provisioned' ? s.shardCount : undefined,
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: Duration.hours(s.streamRetentionHours),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    tagComponent(stream, 'stream');
    this.stream = pin(stream, STATEFUL_LOGICAL_IDS.stream);

    // The lake: Standard while compaction and recent queries touch it, then Glacier Instant
    // Retrieval (same millisecond reads, so Athena still queries it), then gone.
    const lake = new SecureBucket(this, 'Lake', {
      serverAccessLogsBucket: this.accessLogsBucket,
      lifecycleRules: [
        {
          id: 'lake-tiers',
          transitions: [
            {
              storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
              transitionAfter: Duration.days(s.glacierAfterDays),
            },
          ],
          expiration: Duration.days(s.lakeRetentionDays),
        },
        // Tenants with a shorter lake retention of their own (npm run tenants -- set-retention).
        ...lakeExpiryRules(s.tenantRetention, s.lakeRetentionDays).map((r) => ({
          id: r.id,
          prefix: r.prefix,
          expiration: Duration.days(r.days),
        })),
      ],
    });
    tagComponent(lake, 'lake');
    this.lakeBucket = pin(lake.bucket, STATEFUL_LOGICAL_IDS.lakeBucket);

    // Poison records (written by the consumers) and anything else no consumer could handle.
    const deadLetters = new SecureBucket(this, 'DeadLetters', {
      serverAccessLogsBucket: this.accessLogsBucket,
      lifecycleRules: [{ id: 'expire-dead-letters', expiration: Duration.days(s.deadLetterRetentionDays) }],
    });
    tagComponent(deadLetters, 'dead-letter');
    this.deadLetterBucket = pin(deadLetters.bucket, STATEFUL_LOGICAL_IDS.deadLetterBucket);

    this.hotWriterDeadLetterQueue = pin(
      deadLetterQueue(this, 'HotWriterDeadLetterQueue'),
      STATEFUL_LOGICAL_IDS.hotWriterDeadLetterQueue,
    );
    this.lakeWriterDeadLetterQueue = pin(
      deadLetterQueue(this, 'LakeWriterDeadLetterQueue'),
      STATEFUL_LOGICAL_IDS.lakeWriterDeadLetterQueue,
    );
    this.streamAlertsDeadLetterQueue = pin(
      deadLetterQueue(this, 'StreamAlertsDeadLetterQueue'),
      STATEFUL_LOGICAL_IDS.streamAlertsDeadLetterQueue,
    );

    const tenants = new dynamodb.Table(this, 'Tenants', {
      partitionKey: { name: 'keyHash', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    tagComponent(tenants, 'ingest');
    this.tenantsTable = pin(tenants, STATEFUL_LOGICAL_IDS.tenantsTable);

    // Per-tenant rate-limit windows (functions/shared/tenants/dynamo-rate-limiter.ts): kept apart
    // from the tenants table so ingest needs no write access to API keys; old windows expire by TTL.
    const rateLimits = new dynamodb.Table(this, 'RateLimits', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    tagComponent(rateLimits, 'ingest');
    this.rateLimitTable = pin(rateLimits, STATEFUL_LOGICAL_IDS.rateLimitTable);

    this.clickhouseSecret = this.createClickHouseSecret(s);

    const athenaResults = new SecureBucket(this, 'AthenaResults', {
      serverAccessLogsBucket: this.accessLogsBucket,
      lifecycleRules: [{ id: 'expire-results', expiration: Duration.days(s.athenaResultsRetentionDays) }],
      noncurrentVersionExpiration: Duration.days(1),
    });
    tagComponent(athenaResults, 'query');
    this.athenaResultsBucket = pin(athenaResults.bucket, STATEFUL_LOGICAL_IDS.athenaResultsBucket);

    const catalog = new GlueCatalog(this, 'Catalog', {
      databaseName: `otlp_${s.environment.replace(/-/g, '_')}`,
      tables: props.glueTables(`s3://${this.lakeBucket.bucketName}`),
    });
    catalog.database.overrideLogicalId(STATEFUL_LOGICAL_IDS.glueDatabase);
    for (const [name, table] of catalog.tables) table.overrideLogicalId(glueTableLogicalId(name));
    tagComponent(catalog, 'lake');
    this.glueDatabaseName = catalog.databaseName;
    this.glueTableNames = [...catalog.tables.keys()];

    const workgroup = new QueryWorkgroup(this, 'Query', {
      name: `otlp-${s.environment}`,
      resultsBucket: this.athenaResultsBucket,
      bytesScannedCutoffPerQuery: s.athenaBytesScannedCutoff,
    });
    workgroup.workgroup.overrideLogicalId(STATEFUL_LOGICAL_IDS.athenaWorkGroup);
    tagComponent(workgroup, 'query');
    this.athenaWorkGroupName = workgroup.workgroupName;

    this.alertStateTable = this.createAlertStateTable();
    this.alertConfigTable = this.createAlertTable(
      'AlertConfig',
      STATEFUL_LOGICAL_IDS.alertConfigTable,
      false,
    );
    this.alertHistoryTable = this.createAlertTable(
      'AlertHistory',
      STATEFUL_LOGICAL_IDS.alertHistoryTable,
      true,
    );
    this.queryCursorSecret = this.createQueryCursorSecret();
    this.alertEmailTopic = this.createAlertEmailTopic(s);

    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('StreamName', this.stream.streamName, 'Kinesis stream the ingest function writes to');
    out('LakeBucketName', this.lakeBucket.bucketName, 'Parquet lake (Athena reads it through Glue)');
    out('DeadLetterBucketName', this.deadLetterBucket.bucketName, 'Poison records and failed batches');
    out('TenantsTableName', this.tenantsTable.tableName, 'Pass to `npm run tenants -- create --table`');
    out(
      'ClickHouseSecretArn',
      this.clickhouseSecret.secretArn,
      'Put the ClickHouse Cloud connection JSON here',
    );
    out('GlueDatabaseName', this.glueDatabaseName, 'Athena database of the lake tables');
    out('AthenaWorkGroupName', this.athenaWorkGroupName, 'Run Athena queries in this workgroup');
    out(
      'AlertEmailTopicArn',
      this.alertEmailTopic.topicArn,
      'Name this topic in the `topicArn` of `email` channels in alert rule files',
    );
  }

  /**
   * Alert state (functions/shared/alerts/dynamo-alert-state-store.ts): losing it would re-fire
   * every firing alert and forget pending ones, so it is kept like data; series untouched for days
   * expire by TTL.
   */
  private createAlertStateTable(): dynamodb.ITable {
    const table = new dynamodb.Table(this, 'AlertState', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    tagComponent(table, 'alerting');
    return pin(table, STATEFUL_LOGICAL_IDS.alertStateTable);
  }

  /**
   * The alerts API's tables (functions/shared/alerts/dynamo-alert-config-store.ts): a tenant's rules,
   * channels and silences, and the history of state changes. Configuration people wrote is data:
   * retained, with point-in-time recovery; history entries expire by TTL.
   */
  private createAlertTable(id: string, logicalId: string, ttl: boolean): dynamodb.ITable {
    const table = new dynamodb.Table(this, id, {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      ...(ttl && { timeToLiveAttribute: 'expiresAt' }),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    tagComponent(table, 'alerting');
    return pin(table, logicalId);
  }

  /** A generated key: replacing it would invalidate every page cursor in flight, so it is retained. */
  private createQueryCursorSecret(): secretsmanager.ISecret {
    const secret = new secretsmanager.Secret(this, 'QueryCursorSecret', {
      description: 'HMAC key signing the query API page cursors (any string of 16+ characters).',
      generateSecretString: { excludePunctuation: true, passwordLength: 48 },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'A page-cursor signing key: cursors live for minutes and the key never leaves the query function; rotating it only breaks the pages being read. Replace the value by hand if it leaks (docs/deploy.md).',
    );
    tagComponent(secret, 'query');
    return pin(secret, STATEFUL_LOGICAL_IDS.queryCursorSecret);
  }

  /**
   * Kept with the data rather than the compute: rule files name its ARN and each e-mail recipient
   * confirms a subscription once; a replaced topic would silently break both. The AWS managed SNS
   * key suffices: only the e-mail notifier (an IAM role of this account) publishes to it.
   */
  private createAlertEmailTopic(s: Settings): sns.ITopic {
    const topic = new sns.Topic(this, 'AlertEmailTopic', {
      masterKey: kms.Alias.fromAliasName(this, 'AlertEmailTopicKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    topic.applyRemovalPolicy(RemovalPolicy.RETAIN);
    s.alertEmails.forEach((email, i) => {
      const subscription = new sns.Subscription(this, `AlertEmail${i}`, {
        topic,
        protocol: sns.SubscriptionProtocol.EMAIL,
        endpoint: email,
      });
      acknowledge(
        subscription,
        'Serverless-SNSRedrivePolicy',
        'An e-mail subscription: a bounced alert mail is logged by SNS delivery status; a queue of undelivered mails would have no reader.',
      );
    });
    tagComponent(topic, 'alerting');
    return pin(topic, STATEFUL_LOGICAL_IDS.alertEmailTopic);
  }

  private createClickHouseSecret(s: Settings): secretsmanager.ISecret {
    if (s.clickhouseSecretArn !== undefined) {
      // A complete ARN (settings insist): grants then name exactly this secret, no `-??????` wildcard.
      return secretsmanager.Secret.fromSecretCompleteArn(this, 'ClickHouseSecret', s.clickhouseSecretArn);
    }
    // Created with the expected shape and a placeholder password; docs/deploy.md shows how to fill
    // in the ClickHouse Cloud values. Nothing secret ever appears in the template.
    const secret = new secretsmanager.Secret(this, 'ClickHouseSecret', {
      description: 'ClickHouse connection for the hot tier: JSON {url, username, password, database}.',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ url: '', username: 'default', database: 'default' }),
        generateStringKey: 'password',
        excludePunctuation: true,
        passwordLength: 32,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'The ClickHouse Cloud password is issued and rotated in ClickHouse Cloud; Secrets Manager cannot rotate it. docs/deploy.md describes updating the secret.',
    );
    tagComponent(secret, 'hot-tier');
    return pin(secret, STATEFUL_LOGICAL_IDS.clickhouseSecret);
  }
}

function deadLetterQueue(scope: Construct, id: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    removalPolicy: RemovalPolicy.RETAIN,
  });
  for (const rule of ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy']) {
    acknowledge(queue, rule, 'This queue is itself a dead-letter queue (the on-failure destination).');
  }
  tagComponent(queue, 'dead-letter');
  return queue;
}

/** Pins the logical ID of a construct's CloudFormation resource and returns the construct. */
function pin<T extends Construct>(construct: T, logicalId: string): T {
  const child = construct.node.defaultChild;
  if (
    child === undefined ||
    !('overrideLogicalId' in child) ||
    typeof child.overrideLogicalId !== 'function'
  ) {
    throw new Error(`cannot pin ${construct.node.path}: it has no CloudFormation resource`);
  }
  (child as { overrideLogicalId(id: string): void }).overrideLogicalId(logicalId);
  return construct;
}
