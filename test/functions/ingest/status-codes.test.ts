import { createServer } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rowAt } from '../../../functions/shared/rows/batch.js';
import { KinesisStreamSink } from '../../../functions/shared/stream/kinesis-stream-sink.js';
import type { StreamSink } from '../../../functions/shared/stream/stream-sink.js';
import { registerKey } from '../../../functions/shared/tenants/dynamo-tenant-directory.js';
import { localKinesisClient } from '../../../local/aws-clients.js';
import { instrumentPutRecords } from '../shared/stream/kinesis-helpers.js';
import { type Pipeline, rowCounts, startPipeline, TENANTS_TABLE } from './pipeline.js';
import { decode, tracesRequest } from './proto.js';

/** Every status the receiver answers with, each from a real HTTP request through the local gateway. */

const PROTO = 'application/x-protobuf';
const JSON_TYPE = 'application/json';
const MAX_BODY = 256 * 1024;
const MAX_DECOMPRESSED = 1024 * 1024;

type Fault = 'none' | 'throttle' | 'internal' | 'down';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const id = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

function jsonTraces(service: string, spans: { name: string; traceId?: string }[]) {
  const start = nowNs() - 5_000_000n;
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [
          {
            scope: { name: 'status-test' },
            spans: spans.map((s, i) => ({
              traceId: s.traceId ?? id(1000 + i, 16),
              spanId: id(2000 + i, 8),
              name: s.name,
              kind: 2,
              startTimeUnixNano: String(start),
              endTimeUnixNano: String(start + 1_000_000n),
              attributes: [{ key: 'http.route', value: { stringValue: '/checkout' } }],
            })),
          },
        ],
      },
    ],
  });
}

