import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { AlarmTopic } from '../constructs/alarm-topic.js';
import { CostGuardrails } from '../constructs/cost-guardrails.js';
import { tagComponent } from '../cost-tags.js';
import type { Settings } from '../settings.js';

export interface OperationsStackProps extends StackProps {
  readonly settings: Settings;
}

/**
 * Who gets told when something goes wrong or costs too much: the alarm topic, the monthly budget,
 * Cost Anomaly Detection, and the activation of the cost-allocation tags. Deployed before the
 * compute stack, whose alarms publish to the topic.
 */
export class OperationsStack extends Stack {
  public readonly alarmTopic: sns.ITopic;
  public readonly guardrails: CostGuardrails;

  constructor(scope: Construct, id: string, props: OperationsStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const topic = new AlarmTopic(this, 'Alarms', { email: s.alarmEmail });
    this.alarmTopic = topic.topic;
    this.guardrails = new CostGuardrails(this, 'Costs', {
      tags: { project: s.project, environment: s.environment, costCenter: s.costCenter },
      monthlyBudgetUsd: s.budgetMonthlyUsd,
      budgetEmails: s.budgetEmails,
      topic: this.alarmTopic,
      anomalyThresholdUsd: s.anomalyThresholdUsd,
      activateCostTags: s.activateCostTags,
      activationRun: s.costTagActivationRun,
    });
    tagComponent(this, 'monitoring');
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'Alarms, budget and cost-anomaly notifications (subscribe more endpoints here)',
    });
  }
}
