import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createIngest } from '../../../functions/ingest/ingest.js';
import {
  nameEnvelopes,
  packEnvelopes,
  REQUEST_ID_PLACEHOLDER,
  readEnvelopeHeader,
  requestContentId,
  unpackEnvelope,
} from '../../../functions/shared/envelope/envelope.js';
import type { Signal } from '../../../functions/shared/schema/columns.js';
import type { StreamRecord, StreamSink } from '../../../functions/shared/stream/stream-sink.js';
import { type SpanSpec, tracesRequest } from './proto.js';

/**
 * Content ids of envelopes (exactly once, issue #16): an uncompressed body is identified by the
 * rows it packs to (rowsContent), a compressed one by its bytes (requestContentId). Either way a
 * byte-identical resend must be named alike, received at another time, and a request that stores
 * or meters anything else must not. Envelopes are read back with unpackEnvelope (sha256 checked).
 */

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
/** Incompressible text: a few rows fill a small envelope, so requests split into several. */
const noise = (i: number) =>
  [0, 1, 2, 3].map((k) => createHash('sha256').update(`${i}/${k}`).digest('hex')).join('');

interface LogSpec {
  readonly service: string;
  readonly count: number;
  /** Leave the record's times out: it is stored at the receive time. */
  readonly timeless?: (i: number) => boolean;
  readonly traceId?: (i: number) => string;
}

function logsJson(resources: readonly LogSpec[], body: (i: number) => string = noise): string {
  return JSON.stringify({
    resourceLogs: resources.map((r, s) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: r.service } }] },
      scopeLogs: [
        {
          scope: { name: 'content-id' },
          logRecords: Array.from({ length: r.count }, (_, k) => {
            const i = s * 1000 + k;
            return {
              ...(r.timeless?.(i) ? {} : { timeUnixNano: String(startNs + BigInt(i)) }),
              severityNumber: 9,
              body: { stringValue: body(i) },
              traceId: r.traceId?.(i) ?? hex(i + 1, 16),
              attributes: [{ key: 'n', value: { intValue: String(i) } }],
            };
          }),
        },
      ],
    })),
  });
}

function receiver(tenant = 'acme') {
  const sink = new RecordingSink();
  let receivedMs = nowMs;
  const ingest = createIngest({
    tenants: { resolve: () => Promise.resolve({ tenantId: tenant, keyId: 'k' }) },
    stream: sink,
    now: () => nowMs,
    // Every request is received a little later than the one before: a resend is too.
    nowNs: () => String(BigInt(receivedMs++) * 1_000_000n + 123n),
    envelope: { maxBytes: 4096 },
  });
  /** Sends a body and returns the envelopes it put on the stream, read back whole. */
  const send = async (
    body: string | Uint8Array,
    opts: { signal?: Signal; type?: string; encoding?: string } = {},
  ) => {
    const from = sink.records.length;
    const res = await ingest({
      signal: opts.signal ?? 'logs',
      headers: {
        'content-type': opts.type ?? 'application/json',
        authorization: 'Bearer k',
        ...(opts.encoding ? { 'content-encoding': opts.encoding } : {}),
      },
      body: typeof body === 'string' ? Buffer.from(body) : body,
      remainingMs: 30_000,
    });
    expect(res.status).toBe(200);
    const envelopes = sink.records.slice(from).map((r) => unpackEnvelope(r.data));
    return { res, envelopes, ids: envelopes.map((e) => e.header.id) };
  };
  return { send };
}

const requestOf = (id: string | undefined) => id?.split('-')[0];

