import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SIGNAL_TABLES } from '../../../functions/shared/schema/columns.js';
import { testApp } from '../support/app.js';

/** Retention per tenant in the synthesized templates: S3 lifecycle by tenant prefix, TTLs through the migrations. */

const settings = {
  tenants: {
    acme: { traces: { hotDays: 3, lakeDays: 30 }, metrics: { lakeDays: 90 } },
    beta: { logs: { hotDays: 14 } },
  },
};

type Rule = { Id?: string; Prefix?: string; ExpirationInDays?: number; Status?: string };

describe('retention per tenant and signal (synthesized templates)', () => {
  const { stateful, compute } = testApp({ tenantRetention: JSON.stringify(settings) });
  const lake = Template.fromStack(stateful).toJSON().Resources.LakeBucket.Properties;
  const rules = (lake.LifecycleConfiguration as { Rules: Rule[] }).Rules;

  it("expires a tenant's objects of each table of a signal under its own prefix, at its own age", () => {
    expect(rules).toContainEqual(
      expect.objectContaining({
        Id: 'retention-acme-otel_traces',
        Prefix: 'otel_traces/tenant=acme/',
        ExpirationInDays: 30,
        Status: 'Enabled',
      }),
    );
    for (const table of SIGNAL_TABLES.metrics) {
      expect(rules).toContainEqual(
        expect.objectContaining({ Prefix: `${table}/tenant=acme/`, ExpirationInDays: 90 }),
      );
    }
    // Logs of acme, and beta (hot retention only), follow the bucket-wide rule.
    expect(rules.filter((r) => r.Prefix?.includes('tenant=beta'))).toEqual([]);
    expect(rules.filter((r) => r.Prefix?.startsWith('otel_logs/'))).toEqual([]);
    expect(rules).toContainEqual(expect.objectContaining({ Id: 'lake-tiers', ExpirationInDays: 365 }));
  });

  it('hands the hot retention to the migrations custom resource, so a change re-runs them', () => {
    Template.fromStack(compute).hasResourceProperties('Custom::ClickHouseMigrations', {
      HotRetentionDays: '7',
      TenantRetention: Match.serializedJson(settings),
    });
  });

  it('refuses a lake retention longer than the bucket-wide one, which S3 would apply first', () => {
    const longer = { tenants: { acme: { logs: { lakeDays: 400 } } } };
    expect(() => testApp({ tenantRetention: JSON.stringify(longer) })).toThrow(
      /tenant acme logs: lakeDays 400 is longer than the lake's retention of 365 days/,
    );
  });

  it('refuses malformed settings with the field named', () => {
    const bad = { tenants: { Acme: { traces: { hotDays: 0 } } } };
    expect(() => testApp({ tenantRetention: JSON.stringify(bad) })).toThrow(/tenantRetention/);
  });
});
