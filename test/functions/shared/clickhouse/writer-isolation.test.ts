import { createServer } from 'node:net';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRemoteClickHouse } from '../../../../functions/shared/clickhouse/connect.js';
import {
  LOG_COUNTS_TABLE,
  SERVICE_RED_TABLE,
  TRACE_LOOKUP_TABLE,
  WRITE_LEDGER_TABLE,
} from '../../../../functions/shared/clickhouse/ddl.js';
import { classifyClickHouseError } from '../../../../functions/shared/clickhouse/errors.js';
import {
  ClickHouseTelemetryWriter,
  type PositionedEnvelope,
} from '../../../../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { TABLE_NAMES } from '../../../../functions/shared/schema/columns.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { batchOf, count, envelopeData, logRow, position, span } from './support.js';

// A data error isolates the refused envelopes at once; only an outage is retried.
// Runs on embedded chdb, and over HTTP from writer-isolation.over-http.test.ts.

/**
 * Rows the engine refuses although they fit the column model: the test adds a CHECK constraint
 * (as an operator might) that a span named 'poison' violates; ClickHouse checks it before writing
 * anything (VIOLATED_CONSTRAINT, 469).
 */
const POISON = { SpanName: 'poison' };
/**
 * A span starting in 2255 and lasting 2^63 ns: each value fits the column model, but the trace-id
 * view's Timestamp + Duration overflows DateTime64(9). The view refuses it after otel_traces' part
 * is written (ingest rejects such spans; the writer must still cope with envelopes from elsewhere).
 */
const VIEW_POISON = { Timestamp: '9000000000000000000', Duration: '9223372036854775808' };

let connection: TestClickHouse;
let client: ClickHouseClient;

function traces(
  n: number,
  tenant: string,
  poison = false,
  bad: Record<string, unknown> = POISON,
): PositionedEnvelope {
  const rows = [0, 1].map((i) => span(n * 10 + i, poison && i === 1 ? bad : {}));
  const { header, batches } = unpackEnvelope(envelopeData(tenant, 'traces', [batchOf('otel_traces', rows)]));
  return { position: position(n), tenant: header.tenant, batches };
}

function logs(n: number): PositionedEnvelope {
  const { header, batches } = unpackEnvelope(
    envelopeData('acme', 'logs', [batchOf('otel_logs', [logRow(n * 10)])]),
  );
  return { position: position(n), tenant: header.tenant, batches };
}

interface InsertCall {
  readonly table: string;
  readonly token: string;
}

