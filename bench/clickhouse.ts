/**
 * ClickHouse hot-tier benchmark, on embedded ClickHouse (chdb, in this process) and the shared
 * synthetic workload (bench/workload.ts: 512-span / 512-log requests, 10 attributes each), decoded
 * and flattened by the real code, packed and unpacked as envelopes like the stream carries them.
 *
 *   npx tsx bench/clickhouse.ts [--quick]
 *
 * 1. Insert throughput per format, through the hot writer exactly as the Lambda runs it (validation,
 *    conversion, ledger read, one insert per table, ledger write): rows per CPU-second of this
 *    process. chdb parses and merges on its own threads inside the process, so CPU time covers
 *    both sides, i.e. "rows/s per core" for client + server.
 * 2. The JS side alone (validate + convert + serialize), to show where the time goes.
 * 3. ClickHouse's compressed bytes for those rows after merging (system.parts, system.columns):
 *    bytes per span / per log record, to set against the lake's Parquet size.
 *
 * Binary formats: @clickhouse/client's insert() accepts only JSON, CSV/TSV/CustomSeparated and
 * Parquet; chdb's connection turns every insert body into a UTF-8 string (a binary body would be
 * corrupted) and its raw-insert escape hatch whitelists text formats only. RowBinary/Native is
 * therefore not measurable here; against a remote server it would need client.exec() with a
 * values stream. We compare JSONEachRow, JSONCompactEachRow, and chdb's zero-copy raw insert of
 * the same JSONEachRow bytes (no client in between) as the ceiling for a text format.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseClientConfigOptions, createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import {
  ClickHouseTelemetryWriter,
  convertEnvelope,
  type InsertFormat,
  type PositionedEnvelope,
} from '../functions/shared/clickhouse/writer.js';
import { packEnvelopes, unpackEnvelope } from '../functions/shared/envelope/envelope.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import { flatten } from '../functions/shared/rows/flatten.js';
import { physicalColumns, type Signal } from '../functions/shared/schema/columns.js';
import { createEmbeddedClickHouse } from '../local/clickhouse-embedded.js';
import { logsRequest, traceRequest } from './workload.js';

const quick = process.argv.includes('--quick');
/** Batches per measurement; each batch is one 512-item request (one or more envelopes). */
const BATCHES = quick ? 4 : 24;
/** The workload's timestamps are fixed in the past: keep them inside the hot window. */
const RETENTION_DAYS = 3650;

function cpuSeconds<T>(fn: () => Promise<T>): Promise<[T, number, number]> {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  return fn().then((v) => {
    const d = process.cpuUsage(cpu);
    return [v, (d.user + d.system) / 1e6, (performance.now() - wall) / 1e3];
  });
}

function receivedAfter(batchesNs: string[]): string {
  return (batchesNs.reduce((m, x) => (BigInt(x) > m ? BigInt(x) : m), 0n) + 1_000_000_000n).toString();
}

/** One request's envelopes, as the consumer decodes them, at stream positions from `seq`. */
function envelopesFor(signal: Signal, body: Uint8Array, seq: number): PositionedEnvelope[] {
  const otlp = decodeOtlp(signal, body, 'protobuf');
  const times: string[] = [];
  if (otlp.signal === 'traces')
    for (const r of otlp.request.resourceSpans)
      for (const s of r.scopeSpans) for (const sp of s.spans) times.push(sp.startTimeUnixNano);
  if (otlp.signal === 'logs')
    for (const r of otlp.request.resourceLogs)
      for (const s of r.scopeLogs) for (const l of s.logRecords) times.push(l.timeUnixNano);
  const { batches } = flatten({ tenant: 'bench', otlp, receivedAtNs: receivedAfter(times) });
  return packEnvelopes('bench', signal, batches).map((env, i) => {
    const { header, batches: decoded } = unpackEnvelope(env.data);
    const sequenceNumber = String(1_000_000 + seq * 100 + i);
    return {
      position: { stream: 'bench', shardId: `shardId-${signal}`, sequenceNumber },
      tenant: header.tenant,
      batches: decoded,
    };
  });
}

function rowsIn(envs: readonly PositionedEnvelope[]): number {
  return envs.reduce((n, e) => n + e.batches.reduce((m, b) => m + b.rowCount, 0), 0);
}

