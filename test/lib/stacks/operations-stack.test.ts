import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';

let template: Template;

beforeAll(() => {
  template = Template.fromStack(
    testApp({
      environment: 'prod',
      budgetMonthlyUsd: '250',
      budgetEmails: 'ops@example.com, finance@example.com',
      alarmEmail: 'oncall@example.com',
      costCenter: 'cc-42',
    }).operations,
  );
});

describe('operations stack', () => {
  it('sends alarms to an SNS topic encrypted with a rotating customer key that CloudWatch may use', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: {
              Service: Match.arrayWith([
                'budgets.amazonaws.com',
                'cloudwatch.amazonaws.com',
                'costalerts.amazonaws.com',
              ]),
            },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: ['budgets.amazonaws.com', 'costalerts.amazonaws.com'] },
            Action: 'sns:Publish',
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    template.hasOutput('AlarmTopicArn', {});
  });

  it('budgets the month on the project and environment tags, notifying the topic and the e-mails', () => {
    const subscribers = [
      { SubscriptionType: 'SNS', Address: Match.anyValue() },
      { SubscriptionType: 'EMAIL', Address: 'ops@example.com' },
      { SubscriptionType: 'EMAIL', Address: 'finance@example.com' },
    ];
    template.hasResourceProperties('AWS::Budgets::Budget', {
      Budget: {
        BudgetType: 'COST',
        TimeUnit: 'MONTHLY',
        BudgetLimit: { Amount: 250, Unit: 'USD' },
        FilterExpression: {
          And: [
            { Tags: { Key: 'project', Values: ['otlp-pipeline'], MatchOptions: ['EQUALS'] } },
            { Tags: { Key: 'environment', Values: ['prod'], MatchOptions: ['EQUALS'] } },
          ],
        },
      },
      NotificationsWithSubscribers: [
        {
          Notification: Match.objectLike({ NotificationType: 'ACTUAL', Threshold: 80 }),
          Subscribers: subscribers,
        },
        {
          Notification: Match.objectLike({ NotificationType: 'ACTUAL', Threshold: 100 }),
          Subscribers: subscribers,
        },
        {
          Notification: Match.objectLike({ NotificationType: 'FORECASTED', Threshold: 100 }),
          Subscribers: subscribers,
        },
      ],
    });
  });

  it('watches the project tag with Cost Anomaly Detection and alerts the topic immediately', () => {
    template.hasResourceProperties('AWS::CE::AnomalyMonitor', {
      MonitorType: 'CUSTOM',
      MonitorSpecification: JSON.stringify({ Tags: { Key: 'project', Values: ['otlp-pipeline'] } }),
    });
    template.hasResourceProperties('AWS::CE::AnomalySubscription', {
      Frequency: 'IMMEDIATE',
      Subscribers: [{ Type: 'SNS', Address: Match.anyValue() }],
      ThresholdExpression: Match.stringLikeRegexp('ANOMALY_TOTAL_IMPACT_ABSOLUTE.*"20"'),
    });
  });

  it('activates the cost-allocation tags through Cost Explorer in us-east-1, including cost-center', () => {
    const [resource] = Object.values(template.findResources('Custom::AWS')) as {
      Properties: { Create: unknown };
    }[];
    const create = JSON.parse(JSON.stringify(resource?.Properties.Create)) as string | object;
    const call = JSON.parse(typeof create === 'string' ? create : JSON.stringify(create)) as {
      service: string;
      action: string;
      region: string;
      parameters: { CostAllocationTagsStatus: { TagKey: string; Status: string }[] };
    };
    expect(call).toMatchObject({
      service: 'CostExplorer',
      action: 'UpdateCostAllocationTagsStatus',
      region: 'us-east-1',
    });
    expect(call.parameters.CostAllocationTagsStatus).toEqual([
      { TagKey: 'project', Status: 'Active' },
      { TagKey: 'environment', Status: 'Active' },
      { TagKey: 'component', Status: 'Active' },
      { TagKey: 'cost-center', Status: 'Active' },
    ]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [Match.objectLike({ Action: 'ce:UpdateCostAllocationTagsStatus', Resource: '*' })],
      },
    });
  });

  it('leaves tag activation out when the account cannot do it (not the payer account)', () => {
    const t = Template.fromStack(testApp({ activateCostTags: 'false' }).operations);
    t.resourceCountIs('Custom::AWS', 0);
    t.resourceCountIs('AWS::Budgets::Budget', 1);
  });
});
