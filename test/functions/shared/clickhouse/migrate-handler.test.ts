import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import type { ClickHouseClient } from '@clickhouse/client';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrateHandler, PHYSICAL_RESOURCE_ID } from '../../../../functions/migrate/handler.js';
import { MIGRATIONS } from '../../../../functions/shared/clickhouse/migrations.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { lambdaContext } from '../../../../local/lambda-context.js';

// The migrate custom resource (functions/migrate) lives here: it is the schema's deployment path.

const context = lambdaContext({
  functionName: 'migrate',
  requestId: 'r',
  // A constant remaining time: nothing here depends on the clock.
  remaining: { constantMs: 900_000 },
});

function event(
  type: 'Create' | 'Update' | 'Delete',
  props: Record<string, string> = {},
): CloudFormationCustomResourceEvent {
  const base = {
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/otel/1',
    RequestId: 'req',
    LogicalResourceId: 'ClickHouseSchema',
    ResourceType: 'Custom::ClickHouseSchema',
    ResourceProperties: { ServiceToken: 'x', ...props },
  };
  if (type === 'Create') return { ...base, RequestType: 'Create' };
  if (type === 'Update')
    return {
      ...base,
      RequestType: 'Update',
      PhysicalResourceId: PHYSICAL_RESOURCE_ID,
      OldResourceProperties: { ServiceToken: 'x' },
    };
  return { ...base, RequestType: 'Delete', PhysicalResourceId: PHYSICAL_RESOURCE_ID };
}

let client: ClickHouseClient;
let handler: ReturnType<typeof createMigrateHandler>;

async function tables(): Promise<string[]> {
  const rs = await client.query({
    query: `SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name`,
    format: 'JSONEachRow',
  });
  return (await rs.json<{ name: string }>()).map((r) => r.name);
}

beforeAll(() => {
  client = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-migrate-')) });
  handler = createMigrateHandler({
    clickhouse: async () => client,
    logger: new Logger({ logLevel: 'SILENT' }),
  });
});
afterAll(async () => {
  await client.close();
});

describe('migrate custom resource', () => {
  it('creates the schema on Create', async () => {
    const res = await handler(event('Create', { HotRetentionDays: '7' }), context);

    expect(res).toEqual({
      PhysicalResourceId: PHYSICAL_RESOURCE_ID,
      Data: {
        Version: String(Math.max(...MIGRATIONS.map((m) => m.version))),
        Applied: MIGRATIONS.map((m) => m.version).join(','),
        RetentionChanged: '',
      },
    });
    expect(await tables()).toContain('otel_traces');
  });

  it('changes the retention on Update and keeps the physical id', async () => {
    const res = await handler(event('Update', { HotRetentionDays: '3' }), context);

    expect(res.PhysicalResourceId).toBe(PHYSICAL_RESOURCE_ID);
    expect(res.Data?.Applied).toBe('');
    expect(res.Data?.RetentionChanged).toContain('otel_logs');
  });

  it('keeps every table on Delete', async () => {
    const before = await tables();

    const res = await handler(event('Delete'), context);

    expect(res).toEqual({ PhysicalResourceId: PHYSICAL_RESOURCE_ID });
    expect(await tables()).toEqual(before);
  });

  it('fails a request with a retention that is not a positive integer', async () => {
    await expect(handler(event('Update', { HotRetentionDays: 'soon' }), context)).rejects.toThrow(
      /invalid properties/,
    );
  });
});
