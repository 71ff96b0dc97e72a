/**
 * The consumer side of the capacity model (docs/scaling.md), simulated on this machine: the real
 * ingest puts requests of the shared workload (512 spans, gzip protobuf) on a kinesalite stream
 * through the production KinesisStreamSink, then the local event-source poller (local/esm-poller.ts,
 * Lambda's Kinesis ESM semantics: batch size, window, partial failures) drains the stream into the
 * real hot-writer handler on the embedded ClickHouse, one invocation per shard at a time, as Lambda
 * does with parallelization factor 1. Reports spans/s drained, per shard, and the CPU that took
 * (process CPU over wall time: 1.0 = one core busy, the machine has cpus().length).
 *
 *   npx tsx bench/consumer-sim.ts [--quick] [--shards 4] [--requests 200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createHotWriterHandler } from '../functions/hot-writer/handler.js';
import { createIngest } from '../functions/ingest/ingest.js';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import { KinesisStreamSink } from '../functions/shared/stream/kinesis-stream-sink.js';
import { localKinesisClient } from '../local/aws-clients.js';
import { InMemoryCheckpointStore } from '../local/checkpoint-store.js';
import { createEmbeddedClickHouse } from '../local/clickhouse-embedded.js';
import { startEmulators } from '../local/emulators.js';
import { startEsmPoller } from '../local/esm-poller.js';
import { ensureStream } from '../local/provision.js';
import { receivedAfter, traceRequest } from './workload.js';

const quick = process.argv.includes('--quick');
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SHARDS = arg('shards', 4);
const REQUESTS = arg('requests', quick ? 40 : 200);
const STREAM = 'sim';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-consumer-sim-'));
  const emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  const clickhouse = createEmbeddedClickHouse({ path: join(dir, 'chdb') });
  try {
    const kinesis = localKinesisClient(emulators.kinesisEndpoint);
    await ensureStream(kinesis, STREAM, SHARDS);
    await applyMigrations(clickhouse, { hotRetentionDays: 3650 });

    // Fill the stream through the real receiver: services spread over shards by partition key.
    const payloads = Array.from({ length: REQUESTS }, (_, i) => traceRequest({ items: 512, seed: i + 1 }));
    let latest = 0n;
    for (const p of payloads) {
      const at = BigInt(receivedAfter(decodeOtlp('traces', p.protobuf, 'protobuf')));
      if (at > latest) latest = at;
    }
    const ingest = createIngest({
      tenants: { resolve: () => Promise.resolve({ tenantId: 'sim', keyId: 'k' }) },
      stream: new KinesisStreamSink(kinesis, { streamName: STREAM }),
      nowNs: () => latest.toString(),
    });
    const headers = {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'gzip',
      authorization: 'Bearer s',
    };
    let spans = 0;
    const fillStart = performance.now();
    for (const p of payloads) {
      const r = await ingest({ signal: 'traces', headers, body: gzipSync(p.protobuf), remainingMs: 30_000 });
      if (r.status !== 200) throw new Error(`ingest: ${r.status}`);
      spans += p.items;
    }
    const fillS = (performance.now() - fillStart) / 1000;

    const handler = createHotWriterHandler({
      clickhouse: async () => clickhouse,
      deadLetters: { put: async () => {} },
      writer: { hotRetentionDays: 3650 },
      logger: new Logger({ logLevel: 'ERROR' }),
      metrics: new Metrics({ namespace: 'Sim', serviceName: 'hot-writer', singleMetric: false }),
    });
    let invocations = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const poller = await startEsmPoller({
      kinesis,
      streamName: STREAM,
      handler: async (event, context) => {
        invocations++;
        return handler(event, context);
      },
      checkpointStore: new InMemoryCheckpointStore(),
      functionName: 'hot-writer',
      batchSize: 10_000,
      maximumBatchingWindowMs: 0,
      reportBatchItemFailures: true,
      bisectBatchOnFunctionError: true,
      pollIntervalMs: 50,
      logger: { info: () => {}, warn: console.warn, error: console.error } as never,
    });
    await poller.stop({ drainWithinMs: 600_000 });
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const rs = await clickhouse.query({
      query: 'SELECT count() AS n FROM otel_traces',
      format: 'JSONEachRow',
    });
    const stored = Number((await rs.json<{ n: string }>())[0]?.n);
    if (stored !== spans) throw new Error(`stored ${stored} of ${spans} spans`);
    const cores = (cpu.user + cpu.system) / 1e6 / wallS;
    console.table([
      {
        shards: SHARDS,
        spans,
        'fill s (ingest -> kinesalite)': Number(fillS.toFixed(1)),
        'drain s': Number(wallS.toFixed(1)),
        invocations,
        'spans/s drained': Math.round(spans / wallS),
        'spans/s per shard': Math.round(spans / wallS / SHARDS),
        'process CPU (cores)': Number(cores.toFixed(2)),
        'µs CPU per span': Number((((cpu.user + cpu.system) / spans) as number).toFixed(1)),
        machine: `${cpus()[0]?.model ?? '?'} x${cpus().length}`,
      },
    ]);
  } finally {
    await clickhouse.close();
    await emulators.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
