import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';

export interface AlarmTopicProps {
  /** Subscribed by e-mail (the recipient confirms once). @default - no subscription */
  readonly email?: string;
}

/** Services that publish to the topic: CloudWatch alarms, AWS Budgets, Cost Anomaly Detection. */
const PUBLISHERS = ['cloudwatch.amazonaws.com', 'budgets.amazonaws.com', 'costalerts.amazonaws.com'];
/** CloudWatch alarms publish as the account itself; the cost services need the topic policy. */
const NEEDS_TOPIC_POLICY = new Set(['budgets.amazonaws.com', 'costalerts.amazonaws.com']);

/**
 * The SNS topic every alarm and cost notification goes to, encrypted with a customer managed key:
 * CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key, so the key
 * policy has to name the publishing services.
 */
export class AlarmTopic extends Construct {
  public readonly topic: sns.Topic;
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: AlarmTopicProps = {}) {
    super(scope, id);
    const account = Stack.of(this).account;
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the pipeline alarm topic',
      enableKeyRotation: true,
    });
    this.topic = new sns.Topic(this, 'Topic', { masterKey: this.key, enforceSSL: true });
    for (const service of PUBLISHERS) {
      const principal = new iam.ServicePrincipal(service);
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [principal],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
        }),
      );
      if (!NEEDS_TOPIC_POLICY.has(service)) continue;
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [principal],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
      );
    }
    if (props.email !== undefined) {
      const subscription = this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
      acknowledge(
        subscription,
        'Serverless-SNSRedrivePolicy',
        'An e-mail subscription: the alarm stays in ALARM and visible in CloudWatch if a mail bounces; a queue of undelivered mails would have no reader.',
      );
    }
  }
}
