import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KinesisStreamRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { consumeKinesisRecords } from '../../functions/hot-writer/consumer.js';
import { applyMigrations } from '../../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter } from '../../functions/shared/clickhouse/writer.js';
import { compactLake } from '../../functions/shared/lake/compactor.js';
import { type DecodedRecord, writeToLake } from '../../functions/shared/lake/lake-writer.js';
import { InMemoryObjectStore } from '../../functions/shared/lake/memory-object-store.js';
import { TABLE_NAMES } from '../../functions/shared/schema/columns.js';
import { createEmbeddedClickHouse } from '../../local/clickhouse-embedded.js';
import { type Pipeline, type ReadEnvelope, startPipeline } from './ingest/pipeline.js';
import { MemoryDeadLetterSink, queryObjects } from './shared/lake/support.js';

/**
 * Exactly once across what an OTLP client meets, through the real parts: requests over HTTP into
 * the ingest handler, kinesalite (which gives a resend new sequence numbers, as Kinesis does), the
 * hot-writer consumer on embedded ClickHouse, the lake writer and compactor on an object store,
 * DuckDB reading the published Parquet. Every item is counted in both tiers.
 */

const HOUR_MS = 3_600_000;
/** Receive times: ten minutes into an hour, a second apart, so a resend stays in its original's hour. */
const HOUR_START = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - HOUR_MS;
let receiveClock = 0;
const nextReceiveNs = () =>
  (BigInt(HOUR_START + 10 * 60_000 + 1000 * receiveClock++) * 1_000_000n).toString();

const SPANS = 60;
const LOGS = 40;

/** Incompressible text, the same for the same seed: envelopes fill up as with real attribute values. */
const noise = (seed: string) =>
  [0, 1, 2, 3].map((k) => createHash('sha256').update(`${seed}/${k}`).digest('hex')).join('');
const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');
const ns = (ms: number) => (BigInt(ms) * 1_000_000n).toString();

function tracesBody(): string {
  const t0 = HOUR_START + 5 * 60_000;
  return JSON.stringify({
    resourceSpans: ['checkout', 'payments'].map((service, s) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [
        {
          scope: { name: 'exactly-once' },
          spans: Array.from({ length: SPANS / 2 }, (_, i) => ({
            traceId: hex(1000 + s * 100 + i, 16),
            spanId: hex(5000 + s * 100 + i, 8),
            name: `GET /item/${i % 5}`,
            kind: 2,
            startTimeUnixNano: ns(t0 + i),
            endTimeUnixNano: ns(t0 + i + 3),
            attributes: [{ key: 'payload', value: { stringValue: noise(`${s}-${i}`) } }],
          })),
        },
      ],
    })),
  });
}

/** Half the records carry no time at all: ingest fills the receive time, which a resend does not share. */
function logsBody(): string {
  const t0 = HOUR_START + 7 * 60_000;
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeLogs: [
          {
            scope: { name: 'exactly-once' },
            logRecords: Array.from({ length: LOGS }, (_, i) => ({
              ...(i % 2 === 0 ? { timeUnixNano: ns(t0 + i) } : {}),
              severityNumber: 9,
              body: { stringValue: `line ${i} ${noise(`log-${i}`)}` },
            })),
          },
        ],
      },
    ],
  });
}

let pipeline: Pipeline;
let client: ClickHouseClient;
let chDir: string;

beforeAll(async () => {
  pipeline = await startPipeline({
    shards: 2,
    // Small envelopes, so a request is several envelopes and ordinals matter.
    ports: (defaults) => ({
      ...defaults,
      rateLimiter: undefined,
      envelope: { maxBytes: 3 * 1024 },
      nowNs: nextReceiveNs,
    }),
  });
  chDir = mkdtempSync(join(tmpdir(), 'ch-exactly-once-'));
  client = createEmbeddedClickHouse({ path: chDir });
  await applyMigrations(client, { hotRetentionDays: 7 });
}, 60_000);
afterAll(async () => {
  await client?.close();
  await pipeline?.close();
  await rm(chDir, { recursive: true, force: true });
});

