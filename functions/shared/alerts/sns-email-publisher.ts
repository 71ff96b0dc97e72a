import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { EmailPublisher } from './notifier.js';

/** E-mail through an SNS topic with e-mail subscriptions (subject and plain-text body). */
export class SnsEmailPublisher implements EmailPublisher {
  constructor(private readonly client: SNSClient) {}

  async publish(topicArn: string, subject: string, body: string): Promise<void> {
    await this.client.send(new PublishCommand({ TopicArn: topicArn, Subject: subject, Message: body }));
  }
}
