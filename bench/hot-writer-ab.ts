/**
 * Hot-writer A/B in one process: `npx tsx bench/hot-writer-ab.ts <other checkout> [--rounds N]
 * [--warmup N] [--spans N] [--requests 1,4] [--compression]`
 * loads the hot writer's consumer (`consumeKinesisRecords`, `ClickHouseTelemetryWriter`, the usage
 * sink, the trace sampler and `createRemoteClickHouse`) from another checkout of this repository
 * (e.g. `git archive main | tar -x -C /tmp/base` with a node_modules link) beside this one's, and
 * hands the same Kinesis records to both, in turn, round after round, each side writing into its
 * own database of one ClickHouse served over HTTP by another process
 * (local/clickhouse-http-process.ts): the engine's CPU is not this process's, so
 * `process.cpuUsage()` around the consumer is what the Lambda itself spends per batch (base64 and
 * envelope decoding, row conversion, encoding, compression, the HTTP client, the usage insert), as
 * in a Lambda talking to ClickHouse Cloud. `--compression` adds this checkout with its insert
 * bodies uncompressed, gzip level 1 instead of the default, and with the client's own connection.
 *
 * A batch is what one invocation gets: the Kinesis records of 512-span requests (`--spans`; 1 shows
 * the per-invocation cost) from the shared
 * workload, made by the ingest handler's code (not timed). Prints each side's median and lower-quartile
 * CPU µs per span, its ratio to A (of the medians, and the median of the per-round ratios), round
 * trips per invocation and wall time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KinesisStreamRecord } from 'aws-lambda';
import * as consumerB from '../functions/hot-writer/consumer.js';
import type { RemoteClientOptions } from '../functions/shared/clickhouse/connect.js';
import * as connectB from '../functions/shared/clickhouse/connect.js';
import * as writerB from '../functions/shared/clickhouse/writer.js';
import * as samplerB from '../functions/shared/sampling/clickhouse-trace-sampler.js';
import * as usageB from '../functions/shared/usage/usage.js';
import { spawnClickHouseHttp } from '../local/clickhouse-http-process.js';
import { traceRecordMaker } from './workload.js';

const args = process.argv.slice(2);
const other = args.find((a) => !a.startsWith('--'));
if (!other) {
  console.error(
    'usage: npx tsx bench/hot-writer-ab.ts <other checkout> [--rounds N] [--warmup N] [--spans N] [--requests 1,4] [--compression]',
  );
  process.exit(2);
}
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? (args[at + 1] ?? fallback) : fallback;
};
const ROUNDS = Number(option('--rounds', '12'));
const RETENTION_DAYS = 3650;
/** Spans per request: 512 by default; 1 shows the per-invocation cost alone. */
const REQUEST_SPANS = Number(option('--spans', '512'));
/** Requests per invocation, one run each. */
const REQUESTS = option('--requests', '1,4').split(',').map(Number);
/** Unmeasured rounds first (JIT warm-up): a 1-span run needs more than a 512-span one. */
const WARMUP = Number(option('--warmup', '2'));

interface Code {
  readonly consumer: typeof consumerB;
  readonly connect: typeof connectB;
  readonly writer: typeof writerB;
  readonly sampler: typeof samplerB;
  readonly usage: typeof usageB;
}
const load = async (rel: string) => import(pathToFileURL(resolve(other, rel)).href);
const codeA: Code = {
  consumer: await load('functions/hot-writer/consumer.ts'),
  connect: await load('functions/shared/clickhouse/connect.ts'),
  writer: await load('functions/shared/clickhouse/writer.ts'),
  sampler: await load('functions/shared/sampling/clickhouse-trace-sampler.ts'),
  usage: await load('functions/shared/usage/usage.ts'),
};
const codeB: Code = {
  consumer: consumerB,
  connect: connectB,
  writer: writerB,
  sampler: samplerB,
  usage: usageB,
};

/** The Kinesis records of `requests` workload requests, as the ingest handler writes them. */
const invocation = traceRecordMaker(REQUEST_SPANS);

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

