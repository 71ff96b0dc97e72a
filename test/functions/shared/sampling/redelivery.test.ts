import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeKinesisRecords } from '../../../../functions/hot-writer/consumer.js';
import { SAMPLING_KEEP_TABLE } from '../../../../functions/shared/clickhouse/ddl.js';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter } from '../../../../functions/shared/clickhouse/writer.js';
import {
  ClickHouseTraceSampler,
  deferredDatabase,
  setSamplingStatement,
} from '../../../../functions/shared/sampling/clickhouse-trace-sampler.js';
import { headSampled } from '../../../../functions/shared/sampling/sampling.js';
import { openClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { batchOf, envelopeData, faultyInserts, kinesisRecord, span } from '../clickhouse/support.js';

const DB = 'redelivery';
const ONE_IN = 10;
let connection: TestClickHouse;

/** The first of a fixed series of random-looking trace ids whose head decision at 1 in ONE_IN is `kept`. */
function traceId(kept: boolean): string {
  for (let i = 1; ; i++) {
    const id = createHash('sha256').update(String(i)).digest('hex').slice(0, 32);
    if (headSampled(id, ONE_IN) === kept) return id;
  }
}

beforeAll(async () => {
  connection = await openClickHouse(mkdtempSync(join(tmpdir(), 'ch-sampling-redelivery-')));
  await applyMigrations(connection.client, { database: DB, hotRetentionDays: 7 });
  await connection.client.command({
    query: setSamplingStatement(DB),
    query_params: { tenant: 'acme', oneIn: ONE_IN, keepErrors: true, slowMs: 1000 },
  });
}, 120_000);

afterAll(async () => {
  await connection?.close();
});

describe('hot-writer sampling through a redelivery (embedded ClickHouse)', () => {
  it('stores every span of a trace marked between two deliveries of the same record', async () => {
    const a = traceId(true);
    const b = traceId(false);
    const record = kinesisRecord(
      envelopeData('acme', 'traces', [
        batchOf('otel_traces', [
          span(1, { TraceId: a, SpanId: 'a1' }),
          span(2, { TraceId: b, SpanId: 'b1' }),
        ]),
      ]),
      1,
    );
    let deferredDown = true;
    const client = faultyInserts(
      connection.client,
      (table) => deferredDown && table.includes(deferredDatabase(DB)),
    );
    const ports = {
      writer: new ClickHouseTelemetryWriter(client, { database: DB, hotRetentionDays: 7 }),
      sampler: new ClickHouseTraceSampler(client, { database: DB }),
      deadLetters: { put: async () => {} },
    };

    // First delivery: b1 is to be deferred and that write fails, so the record is redelivered.
    const first = await consumeKinesisRecords([record], ports);
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: record.kinesis.sequenceNumber }]);
    // Meanwhile another shard marks trace b (an error span of it there).
    await connection.client.insert({
      table: `${DB}.${SAMPLING_KEEP_TABLE}`,
      values: [{ TenantId: 'acme', TraceId: b }],
      format: 'JSONEachRow',
      columns: ['TenantId', 'TraceId'],
    });
    deferredDown = false;

    const second = await consumeKinesisRecords([record], ports);
    expect(second.response.batchItemFailures).toEqual([]);
    const rows = await (
      await connection.client.query({
        query: `SELECT SpanId FROM ${DB}.otel_traces ORDER BY SpanId`,
        format: 'JSONEachRow',
      })
    ).json<{ SpanId: string }>();
    expect(rows.map((r) => r.SpanId)).toEqual(['a1', 'b1']);
  });
});
