import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import fc from 'fast-check';
import type { StreamPosition } from '../../../../functions/shared/clickhouse/writer.js';
import { packEnvelopes } from '../../../../functions/shared/envelope/envelope.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';
import {
  physicalColumns,
  type ScalarType,
  type Signal,
  type TableName,
} from '../../../../functions/shared/schema/columns.js';

/** Test data builders: rows are written as objects and carried column by column, as the flattener does. */

/** Strings of any UTF-16 code units (lone surrogates, controls, quotes): the whole domain of a string cell. */
export const anyUnits = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
});

/** Nanoseconds `msAgo` milliseconds before now, plus `extraNs`: recent, so the hot TTL keeps them. */
export function nsAgo(msAgo: number, extraNs = 0): string {
  return (BigInt(Date.now() - msAgo) * 1_000_000n + BigInt(extraNs)).toString();
}

function defaultOf(type: ScalarType, nested: boolean): unknown {
  if (nested) return [];
  switch (type) {
    case 'string':
    case 'lowcard':
      return '';
    case 'timestamp_ns':
      return nsAgo(0);
    case 'bool':
      return false;
    case 'map':
      return {};
    case 'array_float64':
    case 'array_uint64':
      return [];
    default:
      return 0;
  }
}

/** A complete ColumnBatch for `table`; columns a row leaves out get their type's default. */
export function batchOf(table: TableName, rows: readonly Record<string, unknown>[]): ColumnBatch {
  const columns: Record<string, unknown[]> = {};
  for (const col of physicalColumns(table)) {
    // A column with its own absent value (SampleRate: 1) gets it, as a row without it would.
    const absent = () => col.absent ?? defaultOf(col.type, !!col.nestedIn);
    columns[col.name] = rows.map((r) => (col.name in r ? r[col.name] : absent()));
  }
  return { table, rowCount: rows.length, columns };
}

export function span(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    TenantId: 'acme',
    Timestamp: nsAgo(60_000, i),
    TraceId: `trace-${i}`,
    SpanId: `span-${i}`,
    SpanName: 'GET /',
    SpanKind: 'Server',
    ServiceName: 'checkout',
    Duration: 1_000_000 + i,
    StatusCode: 'Ok',
    ...extra,
  };
}

export function logRow(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    TenantId: 'acme',
    Timestamp: nsAgo(60_000, i),
    ServiceName: 'checkout',
    SeverityText: 'INFO',
    SeverityNumber: 9,
    Body: `log line ${i}`,
    ...extra,
  };
}

export interface TestRecord {
  readonly data: Uint8Array;
  readonly sequenceNumber: string;
}

/** One packed envelope (one Kinesis record's data) holding `batches`. */
export function envelopeData(tenant: string, signal: Signal, batches: ColumnBatch[]): Uint8Array {
  const [env, ...more] = packEnvelopes(tenant, signal, batches);
  if (!env || more.length > 0) throw new Error('test batches must fit one envelope');
  return env.data;
}

export const STREAM = 'otel-stream';
export const SHARD = 'shardId-000000000000';
const ARN = `arn:aws:kinesis:us-east-1:123456789012:stream/${STREAM}`;

/** Sequence numbers look like Kinesis': long decimal strings, increasing. */
export function seq(n: number): string {
  return `4959033827149025660855969253836157109592157598913658${String(n).padStart(4, '0')}`;
}

export function position(n: number): StreamPosition {
  return { stream: STREAM, shardId: SHARD, sequenceNumber: seq(n) };
}

export function kinesisRecord(data: Uint8Array, n: number): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'acme',
      sequenceNumber: seq(n),
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: Date.now() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${SHARD}:${seq(n)}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/hot-writer',
    awsRegion: 'us-east-1',
    eventSourceARN: ARN,
  };
}

export function kinesisEvent(records: KinesisStreamRecord[]): KinesisStreamEvent {
  return { Records: records };
}

/**
 * The real client with inserts failing while `failing(table)` says so, the way a remote server
 * that is down or dropping connections fails them (ECONNRESET before any answer).
 */
export function faultyInserts(
  client: ClickHouseClient,
  failing: (table: string) => boolean,
): ClickHouseClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'insert') {
        return async (params: Parameters<ClickHouseClient['insert']>[0]) => {
          if (failing(params.table)) {
            throw Object.assign(new Error('socket hang up (injected)'), { code: 'ECONNRESET' });
          }
          return target.insert(params);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The client with inserts into matching tables committed and then failing, as when the answer is
 * lost (a dropped connection, a timeout after the server finished).
 */
export function committedThenThrows(
  client: ClickHouseClient,
  failing: (table: string) => boolean,
): ClickHouseClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'insert') {
        return async (params: Parameters<ClickHouseClient['insert']>[0]) => {
          const result = await target.insert(params);
          if (failing(params.table)) {
            throw Object.assign(new Error('read ECONNRESET after commit (injected)'), { code: 'ECONNRESET' });
          }
          return result;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The client with every insert committing only the rows whose event time (epoch seconds) passes
 * `commits`, then failing: a multi-partition insert whose other parts hit a full disk. ClickHouse
 * writes one part per partition, each atomically, so an insert can fail with some partitions in.
 */
export function partialInserts(
  client: ClickHouseClient,
  commits: (epochSeconds: number) => boolean,
): ClickHouseClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'insert') {
        return async (params: Parameters<ClickHouseClient['insert']>[0]) => {
          const columns = (params.columns as string[] | undefined)?.map((c) => c.replace(/`/g, '')) ?? [];
          const at = columns.findIndex((c) => c === 'Timestamp' || c === 'TimeUnix');
          const passes = (row: unknown[]) => commits(Number(String(row[at]).split('.')[0]));
          const source = params.values as Readable;
          // The writer's own text (a byte stream of JSON rows), or row arrays for the client to encode.
          const values = source.readableObjectMode
            ? source.filter(passes)
            : Readable.from(
                [
                  Buffer.from(
                    Buffer.concat(await source.toArray())
                      .toString('utf8')
                      .split('\n')
                      .filter((line) => line !== '' && passes(JSON.parse(line) as unknown[]))
                      .map((line) => `${line}\n`)
                      .join(''),
                  ),
                ],
                { objectMode: false },
              );
          const settings = params.clickhouse_settings ?? {};
          // Its own token: the committed part is a separate block here, not one of the whole insert's.
          await target.insert({
            ...params,
            values,
            clickhouse_settings: {
              ...settings,
              insert_deduplication_token: `${String(settings.insert_deduplication_token)}:partial`,
            },
          });
          throw new Error('Cannot reserve 1.00 MiB, not enough space (injected)');
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export async function count(client: ClickHouseClient, table: string, where = '1'): Promise<number> {
  const rs = await client.query({
    query: `SELECT count() AS n FROM ${table} WHERE ${where}`,
    format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ n: string | number }>();
  return Number(row?.n ?? 0);
}
