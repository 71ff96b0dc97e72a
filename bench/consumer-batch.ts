/**
 * The consumers' worst batch: Lambda's Kinesis ESM hands a consumer at most 10,000 records and 6 MB
 * of payload. This builds exactly that many small envelopes from the shared workload (bench/workload.ts,
 * flattened the way ingest does), then runs the real lake-writer handler (Parquet into an in-memory
 * object store) and the real hot-writer handler (into the embedded ClickHouse) on one such event,
 * each in its own child process so peak RSS belongs to one consumer.
 *
 *   npx tsx bench/consumer-batch.ts [--quick]     (--quick: 1,000 records)
 *
 * Target (consumers issue): handled well inside the consumer's timeout, with memory <= 1 GB. The
 * hot writer runs twice: on the embedded ClickHouse (its figure includes the engine itself), and
 * over HTTP to a stand-in in the parent process that accepts every insert and answers the ledger
 * query with no rows (a first delivery). In AWS ClickHouse is remote, so the second figure is the
 * function's own memory; the stand-in is a mock of ClickHouse Cloud, said so in its row's name.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import type { KinesisStreamEvent } from 'aws-lambda';
import { createHotWriterHandler } from '../functions/hot-writer/handler.js';
import { createLakeWriterHandler } from '../functions/lake-writer/handler.js';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import type { DeadLetter } from '../functions/shared/dead-letter/dead-letter.js';
import { packEnvelopes } from '../functions/shared/envelope/envelope.js';
import { InMemoryObjectStore } from '../functions/shared/lake/memory-object-store.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import { decodeParquet } from '../functions/shared/parquet/parquet-reader.js';
import type { ColumnBatch } from '../functions/shared/rows/batch.js';
import { flatten } from '../functions/shared/rows/flatten.js';
import { resolveRowLimits } from '../functions/shared/rows/limits.js';
import { createEmbeddedClickHouse } from '../local/clickhouse-embedded.js';
import { lambdaContext } from '../local/lambda-context.js';
import { kinesisRecord, traceRequest } from './workload.js';

const ESM_MAX_BYTES = 6 * 1024 * 1024;
const quick = process.argv.includes('--quick');
const records = quick ? 1_000 : 10_000;
const role = process.argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);
const standInUrl = process.argv.find((a) => a.startsWith('--url='))?.slice('--url='.length);

const CONSUMER_NAMES: Record<string, string> = {
  lake: 'lake-writer (Parquet)',
  hot: 'hot-writer (embedded chdb, engine included)',
  'hot-http': 'hot-writer (HTTP to a mock ClickHouse)',
};

/**
 * The mock ClickHouse of the 'hot-http' role: every INSERT is read to the end and counted, any
 * other query answers no rows. Runs in the parent, so its memory is not the consumer's.
 */
