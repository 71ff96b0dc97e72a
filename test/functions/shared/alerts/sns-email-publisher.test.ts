import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnsEmailPublisher } from '../../../../functions/shared/alerts/sns-email-publisher.js';
import { FAKE_AWS, type FakeAwsEndpoint, startFakeAwsEndpoint } from '../../../support/fake-aws-endpoint.js';

let endpoint: FakeAwsEndpoint;
beforeAll(async () => {
  endpoint = await startFakeAwsEndpoint(() => ({
    contentType: 'text/xml',
    body: '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>',
  }));
});
afterAll(() => endpoint.close());

describe('SNS e-mail publisher (mocked SNS behind the real SDK client)', () => {
  it('publishes subject and body to the topic as SNS takes them', async () => {
    const client = new SNSClient({ ...FAKE_AWS, endpoint: endpoint.url, maxAttempts: 1 });
    const topic = 'arn:aws:sns:eu-west-1:123456789012:oncall-mail';
    await new SnsEmailPublisher(client).publish(topic, '[FIRING] checkout errors', 'line 1\nline 2 & <3>');
    const form = new URLSearchParams(endpoint.requests.at(-1)!.body);
    expect(form.get('Action')).toBe('Publish');
    expect(form.get('TopicArn')).toBe(topic);
    expect(form.get('Subject')).toBe('[FIRING] checkout errors');
    expect(form.get('Message')).toBe('line 1\nline 2 & <3>');
  });

  it('an SNS error reaches the caller (the notifier retries the event, it is not lost)', async () => {
    const failing = await startFakeAwsEndpoint(() => ({
      status: 400,
      contentType: 'text/xml',
      body: '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: Subject</Message></Error><RequestId>r-2</RequestId></ErrorResponse>',
    }));
    try {
      const client = new SNSClient({ ...FAKE_AWS, endpoint: failing.url, maxAttempts: 1 });
      await expect(
        new SnsEmailPublisher(client).publish('arn:aws:sns:eu-west-1:123456789012:t', 's', 'b'),
      ).rejects.toThrow(/Invalid parameter: Subject/);
    } finally {
      await failing.close();
    }
  });
});