describe('OTLP/HTTP status codes over real HTTP', () => {
  let pipeline: Pipeline;
  let fault: Fault = 'none';
  const limitedKey = 'limited-key-0123456789';

  beforeAll(async () => {
    const downSink = new KinesisStreamSink(localKinesisClient(`http://127.0.0.1:${await closedPort()}`), {
      streamName: 'telemetry',
      baseDelayMs: 10,
      maxDelayMs: 50,
    });
    pipeline = await startPipeline({
      ports: (defaults, { kinesis }) => {
        instrumentPutRecords(kinesis, () =>
          fault === 'throttle'
            ? 'ProvisionedThroughputExceededException'
            : fault === 'internal'
              ? 'InternalFailure'
              : undefined,
        );
        const stream: StreamSink = {
          put: (records, deadline) => (fault === 'down' ? downSink : defaults.stream).put(records, deadline),
        };
        return { ...defaults, stream, maxBodyBytes: MAX_BODY, maxDecompressedBytes: MAX_DECOMPRESSED };
      },
    });
    await registerKey(pipeline.dynamo, TENANTS_TABLE, {
      tenantId: 'limited',
      key: limitedKey,
      // 2 items at once, then one item per 100 s: the second request is refused however slow the machine.
      limits: { itemsPerSecond: 0.01, burst: 2 },
    });
  });
  afterAll(async () => {
    await pipeline.close();
  });
  beforeEach(() => {
    fault = 'none';
  });

  async function post(
    signal: string,
    body: Uint8Array | string,
    headers: Record<string, string>,
    key: string | null = pipeline.apiKey,
  ) {
    const res = await fetch(`${pipeline.url}/v1/${signal}`, {
      method: 'POST',
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body,
    });
    return { res, body: new Uint8Array(await res.arrayBuffer()) };
  }

  const countAll = async () =>
    Object.values(rowCounts(await pipeline.readEnvelopes())).reduce((a, b) => a + b, 0);

  function spans(n: number, service = 'checkout', traceIdOf?: (i: number) => string) {
    const start = nowNs() - 5_000_000n;
    return tracesRequest([
      {
        service,
        spans: Array.from({ length: n }, (_, i) => ({
          traceId: traceIdOf?.(i) ?? id(5000 + i, 16),
          spanId: id(6000 + i, 8),
          name: `span-${i}`,
          startNs: start,
          endNs: start + 2_000_000n,
        })),
      },
    ]);
  }

  it('200 with an empty protobuf body when everything is accepted, and the spans are in the stream', async () => {
    const before = await countAll();
    const { res, body } = await post('traces', spans(3), { 'content-type': PROTO });

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(PROTO);
    expect(body.byteLength).toBe(0);
    expect((await countAll()) - before).toBe(3);
  });

  it('200 with {} for JSON, Content-Type parameters allowed, x-api-key accepted', async () => {
    const { res, body } = await post(
      'traces',
      jsonTraces('web', [{ name: 'GET /' }]),
      { 'content-type': 'application/json; charset=utf-8', 'x-api-key': pipeline.apiKey },
      null,
    );

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(Buffer.from(body).toString()).toBe('{}');
  });

  it('200 for an empty request in either format, writing nothing', async () => {
    const before = (await pipeline.readEnvelopes()).length;
    const proto = await post('logs', new Uint8Array(0), { 'content-type': PROTO });
    const json = await post('metrics', '{}', { 'content-type': JSON_TYPE });

    expect(proto.res.status).toBe(200);
    expect(proto.body.byteLength).toBe(0);
    expect(json.res.status).toBe(200);
    expect(Buffer.from(json.body).toString()).toBe('{}');
    expect((await pipeline.readEnvelopes()).length).toBe(before);
  });

  it('200 with partial_success in protobuf when one span is invalid; the valid one is stored', async () => {
    const before = await countAll();
    // Span 0 has a 3-byte trace id: rejected by the decoder, counted in partial_success.
    const { res, body } = await post(
      'traces',
      spans(2, 'checkout', (i) => (i === 0 ? 'abcdef' : id(7000, 16))),
      { 'content-type': PROTO },
    );

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(PROTO);
    const partial = decode(decode(body).bytes.get(1)!);
    expect(partial.varints.get(1)).toBe(1); // rejected_spans
    expect(Buffer.from(partial.bytes.get(2)!).toString()).toMatch(/trace_?id/i);
    expect((await countAll()) - before).toBe(1);
  });

  it('200 with partial_success in JSON', async () => {
    const { res, body } = await post(
      'traces',
      jsonTraces('web', [{ name: 'ok' }, { name: 'bad', traceId: 'xyz' }]),
      {
        'content-type': JSON_TYPE,
      },
    );

    expect(res.status).toBe(200);
    const json = JSON.parse(Buffer.from(body).toString()) as { partialSuccess: Record<string, unknown> };
    expect(json.partialSuccess.rejectedSpans).toBe(1);
    expect(json.partialSuccess.errorMessage).toMatch(/traceId/);
  });

  it('400 with a google.rpc.Status (protobuf) carrying the decoder reason for a malformed body', async () => {
    const { res, body } = await post('traces', Uint8Array.from([0x0a, 0xff, 0xff, 0x01]), {
      'content-type': PROTO,
    });

    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe(PROTO);
    const status = decode(body);
    expect(status.varints.get(1)).toBe(3); // INVALID_ARGUMENT
    expect(Buffer.from(status.bytes.get(2)!).toString().length).toBeGreaterThan(5);
  });

  it('400 with a JSON Status for broken JSON and for a body that is not gzip', async () => {
    const broken = await post('logs', '{"resourceLogs": [', { 'content-type': JSON_TYPE });
    expect(broken.res.status).toBe(400);
    expect(JSON.parse(Buffer.from(broken.body).toString())).toMatchObject({ code: 3, message: /JSON/ });

    const notGzip = await post('logs', '{}', { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' });
    expect(notGzip.res.status).toBe(400);
    expect(JSON.parse(Buffer.from(notGzip.body).toString())).toMatchObject({ code: 3, message: /gzip/ });
  });

  it('401 for a missing key and for an unknown key, with a Status in the request format', async () => {
    const missing = await post('traces', spans(1), { 'content-type': PROTO }, null);
    expect(missing.res.status).toBe(401);
    expect(missing.res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(decode(missing.body).varints.get(1)).toBe(16); // UNAUTHENTICATED

    const unknown = await post('traces', '{}', { 'content-type': JSON_TYPE }, 'not-a-registered-key');
    expect(unknown.res.status).toBe(401);
    expect(JSON.parse(Buffer.from(unknown.body).toString())).toMatchObject({ code: 16 });
  });

  it('413 for a body over the cap as received', async () => {
    const { res, body } = await post('traces', new Uint8Array(MAX_BODY + 1), { 'content-type': PROTO });

    expect(res.status).toBe(413);
    expect(decode(body).varints.get(1)).toBe(8); // RESOURCE_EXHAUSTED
  });

  it('413 for a gzip bomb: small as received, over the cap once inflated', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    expect(bomb.byteLength).toBeLessThan(MAX_BODY);

    const { res, body } = await post('traces', bomb, { 'content-type': PROTO, 'content-encoding': 'gzip' });

    expect(res.status).toBe(413);
    expect(Buffer.from(decode(body).bytes.get(2)!).toString()).toMatch(/decompressed/);
  });

  it('415 for an unsupported Content-Type and for an unsupported Content-Encoding', async () => {
    const type = await post('traces', 'hello', { 'content-type': 'text/plain' });
    expect(type.res.status).toBe(415);
    expect(JSON.parse(Buffer.from(type.body).toString())).toMatchObject({ code: 3, message: /Content-Type/ });

    const br = await post('traces', brotliCompressSync(Buffer.from(spans(1))), {
      'content-type': PROTO,
      'content-encoding': 'br',
    });
    expect(br.res.status).toBe(415);
    expect(br.res.headers.get('content-type')).toBe(PROTO);
  });

  it('429 with Retry-After when the tenant is over its rate limit', async () => {
    const first = await post('traces', spans(2), { 'content-type': PROTO }, limitedKey);
    expect(first.res.status).toBe(200);

    const second = await post('traces', spans(2), { 'content-type': PROTO }, limitedKey);
    expect(second.res.status).toBe(429);
    expect(Number(second.res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(decode(second.body).varints.get(1)).toBe(8);
  });

  it('429 with Retry-After when the stream keeps throttling', async () => {
    fault = 'throttle';
    const before = await countAll();
    const { res } = await post('traces', spans(2), { 'content-type': PROTO });

    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await countAll()).toBe(before);
  });

  it('503 with Retry-After when the stream is unreachable', async () => {
    fault = 'down';
    const { res, body } = await post('traces', spans(2), { 'content-type': PROTO });

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(decode(body).varints.get(1)).toBe(14); // UNAVAILABLE
  });

  it('503 when PutRecords entries still fail at the end, and nothing is acknowledged', async () => {
    fault = 'internal';
    const { res, body } = await post(
      'logs',
      '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}',
      {
        'content-type': JSON_TYPE,
      },
    );

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(JSON.parse(Buffer.from(body).toString())).toMatchObject({ code: 14 });
  });

  it('packs the same request into byte-identical envelopes, one partition key per service', async () => {
    const start = nowNs() - 60_000_000_000n;
    const request = tracesRequest(
      ['cart', 'payments'].map((service, s) => ({
        service,
        spans: Array.from({ length: 4 }, (_, i) => ({
          traceId: id(9000 + s * 10 + i, 16),
          spanId: id(9100 + s * 10 + i, 8),
          name: `${service}-op-${i}`,
          startNs: start,
          endNs: start + 3_000_000n,
        })),
      })),
    );
    const seen = new Set((await pipeline.readEnvelopes()).map((e) => e.sequenceNumber));

    expect((await post('traces', request, { 'content-type': PROTO })).res.status).toBe(200);
    const first = (await pipeline.readEnvelopes()).filter((e) => !seen.has(e.sequenceNumber));
    for (const e of first) seen.add(e.sequenceNumber);
    expect((await post('traces', request, { 'content-type': PROTO })).res.status).toBe(200);
    const second = (await pipeline.readEnvelopes()).filter((e) => !seen.has(e.sequenceNumber));

    const byKey = (list: typeof first) =>
      Object.fromEntries(list.map((e) => [e.partitionKey, Buffer.from(e.data).toString('base64')]));
    expect(Object.keys(byKey(first)).sort()).toEqual(['acme:cart', 'acme:payments']);
    expect(byKey(second)).toEqual(byKey(first));
    for (const e of first) {
      const service = e.partitionKey.split(':')[1];
      for (const b of e.envelope.batches)
        for (let i = 0; i < b.rowCount; i++) expect(rowAt(b, i).ServiceName).toBe(service);
    }
  });

  it('publishes items, bytes and envelope bytes as metrics', async () => {
    pipeline.metrics.published.length = 0;
    await post('traces', spans(5), { 'content-type': PROTO });

    const emitted = pipeline.metrics.published.at(-1)!;
    expect(emitted).toMatchObject({ ItemsAccepted: 5, ItemsRejected: 0, signal: 'traces' });
    expect(emitted.RequestBytes).toBeGreaterThan(0);
    expect(emitted.EnvelopeBytes).toBeGreaterThan(0);
  });
});
