import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pipeline, rowCounts, startPipeline } from './pipeline.js';
import { tracesRequest } from './proto.js';

/**
 * gzip bodies whose trailer (ISIZE, the inflated size) does not describe the whole body: the
 * receiver sizes its inflate buffer from it, so these must still be read whole, or refused.
 */

const PROTO = 'application/x-protobuf';
const id = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

function spans(first: number, n: number): Uint8Array {
  const start = BigInt(Date.now()) * 1_000_000n - 5_000_000n;
  return tracesRequest([
    {
      service: 'checkout',
      spans: Array.from({ length: n }, (_, i) => ({
        traceId: id(first + i, 16),
        spanId: id(first + i, 8),
        name: `span-${first + i}`,
        startNs: start,
        endNs: start + 1_000_000n,
      })),
    },
  ]);
}

describe('ingest of gzip bodies', () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await startPipeline({ shards: 1 });
  });
  afterAll(async () => {
    await pipeline.close();
  });

  const post = (body: Uint8Array) =>
    fetch(`${pipeline.url}/v1/traces`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${pipeline.apiKey}`,
        'content-type': PROTO,
        'content-encoding': 'gzip',
      },
      body,
    });

  it('stores every span of a multi-member gzip body (the last trailer counts only its own member)', async () => {
    // Protobuf messages concatenate into one message whose repeated fields append.
    const body = Buffer.concat([gzipSync(spans(1000, 300)), gzipSync(spans(2000, 2))]);

    const res = await post(body);

    expect(res.status).toBe(200);
    expect(rowCounts(await pipeline.readEnvelopes()).otel_traces).toBe(302);
  });

  it('refuses with 400 a gzip body whose trailer lies about its inflated size', async () => {
    const body = Buffer.from(gzipSync(spans(3000, 50)));
    body.writeUInt32LE(16, body.length - 4);

    const res = await post(body);

    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/gzip/);
  });
});
