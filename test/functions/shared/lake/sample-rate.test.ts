import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter } from '../../../../functions/shared/clickhouse/writer.js';
import { packEnvelopes, unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { writeToLake } from '../../../../functions/shared/lake/lake-writer.js';
import { InMemoryObjectStore } from '../../../../functions/shared/lake/memory-object-store.js';
import { encodeParquet } from '../../../../functions/shared/parquet/parquet-writer.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';
import { ENVELOPE_ID_COLUMN, SAMPLE_RATE_COLUMN } from '../../../../functions/shared/schema/columns.js';
import { openClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { batchOf, span } from '../clickhouse/support.js';
import { queryFiles, queryObjects } from './support.js';

/**
 * SampleRate (ADR 0009) where a batch has none: the receiver's envelopes never carry it, so both
 * writers fill it. Absent must read back as weight 1 in both tiers: DuckDB over the Parquet the lake
 * writer and the encoder make, embedded ClickHouse for the hot writer.
 */

let dir: string;
let ch: TestClickHouse;
let client: ClickHouseClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sample-rate-'));
  ch = await openClickHouse(join(dir, 'clickhouse'));
  client = ch.client;
  await applyMigrations(client, { hotRetentionDays: 7 });
});
afterAll(async () => {
  await ch?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Spans as the receiver packs them: every payload column, neither SampleRate nor EnvelopeId. */
function payloadSpans(from: number, n: number, extra: Record<string, unknown[]> = {}): ColumnBatch {
  const b = batchOf(
    'otel_traces',
    Array.from({ length: n }, (_, i) => span(from + i)),
  );
  const columns = { ...b.columns };
  delete columns[SAMPLE_RATE_COLUMN];
  delete columns[ENVELOPE_ID_COLUMN];
  return { ...b, columns: { ...columns, ...extra } };
}

let fileNo = 0;
async function readParquet(bytes: Uint8Array, sql: string) {
  const path = join(dir, `f${++fileNo}.parquet`);
  await writeFile(path, bytes);
  return queryFiles([path], sql);
}

describe('SampleRate absent from a batch', () => {
  it('the Parquet encoder writes the model’s absent value (1), also beside a batch that has the column', async () => {
    const without = payloadSpans(0, 3);
    const withRates = payloadSpans(10, 2, { SampleRate: [10, 0] });
    const rows = await readParquet(
      encodeParquet('otel_traces', [without, withRates]),
      'SELECT SpanId, SampleRate::INT AS SampleRate FROM {files} ORDER BY SpanId',
    );
    expect(rows).toEqual([
      { SpanId: 'span-0', SampleRate: 1 },
      { SpanId: 'span-1', SampleRate: 1 },
      { SpanId: 'span-10', SampleRate: 10 },
      { SpanId: 'span-11', SampleRate: 0 },
      { SpanId: 'span-2', SampleRate: 1 },
    ]);
    const alone = await readParquet(
      encodeParquet('otel_traces', [payloadSpans(20, 2)]),
      'SELECT min(SampleRate)::INT AS lo, max(SampleRate)::INT AS hi, count(*) AS n FROM {files}',
    );
    expect(alone).toEqual([{ lo: 1, hi: 1, n: '2' }]);
  });

  it('reads back as 1 in both tiers for the same envelope; the lake keeps 1 even for an envelope that carries another weight', async () => {
    const [plain] = packEnvelopes('acme', 'traces', [payloadSpans(100, 4)]);
    const [weighted] = packEnvelopes('acme', 'traces', [payloadSpans(200, 2, { SampleRate: [0, 7] })]);
    const envelopes = [plain!, weighted!].map((e) => unpackEnvelope(e.data));

    const store = new InMemoryObjectStore();
    const lake = await writeToLake(
      store,
      envelopes.map((envelope, i) => ({
        shardId: 'shardId-000000000000',
        sequenceNumber: String(500 + i),
        arrivalMs: Date.now(),
        envelope,
      })),
    );
    expect(lake.rowsWritten).toBe(6);
    const inLake = await queryObjects(
      store,
      dir,
      'staging/otel_traces/',
      'SELECT SampleRate::INT AS SampleRate, count(*) AS n FROM {files} GROUP BY SampleRate',
    );
    expect(inLake).toEqual([{ SampleRate: 1, n: '6' }]);

    const hot = await new ClickHouseTelemetryWriter(client, { retryDelayMs: 0 }).write([
      {
        position: { stream: 's', shardId: 'shardId-000000000000', sequenceNumber: '500' },
        tenant: 'acme',
        batches: envelopes[0]!.batches,
      },
    ]);
    expect(hot.written).toHaveLength(1);
    const rs = await client.query({
      query: `SELECT SampleRate, count() AS n FROM otel_traces WHERE SpanId LIKE 'span-10%' GROUP BY SampleRate`,
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ SampleRate: 1, n: 4 }]);
  });
});
