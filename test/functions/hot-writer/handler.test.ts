import { createServer } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KinesisStreamBatchResponse, KinesisStreamRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHotWriterHandler, type HotWriterDeps } from '../../../functions/hot-writer/handler.js';
import { createRemoteClickHouse } from '../../../functions/shared/clickhouse/connect.js';
import {
  LOG_COUNTS_TABLE,
  SERVICE_RED_TABLE,
  TRACE_LOOKUP_TABLE,
  WRITE_LEDGER_TABLE,
} from '../../../functions/shared/clickhouse/ddl.js';
import type { DeadLetter, DeadLetterSink } from '../../../functions/shared/dead-letter/dead-letter.js';
import { TABLE_NAMES } from '../../../functions/shared/schema/columns.js';
import { lambdaContext } from '../../../local/lambda-context.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../support/clickhouse.js';
import {
  batchOf,
  count,
  envelopeData,
  faultyInserts,
  kinesisEvent,
  kinesisRecord,
  logRow,
  seq,
  span,
} from '../shared/clickhouse/support.js';

/** The DeadLetterSink port in memory; `down` makes it fail like an unreachable bucket. */
class MemoryDeadLetters implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  down = false;
  async put(letters: readonly DeadLetter[]): Promise<void> {
    if (this.down) throw new Error('dead-letter bucket unreachable');
    this.letters.push(...letters);
  }
}

const context = lambdaContext({
  functionName: 'hot-writer',
  requestId: 'req-1',
  account: '123456789012',
  // A constant remaining time: nothing here depends on the clock.
  remaining: { constantMs: 60_000 },
});

let client: ClickHouseClient;
let connection: TestClickHouse;
let deadLetters: MemoryDeadLetters;

function handlerWith(clickhouse: () => Promise<ClickHouseClient>) {
  const deps: HotWriterDeps = {
    clickhouse,
    deadLetters,
    writer: { retryDelayMs: 0, attempts: 2 },
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'hot-writer', singleMetric: false }),
  };
  return createHotWriterHandler(deps);
}

/** Records 0..7: even ones carry 3 spans, odd ones 2 log lines. */
function records(): KinesisStreamRecord[] {
  return [0, 1, 2, 3, 4, 5, 6, 7].map((n) =>
    kinesisRecord(
      n % 2 === 0
        ? envelopeData('acme', 'traces', [
            batchOf(
              'otel_traces',
              [0, 1, 2].map((i) => span(n * 10 + i)),
            ),
          ])
        : envelopeData('acme', 'logs', [
            batchOf(
              'otel_logs',
              [0, 1].map((i) => logRow(n * 10 + i)),
            ),
          ]),
      n,
    ),
  );
}

/** What Lambda's ESM does with a partial response: resume at the lowest reported sequence number. */
function redeliver(batch: KinesisStreamRecord[], res: KinesisStreamBatchResponse): KinesisStreamRecord[] {
  const first = batch.findIndex((r) =>
    res.batchItemFailures.some((f) => f.itemIdentifier === r.kinesis.sequenceNumber),
  );
  return first < 0 ? [] : batch.slice(first);
}

