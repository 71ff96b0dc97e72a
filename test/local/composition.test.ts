import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalPipeline } from '../../local/pipeline.js';
import { startTestPipeline } from '../support/local-pipeline.js';

/**
 * Local mode composes each function through its handler's own depsFromConfig: the functions read
 * their Lambda settings from the environment local mode was started with, through the same schemas
 * as in AWS. Two settings a user would notice: the ingest's REDACTION_RULES and the query API's
 * rate (kept in the shared rate-limit table, on dynalite).
 */

let pipeline: LocalPipeline;
const KEY = 'local-dev-key';

beforeAll(async () => {
  pipeline = await startTestPipeline('composition', {
    // The ingest Lambda's own variable: drop one attribute key (other defaults stay).
    REDACTION_RULES: JSON.stringify({ dropKeys: ['customer.tier'] }),
    // The query Lambda's own variables: 1 request per second for tenants without their own.
    QUERY_REQUESTS_PER_SECOND: '1',
    QUERY_BURST: '1',
  });
}, 180_000);

afterAll(async () => {
  await pipeline?.stop();
});

describe('local mode reads each function’s settings as the Lambda does', () => {
  it('REDACTION_RULES from the environment redacts what the ingest stores', async () => {
    const traceId = randomBytes(16).toString('hex');
    const nowNs = `${BigInt(Date.now()) * 1_000_000n}`;
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId,
                  spanId: randomBytes(8).toString('hex'),
                  name: 'POST /pay',
                  kind: 2,
                  startTimeUnixNano: nowNs,
                  endTimeUnixNano: nowNs,
                  attributes: [
                    { key: 'customer.tier', value: { stringValue: 'gold' } },
                    { key: 'customer.plain', value: { stringValue: 'kept' } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await fetch(`${pipeline.url}/v1/traces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    await pipeline.whenIdle();
    const result = await pipeline.clickhouse.query({
      query: 'SELECT SpanAttributes AS a FROM otel_traces WHERE TraceId = {t:String}',
      query_params: { t: traceId },
      format: 'JSONEachRow',
    });
    const rows = await result.json<{ a: Record<string, string> }>();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.a).toEqual({ 'customer.plain': 'kept' });
  });

  it('QUERY_REQUESTS_PER_SECOND from the environment limits the query API (429 past the allowance)', async () => {
    const statuses: number[] = [];
    // 1/s over the limiter's 10 s window is 10 requests; two windows at most 20.
    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${pipeline.url}/v1/query/services`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(statuses).toContain(429);
  });
});
