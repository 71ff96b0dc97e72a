import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  ClickHouseTelemetryWriter,
  type PositionedEnvelope,
} from '../../../functions/shared/clickhouse/writer.js';
import { packEnvelopes, unpackEnvelope } from '../../../functions/shared/envelope/envelope.js';
import { partitionOf, publishedKey } from '../../../functions/shared/lake/layout.js';
import type { ObjectStore } from '../../../functions/shared/lake/object-store.js';
import { encodeParquet } from '../../../functions/shared/parquet/parquet-writer.js';
import type { ColumnBatch } from '../../../functions/shared/rows/batch.js';
import { TABLES } from '../../../functions/shared/schema/columns.js';

/** Test data: rows as objects, carried column by column like the flattener's batches. */

export const MINUTE = 60_000;
export const DAY = 86_400_000;

/** Nanoseconds since the epoch of `ms` (+ extra ns), as the column model carries them. */
export function ns(ms: number, extra = 0): string {
  return (BigInt(Math.round(ms)) * 1_000_000n + BigInt(extra)).toString();
}

// One batch builder for the ClickHouse, query and alert tests: columns a row leaves out get defaults.
export { batchOf } from '../shared/clickhouse/support.js';

export interface SpanInput {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly service: string;
  readonly name: string;
  readonly kind?: string;
  readonly atMs: number;
  readonly durationMs: number;
  readonly error?: boolean;
  readonly attributes?: Record<string, string>;
  readonly events?: { atMs: number; name: string; attributes?: Record<string, string> }[];
  readonly links?: { traceId: string; spanId: string }[];
}

export function span(s: SpanInput): Record<string, unknown> {
  return {
    Timestamp: ns(s.atMs, 7),
    TraceId: s.traceId,
    SpanId: s.spanId,
    ParentSpanId: s.parentSpanId ?? '',
    SpanName: s.name,
    SpanKind: s.kind ?? (s.parentSpanId ? 'Internal' : 'Server'),
    ServiceName: s.service,
    ResourceAttributes: { 'service.name': s.service },
    ScopeName: 'test-scope',
    SpanAttributes: s.attributes ?? {},
    Duration: Math.round(s.durationMs * 1_000_000),
    StatusCode: s.error ? 'Error' : 'Ok',
    StatusMessage: s.error ? 'boom' : '',
    'Events.Timestamp': (s.events ?? []).map((e) => ns(e.atMs)),
    'Events.Name': (s.events ?? []).map((e) => e.name),
    'Events.Attributes': (s.events ?? []).map((e) => e.attributes ?? {}),
    'Links.TraceId': (s.links ?? []).map((l) => l.traceId),
    'Links.SpanId': (s.links ?? []).map((l) => l.spanId),
    'Links.TraceState': (s.links ?? []).map(() => ''),
    'Links.Attributes': (s.links ?? []).map(() => ({})),
  };
}

export function log(
  atMs: number,
  service: string,
  severity: [string, number],
  body: string,
  traceId = '',
): Record<string, unknown> {
  return {
    Timestamp: ns(atMs),
    ServiceName: service,
    SeverityText: severity[0],
    SeverityNumber: severity[1],
    Body: body,
    TraceId: traceId,
    LogAttributes: { 'log.source': 'test' },
    ResourceAttributes: { 'service.name': service },
  };
}

export function metric(
  atMs: number,
  service: string,
  name: string,
  fields: Record<string, unknown>,
  attributes: Record<string, string> = {},
): Record<string, unknown> {
  return {
    TimeUnix: ns(atMs),
    StartTimeUnix: ns(atMs - MINUTE),
    ServiceName: service,
    MetricName: name,
    Attributes: attributes,
    ...fields,
  };
}

let sequence = 1000;

/** Writes rows to the hot tier the way the hot writer does (envelope round trip, then the writer). */
export async function writeHot(
  client: ClickHouseClient,
  tenant: string,
  batches: ColumnBatch[],
): Promise<void> {
  const signal = TABLES[batches[0]!.table].signal;
  const envelopes: PositionedEnvelope[] = packEnvelopes(tenant, signal, batches).map((env) => {
    const { header, batches: decoded } = unpackEnvelope(env.data);
    sequence++;
    return {
      position: { stream: 'query-test', shardId: 'shardId-000000000000', sequenceNumber: String(sequence) },
      tenant: header.tenant,
      batches: decoded,
    };
  });
  const result = await new ClickHouseTelemetryWriter(client, { hotRetentionDays: 7 }).write(envelopes);
  if (result.pending.length > 0 || result.rejected.length > 0) {
    throw new Error(`hot write failed: ${result.error?.message ?? result.rejected[0]?.reason}`);
  }
}

/** Publishes rows as the compactor does: one Parquet part per (table, tenant, hour). */
export async function writeLake(store: ObjectStore, tenant: string, batch: ColumnBatch): Promise<string[]> {
  const timeColumn = TABLES[batch.table].timeColumn;
  const byPartition = new Map<string, number[]>();
  batch.columns[timeColumn]!.forEach((t, i) => {
    const p = partitionOf(tenant, Number(BigInt(String(t)) / 1_000_000n));
    byPartition.set(p, [...(byPartition.get(p) ?? []), i]);
  });
  const keys: string[] = [];
  for (const [partition, rows] of byPartition) {
    const columns: Record<string, unknown[]> = {};
    for (const [name, values] of Object.entries(batch.columns)) columns[name] = rows.map((r) => values[r]);
    columns.TenantId = rows.map(() => tenant);
    const part: ColumnBatch = { table: batch.table, rowCount: rows.length, columns };
    const hash = createHash('sha256').update(JSON.stringify(columns)).digest('hex').slice(0, 24);
    const key = publishedKey(batch.table, partition, hash);
    await store.put(key, encodeParquet(batch.table, [part]));
    keys.push(key);
  }
  return keys;
}
