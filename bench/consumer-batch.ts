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
 * hot writer's figure includes the embedded ClickHouse engine itself (in AWS it is remote).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
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
import { traceRequest } from './workload.js';

const ESM_MAX_BYTES = 6 * 1024 * 1024;
const quick = process.argv.includes('--quick');
const records = quick ? 1_000 : 10_000;
const role = process.argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);

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
    const seq = `${49_000_000_000_000_000_000 + r}`;
    out.push({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'bench:svc',
        sequenceNumber: seq,
        data: data.toString('base64'),
        approximateArrivalTimestamp: Date.now() / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${seq}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/bench',
      awsRegion: 'us-east-1',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/bench',
    });
  }
  return { event: { Records: out }, spans: total, bytes };
}

const context = {
  functionName: 'bench',
  awsRequestId: 'bench',
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;

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
      consumer: name === 'lake' ? 'lake-writer (Parquet)' : 'hot-writer (chdb)',
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
  const results: unknown[] = [];
  for (const r of ['lake', 'hot']) {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', process.argv[1]!, `--role=${r}`, ...(quick ? ['--quick'] : [])],
      {
        encoding: 'utf8',
      },
    );
    const line = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status !== 0) {
      console.error(child.stderr);
      process.exit(1);
    }
    results.push(JSON.parse(line));
  }
  console.log(
    `${records} records in one event (Lambda's ESM caps a batch at 10,000 records and 6 MB; small envelopes` +
      ' make this one larger than 6 MB, a harsher case than Lambda can deliver). One child process per consumer.',
  );
  console.table(results);
}
