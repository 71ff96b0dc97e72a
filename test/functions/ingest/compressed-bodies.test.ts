import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zstd } from '../../../functions/shared/compression/zstd.js';
import { type Pipeline, rowCounts, startPipeline } from './pipeline.js';
import { tracesRequest } from './proto.js';

/**
 * Compressed request bodies through the local gateway: each coding the receiver reads gives the
 * same rows as the plain body; bombs are refused with 413 and broken streams with 400; gzip bodies
 * whose trailer (ISIZE, the inflated size) does not describe the whole body, which the receiver
 * sizes its inflate buffer from, are still read whole, or refused.
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

describe('ingest of compressed bodies', () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await startPipeline({ shards: 1 });
  });
  afterAll(async () => {
    await pipeline.close();
  });

  const post = (body: Uint8Array, encoding = 'gzip') =>
    fetch(`${pipeline.url}/v1/traces`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${pipeline.apiKey}`,
        'content-type': PROTO,
        'content-encoding': encoding,
      },
      body,
    });

  const zstdOf = (b: Uint8Array) => {
    if (!zstd) throw new Error('no zstd in this process');
    return zstd.compress(b, 3);
  };

  it('reads zstd and deflate bodies (zlib-wrapped or raw), as the Collector sends them, into the same rows', async () => {
    const before = rowCounts(await pipeline.readEnvelopes()).otel_traces ?? 0;
    const bodies: [string, Uint8Array][] = [
      ['zstd', zstdOf(spans(5000, 40))],
      ['deflate', deflateSync(spans(6000, 30))],
      ['deflate', deflateRawSync(spans(7000, 20))],
      ['zlib', deflateSync(spans(7500, 5))],
      ['ZSTD', zstdOf(spans(8000, 10))],
      // Frames concatenate (with a skippable frame between): node:zlib alone reads only the first.
      [
        'zstd',
        Buffer.concat([
          zstdOf(spans(8100, 7)),
          Buffer.from([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 0, 0]),
          zstdOf(spans(8200, 3)),
        ]),
      ],
    ];
    for (const [encoding, body] of bodies) expect((await post(body, encoding)).status, encoding).toBe(200);
    expect(rowCounts(await pipeline.readEnvelopes()).otel_traces).toBe(before + 115);
  });

  it('refuses zstd and deflate bombs with 413 and broken streams with 400, naming the coding', async () => {
    // 64 MiB of zeros: a few KB compressed, four times the 16 MiB decompressed cap.
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    for (const [encoding, bomb] of [
      ['zstd', zstdOf(zeros)],
      ['deflate', deflateSync(zeros, { level: 9 })],
    ] as const) {
      expect(bomb.byteLength).toBeLessThan(1024 * 1024);
      const res = await post(bomb, encoding);
      expect(res.status, encoding).toBe(413);
    }
    const whole = zstdOf(spans(9000, 50));
    const deflated = deflateSync(spans(9100, 50));
    for (const [encoding, body] of [
      ['zstd', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])],
      ['deflate', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])],
      // Cut off: node:zlib alone would inflate this zstd to nothing, an empty request answered 200.
      ['zstd', whole.subarray(0, whole.length - 3)],
      ['deflate', deflated.subarray(0, deflated.length - 3)],
      // zlib reads one stream: a second one would be dropped unseen.
      ['deflate', Buffer.concat([deflated, deflated])],
    ] as const) {
      const res = await post(body, encoding);
      expect(res.status, encoding).toBe(400);
      expect(await res.text()).toContain(`not valid ${encoding}`);
    }
  });

  it('stores every span of a multi-member gzip body (the last trailer counts only its own member)', async () => {
    // Protobuf messages concatenate into one message whose repeated fields append.
    const body = Buffer.concat([gzipSync(spans(1000, 300)), gzipSync(spans(2000, 2))]);
    const before = rowCounts(await pipeline.readEnvelopes()).otel_traces ?? 0;

    const res = await post(body);

    expect(res.status).toBe(200);
    expect(rowCounts(await pipeline.readEnvelopes()).otel_traces).toBe(before + 302);
  });

  it('refuses with 400 a gzip body whose trailer lies about its inflated size', async () => {
    const body = Buffer.from(gzipSync(spans(3000, 50)));
    body.writeUInt32LE(16, body.length - 4);

    const res = await post(body);

    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/gzip/);
  });
});