describe('envelope content ids of uncompressed bodies (the rows they pack to)', () => {
  it('names a byte-identical resend alike, envelope by envelope, though it is received later', async () => {
    const { send } = receiver();
    const body = logsJson([
      { service: 'cart', count: 30 },
      { service: 'payments', count: 25 },
    ]);

    const first = await send(body);
    const resend = await send(body);

    expect(first.ids.length).toBeGreaterThanOrEqual(4); // split over envelopes and services
    const request = requestOf(first.ids[0]);
    expect(request).toMatch(/^[0-9a-f]{32}$/);
    expect(request).not.toBe(REQUEST_ID_PLACEHOLDER);
    expect(first.ids).toEqual(first.ids.map((_, k) => `${request}-${k}`));
    expect(resend.ids).toEqual(first.ids);
    expect(resend.envelopes.map((e) => e.batches)).toEqual(first.envelopes.map((e) => e.batches));
  });

  it('names a resend alike when rows carry the receive time, which the resend does not share', async () => {
    const { send } = receiver();
    const body = logsJson([{ service: 'cart', count: 40, timeless: (i) => i % 3 === 0 }]);

    const first = await send(body);
    const resend = await send(body);

    const times = (r: typeof first) => r.envelopes.map((e) => e.header.receivedAtNs);
    expect(times(first).some((t) => t !== undefined)).toBe(true);
    expect(times(resend)).not.toEqual(times(first)); // the rows differ in that time only
    expect(resend.ids).toEqual(first.ids);
  });

  it('names a protobuf resend alike, and apart from the same rows sent as JSON', async () => {
    const { send } = receiver();
    const spans: SpanSpec[] = Array.from({ length: 12 }, (_, i) => ({
      traceId: hex(i + 1, 16),
      spanId: hex(i + 1, 8),
      name: noise(i),
      startNs: startNs + BigInt(i),
      endNs: startNs + BigInt(i) + 1000n,
    }));
    const pb = tracesRequest([{ service: 'cart', spans }]);
    const json = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'cart' } }] },
          scopeSpans: [
            {
              scope: { name: 'test-scope' },
              spans: spans.map((s) => ({
                traceId: s.traceId,
                spanId: s.spanId,
                name: s.name,
                kind: 2,
                startTimeUnixNano: String(s.startNs),
                endTimeUnixNano: String(s.endNs),
              })),
            },
          ],
        },
      ],
    });
    const proto = { signal: 'traces' as const, type: 'application/x-protobuf' };

    const first = await send(pb, proto);
    const resend = await send(pb, proto);
    const asJson = await send(json, { signal: 'traces' });

    expect(resend.ids).toEqual(first.ids);
    expect(asJson.envelopes.map((e) => e.batches)).toEqual(first.envelopes.map((e) => e.batches));
    expect(requestOf(asJson.ids[0])).not.toBe(requestOf(first.ids[0]));
  });

  it('gives other ids to a request that stores or meters anything else', async () => {
    const base = [{ service: 'cart', count: 20 }];
    const body = logsJson(base);
    const { send } = receiver();
    const id = requestOf((await send(body)).ids[0]);

    // One character of one stored value (the body keeps its length).
    const oneChar = logsJson(base, (i) => (i === 7 ? `${noise(i).slice(0, -1)}x` : noise(i)));
    expect(oneChar.length).toBe(body.length);
    // One more item, rejected (a trace id of the wrong length): the same rows are stored.
    const rejected = logsJson([
      { service: 'cart', count: 21, traceId: (i) => (i === 20 ? 'abc' : hex(i + 1, 16)) },
    ]);
    // The same rows in a longer body (other wire and decoded sizes).
    const spaced = body.replace('"resourceLogs":', '"resourceLogs":  ');
    const others = [oneChar, rejected, spaced];
    const ids = [];
    for (const b of others) ids.push(requestOf((await send(b)).ids[0]));
    ids.push(requestOf((await receiver('globex').send(body)).ids[0]));

    expect(new Set([id, ...ids]).size).toBe(ids.length + 1);
    const withRejected = await send(rejected);
    expect(withRejected.res.stats.rejected).toBe(1);
    expect(withRejected.envelopes.map((e) => e.batches)).toEqual(
      (await send(body)).envelopes.map((e) => e.batches),
    );
  });

  it('names an all-rejected request (its usage envelope) by its body: a resend alike, another body of one size apart', async () => {
    const { send } = receiver();
    // Trace ids that are not 16 bytes of hex: every record is rejected, only usage is left to store.
    const bad = (id: string) => logsJson([{ service: 'cart', count: 3, traceId: () => id }]);

    const first = await send(bad('zz'));
    const resend = await send(bad('zz'));
    const other = await send(bad('zy'));

    expect(first.envelopes.map((e) => e.batches.length)).toEqual([0]);
    expect(first.envelopes[0]!.header.usage).toMatchObject({ accepted: 0, rejected: 3 });
    expect(resend.ids).toEqual(first.ids);
    expect(bad('zy').length).toBe(bad('zz').length);
    expect(other.ids[0]).not.toBe(first.ids[0]);
  });

  it('takes two bodies of one size storing the same rows for one content (a resend)', async () => {
    const { send } = receiver();
    const body = logsJson([{ service: 'cart', count: 10 }]);
    // The same object's keys in another order: JSON that differs, rows and size that do not.
    const reordered = body
      .replace('"severityNumber":9,', '')
      .replace('"traceId":', '"severityNumber":9,"traceId":');
    expect(reordered).not.toBe(body);
    expect(reordered.length).toBe(body.length);

    const a = await send(reordered);
    const b = await send(body);
    expect(a.envelopes.map((e) => e.batches)).toEqual(b.envelopes.map((e) => e.batches));
    expect(a.envelopes.map((e) => e.header)).toEqual(b.envelopes.map((e) => e.header)); // ids, sizes, usage
    expect(a.ids).toEqual(b.ids);
  });
});

