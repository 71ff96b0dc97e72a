import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_REQUEST_CAPS } from '../../../functions/ingest/config.js';
import { createIngest, type IngestPorts, type IngestResponse } from '../../../functions/ingest/ingest.js';
import type { StreamRecord, StreamSink } from '../../../functions/shared/stream/stream-sink.js';
import type { TenantLimits } from '../../../functions/shared/tenants/directory.js';
import { DynamoWindowRateLimiter } from '../../../functions/shared/tenants/dynamo-rate-limiter.js';
import {
  OncePerDayQuotaEventSink,
  type QuotaWarningDetail,
} from '../../../functions/shared/tenants/quota-events.js';
import {
  DEFAULT_TENANT_LIMITS,
  type RateLimiter,
  TokenBucketRateLimiter,
} from '../../../functions/shared/tenants/rate-limiter.js';
import { localDynamoClient } from '../../../local/aws-clients.js';
import { type Pipeline, rowCounts, startPipeline } from './pipeline.js';
import { encode, type Field } from './proto.js';

/**
 * Bounded work per request and limits that hold (issue #17): requests through `createIngest` with
 * the default caps and a real limiter (in-process, or DynamoDB at an unreachable endpoint), and the
 * expanding body once more over real HTTP through the handler, kinesalite and dynalite.
 */

const PROTO = 'application/x-protobuf';
const MIB = 1024 * 1024;

// ---- bodies ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function field(no: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...varint((no << 3) | 2), ...varint(body.length)]), body]);
}

function repeated(chunk: Uint8Array, times: number): Buffer {
  const out = Buffer.alloc(chunk.length * times);
  for (let i = 0; i < times; i++) out.set(chunk, i * chunk.length);
  return out;
}

/** A traces request with one resource and one scope around already-encoded span fields. */
const tracesAround = (spanFields: Uint8Array) => field(1, field(2, spanFields));

/** 16 MiB of empty spans (two bytes each): 8 million spans from a 16 KB gzip body. */
const emptySpans = () => tracesAround(repeated(new Uint8Array([0x12, 0x00]), (16 * MIB - 16) / 2));

const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const hexId = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

function fixed64(tag: number, n: bigint): Buffer {
  const b = Buffer.alloc(9);
  b[0] = tag;
  b.writeBigUInt64LE(n, 1);
  return b;
}

const text = (s: string) => Buffer.from(s);

/** A KeyValue with an int value. */
const intAttribute = (key: string) =>
  Buffer.concat([field(1, text(key)), field(2, Buffer.from([0x18, 0x01]))]);
const stringAttribute = (key: string, value: string) =>
  Buffer.concat([field(1, text(key)), field(2, field(1, text(value)))]);

/** `n` valid spans (ids, name, times; numbered from `from`), each with `attributes` tiny int attributes. */
function spans(n: number, attributes = 0, from = 0): Uint8Array {
  const start = nowNs() - 5_000_000n;
  const attrs = Buffer.concat(Array.from({ length: attributes }, (_, j) => field(9, intAttribute(`a${j}`))));
  const resource = field(1, field(1, stringAttribute('service.name', 'bounds')));
  const list = Array.from({ length: n }, (_, i) =>
    field(
      2,
      Buffer.concat([
        field(1, Buffer.from(hexId(from + i + 1, 16), 'hex')),
        field(2, Buffer.from(hexId(from + i + 1, 8), 'hex')),
        field(5, text('s')),
        fixed64(0x39, start),
        fixed64(0x41, start + 1000n),
        attrs,
      ]),
    ),
  );
  return field(1, Buffer.concat([resource, field(2, Buffer.concat(list))]));
}

/** `n` log records under one resource of `resourceAttributes` string attributes of `valueBytes` each. */
function logsUnderBigResource(n: number, resourceAttributes: number, valueBytes: number): Uint8Array {
  const t = nowNs() - 5_000_000n;
  const value = 'v'.repeat(valueBytes);
  const resource = field(
    1,
    Buffer.concat(
      Array.from({ length: resourceAttributes }, (_, j) => field(1, stringAttribute(`big.${j}`, value))),
    ),
  );
  const logs = Array.from({ length: n }, (_, i) =>
    field(2, Buffer.concat([fixed64(0x09, t + BigInt(i)), field(5, field(1, text(`log ${i}`)))])),
  );
  return field(1, Buffer.concat([resource, field(2, Buffer.concat(logs))]));
}

// ---- the receiver ----

