import { describe, expect, it } from 'vitest';
import { createIngest, type OtlpDecoder } from '../../../functions/ingest/ingest.js';
import { decodeOtlp } from '../../../functions/shared/otlp/decode.js';
import type { StreamRecord, StreamSink } from '../../../functions/shared/stream/stream-sink.js';
import type { TenantLimits } from '../../../functions/shared/tenants/directory.js';
import { TokenBucketRateLimiter } from '../../../functions/shared/tenants/rate-limiter.js';

/**
 * Issue #17, "the limiter consulted before the expensive work", for OTLP/JSON: the receiver counts
 * a JSON body's items on its text (countJsonItems) and asks the real in-process limiter before
 * JSON.parse; the decoder port is wrapped in a counter to show when it ran.
 */

const JSON_TYPE = 'application/json';

class RecordingSink implements StreamSink {
  readonly records: StreamRecord[] = [];
  put(records: readonly StreamRecord[]) {
    this.records.push(...records);
    return Promise.resolve({ kind: 'durable' as const, records: records.length, bytes: 0, attempts: 1 });
  }
}

const nowMs = Date.UTC(2026, 5, 1, 12, 0, 0);
const startNs = BigInt(nowMs - 60_000) * 1_000_000n;
const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

/** OTLP/JSON spans as exporters write them (ids, name, start and end); `times: false` leaves both out. */
function spansJson(n: number, from = 0, times = true): Buffer {
  const spans = Array.from({ length: n }, (_, k) => {
    const i = from + k + 1;
    const t = times
      ? `,"startTimeUnixNano":"${startNs + BigInt(i)}","endTimeUnixNano":"${startNs + BigInt(i) + 1000n}"`
      : '';
    return `{"traceId":"${hex(i, 16)}","spanId":"${hex(i, 8)}","name":"op"${t},"attributes":[{"key":"k","value":{"stringValue":"v"}}]}`;
  });
  return Buffer.from(
    `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-limits"}}]},"scopeSpans":[{"scope":{"name":"t"},"spans":[${spans.join(',')}]}]}]}`,
  );
}

function receiver(limits: TenantLimits) {
  const sink = new RecordingSink();
  let decodes = 0;
  const decode: OtlpDecoder = (...args) => {
    decodes++;
    return decodeOtlp(...args);
  };
  const ingest = createIngest({
    tenants: { resolve: () => Promise.resolve({ tenantId: 'acme', keyId: 'k', limits }) },
    rateLimiter: new TokenBucketRateLimiter({ now: () => nowMs }),
    stream: sink,
    decode,
    now: () => nowMs,
    nowNs: () => String(BigInt(nowMs) * 1_000_000n),
  });
  const send = (body: Uint8Array) =>
    ingest({
      signal: 'traces',
      headers: { 'content-type': JSON_TYPE, authorization: 'Bearer k' },
      body,
      remainingMs: 30_000,
    });
  return { send, sink, decodes: () => decodes };
}

describe('OTLP/JSON and the rate limiter', () => {
  it('refuses a tenant over its limit with 429 before decoding: the decoder never runs', async () => {
    const { send, sink, decodes } = receiver({ itemsPerSecond: 1, burst: 100 });
    const ok = await send(spansJson(60));
    expect(ok.status).toBe(200);
    expect(ok.stats.accepted).toBe(60);
    expect(decodes()).toBe(1);
    const stored = sink.records.length;

    const res = await send(spansJson(60, 60));
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('20'); // 60 items, 40 tokens left, 1 token/s
    expect(res.stats.reason).toContain('rate limit of 1 items/s');
    expect(decodes()).toBe(1);
    expect(sink.records.length).toBe(stored);
  });

  it('answers 413 before decoding for a JSON request larger than the whole burst', async () => {
    const { send, decodes } = receiver({ itemsPerSecond: 10, burst: 50 });
    const res = await send(spansJson(51));
    expect(res.status).toBe(413);
    expect(res.stats.reason).toContain('burst of 50 items');
    expect(decodes()).toBe(0);
  });

  it('takes items without marker keys after the decode: leaving the times out does not get past the limit', async () => {
    const { send, sink, decodes } = receiver({ itemsPerSecond: 1, burst: 100 });
    // No start or end time: stored at the receive time, and invisible to the cheap count.
    const first = await send(spansJson(60, 0, false));
    expect(first.status).toBe(200);
    expect(first.stats.accepted).toBe(60);
    const stored = sink.records.length;

    const second = await send(spansJson(60, 60, false));
    expect(second.status).toBe(429);
    expect(decodes()).toBe(2);
    expect(sink.records.length).toBe(stored);
    // Too large for the whole burst is still 413 when the count saw none of it.
    const whole = await receiver({ itemsPerSecond: 1, burst: 100 }).send(spansJson(101, 0, false));
    expect(whole.status).toBe(413);
  });

  it('answers a JSON body that is not UTF-8 with 400, neither limiter nor decoder involved', async () => {
    const { send, decodes } = receiver({ itemsPerSecond: 1, burst: 1 });
    const body = Buffer.concat([
      Buffer.from('{"resourceSpans":[{"x":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}]}'),
    ]);
    for (let i = 0; i < 3; i++) {
      const res = await send(body);
      expect(res.status).toBe(400);
      expect(res.stats.reason).toContain('not valid UTF-8');
    }
    expect(decodes()).toBe(0);
  });
});