/** A port nothing listens on: a remote ClickHouse that is down refuses connections there. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  // Embedded, or over HTTP when run from handler.over-http.test.ts.
  connection = await openMigratedClickHouse('ch-hot-writer-');
  client = connection.client;
});
afterAll(async () => {
  await connection.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});
beforeEach(async () => {
  deadLetters = new MemoryDeadLetters();
  for (const t of [
    ...TABLE_NAMES,
    TRACE_LOOKUP_TABLE,
    SERVICE_RED_TABLE,
    LOG_COUNTS_TABLE,
    WRITE_LEDGER_TABLE,
  ]) {
    await client.command({ query: `TRUNCATE TABLE ${t}` });
  }
});

describe('hot-writer handler', () => {
  it('writes a batch and reports no failures', async () => {
    const res = await handlerWith(async () => client)(kinesisEvent(records()), context);

    expect(res).toEqual({ batchItemFailures: [] });
    expect(await count(client, 'otel_traces')).toBe(12);
    expect(await count(client, 'otel_logs')).toBe(8);
  });

  it('dead-letters a poison record with its reason and writes the rest of its batch', async () => {
    const batch = records();
    batch.splice(3, 0, kinesisRecord(Buffer.from('{"not":"an envelope"}'), 99));

    const res = await handlerWith(async () => client)(kinesisEvent(batch), context);

    expect(res.batchItemFailures).toEqual([]);
    expect(deadLetters.letters).toEqual([
      {
        source: 'hot-writer',
        reason: expect.stringMatching(/undecodable envelope: not an envelope/),
        shardId: 'shardId-000000000000',
        sequenceNumber: seq(99),
        data: Buffer.from('{"not":"an envelope"}'),
      },
    ]);
    expect(await count(client, 'otel_traces')).toBe(12);
    expect(await count(client, 'otel_logs')).toBe(8);
  });

  it('dead-letters an envelope whose rows do not fit the column model', async () => {
    const batch = records();
    const bad = envelopeData('acme', 'logs', [batchOf('otel_logs', [logRow(1, { SeverityNumber: 300 })])]);
    batch.push(kinesisRecord(bad, 50));

    const res = await handlerWith(async () => client)(kinesisEvent(batch), context);

    expect(res.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((l) => [l.sequenceNumber, l.reason])).toEqual([
      [seq(50), expect.stringMatching(/otel_logs\.SeverityNumber row 0: expected uint8, got 300/)],
    ]);
    expect(Buffer.from(deadLetters.letters[0]!.data)).toEqual(Buffer.from(bad));
    expect(await count(client, 'otel_logs')).toBe(8);
  });

  it('reports a poison record as failed (not dropped) while the dead-letter sink is down', async () => {
    deadLetters.down = true;
    const batch = [...records(), kinesisRecord(Buffer.from('garbage'), 60)];

    const res = await handlerWith(async () => client)(kinesisEvent(batch), context);

    expect(res.batchItemFailures).toEqual([{ itemIdentifier: seq(60) }]);
    expect(await count(client, 'otel_traces')).toBe(12);
  });

  it('retries through a ClickHouse outage and ends with every row present once', async () => {
    // Unreachable for the first two invocations, then back.
    const down = createRemoteClickHouse(
      { url: `http://127.0.0.1:${await deadPort()}`, username: 'default', password: '', database: 'default' },
      { requestTimeoutMs: 2_000 },
    );
    let invocations = 0;
    const handler = handlerWith(async () => (++invocations <= 2 ? down : client));
    const batch = [...records(), kinesisRecord(Buffer.from('garbage'), 60)];

    const first = await handler(kinesisEvent(batch), context);
    // Every decodable record is reported; the poison one is already in the dead-letter sink.
    expect(first.batchItemFailures).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((n) => ({ itemIdentifier: seq(n) })),
    );
    expect(deadLetters.letters).toHaveLength(1);

    let pending = redeliver(batch, first);
    const second = await handler(kinesisEvent(pending), context);
    expect(second.batchItemFailures).toHaveLength(8);
    pending = redeliver(pending, second);
    const third = await handler(kinesisEvent(pending), context);

    expect(third.batchItemFailures).toEqual([]);
    expect(await count(client, 'otel_traces')).toBe(12);
    expect(await count(client, 'otel_logs')).toBe(8);
    expect(await count(client, 'otel_traces', "TenantId = 'acme' AND SpanId = 'span-0'")).toBe(1);
    await down.close();
  });

  it('reports only the records not yet written when one table fails, and converges without duplicates', async () => {
    // Log inserts fail for the first invocation; traces go through.
    let invocations = 0;
    const flaky = faultyInserts(client, (table) => table.includes('otel_logs') && invocations <= 1);
    const handler = handlerWith(async () => {
      invocations++;
      return flaky;
    });
    const batch = records();

    const first = await handler(kinesisEvent(batch), context);
    expect(first.batchItemFailures).toEqual([1, 3, 5, 7].map((n) => ({ itemIdentifier: seq(n) })));
    expect(await count(client, 'otel_traces')).toBe(12);

    // Lambda resumes at record 1: trace records 2, 4, 6 come again and must not be written twice.
    const second = await handler(kinesisEvent(redeliver(batch, first)), context);

    expect(second.batchItemFailures).toEqual([]);
    expect(await count(client, 'otel_traces')).toBe(12);
    expect(await count(client, 'otel_logs')).toBe(8);
    const [red] = await (
      await client.query({
        query: `SELECT sum(Requests) AS n FROM ${SERVICE_RED_TABLE}`,
        format: 'JSONEachRow',
      })
    ).json<{ n: number | string }>();
    expect(Number(red?.n)).toBe(12);
  });

  it('dead-letters envelopes ClickHouse refuses, with its reason, and writes the rest in the same invocation', async () => {
    // Spans named 'poison' fit the column model, but a CHECK constraint (added below, as an operator
    // might) makes ClickHouse refuse them before writing anything: VIOLATED_CONSTRAINT, code 469.
    await client.command({
      query: `ALTER TABLE otel_traces ADD CONSTRAINT IF NOT EXISTS poison_free CHECK SpanName != 'poison'`,
    });
    const poison = (n: number) =>
      kinesisRecord(
        envelopeData('acme', 'traces', [batchOf('otel_traces', [span(n * 10, { SpanName: 'poison' })])]),
        n,
      );
    const batch = [...records(), poison(20), poison(21)];
    const emitted: [string, number, Record<string, string>][] = [];
    const dims = new WeakMap<object, Record<string, string>>();
    vi.spyOn(Metrics.prototype, 'addDimension').mockImplementation(function (this: Metrics, name, value) {
      dims.set(this, { ...dims.get(this), [name]: value });
      return this;
    });
    vi.spyOn(Metrics.prototype, 'addMetric').mockImplementation(function (this: Metrics, name, _unit, value) {
      emitted.push([name, value, dims.get(this) ?? {}]);
      return this;
    });
    // retryDelayMs 0, attempts 2 (handlerWith): the refusal is not retried as an outage anyway.

    const res = await handlerWith(async () => client)(kinesisEvent(batch), context);

    expect(res.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((l) => [l.sequenceNumber, l.reason])).toEqual([
      [
        seq(20),
        expect.stringMatching(/ClickHouse refused its otel_traces rows \(code 469 VIOLATED_CONSTRAINT\)/),
      ],
      [seq(21), expect.stringMatching(/code 469/)],
    ]);
    expect(await count(client, 'otel_traces')).toBe(12);
    expect(await count(client, 'otel_logs')).toBe(8);
    expect(emitted).toContainEqual(['DeadLetters', 2, {}]);
    expect(emitted).toContainEqual(['DeadLettersByReason', 2, { reason: 'clickhouse-refused' }]);
    // The rows stored, per tenant (the refused envelopes' rows are not among them).
    expect(emitted).toContainEqual(['TenantRowsWritten', 20, { tenant: 'acme' }]);
  });
});