/** Records already consumed by earlier tests (the stream keeps everything). */
let consumedBefore = new Set<string>();
beforeEach(async () => {
  for (const t of TABLE_NAMES) await client.command({ query: `TRUNCATE TABLE ${t}` });
  consumedBefore = new Set((await pipeline.readEnvelopes()).map((r) => r.sequenceNumber));
});

async function post(signal: 'traces' | 'logs', body: Uint8Array | string, gzip: boolean): Promise<void> {
  const res = await fetch(`${pipeline.url}/v1/${signal}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${pipeline.apiKey}`,
      'content-type': 'application/json',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    },
    body,
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

/** The records this test put on the stream, per shard in sequence order. */
async function newRecords(): Promise<ReadEnvelope[]> {
  return (await pipeline.readEnvelopes()).filter((r) => !consumedBefore.has(r.sequenceNumber));
}

function kinesisRecord(r: ReadEnvelope): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: r.partitionKey,
      sequenceNumber: r.sequenceNumber,
      data: Buffer.from(r.data).toString('base64'),
      approximateArrivalTimestamp: Date.now() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${r.shardId}:${r.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/hot-writer',
    awsRegion: 'us-east-1',
    eventSourceARN: `arn:aws:kinesis:us-east-1:123456789012:stream/${pipeline.streamName}`,
  };
}

const lakeRecord = (r: ReadEnvelope): DecodedRecord => ({
  shardId: r.shardId,
  sequenceNumber: r.sequenceNumber,
  envelope: r.envelope,
});

/** Delivers `batches` (each one shard's run of records) to the hot writer; every record acknowledged. */
async function deliverHot(batches: readonly ReadEnvelope[][]): Promise<void> {
  const writer = new ClickHouseTelemetryWriter(client);
  const deadLetters = new MemoryDeadLetterSink();
  for (const batch of batches) {
    const outcome = await consumeKinesisRecords(batch.map(kinesisRecord), { writer, deadLetters });
    expect(outcome.response.batchItemFailures).toEqual([]);
  }
  expect(deadLetters.letters).toEqual([]);
}

async function hotCount(table: string): Promise<number> {
  const rs = await client.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string | number }>())[0]?.n);
}

const compactAll = (store: InMemoryObjectStore) =>
  compactLake(store, { now: new Date(Date.now() + 3 * HOUR_MS), graceMs: HOUR_MS, targetBytes: 128 << 20 });

async function lakeCount(store: InMemoryObjectStore, table: string): Promise<number> {
  const rows = await queryObjects(store, chDir, `${table}/`, `SELECT count(*)::INTEGER AS n FROM {files}`);
  return Number(rows[0]?.n ?? 0);
}

async function lakeDistinct(store: InMemoryObjectStore, table: string, column: string): Promise<number> {
  const rows = await queryObjects(
    store,
    chDir,
    `${table}/`,
    `SELECT count(DISTINCT ${column})::INTEGER AS n FROM {files}`,
  );
  return Number(rows[0]?.n ?? 0);
}

const byShard = (records: readonly ReadEnvelope[]) => {
  const out = new Map<string, ReadEnvelope[]>();
  for (const r of records) out.set(r.shardId, [...(out.get(r.shardId) ?? []), r]);
  return [...out.values()];
};