class RecordingSink implements StreamSink {
  readonly records: StreamRecord[] = [];
  put(records: readonly StreamRecord[]) {
    this.records.push(...records);
    return Promise.resolve({ kind: 'durable' as const, records: records.length, bytes: 0, attempts: 1 });
  }
}

class Clock {
  ms = Date.UTC(2026, 5, 1, 12, 0, 0);
  readonly now = () => this.ms;
}

function receiver(
  options: { limits?: TenantLimits; rateLimiter?: RateLimiter; ports?: Partial<IngestPorts> } = {},
) {
  const sink = new RecordingSink();
  const clock = new Clock();
  const ingest = createIngest({
    tenants: {
      resolve: () =>
        Promise.resolve({ tenantId: 'acme', keyId: 'k', ...(options.limits && { limits: options.limits }) }),
    },
    rateLimiter: options.rateLimiter ?? new TokenBucketRateLimiter({ now: clock.now }),
    stream: sink,
    ...options.ports,
  });
  const send = (
    body: Uint8Array,
    {
      signal = 'traces',
      type = PROTO,
      gzip = false,
      gzipped = false,
    }: { signal?: 'traces' | 'logs'; type?: string; gzip?: boolean; gzipped?: boolean } = {},
  ) =>
    ingest({
      signal,
      headers: {
        'content-type': type,
        authorization: 'Bearer k',
        ...((gzip || gzipped) && { 'content-encoding': 'gzip' }),
      },
      body: gzip ? gzipSync(body) : body,
      remainingMs: 30_000,
    });
  const rows = () => sink.records.length;
  return { send, sink, clock, rows };
}

/** The response body as text: a protobuf Status carries its message verbatim. */
const bodyText = (res: IngestResponse) => Buffer.from(res.body).toString('latin1');

