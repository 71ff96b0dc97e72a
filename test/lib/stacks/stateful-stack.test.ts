import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TABLE_NAMES } from '../../../functions/shared/schema/columns.js';
import { glueTableLogicalId, STATEFUL_LOGICAL_IDS } from '../../../lib/stacks/stateful-stack.js';
import { testApp } from '../support/app.js';

let template: Template;
let terminationProtection: boolean | undefined;

beforeAll(() => {
  const { stateful } = testApp({ environment: 'prod' });
  template = Template.fromStack(stateful);
  terminationProtection = stateful.terminationProtection;
});

type Resources = Record<
  string,
  { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string }
>;
const resources = (): Resources => template.toJSON().Resources as Resources;
const bucketProps = (logicalId: string) => resources()[logicalId]?.Properties ?? {};

describe('stateful stack', () => {
  it('is protected from deletion, and every resource that holds data is retained on delete', () => {
    expect(terminationProtection).toBe(true);
    for (const logicalId of Object.values(STATEFUL_LOGICAL_IDS)) {
      expect(resources()[logicalId]?.DeletionPolicy, logicalId).toBe('Retain');
    }
  });

  it('keeps the logical IDs of its stateful resources pinned, so a refactor never replaces them', () => {
    const expected: Record<string, string> = {
      [STATEFUL_LOGICAL_IDS.stream]: 'AWS::Kinesis::Stream',
      [STATEFUL_LOGICAL_IDS.lakeBucket]: 'AWS::S3::Bucket',
      [STATEFUL_LOGICAL_IDS.deadLetterBucket]: 'AWS::S3::Bucket',
      [STATEFUL_LOGICAL_IDS.accessLogsBucket]: 'AWS::S3::Bucket',
      [STATEFUL_LOGICAL_IDS.athenaResultsBucket]: 'AWS::S3::Bucket',
      [STATEFUL_LOGICAL_IDS.tenantsTable]: 'AWS::DynamoDB::Table',
      [STATEFUL_LOGICAL_IDS.rateLimitTable]: 'AWS::DynamoDB::Table',
      [STATEFUL_LOGICAL_IDS.clickhouseSecret]: 'AWS::SecretsManager::Secret',
      [STATEFUL_LOGICAL_IDS.hotWriterDeadLetterQueue]: 'AWS::SQS::Queue',
      [STATEFUL_LOGICAL_IDS.lakeWriterDeadLetterQueue]: 'AWS::SQS::Queue',
      [STATEFUL_LOGICAL_IDS.streamAlertsDeadLetterQueue]: 'AWS::SQS::Queue',
      [STATEFUL_LOGICAL_IDS.glueDatabase]: 'AWS::Glue::Database',
      [STATEFUL_LOGICAL_IDS.athenaWorkGroup]: 'AWS::Athena::WorkGroup',
      [STATEFUL_LOGICAL_IDS.alertStateTable]: 'AWS::DynamoDB::Table',
      [STATEFUL_LOGICAL_IDS.alertConfigTable]: 'AWS::DynamoDB::Table',
      [STATEFUL_LOGICAL_IDS.alertHistoryTable]: 'AWS::DynamoDB::Table',
      [STATEFUL_LOGICAL_IDS.queryCursorSecret]: 'AWS::SecretsManager::Secret',
      [STATEFUL_LOGICAL_IDS.alertEmailTopic]: 'AWS::SNS::Topic',
      ...Object.fromEntries(TABLE_NAMES.map((t) => [glueTableLogicalId(t), 'AWS::Glue::Table'])),
    };
    // Literal IDs, not the constants: renaming a constant must fail this test too.
    expect(STATEFUL_LOGICAL_IDS).toMatchObject({
      stream: 'Stream',
      lakeBucket: 'LakeBucket',
      tenantsTable: 'TenantsTable',
      alertStateTable: 'AlertStateTable',
      alertConfigTable: 'AlertConfigTable',
      alertHistoryTable: 'AlertHistoryTable',
      queryCursorSecret: 'QueryCursorSecret',
      alertEmailTopic: 'AlertEmailTopic',
    });
    expect(glueTableLogicalId('otel_traces')).toBe('GlueTableoteltraces');
    for (const [logicalId, type] of Object.entries(expected))
      expect(resources()[logicalId]?.Type, logicalId).toBe(type);
  });

  it('moves lake objects to Glacier Instant Retrieval at 30 days and expires them at 365', () => {
    const rules = (bucketProps('LakeBucket').LifecycleConfiguration as { Rules: Record<string, unknown>[] })
      .Rules;
    expect(rules).toContainEqual(
      expect.objectContaining({
        Id: 'lake-tiers',
        Status: 'Enabled',
        Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
        ExpirationInDays: 365,
      }),
    );
    expect(rules).toContainEqual(
      expect.objectContaining({
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        NoncurrentVersionExpiration: { NoncurrentDays: 7 },
      }),
    );
  });

  it('takes every retention age from settings', () => {
    const { stateful } = testApp({
      glacierAfterDays: '60',
      lakeRetentionDays: '730',
      deadLetterRetentionDays: 30,
      athenaResultsRetentionDays: 2,
      streamRetentionHours: 48,
    });
    const t = Template.fromStack(stateful);
    const res = t.toJSON().Resources as Resources;
    const rules = (id: string) =>
      (res[id]?.Properties?.LifecycleConfiguration as { Rules: unknown[] } | undefined)?.Rules;
    expect(rules('LakeBucket')).toContainEqual(
      expect.objectContaining({
        Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 60 }],
        ExpirationInDays: 730,
      }),
    );
    expect(rules('DeadLetterBucket')).toContainEqual(expect.objectContaining({ ExpirationInDays: 30 }));
    expect(rules('AthenaResultsBucket')).toContainEqual(expect.objectContaining({ ExpirationInDays: 2 }));
    t.hasResourceProperties('AWS::Kinesis::Stream', { RetentionPeriodHours: 48 });
  });

  it('encrypts every bucket, blocks public access and refuses plain HTTP', () => {
    const buckets = Object.entries(resources()).filter(([, r]) => r.Type === 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(4);
    for (const [id, bucket] of buckets) {
      expect(bucket.Properties?.BucketEncryption, id).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      expect(bucket.Properties?.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
            }),
          ]),
        },
      });
    }
    // Buckets log access to the access-log bucket.
    expect(bucketProps('LakeBucket').LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: 'AccessLogsBucket' },
      LogFilePrefix: 'Lake/',
    });
  });

  it('runs the stream provisioned with one shard (what npm run estimate recommends) and encrypted by default, on demand as an option', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      ShardCount: 1,
    });
    const provisioned = Template.fromStack(testApp({ streamMode: 'provisioned', shardCount: '4' }).stateful);
    provisioned.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      ShardCount: 4,
    });
    const onDemand = Template.fromStack(testApp({ streamMode: 'on-demand' }).stateful);
    onDemand.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      ShardCount: Match.absent(),
    });
  });

  it('encrypts the dead-letter queues and the tenant tables; rate-limit windows expire by TTL', () => {
    for (const id of ['HotWriterDeadLetterQueue', 'LakeWriterDeadLetterQueue']) {
      expect(resources()[id]?.Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1_209_600,
      });
    }
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'keyHash', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: true,
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('keeps alert state in a table keyed pk/sk whose forgotten series expire by TTL, with PITR', () => {
    expect(resources().AlertStateTable?.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: expect.arrayContaining([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]),
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('generates the query cursor key and an encrypted alert e-mail topic with the configured subscriptions', () => {
    expect(resources().QueryCursorSecret?.Properties).toMatchObject({
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
    expect(JSON.stringify(resources().AlertEmailTopic?.Properties?.KmsMasterKeyId)).toContain(
      ':alias/aws/sns',
    );
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const withEmails = Template.fromStack(
      testApp({ alertEmails: 'oncall@example.com,sre@example.com' }).stateful,
    );
    for (const endpoint of ['oncall@example.com', 'sre@example.com']) {
      withEmails.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: endpoint,
        TopicArn: { Ref: 'AlertEmailTopic' },
      });
    }
  });

  it('creates the ClickHouse secret with the expected JSON shape, or uses an existing one', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: {
        SecretStringTemplate: JSON.stringify({ url: '', username: 'default', database: 'default' }),
        GenerateStringKey: 'password',
      },
    });
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:clickhouse-AbCdEf';
    const existing = Template.fromStack(testApp({ clickhouseSecretArn: arn }).stateful);
    // Only the query cursor key is left to generate.
    expect(Object.keys(existing.findResources('AWS::SecretsManager::Secret'))).toEqual(['QueryCursorSecret']);
    existing.hasOutput('ClickHouseSecretArn', { Value: arn });
  });

  it('declares one Glue table per signal table with partition projection on tenant, dt and hour', () => {
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'otlp_prod' } });
    for (const name of TABLE_NAMES) {
      const table = resources()[glueTableLogicalId(name)]?.Properties as {
        DatabaseName: string;
        TableInput: { Name: string; PartitionKeys: { Name: string }[]; Parameters: Record<string, string> };
      };
      expect(table.DatabaseName).toBe('otlp_prod');
      expect(table.TableInput.Name).toBe(name);
      expect(table.TableInput.PartitionKeys.map((k) => k.Name)).toEqual(['tenant', 'dt', 'hour']);
      expect(table.TableInput.Parameters).toMatchObject({
        'projection.enabled': 'true',
        'projection.tenant.type': 'injected',
        'projection.dt.type': 'date',
        'projection.hour.type': 'integer',
      });
    }
    template.resourceCountIs('AWS::Glue::Crawler', 0);
  });

  it('gives Athena an engine-v3 workgroup with enforced settings and a bytes-scanned cutoff', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'otlp-prod',
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        BytesScannedCutoffPerQuery: 10_000_000_000,
        PublishCloudWatchMetricsEnabled: true,
        ResultConfiguration: {
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
          OutputLocation: Match.anyValue(),
        },
      },
    });
    expect(bucketProps('AthenaResultsBucket').LifecycleConfiguration).toMatchObject({
      Rules: expect.arrayContaining([expect.objectContaining({ ExpirationInDays: 7 })]),
    });
  });

  it('outputs what the deploy guide needs', () => {
    for (const output of [
      'StreamName',
      'LakeBucketName',
      'DeadLetterBucketName',
      'TenantsTableName',
      'ClickHouseSecretArn',
      'GlueDatabaseName',
      'AthenaWorkGroupName',
      'AlertEmailTopicArn',
    ]) {
      template.hasOutput(output, {});
    }
  });
});
