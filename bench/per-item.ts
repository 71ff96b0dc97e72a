/**
 * The per-item figures the cost model multiplies (functions/shared/costs/cost-model.ts), written to
 * bench/results/per-item.json with the date and the machine, for traces, logs and metrics:
 * - ingest: CPU µs per item through `createIngest` (gzip protobuf requests of the shared workload,
 *   in-memory counting stream sink), envelopes per request, stream bytes per item, request bytes;
 * - hot writer: CPU µs per item of `consumeKinesisRecords` as the handler composes it (the hot
 *   writer's client, the usage sink), one request's records per invocation, into a ClickHouse
 *   served over HTTP by another process (local/clickhouse-http-process.ts), so the engine's work is
 *   not counted: what the Lambda itself spends. Compressed bytes per item from system.parts after
 *   OPTIMIZE FINAL;
 * - lake writer: CPU µs per item of `writeToLake` into memory, Parquet bytes per item.
 *
 *   npx tsx bench/per-item.ts [--quick] [--no-write] [--runs N]
 *
 * Each figure is the median of N runs (5 by default), each against a fresh ClickHouse process.
 *
 * A --quick run (npm run bench -- --quick) prints its figures without replacing the committed file.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { consumeKinesisRecords } from '../functions/hot-writer/consumer.js';
import { createIngest } from '../functions/ingest/ingest.js';
import { createRemoteClickHouse, HOT_WRITER_CLIENT_OPTIONS } from '../functions/shared/clickhouse/connect.js';
import { ClickHouseTelemetryWriter } from '../functions/shared/clickhouse/writer.js';
import type { MeasuredFigures, PerItemFigures, Signal } from '../functions/shared/costs/cost-model.js';
import { unpackEnvelope } from '../functions/shared/envelope/envelope.js';
import { writeToLake } from '../functions/shared/lake/lake-writer.js';
import { InMemoryObjectStore } from '../functions/shared/lake/memory-object-store.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import { TABLES as SCHEMA_TABLES, TABLE_NAMES } from '../functions/shared/schema/columns.js';
import type { StreamSink } from '../functions/shared/stream/stream-sink.js';
import { ClickHouseUsageSink } from '../functions/shared/usage/usage.js';
import { type ClickHouseProcess, spawnClickHouseHttp } from '../local/clickhouse-http-process.js';
import {
  kinesisRecord,
  logsRequest,
  metricsRequest,
  type Payload,
  receivedAfter,
  traceRequest,
} from './workload.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const REQUESTS = quick ? 8 : 40;
const runsAt = process.argv.indexOf('--runs');
/** Runs whose per-figure median is written: `--runs N`, 5 by default, 1 with --quick. */
const RUNS = runsAt >= 0 ? Number(process.argv[runsAt + 1]) : quick ? 1 : 5;

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

class CapturingSink implements StreamSink {
  readonly records: Uint8Array[] = [];
  put(records: readonly { data: Uint8Array }[]) {
    for (const r of records) this.records.push(r.data);
    return Promise.resolve({ kind: 'durable' as const, records: records.length, bytes: 0, attempts: 1 });
  }
}

async function requestsFor(signal: Signal): Promise<Payload[]> {
  const out: Payload[] = [];
  for (let seed = 1; seed <= REQUESTS; seed++) {
    if (signal === 'traces') out.push(traceRequest({ items: 512, seed }));
    else if (signal === 'logs') out.push(logsRequest({ items: 512, seed }));
    else out.push(await metricsRequest({ seed }));
  }
  return out;
}

/** The signal's data tables (the schema's, not a name pattern: rollups such as otel_metrics_names_1h share the prefix). */
const TABLES: Record<Signal, string> = Object.fromEntries(
  (['traces', 'logs', 'metrics'] as const).map((signal) => [
    signal,
    `table IN (${TABLE_NAMES.filter((t) => SCHEMA_TABLES[t].signal === signal)
      .map((t) => `'${t}'`)
      .join(', ')})`,
  ]),
) as Record<Signal, string>;

