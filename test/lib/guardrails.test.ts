import { type CfnResource, Stack, TagManager, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PipelineApp } from '../../bin/app.js';
import { testApp } from './support/app.js';

const COMPONENTS = ['ingest', 'stream', 'hot-tier', 'lake', 'query', 'alerting', 'dead-letter', 'monitoring'];

/** Every construct below `root`, depth first. */
function walk(root: IConstruct): IConstruct[] {
  return [root, ...root.node.children.flatMap(walk)];
}

// Defaults, and every optional setting turned on (different resources: e-mail subscriptions,
// an existing secret, provisioned shards, cost-center tags, alert e-mails and channel secrets).
const variants: Record<string, Record<string, unknown>> = {
  defaults: {},
  'every option': {
    environment: 'prod',
    streamMode: 'provisioned',
    shardCount: 2,
    clickhouseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:clickhouse-AbCdEf',
    alarmEmail: 'oncall@example.com',
    budgetEmails: ['finance@example.com'],
    costCenter: 'cc-42',
    redactionRules: '{"dropKeys":["password"]}', // ingest's own schema: {"rules":[]} would fail its every cold start
    alertEmails: 'oncall@example.com',
    alertSecretArns: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pagerduty-AbCdEf',
    alertSecretPrefix: 'team/alerts/',
  },
};

const apps = new Map<string, PipelineApp>();
beforeAll(() => {
  for (const [name, context] of Object.entries(variants)) {
    const pipeline = testApp(context);
    // Synthesize first: cross-stack references resolve then, as in `cdk synth`, and the packs
    // registered in bin/app.ts already run (a finding throws here).
    pipeline.app.synth();
    apps.set(name, pipeline);
  }
});

describe.each(Object.keys(variants))('guardrails (%s)', (variant) => {
  const app = () => {
    const pipeline = apps.get(variant);
    if (pipeline === undefined) throw new Error(`no app for ${variant}`);
    return pipeline;
  };

  it('has zero unacknowledged cdk-nag findings in the AwsSolutions and Serverless packs', () => {
    for (const pack of [new AwsSolutionsChecks(), new ServerlessChecks()]) {
      const report = pack.validateScope(app().app);
      const findings = report.violations.flatMap((v) =>
        v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`),
      );
      expect(findings, pack.readPackName).toEqual([]);
    }
  });

  it('acknowledges findings one by one, on resources, each with a reason', () => {
    const acknowledgements = walk(app().app).flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) =>
          Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ c, id, reason })),
        ),
    );
    expect(acknowledgements.length).toBeGreaterThan(10);
    for (const { c, id, reason } of acknowledgements) {
      // Never on a whole stack or the app.
      expect(c instanceof Stack || c === app().app, `${id} at ${c.node.path}`).toBe(false);
      expect(reason.length, `${id} at ${c.node.path}`).toBeGreaterThan(30);
      // Rules that report several findings per resource are acknowledged per finding.
      if (/AwsSolutions-IAM[45]/.test(id)) expect(id, c.node.path).toMatch(/IAM[45]\[.+\]$/);
    }
  });

  it('tags every taggable resource with project, environment and component (and cost-center when set)', () => {
    const { app: cdkApp, settings } = app();
    const expected: Record<string, string> = { project: settings.project, environment: settings.environment };
    if (settings.costCenter !== undefined) expected['cost-center'] = settings.costCenter;
    const checkedTypes = new Set<string>();
    let checked = 0;
    for (const stack of [app().stateful, app().operations, app().compute]) {
      const template = cdkApp.synth().getStackByName(stack.stackName).template as {
        Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
      };
      const taggable = walk(stack).filter(
        (c): c is CfnResource =>
          (TagManager.isTaggable(c) || TagManager.isTaggableV2(c)) &&
          'cfnResourceType' in c &&
          Stack.of(c) === stack,
      );
      for (const resource of taggable) {
        const tagManager = TagManager.isTaggable(resource)
          ? resource.tags
          : (resource as never as { cdkTagManager: TagManager }).cdkTagManager;
        const logicalId = stack.resolve(resource.logicalId) as string;
        const entry = template.Resources[logicalId];
        if (entry === undefined) continue; // e.g. a construct removed from synthesis
        // The L1 names its tag property in camelCase ('tags', 'resourceTags'); CloudFormation in PascalCase.
        const property =
          tagManager.tagPropertyName.charAt(0).toUpperCase() + tagManager.tagPropertyName.slice(1);
        const tags = normalizeTags(entry.Properties?.[property]);
        const where = `${entry.Type} ${logicalId} in ${stack.stackName}`;
        expect(tags, where).toMatchObject(expected);
        expect(COMPONENTS, `${where}: component=${tags.component}`).toContain(tags.component);
        checkedTypes.add(entry.Type);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
    for (const type of [
      'AWS::Kinesis::Stream',
      'AWS::S3::Bucket',
      'AWS::DynamoDB::Table',
      'AWS::Lambda::Function',
      'AWS::Logs::LogGroup',
      'AWS::SQS::Queue',
      'AWS::ApiGatewayV2::Api',
      'AWS::CloudWatch::Alarm',
      'AWS::KMS::Key',
      'AWS::IAM::Role',
    ]) {
      expect(checkedTypes, type).toContain(type);
    }
  });
});

/** Tags as CloudFormation renders them: a list of {Key, Value}, or a map (API Gateway v2, SSM). */
function normalizeTags(value: unknown): Record<string, string> {
  if (Array.isArray(value)) {
    return Object.fromEntries(value.map((t: { Key: string; Value: string }) => [t.Key, t.Value] as const));
  }
  if (value !== null && typeof value === 'object') return value as Record<string, string>;
  return {};
}
