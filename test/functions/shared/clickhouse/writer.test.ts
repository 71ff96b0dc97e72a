import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  LOG_COUNTS_TABLE,
  RED_QUANTILES,
  SERVICE_RED_TABLE,
  TRACE_LOOKUP_TABLE,
  WRITE_LEDGER_TABLE,
} from '../../../../functions/shared/clickhouse/ddl.js';
import {
  ClickHouseTelemetryWriter,
  type InsertFormat,
  type PositionedEnvelope,
  toDateTime64,
} from '../../../../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';
import { TABLE_NAMES } from '../../../../functions/shared/schema/columns.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import {
  batchOf,
  committedThenThrows,
  count,
  envelopeData,
  faultyInserts,
  logRow,
  nsAgo,
  partialInserts,
  position,
  span,
} from './support.js';

let client: ClickHouseClient;
let connection: TestClickHouse;

async function rows<T>(query: string): Promise<T[]> {
  // 64-bit integers as strings, as a remote server sends them by default (chdb does not).
  const rs = await client.query({
    query,
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
  });
  return rs.json<T>();
}

/** Packs and unpacks like the stream does, so the writer sees what the consumer decodes. */
function positioned(
  n: number,
  tenant: string,
  signal: 'traces' | 'logs' | 'metrics',
  batches: ColumnBatch[],
) {
  const { header, batches: decoded } = unpackEnvelope(envelopeData(tenant, signal, batches));
  return { position: position(n), tenant: header.tenant, batches: decoded } satisfies PositionedEnvelope;
}

async function counts() {
  return {
    traces: await count(client, 'otel_traces'),
    logs: await count(client, 'otel_logs'),
    red: Number((await rows<{ n: string }>(`SELECT sum(Requests) AS n FROM ${SERVICE_RED_TABLE}`))[0]?.n),
    logCounts: Number((await rows<{ n: string }>(`SELECT sum(Count) AS n FROM ${LOG_COUNTS_TABLE}`))[0]?.n),
  };
}

/**
 * A mixed delivery: 4 trace envelopes (3 spans each) interleaved with 4 log envelopes (2 lines
 * each). Built once per test: a redelivery carries the same rows, times included.
 */
let deliveryOfTest: PositionedEnvelope[] | undefined;
function delivery(): PositionedEnvelope[] {
  deliveryOfTest ??= buildDelivery();
  return deliveryOfTest;
}

function buildDelivery(): PositionedEnvelope[] {
  const out: PositionedEnvelope[] = [];
  for (let n = 0; n < 8; n++) {
    out.push(
      n % 2 === 0
        ? positioned(n, 'acme', 'traces', [
            batchOf(
              'otel_traces',
              [0, 1, 2].map((i) => span(n * 10 + i)),
            ),
          ])
        : positioned(n, 'acme', 'logs', [
            batchOf(
              'otel_logs',
              [0, 1].map((i) => logRow(n * 10 + i)),
            ),
          ]),
    );
  }
  return out;
}

