import { gzipSync } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KinesisStreamRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeKinesisRecords } from '../../../../functions/hot-writer/consumer.js';
import { createIngest, type IngestResponse } from '../../../../functions/ingest/ingest.js';
import { ClickHouseTelemetryWriter } from '../../../../functions/shared/clickhouse/writer.js';
import { ClickHouseTenantUsageSource } from '../../../../functions/shared/costs/tenant-attribution.js';
import type { DeadLetter } from '../../../../functions/shared/dead-letter/dead-letter.js';
import { unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { writeToLake } from '../../../../functions/shared/lake/lake-writer.js';
import { InMemoryObjectStore } from '../../../../functions/shared/lake/memory-object-store.js';
import { CursorCodec } from '../../../../functions/shared/query/cursor.js';
import type { TelemetryReader } from '../../../../functions/shared/query/model.js';
import { createQueryApi } from '../../../../functions/shared/query/query-api.js';
import type { StreamRecord } from '../../../../functions/shared/stream/stream-sink.js';
import {
  ClickHouseUsageReader,
  ClickHouseUsageSink,
  readDailyUsage,
} from '../../../../functions/shared/usage/usage.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { tracesRequest } from '../../ingest/proto.js';
import { kinesisRecord } from '../clickhouse/support.js';

/**
 * Usage metering end to end: the real receiver packs each request's usage on its first envelope,
 * the hot writer stores the rows and the usage in embedded ClickHouse, and the daily view sums it.
 * The engine's own count of stored rows is the oracle for items accepted.
 */

let connection: TestClickHouse;
let client: ClickHouseClient;
const put: StreamRecord[] = [];
const DAY_MS = Date.UTC(2026, 11, 7, 10, 0, 0);

const ingest = createIngest({
  tenants: {
    resolve: async (key) => ({
      tenantId: key === 'key-b' ? 'beta' : key === 'key-c' ? 'gamma' : 'acme',
      keyId: key,
    }),
  },
  stream: {
    put: async (records) => {
      put.push(...records);
      return { kind: 'durable', records: records.length, bytes: 0, attempts: 1 };
    },
  },
  now: () => DAY_MS,
});

const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');
function body(services: string[], spans: number, from: number, tooOld = 0): Uint8Array {
  const start = BigInt(Date.now() - 60_000) * 1_000_000n;
  return tracesRequest(
    services.map((service, s) => ({
      service,
      spans: Array.from({ length: spans }, (_, i) => ({
        traceId: hex(from + s * 1000 + i + 1, 16),
        spanId: hex(from + s * 1000 + i + 1, 8),
        name: `op-${i}`,
        // A span from 1970 is past the hot retention: rejected in partial_success.
        startNs: s === 0 && i < tooOld ? 1_000_000_000n : start,
        endNs: (s === 0 && i < tooOld ? 1_000_000_000n : start) + 1_000_000n,
      })),
    })),
  );
}

async function send(key: string, data: Uint8Array, gzip = false): Promise<IngestResponse> {
  const res = await ingest({
    signal: 'traces',
    headers: {
      'content-type': 'application/x-protobuf',
      authorization: `Bearer ${key}`,
      ...(gzip && { 'content-encoding': 'gzip' }),
    },
    body: gzip ? gzipSync(data) : data,
    remainingMs: 30_000,
  });
  expect(res.status).toBe(200);
  return res;
}

let seq = 0;
/** The record as it reached the stream on the test's day: usage counts on the arrival's UTC day. */
const arrivedOn = (r: KinesisStreamRecord, ms = DAY_MS): KinesisStreamRecord => ({
  ...r,
  kinesis: { ...r.kinesis, approximateArrivalTimestamp: ms / 1000 },
});
async function writeAll(records: readonly StreamRecord[]) {
  const events: KinesisStreamRecord[] = records.map((r) => arrivedOn(kinesisRecord(r.data, seq++)));
  const letters: DeadLetter[] = [];
  const outcome = await consumeKinesisRecords(events, {
    writer: new ClickHouseTelemetryWriter(client, { retryDelayMs: 0 }),
    deadLetters: { put: async (l) => void letters.push(...l) },
    usage: new ClickHouseUsageSink(client),
  });
  expect(outcome.response.batchItemFailures).toEqual([]);
}

const storedSpans = async (tenant: string) => {
  const rs = await client.query({
    query: `SELECT count() AS n FROM otel_traces WHERE TenantId = {t:String}`,
    query_params: { t: tenant },
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0]!.n);
};

beforeAll(async () => {
  connection = await openMigratedClickHouse('ch-usage-');
  client = connection.client;
});
afterAll(async () => {
  await connection?.close();
});

describe('usage metering (receiver -> envelopes -> hot writer -> embedded ClickHouse)', () => {
  it('counts per tenant, day and signal: items accepted and rejected, wire and decoded bytes, requests; once per request whatever the resends and redeliveries', async () => {
    // acme: a request over three services (three envelopes, usage on the first only) with rejects,
    // and a gzip one; beta: one request.
    const first = body(['checkout', 'cart', 'payments'], 40, 0, 3);
    const a1 = await send('key-a', first);
    expect(a1.stats.rejected).toBe(3);
    const a2 = await send('key-a', body(['checkout'], 25, 10_000), true);
    const b1 = await send('key-b', body(['search'], 7, 20_000));
    const firstRecords = put.length;
    await writeAll(put);
    // The client lost the answer and sends the same bytes again; the stream redelivers too.
    await send('key-a', first);
    await writeAll(put.slice(firstRecords));
    await writeAll(put.slice(0, firstRecords));

    const acme = await readDailyUsage(client, 'acme', '2026-12-01', '2026-12-31');
    expect(acme).toEqual([
      {
        day: '2026-12-07',
        signal: 'traces',
        requests: 2,
        itemsAccepted: a1.stats.accepted + a2.stats.accepted,
        itemsRejected: 3,
        wireBytes: a1.stats.requestBytes + a2.stats.requestBytes,
        decodedBytes: (a1.stats.decompressedBytes ?? 0) + (a2.stats.decompressedBytes ?? 0),
        storedBytesEstimate: expect.any(Number),
      },
    ]);
    // The engine's own count: what usage says was accepted is what is stored.
    expect(acme[0]!.itemsAccepted).toBe(await storedSpans('acme'));
    expect(acme[0]!.itemsAccepted).toBe(117 + 25);
    expect(a2.stats.requestBytes).toBeLessThan(a2.stats.decompressedBytes ?? 0); // gzip on the wire
    expect(acme[0]!.storedBytesEstimate).toBeGreaterThan(0);

    const beta = await readDailyUsage(client, 'beta', '2026-12-07', '2026-12-07');
    expect(beta.map((u) => [u.requests, u.itemsAccepted, u.wireBytes])).toEqual([
      [1, 7, b1.stats.requestBytes],
    ]);
    expect(await readDailyUsage(client, 'beta', '2026-12-08', '2026-12-31')).toEqual([]);
  });

  it('reports the usage insert failing as batch item failures (retried), never as stored', async () => {
    put.length = 0;
    await send('key-b', body(['search'], 2, 30_000));
    const outcome = await consumeKinesisRecords(
      put.map((r) => arrivedOn(kinesisRecord(r.data, seq++))),
      {
        writer: new ClickHouseTelemetryWriter(client, { retryDelayMs: 0 }),
        deadLetters: { put: async () => {} },
        usage: { record: () => Promise.reject(new Error('usage table unreachable')) },
      },
    );
    expect(outcome.response.batchItemFailures).toHaveLength(1);
    expect(outcome.errors.map(String)).toContain('Error: usage table unreachable');
    // Redelivered: the rows are already there, the usage now lands, once.
    await writeAll(put);
    const beta = await readDailyUsage(client, 'beta', '2026-12-07', '2026-12-07');
    expect(beta.map((u) => [u.requests, u.itemsAccepted])).toEqual([[2, 9]]);
    expect(await storedSpans('beta')).toBe(9);
  });

  it("GET /v1/usage answers the key's own tenant only, per day and signal, with the query API's range rules", async () => {
    const api = createQueryApi({
      tenants: {
        resolve: async (key) =>
          key === 'ingest-only'
            ? { tenantId: 'acme', keyId: 'i', scopes: ['ingest'] }
            : { tenantId: key === 'key-b' ? 'beta' : 'acme', keyId: key },
      },
      hot: {} as TelemetryReader, // never asked: usage reads the usage table
      cursors: new CursorCodec('usage-test-secret-usage-test-secret'),
      usage: new ClickHouseUsageReader(client),
      hotRetentionDays: 7,
      now: () => DAY_MS + 3_600_000,
    });
    const get = (key: string, query: Record<string, string> = {}) =>
      api({ method: 'GET', path: '/v1/usage', headers: { authorization: `Bearer ${key}` }, query });

    const acme = await get('key-a');
    expect(acme.status).toBe(200);
    const body = acme.body as { data: { day: string; itemsAccepted: number }[]; meta: unknown };
    expect(body.meta).toEqual({ from: '2026-11-30', to: '2026-12-07' });
    expect(body.data).toEqual(await readDailyUsage(client, 'acme', '2026-11-30', '2026-12-07'));
    expect(body.data.map((d) => d.itemsAccepted)).toEqual([142]);
    const beta = (await get('key-b', { from: '2026-12-07T00:00:00Z', to: 'now' })).body as {
      data: unknown[];
    };
    expect(beta.data).toHaveLength(1);
    expect((await get('key-a', { from: 'now-40d' })).status).toBe(400); // over the 31-day range
    expect((await get('key-a', { from: 'now', to: 'now-1d' })).status).toBe(400);
    expect((await get('key-a', { since: 'now-1d' })).status).toBe(400); // unknown parameter
    expect((await get('ingest-only')).status).toBe(403);
    expect((await api({ method: 'GET', path: '/v1/usage', headers: {}, query: {} })).status).toBe(401);
  });

  it("npm run costs reads every tenant's totals from the same table, bytes stored estimated alike", async () => {
    const totals = await new ClickHouseTenantUsageSource(client).totals('2026-12-07', '2026-12-07');
    const acme = await readDailyUsage(client, 'acme', '2026-12-07', '2026-12-07');
    expect([...totals].sort((a, b) => a.tenant.localeCompare(b.tenant))).toEqual([
      { tenant: 'acme', itemsAccepted: 142, storedBytes: acme[0]!.storedBytesEstimate },
      { tenant: 'beta', itemsAccepted: await storedSpans('beta'), storedBytes: expect.any(Number) },
    ]);
  });

  it('the lake writer keeps the same usage under _usage/tenant=<t>/dt=<day>/, one line per request, rewritten alike on a retry', async () => {
    put.length = 0;
    const r1 = await send('key-a', body(['checkout', 'cart'], 5, 40_000));
    const r2 = await send('key-b', body(['search'], 3, 50_000));
    const store = new InMemoryObjectStore();
    const decoded = put.map((r, i) => ({
      shardId: 'shardId-000000000000',
      sequenceNumber: String(1000 + i),
      arrivalMs: DAY_MS,
      envelope: unpackEnvelope(r.data),
    }));
    const first = await writeToLake(store, decoded);
    const retry = await writeToLake(store, decoded);
    expect(first.usageFiles).toEqual([
      '_usage/tenant=acme/dt=2026-12-07/shardId-000000000000-1000-1000.json',
      '_usage/tenant=beta/dt=2026-12-07/shardId-000000000000-1002-1002.json',
    ]);
    expect(retry.usageFiles).toEqual(first.usageFiles);
    const lines = async (key: string) =>
      new TextDecoder()
        .decode(await store.get(key))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(await lines(first.usageFiles![0]!)).toEqual([
      {
        tenant: 'acme',
        day: '2026-12-07',
        signal: 'traces',
        envelopeId: expect.any(String),
        itemsAccepted: r1.stats.accepted,
        itemsRejected: 0,
        wireBytes: r1.stats.requestBytes,
        decodedBytes: r1.stats.decompressedBytes,
      },
    ]);
    expect((await lines(first.usageFiles![1]!))[0]).toMatchObject({
      tenant: 'beta',
      itemsAccepted: r2.stats.accepted,
    });
  });

  it('meters a request whose items are all rejected (no rows: an envelope with its usage only), once in each tier whatever the resends', async () => {
    put.length = 0;
    // Every span from 1970: past the hot retention, all rejected in partial_success.
    const allOld = body(['checkout'], 4, 60_000, 4);
    const r1 = await send('key-c', allOld);
    expect([r1.stats.accepted, r1.stats.rejected, r1.stats.outcome]).toEqual([0, 4, 'partial']);
    expect(put).toHaveLength(1);
    const header = unpackEnvelope(put[0]!.data).header;
    expect([header.counts, unpackEnvelope(put[0]!.data).batches]).toEqual([{}, []]);
    // The client lost the answer and sends the same bytes again; the stream redelivers the first.
    await send('key-c', allOld);
    expect(unpackEnvelope(put[1]!.data).header.id).toBe(header.id);
    await writeAll(put);
    await writeAll(put.slice(0, 1));

    expect(await readDailyUsage(client, 'gamma', '2026-12-07', '2026-12-07')).toEqual([
      {
        day: '2026-12-07',
        signal: 'traces',
        requests: 1,
        itemsAccepted: 0,
        itemsRejected: 4,
        wireBytes: r1.stats.requestBytes,
        decodedBytes: r1.stats.decompressedBytes,
        storedBytesEstimate: 0,
      },
    ]);
    expect(await storedSpans('gamma')).toBe(0);

    // The lake: no Parquet, one usage line per record; both carry the one request id.
    const store = new InMemoryObjectStore();
    const lake = await writeToLake(
      store,
      put.map((r, i) => ({
        shardId: 'shardId-000000000000',
        sequenceNumber: String(2000 + i),
        arrivalMs: DAY_MS,
        envelope: unpackEnvelope(r.data),
      })),
    );
    expect([lake.files, lake.rowsWritten]).toEqual([[], 0]);
    expect(lake.usageFiles).toEqual([
      '_usage/tenant=gamma/dt=2026-12-07/shardId-000000000000-2000-2001.json',
    ]);
    const lines = new TextDecoder()
      .decode(await store.get(lake.usageFiles![0]!))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(new Set(lines.map((l) => l.envelopeId))).toEqual(new Set([header.id]));
    expect(lines[0]).toMatchObject({ tenant: 'gamma', itemsAccepted: 0, itemsRejected: 4 });
  });

  it('answers an all-rejected request 503 when its usage cannot reach the stream (retried, not dropped)', async () => {
    const down = createIngest({
      tenants: { resolve: async () => ({ tenantId: 'gamma', keyId: 'key-c' }) },
      stream: {
        put: async () => ({
          kind: 'unavailable',
          reason: 'stream down',
          retryAfterSeconds: 1,
          failedRecords: 1,
        }),
      },
      now: () => DAY_MS,
    });
    const res = await down({
      signal: 'traces',
      headers: { 'content-type': 'application/x-protobuf', authorization: 'Bearer key-c' },
      body: body(['checkout'], 2, 70_000, 2),
      remainingMs: 30_000,
    });
    expect([res.status, res.headers['retry-after']]).toEqual([503, '1']);
  });
});
