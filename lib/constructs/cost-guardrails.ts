import { Duration, Stack } from 'aws-cdk-lib';
import * as budgets from 'aws-cdk-lib/aws-budgets';
import * as ce from 'aws-cdk-lib/aws-ce';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { COST_TAG_KEYS, costTagKeys, type DeploymentTags } from '../cost-tags.js';
import { acknowledge } from '../nag.js';

/** Construct ID CDK gives the singleton function behind every AwsCustomResource of a stack. */
const AWS_CUSTOM_RESOURCE_SINGLETON_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

export interface CostGuardrailsProps {
  readonly tags: DeploymentTags;
  /** Monthly budget in USD over resources tagged with this deployment's project and environment. */
  readonly monthlyBudgetUsd: number;
  /** Budget notifications go to these addresses (at most 10) as well as to the topic. @default [] */
  readonly budgetEmails?: readonly string[];
  /** Budget and anomaly notifications. */
  readonly topic: sns.ITopic;
  /** Alert on anomalies whose total impact reaches this many USD. */
  readonly anomalyThresholdUsd: number;
  /**
   * Activate the cost-allocation tags through Cost Explorer (`UpdateCostAllocationTagsStatus`).
   * Only the management (payer) account can do this in an organization. @default true
   */
  readonly activateCostTags?: boolean;
  /** Change to run the activation again (a tag can only be activated once billing has seen it). @default 1 */
  readonly activationRun?: number;
}

/**
 * Spend guardrails: a monthly budget on this deployment's tags (actual 80 % and 100 %, forecast
 * 100 %), a Cost Anomaly Detection monitor on the project tag with an immediate SNS subscription,
 * and a custom resource that activates the cost-allocation tags so Cost Explorer can group by them.
 */
export class CostGuardrails extends Construct {
  public readonly budget: budgets.CfnBudget;
  public readonly anomalyMonitor: ce.CfnAnomalyMonitor;
  public readonly anomalySubscription: ce.CfnAnomalySubscription;
  public readonly tagActivation?: cr.AwsCustomResource;

  constructor(scope: Construct, id: string, props: CostGuardrailsProps) {
    super(scope, id);
    const emails = props.budgetEmails ?? [];
    if (emails.length > 10)
      throw new Error(`\`budgetEmails\` allows at most 10 addresses, got: ${emails.length}`);
    if (!(props.monthlyBudgetUsd > 0))
      throw new Error(`\`monthlyBudgetUsd\` must be > 0, got: ${props.monthlyBudgetUsd}`);
    const { project, environment } = props.tags;

    const subscribers: budgets.CfnBudget.SubscriberProperty[] = [
      { subscriptionType: 'SNS', address: props.topic.topicArn },
      ...emails.map((address) => ({ subscriptionType: 'EMAIL', address })),
    ];
    const notify = (notificationType: 'ACTUAL' | 'FORECASTED', threshold: number) => ({
      notification: {
        notificationType,
        comparisonOperator: 'GREATER_THAN',
        threshold,
        thresholdType: 'PERCENTAGE',
      },
      subscribers,
    });
    this.budget = new budgets.CfnBudget(this, 'Budget', {
      budget: {
        budgetType: 'COST',
        timeUnit: 'MONTHLY',
        budgetLimit: { amount: props.monthlyBudgetUsd, unit: 'USD' },
        filterExpression: {
          and: [
            { tags: { key: COST_TAG_KEYS.project, values: [project], matchOptions: ['EQUALS'] } },
            { tags: { key: COST_TAG_KEYS.environment, values: [environment], matchOptions: ['EQUALS'] } },
          ],
        },
      },
      notificationsWithSubscribers: [notify('ACTUAL', 80), notify('ACTUAL', 100), notify('FORECASTED', 100)],
    });

    this.anomalyMonitor = new ce.CfnAnomalyMonitor(this, 'AnomalyMonitor', {
      monitorName: `${project}-${environment}`,
      monitorType: 'CUSTOM',
      monitorSpecification: JSON.stringify({ Tags: { Key: COST_TAG_KEYS.project, Values: [project] } }),
    });
    this.anomalySubscription = new ce.CfnAnomalySubscription(this, 'AnomalySubscription', {
      subscriptionName: `${project}-${environment}`,
      frequency: 'IMMEDIATE',
      monitorArnList: [this.anomalyMonitor.attrMonitorArn],
      subscribers: [{ type: 'SNS', address: props.topic.topicArn }],
      thresholdExpression: JSON.stringify({
        Dimensions: {
          Key: 'ANOMALY_TOTAL_IMPACT_ABSOLUTE',
          MatchOptions: ['GREATER_THAN_OR_EQUAL'],
          Values: [String(props.anomalyThresholdUsd)],
        },
      }),
    });

    if (props.activateCostTags ?? true) this.tagActivation = this.activateTags(props);
  }

  private activateTags(props: CostGuardrailsProps): cr.AwsCustomResource {
    const run = props.activationRun ?? 1;
    const call: cr.AwsSdkCall = {
      service: 'CostExplorer',
      action: 'UpdateCostAllocationTagsStatus',
      // Cost Explorer has one endpoint, in us-east-1, whatever the stack's region.
      region: 'us-east-1',
      parameters: {
        CostAllocationTagsStatus: costTagKeys(props.tags).map((TagKey) => ({ TagKey, Status: 'Active' })),
      },
      physicalResourceId: cr.PhysicalResourceId.of(`cost-allocation-tags-run-${run}`),
    };
    const activation = new cr.AwsCustomResource(this, 'ActivateCostAllocationTags', {
      onCreate: call,
      onUpdate: call,
      installLatestAwsSdk: false,
      timeout: Duration.minutes(2),
      memorySize: 256,
      logGroup: new logs.LogGroup(this, 'ActivationLogs', { retention: logs.RetentionDays.ONE_MONTH }),
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['ce:UpdateCostAllocationTagsStatus'], resources: ['*'] }),
      ]),
    });
    acknowledge(
      activation,
      'AwsSolutions-IAM5',
      'ce:UpdateCostAllocationTagsStatus supports no resource-level permissions.',
      'Resource::*',
    );
    // The provider function CDK shares between all AwsCustomResources of the stack.
    const provider = Stack.of(this).node.tryFindChild(AWS_CUSTOM_RESOURCE_SINGLETON_ID);
    if (provider !== undefined) {
      const why = 'CDK-managed provider of AwsCustomResource, invoked only by CloudFormation on deploy: ';
      acknowledge(
        provider,
        'AwsSolutions-IAM4',
        `${why}AWSLambdaBasicExecutionRole only writes its logs.`,
        'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
      );
      acknowledge(provider, 'Serverless-LambdaDLQ', `${why}invoked synchronously, failures fail the deploy.`);
      acknowledge(provider, 'Serverless-LambdaTracing', `${why}one SDK call, nothing to trace.`);
    }
    return activation;
  }
}