async function startStandIn(): Promise<{
  url: string;
  inserted: () => number;
  spanRows: () => number;
  close: () => void;
}> {
  let insertedBytes = 0;
  let spanRows = 0;
  const server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
    const insert = /^\s*INSERT/i.test(query);
    // JSONEachRow: one line per row.
    const spans = /^\s*INSERT INTO \S*otel_traces\b/i.test(query);
    let statement = '';
    req.on('data', (chunk: Buffer) => {
      if (insert) insertedBytes += chunk.length;
      else statement += chunk.toString();
      if (spans) for (const byte of chunk) if (byte === 10) spanRows++;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-clickhouse-summary': '{}' });
      // A query (the sampler's rules, the writer's existence lookup: in the body, multipart with
      // its parameters) finds nothing: an empty result in the format it asked for (the row
      // formats' empty result is an empty body).
      res.end(/\bFORMAT\s+JSON\b/i.test(statement) ? '{"meta":[],"data":[],"rows":0}' : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    inserted: () => insertedBytes,
    spanRows: () => spanRows,
    close: () => server.close(),
  };
}

/** A batch of `records` small envelopes (about 6 MB of spans), with timestamps of now. */
function buildEvent(): { event: KinesisStreamEvent; spans: number; bytes: number } {
  const payload = traceRequest({ items: 512 });
  const otlp = decodeOtlp('traces', payload.protobuf, 'protobuf');
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const { batches } = flatten(
    { tenant: 'bench', otlp, receivedAtNs: `${nowNs}` },
    { limits: resolveRowLimits({ hotRetentionDays: 36_500 }) },
  );
  const spans = batches[0] as ColumnBatch;
  // The workload's clock starts at the epoch: move every span to the last minute.
  spans.columns.Timestamp = spans.columns.Timestamp!.map((_, i) => `${nowNs - BigInt(i) * 1_000_000n}`);

  const perRecord = Math.max(1, Math.floor((ESM_MAX_BYTES * 0.95) / records / 80)); // ~80 B per span
  const out: KinesisStreamEvent['Records'] = [];
  let bytes = 0;
  let total = 0;
  for (let r = 0; r < records; r++) {
    const from = (r * perRecord) % (spans.rowCount - perRecord);
    const columns: Record<string, unknown[]> = {};
    for (const [name, values] of Object.entries(spans.columns))
      columns[name] = values.slice(from, from + perRecord);
    const [env] = packEnvelopes('bench', 'traces', [{ table: 'otel_traces', rowCount: perRecord, columns }]);
    const data = Buffer.from(env!.data);
    bytes += data.length;
    total += perRecord;
    out.push(kinesisRecord(data, r));
  }
  return { event: { Records: out }, spans: total, bytes };
}

const context = lambdaContext({
  functionName: 'bench',
  requestId: 'bench',
  // A constant remaining time: nothing here depends on the clock.
  remaining: { constantMs: 900_000 },
});

async function runRole(name: string): Promise<void> {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_TRACE_ENABLED = 'false';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  const { event, spans, bytes } = buildEvent();
  const letters: DeadLetter[] = [];
  const deadLetters = { put: async (l: readonly DeadLetter[]) => void letters.push(...l) };
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const baseRss = process.memoryUsage().rss;
  let rows = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let wallMs = 0;
  let cpu = { user: 0, system: 0 };
  // Stops the clocks when the handler returns: reading the rows back is not part of the figure.
  const done = () => {
    wallMs = performance.now() - t0;
    cpu = process.cpuUsage(cpu0);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  if (name === 'lake') {
    const store = new InMemoryObjectStore();
    const handler = createLakeWriterHandler({ ports: { store, deadLetters } });
    const response = await handler(event, context);
    done();
    if (response && response.batchItemFailures.length > 0) throw new Error('records failed');
    // Read every written file back: the figure counts rows in Parquet, not rows handed in.
    for (const info of await store.list('staging/')) {
      const body = await store.get(info.key);
      if (body) rows += decodeParquet('otel_traces', body).rowCount;
    }
  } else if (name === 'hot-http') {
    const client = createClient({ url: standInUrl!, request_timeout: 600_000 });
    const handler = createHotWriterHandler({ clickhouse: async () => client, deadLetters });
    const response = await handler(event, context);
    done();
    if (response.batchItemFailures.length > 0)
      throw new Error(`${response.batchItemFailures.length} records failed`);
    // The rows are counted by the mock, in the parent.
    await client.close();
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'bench-batch-'));
    const client = createEmbeddedClickHouse({ path: dir });
    await applyMigrations(client, { hotRetentionDays: 7 });
    const handler = createHotWriterHandler({ clickhouse: async () => client, deadLetters });
    const response = await handler(event, context);
    done();
    const rs = await client.query({ query: 'SELECT count() AS n FROM otel_traces', format: 'JSONEachRow' });
    rows = Number(((await rs.json()) as { n: string }[])[0]?.n ?? 0);
    if (response.batchItemFailures.length > 0)
      throw new Error(`${response.batchItemFailures.length} records failed`);
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    JSON.stringify({
      consumer: CONSUMER_NAMES[name],
      records: event.Records.length,
      payloadMB: +(bytes / 1024 / 1024).toFixed(2),
      spans,
      rowsWritten: rows,
      deadLetters: letters.length,
      wallS: +(wallMs / 1000).toFixed(2),
      cpuS: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      peakRssMB: Math.round(peak / 1024 / 1024),
      rssAtStartMB: Math.round(baseRss / 1024 / 1024),
    }),
  );
}

if (role) {
  await runRole(role);
} else {
  const results: Record<string, unknown>[] = [];
  const standIn = await startStandIn();
  for (const r of ['lake', 'hot', 'hot-http']) {
    // Asynchronous, so the parent's stand-in server answers while the child runs.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        process.argv[1]!,
        `--role=${r}`,
        `--url=${standIn.url}`,
        ...(quick ? ['--quick'] : []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (status !== 0) {
      console.error(stderr);
      process.exit(1);
    }
    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
    if (r === 'hot-http') {
      result.rowsWritten = standIn.spanRows();
      result.insertedMB = +(standIn.inserted() / 1024 / 1024).toFixed(1);
    }
    results.push(result);
  }
  standIn.close();
  console.log(
    `${records} records in one event (Lambda's ESM caps a batch at 10,000 records and 6 MB; small envelopes` +
      ' make this one larger than 6 MB, a harsher case than Lambda can deliver). One child process per consumer.',
  );
  console.table(results);
}