beforeAll(async () => {
  // Embedded, or over HTTP when run from writer.over-http.test.ts.
  connection = await openMigratedClickHouse('ch-writer-');
  client = connection.client;
});
afterAll(async () => {
  await connection.close();
});
beforeEach(async () => {
  deliveryOfTest = undefined;
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

describe('toDateTime64', () => {
  it('keeps every nanosecond digit', () => {
    expect(toDateTime64('1700000000123456789')).toBe('1700000000.123456789');
    expect(toDateTime64('5')).toBe('0000000000.000000005');
    expect(toDateTime64('0')).toBe('0000000000.000000000');
  });
});

describe.each<InsertFormat>(['JSONCompactEachRow', 'JSONEachRow'])(
  'rows read back exactly (%s)',
  (format) => {
    it('writes spans with maps, nested events and links to the nanosecond', async () => {
      const ts = nsAgo(5_000, 123_456_789 % 1_000_000);
      const evTs = nsAgo(4_000, 987);
      const s = span(1, {
        Timestamp: ts,
        TraceId: '5b8efff798038103d269b633813fc60c',
        ParentSpanId: '',
        TraceState: 'vendor=x',
        ResourceAttributes: { 'service.name': 'checkout', 'host.name': 'h1' },
        ScopeName: 'io.opentelemetry.http',
        ScopeVersion: '1.2.3',
        SpanAttributes: { 'http.method': 'GET', 'http.status_code': '200', empty: '' },
        Duration: 1_234_567_890,
        StatusCode: 'Error',
        StatusMessage: 'boom',
        'Events.Timestamp': [evTs, ts],
        'Events.Name': ['exception', 'retry'],
        'Events.Attributes': [{ 'exception.type': 'Error' }, {}],
        'Links.TraceId': ['aaaa'],
        'Links.SpanId': ['bbbb'],
        'Links.TraceState': [''],
        'Links.Attributes': [{ k: 'v' }],
      });
      const writer = new ClickHouseTelemetryWriter(client, { format });

      const result = await writer.write([positioned(1, 'acme', 'traces', [batchOf('otel_traces', [s])])]);

      expect(result).toMatchObject({ written: [position(1)], pending: [], rejected: [] });
      const [row] = await rows<Record<string, unknown>>(
        `SELECT *, toString(toUnixTimestamp64Nano(Timestamp)) AS ns,
              arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS evNs
       FROM otel_traces`,
      );
      expect(row).toMatchObject({
        TenantId: 'acme',
        ns: ts,
        TraceId: '5b8efff798038103d269b633813fc60c',
        SpanId: 'span-1',
        TraceState: 'vendor=x',
        SpanName: 'GET /',
        SpanKind: 'Server',
        ServiceName: 'checkout',
        ResourceAttributes: { 'service.name': 'checkout', 'host.name': 'h1' },
        ScopeName: 'io.opentelemetry.http',
        ScopeVersion: '1.2.3',
        SpanAttributes: { 'http.method': 'GET', 'http.status_code': '200', empty: '' },
        Duration: '1234567890',
        StatusCode: 'Error',
        StatusMessage: 'boom',
        evNs: [evTs, ts],
        'Events.Name': ['exception', 'retry'],
        'Events.Attributes': [{ 'exception.type': 'Error' }, {}],
        'Links.TraceId': ['aaaa'],
        'Links.SpanId': ['bbbb'],
        'Links.TraceState': [''],
        'Links.Attributes': [{ k: 'v' }],
      });
    });

    it('writes metrics of every kind, non-finite floats included', async () => {
      const t = nsAgo(1_000, 42);
      const common = { TenantId: 'acme', ServiceName: 'api', MetricName: 'm', TimeUnix: t, StartTimeUnix: t };
      const envelope = positioned(2, 'acme', 'metrics', [
        batchOf('otel_metrics_gauge', [
          { ...common, Value: 'NaN', Attributes: { route: '/a' } },
          { ...common, Value: 'Infinity' },
          {
            ...common,
            Value: '-Infinity',
            'Exemplars.FilteredAttributes': [{ k: 'v' }],
            'Exemplars.TimeUnix': [t],
            'Exemplars.Value': [1.5],
            'Exemplars.SpanId': ['s1'],
            'Exemplars.TraceId': ['t1'],
          },
        ]),
        batchOf('otel_metrics_sum', [
          { ...common, Value: 12.5, IsMonotonic: true, AggregationTemporality: 2 },
        ]),
        batchOf('otel_metrics_histogram', [
          { ...common, Count: 3, Sum: 6, BucketCounts: [1, 2, 0], ExplicitBounds: [1, 5], Min: 1, Max: 3 },
        ]),
        batchOf('otel_metrics_exponential_histogram', [
          {
            ...common,
            Count: 2,
            Scale: -3,
            PositiveOffset: -1,
            PositiveBucketCounts: [1, 1],
            NegativeOffset: 2,
          },
        ]),
        batchOf('otel_metrics_summary', [
          {
            ...common,
            Count: 4,
            Sum: 10,
            'ValueAtQuantiles.Quantile': [0.5, 0.99],
            'ValueAtQuantiles.Value': [2, 'NaN'],
          },
        ]),
      ]);
      const writer = new ClickHouseTelemetryWriter(client, { format });

      const result = await writer.write([envelope]);

      expect(result.rejected).toEqual([]);
      expect(result.error).toBeUndefined();
      expect(result.written).toEqual([position(2)]);
      expect(result.stats.inserts).toBe(5);
      const gauge = await rows<{ v: string; a: Record<string, string>; ex: string[]; ns: string }>(
        `SELECT toString(Value) AS v, Attributes AS a, arrayMap(x -> toString(x), Exemplars.Value) AS ex,
              toString(toUnixTimestamp64Nano(TimeUnix)) AS ns
       FROM otel_metrics_gauge ORDER BY v`,
      );
      expect(gauge).toEqual([
        { v: '-inf', a: {}, ex: ['1.5'], ns: t },
        { v: 'inf', a: {}, ex: [], ns: t },
        { v: 'nan', a: { route: '/a' }, ex: [], ns: t },
      ]);
      expect(await rows(`SELECT Value, IsMonotonic, AggregationTemporality FROM otel_metrics_sum`)).toEqual([
        { Value: 12.5, IsMonotonic: true, AggregationTemporality: 2 },
      ]);
      expect(
        await rows(`SELECT Count, BucketCounts, ExplicitBounds, Min, Max FROM otel_metrics_histogram`),
      ).toEqual([{ Count: '3', BucketCounts: ['1', '2', '0'], ExplicitBounds: [1, 5], Min: 1, Max: 3 }]);
      expect(
        await rows(
          `SELECT Scale, PositiveOffset, PositiveBucketCounts, NegativeOffset FROM otel_metrics_exponential_histogram`,
        ),
      ).toEqual([{ Scale: -3, PositiveOffset: -1, PositiveBucketCounts: ['1', '1'], NegativeOffset: 2 }]);
      expect(
        await rows(
          `SELECT ValueAtQuantiles.Quantile AS q, arrayMap(x -> toString(x), ValueAtQuantiles.Value) AS v FROM otel_metrics_summary`,
        ),
      ).toEqual([{ q: [0.5, 0.99], v: ['2', 'nan'] }]);
    });
  },
);

describe('tenancy, validation and expiry', () => {
  it('takes TenantId from the envelope header, whatever the rows say', async () => {
    const writer = new ClickHouseTelemetryWriter(client);

    await writer.write([
      positioned(1, 'globex', 'logs', [batchOf('otel_logs', [logRow(1, { TenantId: 'acme' })])]),
    ]);

    expect(await rows(`SELECT TenantId FROM otel_logs`)).toEqual([{ TenantId: 'globex' }]);
  });

  it('rejects an envelope whose rows do not fit the model and writes the rest', async () => {
    const bad = positioned(1, 'acme', 'traces', [batchOf('otel_traces', [span(1, { Duration: 'slow' })])]);
    const good = positioned(2, 'acme', 'traces', [batchOf('otel_traces', [span(2)])]);
    const writer = new ClickHouseTelemetryWriter(client);

    const result = await writer.write([bad, good]);

    expect(result.rejected).toEqual([
      {
        position: position(1),
        reason: expect.stringMatching(/otel_traces\.Duration row 0: expected uint64/),
        reasonClass: 'invalid-rows',
      },
    ]);
    expect(result.written).toEqual([position(2)]);
    expect(await rows(`SELECT SpanId FROM otel_traces`)).toEqual([{ SpanId: 'span-2' }]);
  });

  it('rejects nested fields whose arrays do not line up', async () => {
    const bad = span(1, { 'Events.Name': ['a', 'b'], 'Events.Timestamp': [nsAgo(0)] });
    const writer = new ClickHouseTelemetryWriter(client);

    const result = await writer.write([positioned(1, 'acme', 'traces', [batchOf('otel_traces', [bad])])]);

    expect(result.rejected[0]?.reason).toMatch(/length differs from other Events fields/);
    expect(await count(client, 'otel_traces')).toBe(0);
  });

  it('skips rows older than the hot retention and counts them', async () => {
    const old = span(1, { Timestamp: nsAgo(8 * 86_400_000) });
    const writer = new ClickHouseTelemetryWriter(client, { hotRetentionDays: 7 });

    const result = await writer.write([
      positioned(1, 'acme', 'traces', [batchOf('otel_traces', [old, span(2)])]),
    ]);

    expect(result.stats).toMatchObject({ rowsExpired: 1, rowsInserted: 1 });
    expect(result.written).toEqual([position(1)]);
    expect(await rows(`SELECT SpanId FROM otel_traces`)).toEqual([{ SpanId: 'span-2' }]);
  });
});

describe('exactly once per (table, record)', () => {
  it('writes one insert per table per batch', async () => {
    const writer = new ClickHouseTelemetryWriter(client);

    const result = await writer.write(delivery());

    expect(result.stats).toMatchObject({ inserts: 2, rowsInserted: 20 });
    expect(await counts()).toEqual({ traces: 12, logs: 8, red: 12, logCounts: 8 });
  });

  it('leaves counts unchanged when the same batch is delivered three times', async () => {
    const writer = new ClickHouseTelemetryWriter(client);

    for (let i = 0; i < 3; i++) expect((await writer.write(delivery())).pending).toEqual([]);

    expect(await counts()).toEqual({ traces: 12, logs: 8, red: 12, logCounts: 8 });
  });

  it('leaves counts unchanged when a batch is bisected after a partial success', async () => {
    // First attempt: traces are written, logs fail (ClickHouse drops the connection every time).
    const flaky = new ClickHouseTelemetryWriter(
      faultyInserts(client, (t) => t.includes('otel_logs')),
      { retryDelayMs: 0 },
    );
    const first = await flaky.write(delivery());
    expect(first.error?.table).toBe('otel_logs');
    expect(first.written).toEqual([0, 2, 4, 6].map(position));
    expect(first.pending).toEqual([1, 3, 5, 7].map(position));
    expect(await counts()).toMatchObject({ traces: 12, logs: 0 });

    // The event source bisects: each half comes back separately, with the traces in them again.
    const writer = new ClickHouseTelemetryWriter(client);
    const all = delivery();
    const a = await writer.write(all.slice(0, 4));
    const b = await writer.write(all.slice(4));

    expect([...a.written, ...b.written]).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map(position));
    expect(a.stats.rowsAlreadyWritten + b.stats.rowsAlreadyWritten).toBe(12);
    expect(await counts()).toEqual({ traces: 12, logs: 8, red: 12, logCounts: 8 });
  });

  it('leaves no duplicates after a crash between the insert and the checkpoint', async () => {
    const writer = new ClickHouseTelemetryWriter(client);
    await writer.write(delivery());

    // The checkpoint was never taken: the same records come back, in a different grouping too.
    const again = await writer.write(delivery().slice(2));
    const more = await writer.write(delivery());

    expect(again.stats.rowsInserted + more.stats.rowsInserted).toBe(0);
    expect(await counts()).toEqual({ traces: 12, logs: 8, red: 12, logCounts: 8 });
  });

  it('stores once an insert that committed and then threw, after the in-process retry', async () => {
    // The traces insert lands, then the connection drops before the answer (once).
    let failures = 1;
    const lossy = new ClickHouseTelemetryWriter(
      committedThenThrows(client, (t) => t.includes('otel_traces') && failures-- > 0),
      { retryDelayMs: 0 },
    );

    const result = await lossy.write(delivery());

    expect(result.pending).toEqual([]);
    expect(await counts()).toEqual({ traces: 12, logs: 8, red: 12, logCounts: 8 });
  });

  it('stores once an insert that committed but whose every attempt threw, redelivered bisected', async () => {
    const lossy = new ClickHouseTelemetryWriter(
      committedThenThrows(client, (t) => t.includes('otel_traces')),
      { retryDelayMs: 0 },
    );
    const first = await lossy.write(delivery());
    // The traces are in (three times committed, the token dropped two), but the writer could not know.
    expect(first.pending).toHaveLength(8);
    expect(await counts()).toMatchObject({ traces: 12, logs: 0 });

    const writer = new ClickHouseTelemetryWriter(client);
    const all = delivery();
    const a = await writer.write(all.slice(0, 3));
    const b = await writer.write(all.slice(3));

    expect([...a.pending, ...b.pending]).toEqual([]);
    expect(a.stats.rowsAlreadyWritten + b.stats.rowsAlreadyWritten).toBe(12);
    expect(await counts()).toEqual({ traces: 12, logs: 8, red: 12, logCounts: 8 });
  });

  it('stores once after a crash between the insert and anything after it, redelivered in another composition', async () => {
    // The invocation dies right after the traces insert committed: nothing else happens, no result.
    const dying = new ClickHouseTelemetryWriter(
      faultyInserts(client, (t) => t.includes('otel_logs')),
      { attempts: 1 },
    );
    await dying.write(delivery());
    expect(await counts()).toMatchObject({ traces: 12, logs: 0 });

    // Redelivered from a checkpoint, with more records behind, and bisected on the way.
    const writer = new ClickHouseTelemetryWriter(client);
    const all = delivery();
    const results = [
      await writer.write(all.slice(1, 5)),
      await writer.write(all.slice(0, 2)),
      await writer.write(all),
    ];

    expect(results.flatMap((r) => r.pending)).toEqual([]);
    expect(await counts()).toEqual({ traces: 12, logs: 8, red: 12, logCounts: 8 });
  });

  it('stores once the same envelope id twice in one batch (an original and its resend)', async () => {
    const original = delivery();
    // The resend: same envelopes (same ids), new stream positions.
    const resend = original.map((e, i) => ({ ...e, id: `env-${i}`, position: position(100 + i) }));
    const batch = [...original.map((e, i) => ({ ...e, id: `env-${i}` })), ...resend];
    const writer = new ClickHouseTelemetryWriter(client);

    const result = await writer.write(batch);

    expect(result.written).toHaveLength(16);
    expect(result.stats).toMatchObject({
      rowsInserted: 20,
      rowsAlreadyWritten: 20,
      inserts: 2,
      roundTrips: 3,
    });
    expect(await counts()).toEqual({ traces: 12, logs: 8, red: 12, logCounts: 8 });
    const ids = await rows<{ EnvelopeId: string; n: string }>(
      `SELECT EnvelopeId, count() AS n FROM otel_traces GROUP BY EnvelopeId ORDER BY EnvelopeId`,
    );
    expect(ids).toEqual(['env-0', 'env-2', 'env-4', 'env-6'].map((id) => ({ EnvelopeId: id, n: '3' })));
  });

  it('inserts the missing partition only, when a failed insert had committed the other', async () => {
    // One envelope with spans on two days: two partitions, two parts. The insert commits one day's
    // part, then fails on the other (a full disk), on every attempt.
    const day = 86_400_000;
    const spans = [
      span(1, { Timestamp: nsAgo(2 * day) }),
      span(2, { Timestamp: nsAgo(2 * day, 5) }),
      span(3),
    ];
    const env = { ...positioned(1, 'acme', 'traces', [batchOf('otel_traces', spans)]), id: 'two-days' };
    const oldDay = (Date.now() - 1.5 * day) / 1000;
    const halfDisk = new ClickHouseTelemetryWriter(
      partialInserts(client, (seconds) => seconds < oldDay),
      { retryDelayMs: 0 },
    );
    const first = await halfDisk.write([env]);
    expect(first.pending).toEqual([position(1)]);
    expect(await count(client, 'otel_traces')).toBe(2);

    // Redelivered later with another record: a new token, so only the lookup keeps it exact.
    const other = { ...positioned(2, 'acme', 'traces', [batchOf('otel_traces', [span(9)])]), id: 'other' };
    const retry = await new ClickHouseTelemetryWriter(client).write([env, other]);

    expect(retry.pending).toEqual([]);
    expect(retry.stats).toMatchObject({ rowsInserted: 2, rowsAlreadyWritten: 2 });
    expect(await rows(`SELECT SpanId FROM otel_traces ORDER BY SpanId`)).toEqual(
      ['span-1', 'span-2', 'span-3', 'span-9'].map((SpanId) => ({ SpanId })),
    );
  });

  it('finds the earlier copy of rows that carry the receive time, which differs in a resend', async () => {
    const receivedA = nsAgo(120_000);
    const receivedB = nsAgo(10_000);
    const copy = (received: string, n: number): PositionedEnvelope => ({
      ...positioned(n, 'acme', 'logs', [
        batchOf('otel_logs', [
          logRow(1),
          logRow(2, { Timestamp: received }),
          logRow(3, { Timestamp: received }),
        ]),
      ]),
      id: 'no-times',
      receivedAtNs: received,
    });
    const writer = new ClickHouseTelemetryWriter(client);

    await writer.write([copy(receivedA, 1)]);
    const resend = await writer.write([copy(receivedB, 2)]);

    expect(resend.stats).toMatchObject({ rowsInserted: 0, rowsAlreadyWritten: 3 });
    expect(await counts()).toMatchObject({ logs: 3, logCounts: 3 });
  });

  it('does not take rows of another tenant or another id for an earlier copy', async () => {
    const writer = new ClickHouseTelemetryWriter(client);
    const rowsOf = (tenant: string, id: string, n: number): PositionedEnvelope => ({
      ...positioned(n, tenant, 'logs', [batchOf('otel_logs', [logRow(1)])]),
      id,
    });

    await writer.write([rowsOf('acme', 'a', 1)]);
    const r = await writer.write([rowsOf('globex', 'a', 2), rowsOf('acme', 'b', 3)]);

    expect(r.stats).toMatchObject({ rowsInserted: 2, rowsAlreadyWritten: 0 });
    expect(await count(client, 'otel_logs')).toBe(3);
  });
});

describe('materialized views', () => {
  it('finds a trace time range, and rolls up RED and log counts', async () => {
    const t0 = BigInt(nsAgo(30_000));
    const trace = 'abcdef0123456789abcdef0123456789';
    const spans = [
      span(1, { TraceId: trace, Timestamp: String(t0), Duration: 5_000_000, StatusCode: 'Error' }),
      span(2, {
        TraceId: trace,
        Timestamp: String(t0 + 1_000_000n),
        Duration: 10_000_000,
        ParentSpanId: 'span-1',
        SpanKind: 'Client',
      }),
      span(3, { Timestamp: String(t0), Duration: 20_000_000 }),
      span(4, { Timestamp: String(t0), Duration: 30_000_000, StatusCode: 'Error' }),
    ];
    const logs = [logRow(1), logRow(2), logRow(3, { SeverityText: 'ERROR', SeverityNumber: 17 })];
    const writer = new ClickHouseTelemetryWriter(client);

    await writer.write([
      positioned(1, 'acme', 'traces', [batchOf('otel_traces', spans.slice(0, 2))]),
      positioned(2, 'acme', 'traces', [batchOf('otel_traces', spans.slice(2))]),
      positioned(3, 'acme', 'logs', [batchOf('otel_logs', logs)]),
    ]);

    const lookup = await rows<{ s: string; e: string }>(
      `SELECT toString(toUnixTimestamp64Nano(min(Start))) AS s, toString(toUnixTimestamp64Nano(max(End))) AS e
       FROM ${TRACE_LOOKUP_TABLE} WHERE TenantId = 'acme' AND TraceId = '${trace}'`,
    );
    expect(lookup).toEqual([{ s: String(t0), e: String(t0 + 11_000_000n) }]);
    const red = await rows<{ req: string; err: string; q: number[] }>(
      `SELECT sum(Requests) AS req, sum(Errors) AS err,
              quantilesTDigestMerge(${RED_QUANTILES.join(', ')})(DurationQuantiles) AS q
       FROM ${SERVICE_RED_TABLE} WHERE TenantId = 'acme' AND ServiceName = 'checkout'`,
    );
    // The client span is not an entry span: 3 requests, 2 errors.
    expect(red[0]).toMatchObject({ req: '3', err: '2' });
    expect(red[0]?.q[0]).toBeCloseTo(20_000_000, -5);
    expect(red[0]?.q[2]).toBeCloseTo(30_000_000, -5);
    const logCounts = await rows(
      `SELECT SeverityText, sum(Count) AS n FROM ${LOG_COUNTS_TABLE} WHERE TenantId = 'acme' GROUP BY SeverityText ORDER BY SeverityText`,
    );
    expect(logCounts).toEqual([
      { SeverityText: 'ERROR', n: '1' },
      { SeverityText: 'INFO', n: '2' },
    ]);
  });
});
