import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../functions/shared/lake/s3-object-store.js';
import type { DailyUsage } from '../../functions/shared/usage/usage.js';
import { localS3Client } from '../../local/aws-clients.js';
import { LOCAL_LAKE_BUCKET, type LocalPipeline } from '../../local/pipeline.js';
import { startTestPipeline } from '../support/local-pipeline.js';

/**
 * Usage metering of a request none of whose items could be stored, through local mode's own
 * composition (receiver on HTTP, kinesalite, both consumers through their ESM pollers, embedded
 * ClickHouse, s3rver): /v1/usage shows its rejections and bytes, once, and so does the lake.
 */

let pipeline: LocalPipeline;
const KEY = 'local-dev-key';

beforeAll(async () => {
  pipeline = await startTestPipeline('usage');
}, 180_000);

afterAll(async () => {
  await pipeline?.stop();
});

/** Spans with an empty trace id: each one rejected in partial_success. */
function allRejected(spans: number): string {
  const nowNs = `${BigInt(Date.now()) * 1_000_000n}`;
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeSpans: [
          {
            spans: Array.from({ length: spans }, (_, i) => ({
              traceId: '',
              spanId: randomBytes(8).toString('hex'),
              name: `op-${i}`,
              startTimeUnixNano: nowNs,
              endTimeUnixNano: nowNs,
            })),
          },
        ],
      },
    ],
  });
}

describe('usage of an all-rejected request, in local mode', () => {
  it('shows in /v1/usage with its rejected items and bytes, and in the lake, once across a resend', async () => {
    const body = allRejected(5);
    const post = async () => {
      const res = await fetch(`${pipeline.url}/v1/traces`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body,
      });
      return { status: res.status, answer: (await res.json()) as Record<string, unknown> };
    };
    const first = await post();
    expect(first).toEqual({
      status: 200,
      answer: {
        partialSuccess: { rejectedSpans: 5, errorMessage: expect.stringMatching(/^5 spans rejected/) },
      },
    });
    // The client lost the answer and sends the same bytes again.
    expect((await post()).status).toBe(200);
    await pipeline.whenIdle();

    const res = await fetch(`${pipeline.url}/v1/usage?from=now-1d`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(res.status).toBe(200);
    const usage = ((await res.json()) as { data: DailyUsage[] }).data;
    const bytes = Buffer.byteLength(body);
    expect(usage).toEqual([
      {
        day: new Date().toISOString().slice(0, 10),
        signal: 'traces',
        requests: 1,
        itemsAccepted: 0,
        itemsRejected: 5,
        wireBytes: bytes,
        decodedBytes: bytes,
        storedBytesEstimate: 0,
      },
    ]);

    // The lake's copy: a line per record that reached the stream, one request id among them.
    const store = new S3ObjectStore(localS3Client(pipeline.endpoints.s3Endpoint), LOCAL_LAKE_BUCKET);
    const lines: Record<string, unknown>[] = [];
    for (const o of await store.list(`_usage/tenant=${pipeline.tenant}/`)) {
      const text = new TextDecoder().decode(await store.get(o.key));
      for (const l of text.trim().split('\n')) lines.push(JSON.parse(l) as Record<string, unknown>);
    }
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(new Set(lines.map((l) => l.envelopeId)).size).toBe(1);
    expect(lines[0]).toMatchObject({
      signal: 'traces',
      itemsAccepted: 0,
      itemsRejected: 5,
      wireBytes: bytes,
    });
    expect(await store.list('staging/otel_traces/')).toEqual([]);
  });
});