interface Side {
  readonly name: string;
  readonly client: ClickHouseClient;
  readonly run: (records: KinesisStreamRecord[]) => ReturnType<typeof consumerB.consumeKinesisRecords>;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-hot-writer-ab-'));
const server = await spawnClickHouseHttp({
  path: dir,
  hotRetentionDays: RETENTION_DAYS,
  databases: ['ab_a', 'ab_b', 'ab_none', 'ab_gzip1', 'ab_client'],
});
const credentials = { url: server.url, username: 'default', password: '', database: 'default' };

/** A side as the hot-writer handler composes it: its client options, writer, usage sink, sampler. */
function side(name: string, code: Code, database: string, options: RemoteClientOptions): Side {
  const client = code.connect.createRemoteClickHouse(credentials, options);
  const writer = new code.writer.ClickHouseTelemetryWriter(client, {
    database,
    hotRetentionDays: RETENTION_DAYS,
  });
  const usage = new code.usage.ClickHouseUsageSink(client, database);
  const sampler = new code.sampler.ClickHouseTraceSampler(client, {
    database,
    hotRetentionDays: RETENTION_DAYS,
  });
  const deadLetters = { put: async () => {} };
  return {
    name,
    client,
    run: (records) => code.consumer.consumeKinesisRecords(records, { writer, deadLetters, usage, sampler }),
  };
}
// The handler's client options where the checkout has them (HOT_WRITER_CLIENT_OPTIONS), else the default.
const handlerOptions = (code: Code): RemoteClientOptions =>
  (code.connect as { HOT_WRITER_CLIENT_OPTIONS?: RemoteClientOptions }).HOT_WRITER_CLIENT_OPTIONS ?? {};
const sides: Side[] = [
  side(`A ${other}`, codeA, 'ab_a', handlerOptions(codeA)),
  side('B this checkout', codeB, 'ab_b', handlerOptions(codeB)),
];
if (args.includes('--compression')) {
  sides.push(
    side('B, uncompressed', codeB, 'ab_none', { ...handlerOptions(codeB), requestCompression: false }),
  );
  sides.push(
    side('B, gzip 1', codeB, 'ab_gzip1', {
      ...handlerOptions(codeB),
      requestCompression: { codec: 'gzip', level: 1 },
    }),
  );
  sides.push(side('B, client connection', codeB, 'ab_client', {}));
}

try {
  const table: Record<string, unknown>[] = [];
  const batch0 = new Map<number, number>();
  for (const requests of REQUESTS) {
    const spans = requests * REQUEST_SPANS;
    const cpu = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    const wall = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    const trips = new Map<string, number>();
    let seed = requests * 10_000;
    for (let round = -WARMUP; round < ROUNDS; round++) {
      const batch = await invocation(requests, seed++);
      batch0.set(requests, batch.length);
      // Alternate which side goes first: neither always meets a warm or cold server.
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const c0 = cpuMicros();
        const t0 = performance.now();
        const out = await side.run(batch);
        const c = cpuMicros() - c0;
        const t = performance.now() - t0;
        const r = out.write;
        if (!r || out.response.batchItemFailures.length > 0 || r.stats.rowsInserted !== spans)
          throw new Error(
            `${side.name}: ${r?.stats.rowsInserted} rows of ${spans} (${out.errors.map(String)})`,
          );
        if (round < 0) continue;
        cpu.get(side.name)!.push(c / spans);
        wall.get(side.name)!.push(t);
        // The writer's round trips plus the usage insert (a request's usage rides on its first envelope).
        trips.set(side.name, r.stats.roundTrips + 1);
      }
    }
    const base = median(cpu.get(sides[0]!.name)!);
    const baseRounds = cpu.get(sides[0]!.name)!;
    for (const side of sides) {
      const m = median(cpu.get(side.name)!);
      // Paired by round (both sides met the same load): steadier than the ratio of the medians.
      const paired = median(cpu.get(side.name)!.map((x, i) => x / baseRounds[i]!));
      const sorted = [...cpu.get(side.name)!].sort((a, b) => a - b);
      table.push({
        'spans/invocation': spans,
        side: side.name,
        'CPU µs/span (median)': Number(m.toFixed(2)),
        'CPU µs/invocation': Math.round(m * spans),
        // The lower quartile: the rounds least slowed by other work on a shared machine.
        p25: Number((sorted[Math.floor(sorted.length / 4)] ?? Number.NaN).toFixed(2)),
        'vs A': Number((m / base).toFixed(3)),
        'vs A, paired': Number(paired.toFixed(3)),
        'round trips': trips.get(side.name),
        records: batch0.get(requests),
        'wall ms (median)': Number(median(wall.get(side.name)!).toFixed(1)),
      });
    }
  }
  console.log(
    `${ROUNDS} rounds, sides in turn; one ClickHouse over HTTP in another process (pid ${server.pid})`,
  );
  console.table(table);
} finally {
  for (const side of sides) await side.client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