describe('envelope content ids of compressed bodies (the body as received)', () => {
  it('are the hash of the gzip body, resends alike', async () => {
    const { send } = receiver();
    const gz = gzipSync(Buffer.from(logsJson([{ service: 'cart', count: 15 }])));

    const first = await send(gz, { encoding: 'gzip' });
    const resend = await send(gz, { encoding: 'gzip' });

    expect(requestOf(first.ids[0])).toBe(requestContentId('acme', 'logs', 'json', 'gzip', gz));
    expect(resend.ids).toEqual(first.ids);
  });
});

describe('nameEnvelopes', () => {
  const batch = {
    table: 'otel_logs' as const,
    rowCount: 1,
    columns: { Body: [noise(1)] },
  };

  it('renames placeholder ids in place, the payload untouched', () => {
    const packed = packEnvelopes(
      'acme',
      'logs',
      [batch],
      {},
      {
        request: REQUEST_ID_PLACEHOLDER,
        firstOrdinal: 4,
        receivedAtNs: '1',
        usage: { accepted: 1, rejected: 0, wireBytes: 10, decodedBytes: 10 },
      },
    );
    const request = 'ab'.repeat(16);

    const [named] = nameEnvelopes(packed, request);

    expect(named!.header.id).toBe(`${request}-4`);
    expect(readEnvelopeHeader(named!.data)).toEqual(named!.header);
    expect(unpackEnvelope(named!.data).batches).toEqual([batch]);
  });

  it('refuses an envelope named otherwise, or an id of another length', () => {
    const named = packEnvelopes(
      'acme',
      'logs',
      [batch],
      {},
      {
        request: 'cd'.repeat(16),
        firstOrdinal: 0,
        receivedAtNs: '1',
      },
    );
    const placeholder = packEnvelopes(
      'acme',
      'logs',
      [batch],
      {},
      {
        request: REQUEST_ID_PLACEHOLDER,
        firstOrdinal: 0,
        receivedAtNs: '1',
      },
    );

    expect(() => nameEnvelopes(named, 'ab'.repeat(16))).toThrow(/placeholder/);
    expect(() => nameEnvelopes(placeholder, 'ab')).toThrow(/32 hex/);
  });
});