async function measure(signal: Signal, server: ClickHouseProcess): Promise<PerItemFigures> {
  const payloads = await requestsFor(signal);
  const items = payloads.reduce((n, p) => n + p.items, 0);
  const sink = new CapturingSink();
  let latest = 0n;
  const bodies = payloads.map((p) => {
    const at = BigInt(receivedAfter(decodeOtlp(signal, p.protobuf, 'protobuf')));
    if (at > latest) latest = at;
    return gzipSync(p.protobuf);
  });
  const ingest = createIngest({
    tenants: { resolve: () => Promise.resolve({ tenantId: 'bench', keyId: 'k' }) },
    stream: sink,
    nowNs: () => latest.toString(),
  });
  const headers = {
    'content-type': 'application/x-protobuf',
    'content-encoding': 'gzip',
    authorization: 'Bearer bench',
  };
  const send = (body: Uint8Array) => ingest({ signal, headers, body, remainingMs: 30_000 });
  for (const b of bodies) await send(b); // warm-up round (JIT), then the timed round
  sink.records.length = 0;
  let t = cpuUs();
  for (const b of bodies) {
    const r = await send(b);
    if (r.status !== 200 || r.stats.rejected > 0)
      throw new Error(`${signal}: ${r.status} ${r.stats.reason ?? ''}`);
  }
  const ingestUs = cpuUs() - t;
  const streamBytes = sink.records.reduce((n, d) => n + d.byteLength, 0);

  // Hot writer into its own database of the ClickHouse process, as the handler composes it.
  const database = `per_item_${signal}`;
  const client = createRemoteClickHouse(
    { url: server.url, username: 'default', password: '', database },
    HOT_WRITER_CLIENT_OPTIONS,
  );
  const writer = new ClickHouseTelemetryWriter(client, { database, hotRetentionDays: 3650 });
  const usage = new ClickHouseUsageSink(client, database);
  const records = sink.records.map((d, i) => kinesisRecord(d, i));
  const deadLetters = { put: async () => {} };
  // One request's records per invocation (512 spans): the batch size issue #21's target is set at.
  const perBatch = Math.max(1, Math.round(records.length / payloads.length));
  // A warm-up round (JIT) into another database, as the ingest's: a Lambda's first batches run cold
  // once per container, its next thousands warm.
  const warmDatabase = `${database}_warmup`;
  const warm = new ClickHouseTelemetryWriter(client, { database: warmDatabase, hotRetentionDays: 3650 });
  const warmUsage = new ClickHouseUsageSink(client, warmDatabase);
  for (let i = 0; i < records.length; i += perBatch) {
    await consumeKinesisRecords(records.slice(i, i + perBatch), {
      writer: warm,
      deadLetters,
      usage: warmUsage,
    });
  }
  t = cpuUs();
  for (let i = 0; i < records.length; i += perBatch) {
    const out = await consumeKinesisRecords(records.slice(i, i + perBatch), { writer, deadLetters, usage });
    if (out.response.batchItemFailures.length > 0 || out.deadLettered > 0)
      throw new Error(`${signal}: hot write failed`);
  }
  const hotUs = cpuUs() - t;
  await client.command({ query: 'SYSTEM STOP TTL MERGES' }).catch(() => {});
  const tables = await client.query({
    query: `SELECT DISTINCT table FROM system.parts WHERE active AND database = '${database}' AND ${TABLES[signal]}`,
    format: 'JSONEachRow',
  });
  for (const { table } of await tables.json<{ table: string }>()) {
    await client.command({ query: `OPTIMIZE TABLE \`${database}\`.\`${table}\` FINAL` });
  }
  const parts = await client.query({
    query: `SELECT sum(data_compressed_bytes) AS b, sum(rows) AS n FROM system.parts WHERE active AND database = '${database}' AND ${TABLES[signal]}`,
    format: 'JSONEachRow',
  });
  const [row] = await parts.json<{ b: string; n: string }>();
  await client.close();
  if (Number(row?.n) !== items) throw new Error(`${signal}: ${row?.n} rows in ClickHouse, expected ${items}`);

  // Lake writer into memory.
  const store = new InMemoryObjectStore();
  const decoded = sink.records.map((d, i) => ({
    shardId: 'shardId-000000000000',
    sequenceNumber: String(10n ** 20n + BigInt(i)),
    arrivalMs: Date.now(),
    envelope: unpackEnvelope(d),
  }));
  t = cpuUs();
  const lake = await writeToLake(store, decoded);
  const lakeUs = cpuUs() - t;
  let parquetBytes = 0;
  for (const key of lake.files) parquetBytes += (await store.get(key))?.byteLength ?? 0;

  const round = (x: number, d = 2) => Number(x.toFixed(d));
  return {
    requestItems: round(items / payloads.length, 1),
    otlpBytesPerItem: round(payloads.reduce((n, p) => n + p.protobuf.byteLength, 0) / items, 1),
    wireBytesPerItem: round(bodies.reduce((n, b) => n + b.byteLength, 0) / items, 1),
    recordsPerRequest: round(sink.records.length / payloads.length, 2),
    streamBytesPerItem: round(streamBytes / items, 1),
    ingestCpuUsPerItem: round(ingestUs / items),
    hotWriterCpuUsPerItem: round(hotUs / items),
    lakeWriterCpuUsPerItem: round(lakeUs / items),
    clickhouseBytesPerItem: round(Number(row?.b) / items, 1),
    parquetBytesPerItem: round(parquetBytes / items, 1),
  };
}

/** Each figure's median over the runs (one run swings by ±30% on a shared VM). */
function medianFigures(runs: readonly PerItemFigures[]): PerItemFigures {
  const out: Record<string, number> = {};
  for (const key of Object.keys(runs[0]!) as (keyof PerItemFigures)[]) {
    const xs = runs.map((r) => r[key]).sort((a, b) => a - b);
    out[key] = xs[Math.floor(xs.length / 2)]!;
  }
  return out as unknown as PerItemFigures;
}

/** One run: every signal measured against a ClickHouse process of its own (fresh databases). */
async function run(): Promise<Record<Signal, PerItemFigures>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-per-item-'));
  const server = await spawnClickHouseHttp({
    path: dir,
    hotRetentionDays: 3650,
    databases: ['traces', 'logs', 'metrics'].flatMap((s) => [`per_item_${s}`, `per_item_${s}_warmup`]),
  });
  try {
    const signals = {} as Record<Signal, PerItemFigures>;
    for (const s of ['traces', 'logs', 'metrics'] as const) signals[s] = await measure(s, server);
    return signals;
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs: Record<Signal, PerItemFigures>[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run());
  const signals = {} as Record<Signal, PerItemFigures>;
  for (const s of ['traces', 'logs', 'metrics'] as const) signals[s] = medianFigures(runs.map((r) => r[s]));
  const figures: MeasuredFigures = {
    date: new Date().toISOString().slice(0, 10),
    machine: `${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, Node.js ${process.version}, median of ${RUNS} run${RUNS === 1 ? '' : 's'}${quick ? ', --quick' : ''}`,
    signals,
  };
  console.table(signals);
  if (!quick && !process.argv.includes('--no-write')) {
    mkdirSync(join(here, 'results'), { recursive: true });
    const file = join(here, 'results', 'per-item.json');
    writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`written ${file}`);
  }
}

await main();
