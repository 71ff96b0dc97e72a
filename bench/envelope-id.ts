/**
 * What the EnvelopeId column costs at rest, and the hot writer's round trips per batch:
 * demo-like traces (the shared workload: 512-span requests of several services) through the real
 * receiver (so envelope ids and splits are ingest's), then
 * - into embedded ClickHouse through the hot writer: `system.columns` compressed bytes per row of
 *   EnvelopeId (and of the whole table, for scale), after OPTIMIZE FINAL (one part, as merges end);
 * - into a lake Parquet file as the lake writer writes it: DuckDB's `parquet_metadata` compressed
 *   bytes of the EnvelopeId column chunk per row.
 *
 *   npx tsx bench/envelope-id.ts [--requests N]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { createIngest } from '../functions/ingest/ingest.js';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter, type PositionedEnvelope } from '../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../functions/shared/envelope/envelope.js';
import { writeToLake } from '../functions/shared/lake/lake-writer.js';
import { InMemoryObjectStore } from '../functions/shared/lake/memory-object-store.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import type { StreamRecord } from '../functions/shared/stream/stream-sink.js';
import { createEmbeddedClickHouse } from '../local/clickhouse-embedded.js';
import { receivedAfter, traceRequest } from './workload.js';

const at = process.argv.indexOf('--requests');
const REQUESTS = at > 0 ? Number(process.argv[at + 1]) : 100;

async function main(): Promise<void> {
  const records: StreamRecord[] = [];
  let receivedAt = '0';
  const ingest = createIngest({
    // The workload's items are dated: received just after them, as bench/ingest.ts does.
    nowNs: () => receivedAt,
    tenants: { resolve: () => Promise.resolve({ tenantId: 'bench', keyId: 'k' }) },
    stream: {
      put: async (batch) => {
        records.push(...batch);
        return { kind: 'durable', records: batch.length, bytes: 0, attempts: 1 };
      },
    },
  });
  let spans = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const payload = traceRequest({ items: 512, seed: i + 1 });
    receivedAt = receivedAfter(decodeOtlp('traces', payload.protobuf, 'protobuf'));
    const res = await ingest({
      signal: 'traces',
      headers: { 'content-type': 'application/x-protobuf', authorization: 'Bearer k' },
      body: payload.protobuf,
      remainingMs: 30_000,
    });
    if (res.status !== 200 || res.stats.rejected > 0) throw new Error(`ingest answered ${res.status}`);
    spans += payload.items;
  }
  const envelopes: PositionedEnvelope[] = records.map((r, i) => {
    const { header, batches } = unpackEnvelope(r.data);
    return {
      position: { stream: 'bench', shardId: 'shardId-0', sequenceNumber: String(1e20 + i) },
      tenant: header.tenant,
      ...(header.id !== undefined && { id: header.id }),
      batches,
    };
  });

  const dir = mkdtempSync(join(tmpdir(), 'envelope-id-bench-'));
  try {
    const client = createEmbeddedClickHouse({ path: join(dir, 'ch') });
    await applyMigrations(client, { hotRetentionDays: 3650 });
    const writer = new ClickHouseTelemetryWriter(client, { hotRetentionDays: 3650 });
    // Batches of ~1 MB of envelopes, as an ESM batch would carry.
    let batches = 0;
    let roundTrips = 0;
    for (let i = 0; i < envelopes.length; i += 20) {
      const result = await writer.write(envelopes.slice(i, i + 20));
      if (result.pending.length > 0) throw result.error;
      batches++;
      roundTrips += result.stats.roundTrips;
    }
    await client.command({ query: 'OPTIMIZE TABLE otel_traces FINAL' });
    const rs = await client.query({
      query: `SELECT name, sum(data_compressed_bytes) AS c, sum(data_uncompressed_bytes) AS u
              FROM system.columns WHERE database = currentDatabase() AND table = 'otel_traces' GROUP BY name`,
      format: 'JSONEachRow',
    });
    const cols = await rs.json<{ name: string; c: string | number; u: string | number }>();
    const total = cols.reduce((n, c) => n + Number(c.c), 0);
    const id = cols.find((c) => c.name === 'EnvelopeId')!;
    const idx = await client.query({
      query: `SELECT sum(secondary_indices_compressed_bytes) AS b FROM system.parts
              WHERE database = currentDatabase() AND table = 'otel_traces' AND active`,
      format: 'JSONEachRow',
    });
    const indexBytes = Number((await idx.json<{ b: string | number }>())[0]?.b ?? 0);
    await client.close();

    const store = new InMemoryObjectStore();
    await writeToLake(
      store,
      records.map((r, i) => ({
        shardId: 'shardId-0',
        sequenceNumber: String(1e20 + i),
        envelope: unpackEnvelope(r.data),
      })),
    );
    let parquetId = 0;
    let parquetTotal = 0;
    let parquetRows = 0;
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    for (const o of await store.list('staging/otel_traces/')) {
      const path = join(dir, `${parquetRows}-${o.key.replaceAll('/', '_')}`);
      writeFileSync(path, (await store.get(o.key))!);
      const reader = await conn.runAndReadAll(
        `SELECT path_in_schema AS p, sum(total_compressed_size)::BIGINT AS c, max(row_group_num_rows)::BIGINT AS r
         FROM parquet_metadata('${path}') GROUP BY p`,
      );
      for (const row of reader.getRowObjectsJson() as { p: string; c: string | number }[]) {
        parquetTotal += Number(row.c);
        if (row.p === 'EnvelopeId') parquetId += Number(row.c);
      }
      const n = await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM read_parquet('${path}')`);
      parquetRows += Number((n.getRowObjectsJson()[0] as { n: string | number }).n);
    }
    conn.closeSync();

    console.log(`${spans} spans in ${records.length} envelopes (${REQUESTS} requests of 512 spans)`);
    console.table([
      {
        where: 'ClickHouse otel_traces (one part)',
        'EnvelopeId B/row': Number((Number(id.c) / spans).toFixed(3)),
        'EnvelopeId uncompressed B/row': Number((Number(id.u) / spans).toFixed(1)),
        'bloom filter B/row': Number((indexBytes / spans).toFixed(3)),
        'all columns B/row': Number((total / spans).toFixed(1)),
      },
      {
        where: 'Parquet staging files',
        'EnvelopeId B/row': Number((parquetId / parquetRows).toFixed(3)),
        'all columns B/row': Number((parquetTotal / parquetRows).toFixed(1)),
      },
    ]);
    console.log(`hot writer: ${batches} batches, ${(roundTrips / batches).toFixed(2)} round trips per batch`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
