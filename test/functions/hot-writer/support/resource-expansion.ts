import { readFileSync, writeFileSync } from 'node:fs';
import type { KinesisStreamRecord } from 'aws-lambda';
import { packEnvelopes } from '../../../../functions/shared/envelope/envelope.js';
import { decodeOtlp } from '../../../../functions/shared/otlp/decode.js';
import { flatten } from '../../../../functions/shared/rows/flatten.js';

/**
 * Issue #17's hot-writer case: 1,000 log records under one resource carrying 63 attributes of
 * 4 KB each (random, so they do not compress away; ~291 KB as a gzip'd request), turned into
 * stream records the way ingest does (decode, flatten, pack). Every row's text repeats the
 * resource: ~252 MB of resource-attribute text if the rows were written out whole.
 */
export const RESOURCE_EXPANSION = { logs: 1000, attributes: 63, valueBytes: 4096 } as const;

export function resourceExpansionRecords(nowMs = Date.now()): KinesisStreamRecord[] {
  let seed = 17;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const value = () =>
    Array.from({ length: RESOURCE_EXPANSION.valueBytes }, () => alphabet[rand() % 64]).join('');
  const attributes = [
    { key: 'service.name', value: { stringValue: 'expander' } },
    ...Array.from({ length: RESOURCE_EXPANSION.attributes - 1 }, (_, i) => ({
      key: `big.${i}`,
      value: { stringValue: value() },
    })),
  ];
  const t = BigInt(nowMs - 1000) * 1_000_000n;
  const request = {
    resourceLogs: [
      {
        resource: { attributes },
        scopeLogs: [
          {
            logRecords: Array.from({ length: RESOURCE_EXPANSION.logs }, (_, i) => ({
              timeUnixNano: String(t + BigInt(i)),
              body: { stringValue: `log ${i}` },
            })),
          },
        ],
      },
    ],
  };
  const otlp = decodeOtlp('logs', new TextEncoder().encode(JSON.stringify(request)), 'json');
  const receivedAtNs = String(BigInt(nowMs) * 1_000_000n);
  const { batches } = flatten({ tenant: 'acme', otlp, receivedAtNs });
  return packEnvelopes(
    'acme',
    'logs',
    batches,
    {},
    { request: 'resource-expansion', firstOrdinal: 0, receivedAtNs },
  ).map((env, i) => ({
    eventID: `shardId-000000000000:${1000 + i}`,
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/otel-stream',
    kinesis: { sequenceNumber: String(1000 + i), data: Buffer.from(env.data).toString('base64') },
  })) as unknown as KinesisStreamRecord[];
}

/**
 * Run as a child (`tsx resource-expansion.ts <clickhouse url> <records file> <result file>`): the
 * hot writer's consumer writes the records over HTTP with the production client; the result file
 * gets the outcome and the process's peak RSS during the write alone (VmHWM reset before it).
 */
async function child(url: string, recordsFile: string, resultFile: string): Promise<void> {
  const { consumeKinesisRecords } = await import('../../../../functions/hot-writer/consumer.js');
  const { createRemoteClickHouse, HOT_WRITER_CLIENT_OPTIONS } = await import(
    '../../../../functions/shared/clickhouse/connect.js'
  );
  const { ClickHouseTelemetryWriter } = await import('../../../../functions/shared/clickhouse/writer.js');
  const records = JSON.parse(readFileSync(recordsFile, 'utf8')) as KinesisStreamRecord[];
  // The hot-writer handler's client (its lean connection).
  const client = createRemoteClickHouse(
    { url, username: 'default', password: '', database: 'default' },
    HOT_WRITER_CLIENT_OPTIONS,
  );
  await client.ping();
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  // Linux: writing 5 to clear_refs resets the high-water mark to the current RSS.
  writeFileSync('/proc/self/clear_refs', '5');
  const cpu = process.cpuUsage();
  const outcome = await consumeKinesisRecords(records, {
    writer: new ClickHouseTelemetryWriter(client),
    deadLetters: { put: () => Promise.reject(new Error('nothing should be dead-lettered')) },
  });
  const used = process.cpuUsage(cpu);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  await client.close();
  writeFileSync(
    resultFile,
    JSON.stringify({
      failures: outcome.response.batchItemFailures.length,
      errors: outcome.errors.map((e) => `${e.message} ${String(e.cause ?? '')}`),
      stats: outcome.write?.stats,
      cpuMs: (used.user + used.system) / 1000,
      baselineMB: baseline / 1024 / 1024,
      peakMB: Number(hwm?.[1]) / 1024,
    }),
  );
}

const [, script, url, recordsFile, resultFile] = process.argv;
if (script?.endsWith('resource-expansion.ts') && url && recordsFile && resultFile) {
  await child(url, recordsFile, resultFile);
}