describe('a byte-identical resend (the response was lost)', () => {
  it('gets the same envelope ids under new sequence numbers, and is stored once in both tiers', async () => {
    const traces = tracesBody();
    const logs = gzipSync(logsBody());
    await post('traces', traces, false);
    await post('logs', logs, true);
    const originals = await newRecords();
    await post('traces', traces, false);
    await post('logs', logs, true);
    const all = await newRecords();
    const resends = all.filter(
      (r) => !originals.includes(r) && !originals.some((o) => o.sequenceNumber === r.sequenceNumber),
    );

    // Several envelopes per request, the same ids (ordinals included) the second time.
    expect(originals.length).toBeGreaterThan(4);
    const ids = (rs: ReadEnvelope[]) => rs.map((r) => r.envelope.header.id).sort();
    expect(ids(resends)).toEqual(ids(originals));
    expect(new Set(ids(originals)).size).toBe(originals.length);
    // Logs without times carry each request's own receive time.
    const received = new Set(all.map((r) => r.envelope.header.receivedAtNs).filter((t) => t !== undefined));
    expect(received.size).toBe(2);

    // Hot tier: the originals in one invocation per shard, the resends in the next.
    await deliverHot(byShard(originals));
    await deliverHot(byShard(resends));
    expect(await hotCount('otel_traces')).toBe(SPANS);
    expect(await hotCount('otel_logs')).toBe(LOGS);

    // Lake: the same, then compaction; DuckDB counts the published rows.
    const store = new InMemoryObjectStore();
    for (const shard of byShard(originals)) await writeToLake(store, shard.map(lakeRecord));
    for (const shard of byShard(resends)) await writeToLake(store, shard.map(lakeRecord));
    const compaction = await compactAll(store);
    expect(compaction.duplicates).toBe(SPANS + LOGS);
    expect(await lakeCount(store, 'otel_traces')).toBe(SPANS);
    expect(await lakeDistinct(store, 'otel_traces', 'SpanId')).toBe(SPANS);
    expect(await lakeCount(store, 'otel_logs')).toBe(LOGS);
  });

  it('is stored once when the original and the resend arrive in one batch', async () => {
    const traces = tracesBody();
    await post('traces', traces, false);
    await post('traces', traces, false);
    const all = await newRecords();

    await deliverHot(byShard(all));
    const store = new InMemoryObjectStore();
    for (const shard of byShard(all)) await writeToLake(store, shard.map(lakeRecord));
    await compactAll(store);

    expect(await hotCount('otel_traces')).toBe(SPANS);
    expect(await lakeCount(store, 'otel_traces')).toBe(SPANS);
  });

  it('is stored once in the lake when it arrives after its original was published', async () => {
    const logs = logsBody();
    await post('logs', logs, false);
    const originals = await newRecords();
    const store = new InMemoryObjectStore();
    for (const shard of byShard(originals)) await writeToLake(store, shard.map(lakeRecord));
    await compactAll(store);
    expect(await lakeCount(store, 'otel_logs')).toBe(LOGS);

    await post('logs', logs, false);
    const resends = (await newRecords()).filter(
      (r) => !originals.some((o) => o.sequenceNumber === r.sequenceNumber),
    );
    for (const shard of byShard(resends)) await writeToLake(store, shard.map(lakeRecord));
    const second = await compactAll(store);

    expect(second.duplicates).toBe(LOGS);
    expect(second.published).toEqual([]);
    expect(await lakeCount(store, 'otel_logs')).toBe(LOGS);
  });
});

describe('redeliveries in another composition', () => {
  it('stores once what comes back bisected and then from a checkpoint', async () => {
    await post('traces', tracesBody(), false);
    await post('logs', logsBody(), false);
    const shards = byShard(await newRecords());

    // Each shard's batch: its first half alone (bisect), then everything from the start again.
    const batches = shards.flatMap((s) => [s.slice(0, Math.ceil(s.length / 2)), s]);
    await deliverHot(batches);
    const store = new InMemoryObjectStore();
    for (const b of batches) await writeToLake(store, b.map(lakeRecord));
    await compactAll(store);

    expect(await hotCount('otel_traces')).toBe(SPANS);
    expect(await hotCount('otel_logs')).toBe(LOGS);
    expect(await lakeCount(store, 'otel_traces')).toBe(SPANS);
    expect(await lakeCount(store, 'otel_logs')).toBe(LOGS);
  });
});
