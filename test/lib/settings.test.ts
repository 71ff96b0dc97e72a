import { describe, expect, it } from 'vitest';
import { alertSecretPrefix, readSettings, SettingsError } from '../../lib/settings.js';

const from = (context: Record<string, unknown>) => readSettings((key) => context[key]);

describe('deploy settings', () => {
  it('has documented defaults, so a bare deploy works', () => {
    expect(from({})).toEqual({
      environment: 'dev',
      project: 'otlp-pipeline',
      streamMode: 'provisioned',
      shardCount: 1,
      streamRetentionHours: 24,
      dataPathTracing: 'pass-through',
      tenantRetention: { tenants: {} },
      hotRetentionDays: 7,
      hotBatchingWindowSeconds: 5,
      glacierAfterDays: 30,
      lakeRetentionDays: 365,
      deadLetterRetentionDays: 90,
      athenaResultsRetentionDays: 7,
      athenaBytesScannedCutoff: 10_000_000_000,
      migrateOnDeploy: true,
      maxBodyBytes: 4 * 1024 * 1024,
      maxDecompressedBytes: 16 * 1024 * 1024,
      corsAllowedOrigins: [],
      apiThrottleRate: 1000,
      apiThrottleBurst: 2000,
      queryTimeoutMs: 25_000,
      alertRulesDir: 'alerts',
      alertConcurrency: 4,
      alertSecretArns: [],
      alertEmails: [],
      budgetMonthlyUsd: 100,
      budgetEmails: [],
      anomalyThresholdUsd: 20,
      activateCostTags: true,
      costTagActivationRun: 1,
    });
  });

  it('accepts the strings `cdk -c key=value` passes, including comma-separated e-mails', () => {
    const s = from({
      streamMode: 'provisioned',
      shardCount: '8',
      migrateOnDeploy: 'false',
      budgetEmails: 'a@example.com, b@example.com',
      redactionRules: { dropKeys: [] },
      corsAllowedOrigins: 'http://localhost:3000, https://*',
    });
    expect(s).toMatchObject({
      corsAllowedOrigins: ['http://localhost:3000', 'https://*'],
      streamMode: 'provisioned',
      shardCount: 8,
      migrateOnDeploy: false,
      budgetEmails: ['a@example.com', 'b@example.com'],
      redactionRules: '{"dropKeys":[]}',
    });
  });

  it('reads the alerting settings: rule folder, secret prefix (defaulted per environment), extra secrets, e-mails', () => {
    const s = from({
      environment: 'prod',
      alertRulesDir: 'config/alerts',
      alertSecretArns: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd-AbCdEf',
      alertEmails: 'oncall@example.com',
    });
    expect(s).toMatchObject({
      alertRulesDir: 'config/alerts',
      alertSecretArns: ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd-AbCdEf'],
      alertEmails: ['oncall@example.com'],
    });
    expect(alertSecretPrefix(s)).toBe('otlp-pipeline/prod/alerts/');
    expect(alertSecretPrefix(from({ alertSecretPrefix: 'team/alerts/' }))).toBe('team/alerts/');
    expect(() => from({ alertRulesDir: '../elsewhere' })).toThrow(
      /-c alertRulesDir: must stay inside the repository/,
    );
    expect(() =>
      from({ alertSecretArns: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd' }),
    ).toThrow(/-c alertSecretArns\.0: the complete ARN/);
    expect(() => from({ queryTimeoutMs: 29_000 })).toThrow(/-c queryTimeoutMs/);
  });

  it('rejects bad values with a message naming the setting', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ environment: 'Prod_1' }, /-c environment: lower-case/],
      [
        { glacierAfterDays: 400 },
        /`glacierAfterDays` must be less than `lakeRetentionDays`, got: 400 >= 365/,
      ],
      [{ streamMode: 'serverless' }, /-c streamMode/],
      [{ athenaBytesScannedCutoff: 1000 }, /-c athenaBytesScannedCutoff/],
      [{ budgetEmails: 'not-an-address' }, /-c budgetEmails/],
      [
        { clickhouseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:clickhouse' },
        /complete ARN/,
      ],
      [{ redactionRules: '{nope' }, /-c redactionRules: must be JSON/],
      // The ingest function's own schema (strict): this would fail it at every cold start.
      [{ redactionRules: '{"rules":[]}' }, /-c redactionRules: not redaction rules/],
      [{ corsAllowedOrigins: 'https://app.example.com/page' }, /-c corsAllowedOrigins\.0: an origin such as/],
      [
        { apiThrottleRate: 100, apiThrottleBurst: 10 },
        /`apiThrottleBurst` must be at least `apiThrottleRate`/,
      ],
    ];
    for (const [context, message] of cases) {
      expect(() => from(context), JSON.stringify(context)).toThrow(SettingsError);
      expect(() => from(context), JSON.stringify(context)).toThrow(message);
    }
  });
});
