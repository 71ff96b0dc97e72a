import type { ClickHouseClient } from '@clickhouse/client';
import { qualified, USAGE_DAILY_VIEW, USAGE_TABLE } from '../clickhouse/ddl.js';
import { type ClickHouseRequests, clickHouseRequests } from '../clickhouse/requests.js';
import type { EnvelopeHeader } from '../envelope/envelope.js';
import { SIGNAL_TABLES, type Signal } from '../schema/columns.js';
import { utcDate, utcDay } from '../tenants/quotas.js';

/**
 * Usage metering per tenant, UTC day and signal. The receiver puts each request's usage on its
 * first envelope (no extra call on the request path); the hot writer stores it through a
 * UsageSink next to the rows; the query API and `npm run costs` read it back.
 */

/** One request's usage, as stored. */
export interface UsageRecord {
  readonly tenant: string;
  /** `YYYY-MM-DD` (UTC) of the envelope's arrival on the stream. */
  readonly day: string;
  readonly signal: Signal;
  /** The first envelope's content id: the same for a resend, so counted once. */
  readonly envelopeId: string;
  readonly itemsAccepted: number;
  readonly itemsRejected: number;
  readonly wireBytes: number;
  readonly decodedBytes: number;
}

/**
 * The usage record an envelope header carries, if any (only the first envelope of a request),
 * counted on the UTC day the record reached the stream (`arrivalMs`, Kinesis'
 * ApproximateArrivalTimestamp).
 */
export function usageRecordOf(
  header: EnvelopeHeader,
  fallbackId: string,
  arrivalMs: number,
): UsageRecord | undefined {
  const u = header.usage;
  if (u === undefined) return undefined;
  return {
    tenant: header.tenant,
    day: utcDate(utcDay(arrivalMs)),
    signal: header.signal,
    envelopeId: header.id ?? fallbackId,
    itemsAccepted: u.accepted,
    itemsRejected: u.rejected,
    wireBytes: u.wireBytes,
    decodedBytes: u.decodedBytes,
  };
}

/** Where the hot writer puts usage records. Throws when they could not be stored (then retried). */
export interface UsageSink {
  record(records: readonly UsageRecord[]): Promise<void>;
}

export class ClickHouseUsageSink implements UsageSink {
  private readonly requests: ClickHouseRequests;

  /** `client`: a ClickHouse client (its cheapest port is used) or the port itself. */
  constructor(
    client: ClickHouseClient | ClickHouseRequests,
    private readonly database?: string,
  ) {
    this.requests = clickHouseRequests(client);
  }

  async record(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.requests.insertObjects({
      table: qualified(USAGE_TABLE, this.database),
      objects: records.map((r) => ({
        TenantId: r.tenant,
        Day: r.day,
        Signal: r.signal,
        FirstEnvelopeId: r.envelopeId,
        ItemsAccepted: r.itemsAccepted,
        ItemsRejected: r.itemsRejected,
        WireBytes: r.wireBytes,
        DecodedBytes: r.decodedBytes,
      })),
    });
  }
}

/** A day's usage of one signal, as /v1/usage answers it. */
export interface DailyUsage {
  readonly day: string;
  readonly signal: Signal;
  readonly requests: number;
  readonly itemsAccepted: number;
  readonly itemsRejected: number;
  readonly wireBytes: number;
  readonly decodedBytes: number;
  /**
   * ClickHouse bytes (compressed, on disk) this day's items take, estimated: the signal's tables'
   * compressed bytes per row over all tenants (system.parts, active parts) times the items
   * accepted. Parts hold every tenant's rows, so a per-tenant figure can only be estimated;
   * rows already past the hot retention are counted as if still stored.
   */
  readonly storedBytesEstimate: number;
}

/** Compressed bytes per row of each signal's tables, from system.parts (0 when empty). */
export async function clickHouseBytesPerRow(
  client: ClickHouseClient,
  database?: string,
): Promise<Record<Signal, number>> {
  const rs = await client.query({
    query: `SELECT table, sum(data_compressed_bytes) AS bytes, sum(rows) AS rows FROM system.parts
            WHERE active AND database = ${database ? '{db:String}' : 'currentDatabase()'} GROUP BY table`,
    query_params: { db: database },
    format: 'JSONEachRow',
  });
  const byTable = new Map(
    (await rs.json<{ table: string; bytes: string | number; rows: string | number }>()).map((r) => [
      r.table,
      { bytes: Number(r.bytes), rows: Number(r.rows) },
    ]),
  );
  const out = {} as Record<Signal, number>;
  for (const signal of Object.keys(SIGNAL_TABLES) as Signal[]) {
    let bytes = 0;
    let rows = 0;
    for (const t of SIGNAL_TABLES[signal]) {
      bytes += byTable.get(t)?.bytes ?? 0;
      rows += byTable.get(t)?.rows ?? 0;
    }
    out[signal] = rows === 0 ? 0 : bytes / rows;
  }
  return out;
}

/** A tenant's usage per UTC day and signal, `from` to `to` inclusive (`YYYY-MM-DD`). */
export async function readDailyUsage(
  client: ClickHouseClient,
  tenant: string,
  from: string,
  to: string,
  database?: string,
): Promise<DailyUsage[]> {
  const rs = await client.query({
    query: `SELECT toString(Day) AS day, Signal AS signal, Requests AS requests, ItemsAccepted AS itemsAccepted,
              ItemsRejected AS itemsRejected, WireBytes AS wireBytes, DecodedBytes AS decodedBytes
            FROM ${qualified(USAGE_DAILY_VIEW, database)}
            WHERE TenantId = {tenant:String} AND Day BETWEEN {from:Date} AND {to:Date}
            ORDER BY day, signal`,
    query_params: { tenant, from, to },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<Record<string, string | number>>();
  const perRow = await clickHouseBytesPerRow(client, database);
  return rows.map((r) => {
    const signal = r.signal as Signal;
    const itemsAccepted = Number(r.itemsAccepted);
    return {
      day: String(r.day),
      signal,
      requests: Number(r.requests),
      itemsAccepted,
      itemsRejected: Number(r.itemsRejected),
      wireBytes: Number(r.wireBytes),
      decodedBytes: Number(r.decodedBytes),
      storedBytesEstimate: Math.round(itemsAccepted * perRow[signal]),
    };
  });
}

/** Reads a tenant's daily usage (the query API's GET /v1/usage, `npm run costs`). */
export interface UsageReader {
  daily(tenant: string, from: string, to: string): Promise<DailyUsage[]>;
}

export class ClickHouseUsageReader implements UsageReader {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly database?: string,
  ) {}

  daily(tenant: string, from: string, to: string): Promise<DailyUsage[]> {
    return readDailyUsage(this.client, tenant, from, to, this.database);
  }
}