/** The real client, with every data insert recorded (table and dedup token). */
function recording(target: ClickHouseClient, calls: InsertCall[]): ClickHouseClient {
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (prop === 'insert') {
        return (params: Parameters<ClickHouseClient['insert']>[0]) => {
          const token = String(params.clickhouse_settings?.insert_deduplication_token ?? '');
          if (!params.table.includes(WRITE_LEDGER_TABLE)) calls.push({ table: params.table, token });
          return t.insert(params);
        };
      }
      const value = Reflect.get(t, prop, receiver);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

beforeAll(async () => {
  connection = await openMigratedClickHouse('ch-isolation-');
  client = connection.client;
  await client.command({
    query: `ALTER TABLE otel_traces ADD CONSTRAINT poison_free CHECK SpanName != 'poison'`,
  });
});
afterAll(async () => {
  await connection.close();
});
beforeEach(async () => {
  for (const t of [
    ...TABLE_NAMES,
    TRACE_LOOKUP_TABLE,
    SERVICE_RED_TABLE,
    LOG_COUNTS_TABLE,
    WRITE_LEDGER_TABLE,
  ])
    await client.command({ query: `TRUNCATE TABLE ${t}` });
});

describe(`data errors are isolated, outages retried (${process.env.TEST_CLICKHOUSE_VIA ?? 'embedded'})`, () => {
  it('writes every good envelope in one call and rejects only the refused ones, with the reason', async () => {
    const poisoned = new Set([3, 11]);
    const batch = Array.from({ length: 16 }, (_, n) =>
      traces(n, n % 2 ? 'bystander' : 'acme', poisoned.has(n)),
    );
    const calls: InsertCall[] = [];
    // A data error retried would sleep 60 s here (and time the test out): it must not be retried.
    const writer = new ClickHouseTelemetryWriter(recording(client, calls), {
      attempts: 3,
      retryDelayMs: 60_000,
    });

    const result = await writer.write(batch);

    expect(result.error).toBeUndefined();
    expect(result.pending).toEqual([]);
    expect(result.rejected).toEqual(
      [3, 11].map((n) => ({
        position: position(n),
        reason: expect.stringMatching(/ClickHouse refused its otel_traces rows \(code \d+ [A-Z_]+\)/),
        reasonClass: 'clickhouse-refused',
      })),
    );
    expect(result.written).toEqual([...Array(16).keys()].filter((n) => !poisoned.has(n)).map(position));
    // Both rows of each good envelope, none of a refused one (its good row included: rejected whole).
    expect(await count(client, 'otel_traces')).toBe(28);
    expect(await count(client, 'otel_traces', "SpanId IN ('span-30', 'span-110')")).toBe(0);
    expect(await count(client, 'otel_traces', "TenantId = 'bystander'")).toBe(12);
    // Bisection: no insert repeated (no retry of a data error), O(k log n) of them.
    expect(new Set(calls.map((c) => c.token)).size).toBe(calls.length);
    expect(calls.length).toBeLessThanOrEqual(1 + 2 * 2 * Math.log2(16));
    expect(result.stats.rowsInserted).toBe(28);
  });

  it('writes nothing twice when a view refuses rows after the table took them', async () => {
    const batch = Array.from({ length: 8 }, (_, n) => traces(n, 'acme', n === 5, VIEW_POISON));
    const result = await new ClickHouseTelemetryWriter(client).write(batch);

    // The first insert's otel_traces parts were written before the view refused the block: the
    // halves ask again and insert only what is missing, so nothing is written twice. The poison
    // envelope is refused (dead-lettered); its other span stays in otel_traces, as ClickHouse does
    // not undo the table's parts.
    expect(result.pending).toEqual([]);
    expect(result.rejected.map((r) => r.position)).toEqual([position(5)]);
    expect(result.rejected[0]!.reason).toMatch(/code 407 DECIMAL_OVERFLOW/);
    expect(result.written).toEqual([0, 1, 2, 3, 4, 6, 7].map(position));
    expect(await count(client, 'otel_traces', "SpanId != 'span-51'")).toBe(15);
    expect(await count(client, '(SELECT SpanId FROM otel_traces GROUP BY SpanId HAVING count() > 1)')).toBe(
      0,
    );
  });

  it('leaves a refused envelope out of its later tables and still writes the other signals', async () => {
    const batch = [traces(0, 'acme', true), logs(1), traces(2, 'acme')];
    const result = await new ClickHouseTelemetryWriter(client).write(batch);

    expect(result.rejected.map((r) => r.position)).toEqual([position(0)]);
    expect(result.written).toEqual([position(1), position(2)]);
    expect(await count(client, 'otel_logs')).toBe(1);
    expect(await count(client, 'otel_traces')).toBe(2);
  });

  it('writes the same batch again without duplicates (the halves carry their own dedup tokens)', async () => {
    const batch = Array.from({ length: 8 }, (_, n) => traces(n, 'acme', n === 5));
    const writer = new ClickHouseTelemetryWriter(client);

    const first = await writer.write(batch);
    const again = await writer.write(batch);

    expect(first.rejected.map((r) => r.position)).toEqual([position(5)]);
    expect(again.rejected.map((r) => r.position)).toEqual([position(5)]);
    expect(again.written).toEqual(first.written);
    expect(await count(client, 'otel_traces')).toBe(14);
  });

  it('retries an outage (endpoint down) and reports every envelope pending, none rejected', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const down = createRemoteClickHouse(
      { url: `http://127.0.0.1:${port}`, username: 'default', password: '', database: 'default' },
      { requestTimeoutMs: 2_000 },
    );
    let attempts = 0;
    const counting = new Proxy(down, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          attempts++;
          return value.apply(t, args);
        };
      },
    });
    const batch = [traces(0, 'acme', true), traces(1, 'acme')];

    const result = await new ClickHouseTelemetryWriter(counting, { attempts: 3, retryDelayMs: 1 }).write(
      batch,
    );
    await down.close();

    expect(result.rejected).toEqual([]);
    expect(result.written).toEqual([]);
    expect(result.pending).toEqual([position(0), position(1)]);
    expect(classifyClickHouseError(result.error)).toMatchObject({
      kind: 'outage',
      reasonClass: 'ECONNREFUSED',
    });
    expect(attempts).toBe(3);
  });
});
