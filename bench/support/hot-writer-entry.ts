/**
 * The hot writer's consumer as its Lambda handler composes it (the lean client, the writer, the
 * usage sink, the trace sampler), for bench/hot-writer-bundled.ts, which bundles this file the way
 * the function is bundled and runs it in a `node` process of its own:
 *   node entry.mjs <records.jsonl> <ClickHouse URL> <database> <warm-up invocations>
 * Each line of the file is one invocation's Kinesis records. Prints one JSON line per measured
 * invocation: its spans and the process's CPU µs around `consumeKinesisRecords`.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { KinesisStreamRecord } from 'aws-lambda';
import { consumeKinesisRecords } from '../../functions/hot-writer/consumer.js';
import {
  createRemoteClickHouse,
  HOT_WRITER_CLIENT_OPTIONS,
} from '../../functions/shared/clickhouse/connect.js';
import { ClickHouseTelemetryWriter } from '../../functions/shared/clickhouse/writer.js';
import { ClickHouseTraceSampler } from '../../functions/shared/sampling/clickhouse-trace-sampler.js';
import { ClickHouseUsageSink } from '../../functions/shared/usage/usage.js';

const [file, url, database, warmupText] = process.argv.slice(2);
if (!file || !url || !database)
  throw new Error('usage: entry.mjs <records.jsonl> <url> <database> <warm-up>');
const warmup = Number(warmupText ?? 0);
const RETENTION_DAYS = 3650;

const client = createRemoteClickHouse(
  { url, username: 'default', password: '', database: 'default' },
  HOT_WRITER_CLIENT_OPTIONS,
);
const ports = {
  writer: new ClickHouseTelemetryWriter(client, { database, hotRetentionDays: RETENTION_DAYS }),
  usage: new ClickHouseUsageSink(client, database),
  sampler: new ClickHouseTraceSampler(client, { database, hotRetentionDays: RETENTION_DAYS }),
  deadLetters: { put: async () => {} },
};

let n = 0;
// One invocation's records at a time: the file's other lines never sit in this heap.
for await (const line of createInterface({ input: createReadStream(file) })) {
  const records = JSON.parse(line) as KinesisStreamRecord[];
  const c0 = process.cpuUsage();
  const out = await consumeKinesisRecords(records, ports);
  const c = process.cpuUsage(c0);
  const spans = out.write?.stats.rowsInserted ?? 0;
  if (out.response.batchItemFailures.length > 0 || spans === 0)
    throw new Error(`invocation ${n}: ${spans} rows, ${out.errors.map(String).join('; ')}`);
  if (n++ >= warmup) console.log(JSON.stringify({ spans, cpuUs: c.user + c.system }));
}
await client.close();