interface Figure {
  readonly case: string;
  readonly rows: number;
  readonly cpuS: number;
  readonly wallS: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-clickhouse-'));
  const client = createEmbeddedClickHouse({ path: dir });
  // Same data dir, second connection: chdb's raw insert is only on its own connection object.
  const raw = createChdbConnection({ path: dir });
  // chdb types the connection against its own copy of the client-common types.
  const rawClient = createClient({
    connection: raw as unknown as NonNullable<ClickHouseClientConfigOptions['connection']>,
  });
  try {
    // Distinct requests (seeds): repeating one request would compress unrealistically well.
    const requests = { traces: [] as Uint8Array[], logs: [] as Uint8Array[] };
    for (let s = 1; s <= BATCHES + 1; s++) {
      requests.traces.push(traceRequest({ items: 512, seed: s }).protobuf);
      requests.logs.push(logsRequest({ items: 512, seed: s }).protobuf);
    }
    const figures: Figure[] = [];
    let seq = 0;

    const formats: InsertFormat[] = ['JSONEachRow', 'JSONCompactEachRow'];
    for (const format of formats) {
      const database = `bench_${format.toLowerCase()}`;
      await applyMigrations(client, { database, hotRetentionDays: RETENTION_DAYS });
      const writer = new ClickHouseTelemetryWriter(client, {
        database,
        format,
        hotRetentionDays: RETENTION_DAYS,
      });
      for (const signal of ['traces', 'logs'] as const) {
        const bodies = requests[signal];
        // Warm-up batch, not measured.
        await writer.write(envelopesFor(signal, bodies[BATCHES]!, seq++));
        const batches = Array.from({ length: BATCHES }, (_, i) => envelopesFor(signal, bodies[i]!, seq++));
        const [, cpuS, wallS] = await cpuSeconds(async () => {
          for (const b of batches) {
            const r = await writer.write(b);
            if (r.pending.length > 0 || r.rejected.length > 0)
              throw new Error(`write failed: ${r.error?.message}`);
          }
        });
        figures.push({
          case: `${signal} ${format} (hot writer)`,
          rows: batches.reduce((n, b) => n + rowsIn(b), 0),
          cpuS,
          wallS,
        });
      }
    }

    // The ceiling for a text format: pre-serialized JSONEachRow handed to chdb zero-copy.
    await applyMigrations(rawClient, { database: 'bench_raw', hotRetentionDays: RETENTION_DAYS });
    for (const [signal, table] of [
      ['traces', 'otel_traces'],
      ['logs', 'otel_logs'],
    ] as const) {
      const cols = physicalColumns(table);
      const payloads = Array.from({ length: BATCHES }, (_, i) => {
        const envs = envelopesFor(signal, requests[signal][i]!, seq++);
        const lines: string[] = [];
        for (const e of envs) {
          for (const row of convertEnvelope(e.tenant, e.batches, '0').rows.get(table) ?? []) {
            const o: Record<string, unknown> = {};
            cols.forEach((c, i) => {
              o[c.name] = row[i];
            });
            lines.push(JSON.stringify(o));
          }
        }
        return Buffer.from(lines.join('\n'));
      });
      const [, cpuS, wallS] = await cpuSeconds(async () => {
        for (const values of payloads) {
          await raw.chdb.rawInsert({ table: `bench_raw.${table}`, values, format: 'JSONEachRow' });
        }
      });
      const rows = payloads.reduce((n, p) => n + p.toString().split('\n').length, 0);
      figures.push({ case: `${signal} JSONEachRow (chdb raw insert, no client)`, rows, cpuS, wallS });
    }

    // JS side only: validate + convert + serialize, no ClickHouse.
    for (const signal of ['traces', 'logs'] as const) {
      const batches = Array.from({ length: BATCHES }, (_, i) =>
        envelopesFor(signal, requests[signal][i]!, seq++),
      );
      let bytes = 0;
      const [, cpuS, wallS] = await cpuSeconds(async () => {
        for (const envs of batches) {
          for (const e of envs) {
            for (const rows of convertEnvelope(e.tenant, e.batches, '0').rows.values()) {
              for (const row of rows) bytes += JSON.stringify(row).length;
            }
          }
        }
      });
      figures.push({
        case: `${signal} convert + serialize only (JS)`,
        rows: batches.reduce((n, b) => n + rowsIn(b), 0),
        cpuS,
        wallS,
      });
      if (bytes === 0) throw new Error('nothing serialized');
    }

    console.log(
      `ClickHouse insert (${quick ? 'quick' : 'full'}: ${BATCHES} batches of 512 items per case; chdb in-process)`,
    );
    console.table(
      figures.map((f) => ({
        case: f.case,
        rows: f.rows,
        'rows/CPU-s': Math.round(f.rows / f.cpuS),
        'rows/wall-s': Math.round(f.rows / f.wallS),
        'ms/batch (wall)': Number(((f.wallS * 1000) / BATCHES).toFixed(1)),
      })),
    );

    // Storage: merge each table to its final parts, then read compressed sizes.
    const db = 'bench_jsoncompacteachrow';
    const storage: Record<string, unknown>[] = [];
    for (const table of ['otel_traces', 'otel_logs']) {
      // Small test parts are "compact" (no per-column sizes); production-sized parts are wide.
      await client.command({
        query: `ALTER TABLE ${db}.${table} MODIFY SETTING min_bytes_for_wide_part = 0`,
      });
      await client.command({ query: `OPTIMIZE TABLE ${db}.${table} FINAL` });
      const [parts] = await (
        await client.query({
          query: `SELECT sum(rows) AS rows, sum(data_compressed_bytes) AS compressed,
                         sum(data_uncompressed_bytes) AS uncompressed, sum(bytes_on_disk) AS on_disk
                  FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active`,
          query_params: { db, t: table },
          format: 'JSONEachRow',
        })
      ).json<{ rows: number; compressed: number; uncompressed: number; on_disk: number }>();
      const top = await (
        await client.query({
          query: `SELECT name, data_compressed_bytes AS b FROM system.columns
                  WHERE database = {db:String} AND table = {t:String} ORDER BY b DESC LIMIT 5`,
          query_params: { db, t: table },
          format: 'JSONEachRow',
        })
      ).json<{ name: string; b: number }>();
      const rows = Number(parts?.rows ?? 0);
      storage.push({
        table,
        rows,
        'compressed B/row': Number((Number(parts?.compressed) / rows).toFixed(1)),
        'on disk B/row (incl. indexes, marks)': Number((Number(parts?.on_disk) / rows).toFixed(1)),
        'uncompressed B/row': Number((Number(parts?.uncompressed) / rows).toFixed(1)),
        ratio: Number((Number(parts?.uncompressed) / Number(parts?.compressed)).toFixed(1)),
        'largest columns (B/row)': top.map((c) => `${c.name} ${(Number(c.b) / rows).toFixed(1)}`).join(', '),
      });
    }
    console.log(
      'ClickHouse storage after OPTIMIZE FINAL (ZSTD(1), Delta on times; bytes per span / log record)',
    );
    console.table(storage);
  } finally {
    await rawClient.close();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