describe('bounded work per request', () => {
  it('answers 16 MiB of empty spans sent as 16 KB of gzip with 413 naming the item cap, quickly, storing nothing', async () => {
    const { send, rows } = receiver();
    const body = gzipSync(emptySpans());
    expect(body.byteLength).toBeLessThan(20_000);

    const started = performance.now();
    const answer = await send(body, { gzipped: true });
    const elapsed = performance.now() - started;

    expect(answer.status).toBe(413);
    expect(answer.stats.reason).toContain(`more than ${DEFAULT_REQUEST_CAPS.maxItems} items`);
    expect(bodyText(answer)).toContain(`more than ${DEFAULT_REQUEST_CAPS.maxItems} items`);
    // The unbounded receiver spent ~2.7 s of CPU and 2.3 GB decoding these (bench/adversarial.ts).
    expect(elapsed).toBeLessThan(1500);
    expect(rows()).toBe(0);
  });

  it('answers the same expansion in JSON with 413 naming the JSON value cap', async () => {
    const { send, rows } = receiver();
    const json = `{"resourceSpans":[{"scopeSpans":[{"spans":[${'{},'.repeat(5_000_000)}{}]}]}]}`;
    const res = await send(Buffer.from(json), { type: 'application/json', gzip: true });
    expect(res.status).toBe(413);
    expect(res.stats.reason).toContain(`more than ${DEFAULT_REQUEST_CAPS.maxJsonValues} JSON values`);
    expect(JSON.parse(Buffer.from(res.body).toString('utf8')).message).toContain('JSON values');
    expect(rows()).toBe(0);
  });

  it('answers 8 million empty span events with 413 naming the attribute cap', async () => {
    const { send } = receiver();
    const span = Buffer.concat([
      field(1, Buffer.from(hexId(1, 16), 'hex')),
      field(2, Buffer.from(hexId(1, 8), 'hex')),
      repeated(new Uint8Array([0x5a, 0x00]), 8_000_000),
    ]);
    const res = await send(tracesAround(field(2, span)), { gzip: true });
    expect(res.status).toBe(413);
    expect(res.stats.reason).toContain(
      `more than ${DEFAULT_REQUEST_CAPS.maxAttributes} attributes, events, links`,
    );
  });

  it('takes 100k tiny attributes whole (within the caps), and answers 413 one attribute past a cap', async () => {
    const { send, rows } = receiver();
    const ok = await send(spans(100, 1000), { gzip: true });
    expect(ok.status).toBe(200);
    expect(ok.stats.accepted).toBe(100);
    expect(rows()).toBeGreaterThan(0);

    // The resource and scope entries and service.name count too: 3 + 997 = the cap.
    const small = receiver({ ports: { requestCaps: { maxAttributes: 1000 } } });
    expect((await small.send(spans(1, 997))).status).toBe(200);
    const over = await small.send(spans(1, 998));
    expect(over.status).toBe(413);
    expect(over.stats.reason).toContain('more than 1000 attributes');
  });

  it('answers 413 for more items than the cap in JSON too, counted while decoding', async () => {
    const { send } = receiver({ ports: { requestCaps: { maxItems: 3 } } });
    const json = (n: number) =>
      JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: Array.from({ length: n }, () => ({})) }] }] });
    expect((await send(Buffer.from(json(3)), { type: 'application/json' })).status).toBe(200);
    const over = await send(Buffer.from(json(4)), { type: 'application/json' });
    expect(over.status).toBe(413);
    expect(over.stats.reason).toContain('more than 3 items');
  });

  it('answers 413 when resource attributes multiply past the cap (issue #17: 1k logs x 63 x 4 KB), and takes the same resource on fewer logs', async () => {
    const { send, rows } = receiver();
    const res = await send(logsUnderBigResource(1000, 63, 4096), { signal: 'logs', gzip: true });
    expect(res.status).toBe(413);
    expect(res.stats.reason).toContain(`more than ${DEFAULT_REQUEST_CAPS.maxExpandedAttributeBytes} bytes`);
    expect(rows()).toBe(0);

    const fewer = await send(logsUnderBigResource(100, 63, 4096), { signal: 'logs', gzip: true });
    expect(fewer.status).toBe(200);
    expect(fewer.stats.accepted).toBe(100);
  });

  it('refuses attribute values nested past the depth cap with 400 naming it', async () => {
    const { send } = receiver();
    let value: Field[] = [{ no: 3, varint: 1 }];
    for (let d = 0; d < 40; d++) value = [{ no: 5, bytes: [{ no: 1, bytes: value }] }];
    const body = encode([
      {
        no: 1,
        bytes: [
          {
            no: 2,
            bytes: [
              {
                no: 2,
                bytes: [
                  {
                    no: 9,
                    bytes: [
                      { no: 1, bytes: 'deep' },
                      { no: 2, bytes: value },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      },
    ]);
    const res = await send(body);
    expect(res.status).toBe(400);
    expect(res.stats.reason).toContain('nested deeper than 32 levels');
  });

  it('consults the limiter before decoding: an over-limit tenant’s malformed body gets 429, not 400', async () => {
    const { send } = receiver({ limits: { itemsPerSecond: 1, burst: 5 } });
    expect((await send(spans(5))).status).toBe(200);
    // A span whose trace_id has the wrong wire type: the decoder would answer 400.
    const malformed = tracesAround(field(2, Buffer.from([0x08, 0x01])));
    const res = await send(malformed);
    expect(res.status).toBe(429);
    // With tokens again, the same body reaches the decoder.
    const fresh = receiver({ limits: { itemsPerSecond: 1, burst: 5 } });
    expect((await fresh.send(malformed)).status).toBe(400);
  });
});

describe('tenant limits on by default', () => {
  it('holds a tenant without its own limit to the default burst, then answers 429 with Retry-After naming the limit', async () => {
    const { send, rows } = receiver();
    const half = DEFAULT_TENANT_LIMITS.burst / 2;
    expect((await send(spans(half))).status).toBe(200);
    expect((await send(spans(half, 0, half))).status).toBe(200);
    const stored = rows();

    const res = await send(spans(20_000, 0, 2 * half));
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe(String(20_000 / DEFAULT_TENANT_LIMITS.itemsPerSecond));
    expect(res.stats.reason).toContain(`rate limit of ${DEFAULT_TENANT_LIMITS.itemsPerSecond} items/s`);
    expect(bodyText(res)).toContain('rate limit of');
    expect(rows()).toBe(stored);
  });

  it('answers 413 for a request larger than the tenant’s whole burst, and 429 for one larger than what is left: neither slips through', async () => {
    const { send, rows, clock } = receiver({ limits: { itemsPerSecond: 10, burst: 100 } });
    const whole = await send(spans(101));
    expect(whole.status).toBe(413);
    expect(whole.stats.reason).toContain('burst of 100 items');

    expect((await send(spans(60))).status).toBe(200);
    const stored = rows();
    const rest = await send(spans(60, 0, 60));
    expect(rest.status).toBe(429);
    expect(rest.headers['retry-after']).toBe('2');
    expect(rows()).toBe(stored);
    clock.ms += 2000;
    expect((await send(spans(60, 0, 60))).status).toBe(200);
  });

  it('counts decompressed bytes per UTC day: 429 until midnight, then accepted again', async () => {
    const body = spans(10);
    const { send, clock } = receiver({ limits: { bytesPerDay: body.byteLength * 2 + 10 } });
    expect((await send(body, { gzip: true })).status).toBe(200);
    expect((await send(body, { gzip: true })).status).toBe(200);
    const res = await send(body, { gzip: true });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe(String(12 * 3600)); // the clock is at 12:00 UTC
    expect(res.stats.reason).toContain(`daily byte quota of ${body.byteLength * 2 + 10} exceeded`);
    clock.ms += 12 * 3600 * 1000;
    expect((await send(body, { gzip: true })).status).toBe(200);
  });

  it('daily item quota: 429 naming it with Retry-After to midnight UTC, one warning event at 80%, accepted again after midnight', async () => {
    const warnings: QuotaWarningDetail[] = [];
    const { send, clock, rows } = receiver({
      limits: { itemsPerDay: 100 },
      ports: { quotaEvents: new OncePerDayQuotaEventSink({ warn: async (d) => void warnings.push(d) }) },
    });
    expect((await send(spans(70))).status).toBe(200);
    expect(warnings).toEqual([]);
    expect((await send(spans(15, 0, 70))).status).toBe(200); // 85: past 80%
    expect((await send(spans(5, 0, 85))).status).toBe(200); // 90: no second warning
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      tenant: 'acme',
      quota: 'items',
      limit: 100,
      used: 85,
      day: '2026-06-01',
    });
    expect(warnings[0]!.summary).toContain('daily item quota of 100');

    const stored = rows();
    const over = await send(spans(20, 0, 90));
    expect(over.status).toBe(429);
    expect(over.headers['retry-after']).toBe(String(12 * 3600));
    expect(bodyText(over)).toContain(
      'daily item quota of 100 exceeded for tenant acme; resets at 2026-06-02T00:00:00.000Z',
    );
    expect(rows()).toBe(stored);
    expect((await send(spans(10, 0, 90))).status).toBe(200); // what is left still fits
    expect((await send(spans(101))).status).toBe(413); // larger than the whole quota

    clock.ms += 12 * 3600 * 1000;
    expect((await send(spans(80, 0, 200))).status).toBe(200);
    expect(warnings.map((w) => w.day)).toEqual(['2026-06-01', '2026-06-02']);
  });

  it('a quota warning that cannot be sent does not fail the request', async () => {
    const errors: unknown[] = [];
    const { send } = receiver({
      limits: { itemsPerDay: 10 },
      ports: {
        quotaEvents: { warn: () => Promise.reject(new Error('bus down')) },
        onQuotaEventError: (e) => errors.push(e),
      },
    });
    expect((await send(spans(9))).status).toBe(200);
    expect(String(errors[0])).toContain('bus down');
  });

  it('lets a tenant marked unlimited past the defaults', async () => {
    const { send } = receiver({ limits: { unlimited: true }, ports: { requestCaps: {} } });
    for (let i = 0; i < 3; i++) expect((await send(spans(50_000, 0, i * 50_000))).status).toBe(200);
  });

  it('falls back to in-process buckets at the limit divided by the assumed instances when DynamoDB is unreachable, never unlimited', async () => {
    const dead = localDynamoClient('http://127.0.0.1:9');
    const errors: unknown[] = [];
    const clock = new Clock();
    try {
      const { send } = receiver({
        limits: { itemsPerSecond: 100, burst: 200 },
        rateLimiter: new DynamoWindowRateLimiter({
          client: dead,
          tableName: 'rate-limits',
          fallbackInstances: 4,
          now: clock.now,
          onError: (err) => errors.push(err),
        }),
      });
      expect((await send(spans(200))).status).toBe(200);
      expect(errors.length).toBe(1);
      const res = await send(spans(50, 0, 200));
      expect(res.status).toBe(429);
      // 50 items at 100 / 4 per second.
      expect(res.headers['retry-after']).toBe('2');
    } finally {
      dead.destroy();
    }
  });
});

describe('over real HTTP (handler, local gateway, kinesalite, dynalite)', () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await startPipeline({ shards: 1 });
  });
  afterAll(async () => {
    await pipeline?.close();
  });

  it('answers the expanding body with 413 and a Status naming the cap, and puts nothing on the stream', async () => {
    const res = await fetch(`${pipeline.url}/v1/traces`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${pipeline.apiKey}`,
        'content-type': PROTO,
        'content-encoding': 'gzip',
      },
      body: gzipSync(emptySpans()),
    });
    expect(res.status).toBe(413);
    expect(Buffer.from(await res.arrayBuffer()).toString('latin1')).toContain('more than 50000 items');
    expect(rowCounts(await pipeline.readEnvelopes())).toEqual({});
  });
});
