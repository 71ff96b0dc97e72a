import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SecretsManagerSecretSource } from '../../../../functions/shared/alerts/secrets-manager-secret-source.js';
import {
  ClickHouseSecretError,
  clickHouseClientProvider,
} from '../../../../functions/shared/clickhouse/secrets-manager-client.js';
import { FAKE_AWS, type FakeAwsEndpoint, startFakeAwsEndpoint } from '../../../support/fake-aws-endpoint.js';

/** A mocked Secrets Manager: GetSecretValue answers the current value of each secret id. */
const secrets = new Map<string, string>();
let endpoint: FakeAwsEndpoint;
const reads = (id: string) =>
  endpoint.requests.filter((r) => (JSON.parse(r.body) as { SecretId: string }).SecretId === id).length;

beforeAll(async () => {
  endpoint = await startFakeAwsEndpoint(({ headers, body }) => {
    expect(headers['x-amz-target']).toBe('secretsmanager.GetSecretValue');
    const id = (JSON.parse(body) as { SecretId: string }).SecretId;
    const value = secrets.get(id);
    if (value === undefined) {
      return {
        status: 400,
        body: JSON.stringify({ __type: 'ResourceNotFoundException', message: 'no such secret' }),
      };
    }
    return { body: JSON.stringify({ ARN: id, Name: id, SecretString: value, VersionId: 'v1' }) };
  });
  // Powertools builds its own client for getSecret(): point the SDK's default at the mock.
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = endpoint.url;
  process.env.AWS_REGION = FAKE_AWS.region;
  process.env.AWS_ACCESS_KEY_ID = FAKE_AWS.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = FAKE_AWS.credentials.secretAccessKey;
});
afterAll(() => endpoint.close());
afterEach(() => {
  vi.useRealTimers();
});

const creds = (password: string) =>
  JSON.stringify({ url: 'https://ch.example.com:8443', username: 'writer', password, database: 'otel' });

describe('ClickHouse credentials from Secrets Manager (mocked Secrets Manager behind the real SDK client)', () => {
  it('keeps one client while the secret is cached, and builds a new one after a rotation once the cache expires', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-07T10:00:00Z'));
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:clickhouse-a';
    secrets.set(arn, creds('first'));
    const client = clickHouseClientProvider({ secretArn: arn });
    const a = await client();
    expect(await client()).toBe(a);
    expect(reads(arn)).toBe(1);

    secrets.set(arn, creds('rotated'));
    vi.setSystemTime(new Date('2026-12-07T10:04:00Z'));
    expect(await client()).toBe(a); // still within the five-minute cache
    vi.setSystemTime(new Date('2026-12-07T10:05:30Z'));
    const b = await client();
    expect(b).not.toBe(a);
    expect(reads(arn)).toBe(2);
    // The same credentials read again keep the client (no reconnect churn).
    vi.setSystemTime(new Date('2026-12-07T10:11:00Z'));
    expect(await client()).toBe(b);
    expect(reads(arn)).toBe(3);
  });

  it('a secret without a valid url is a ClickHouseSecretError naming the secret', async () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:clickhouse-bad';
    secrets.set(arn, JSON.stringify({ host: 'ch.example.com', username: 'writer' }));
    const failing = clickHouseClientProvider({ secretArn: arn })();
    await expect(failing).rejects.toBeInstanceOf(ClickHouseSecretError);
    await expect(failing).rejects.toThrow(arn);
  });
});

describe('channel secrets from Secrets Manager (mocked Secrets Manager behind the real SDK client)', () => {
  const client = () => new SecretsManagerClient({ ...FAKE_AWS, endpoint: endpoint.url });

  it('reads a value once per five minutes, then the rotated one', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-07T12:00:00Z'));
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-hook';
    secrets.set(arn, 'https://hooks.slack.com/services/one');
    const source = new SecretsManagerSecretSource(client());
    expect(await source.get(arn)).toBe('https://hooks.slack.com/services/one');
    secrets.set(arn, 'https://hooks.slack.com/services/two');
    expect(await source.get(arn)).toBe('https://hooks.slack.com/services/one');
    vi.setSystemTime(new Date('2026-12-07T12:06:00Z'));
    expect(await source.get(arn)).toBe('https://hooks.slack.com/services/two');
    expect(reads(arn)).toBe(2);
  });

  it('an empty secret is SecretNotFoundError, not an empty webhook URL', async () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:empty';
    secrets.set(arn, '');
    await expect(new SecretsManagerSecretSource(client()).get(arn)).rejects.toThrow(/has no string value/);
  });
});
