/**
 * The stream alert evaluator's cost inputs: duration of an aggregating invocation (1,000 records)
 * and of a final invocation deciding N rules with data, measured on dynalite (slower than
 * DynamoDB, so the durations are upper bounds), then Lambda GB-s and requests per month.
 *
 *   npx tsx bench/stream-alerts-cost.ts [--rules 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KinesisStreamRecord, KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import {
  DynamoAlertStateStore,
  ensureAlertStateTable,
} from '../functions/shared/alerts/dynamo-alert-state-store.js';
import { STREAM_ALERT_WINDOW_SECONDS } from '../functions/shared/alerts/evaluation-path.js';
import { StaticRuleSource } from '../functions/shared/alerts/rule-source.js';
import { RuleFileSchema } from '../functions/shared/alerts/rules.js';
import { DynamoAlertSliceStore } from '../functions/shared/alerts/slice-store.js';
import { createStreamEvaluator } from '../functions/shared/alerts/stream-evaluator.js';
import { packEnvelopes } from '../functions/shared/envelope/envelope.js';
import { physicalColumns } from '../functions/shared/schema/columns.js';
import { localDynamoClient } from '../local/aws-clients.js';
import { startEmulators } from '../local/emulators.js';

const arg = process.argv.indexOf('--rules');
const RULES = arg > 0 ? Number(process.argv[arg + 1]) : 1000;
const W = STREAM_ALERT_WINDOW_SECONDS * 1000;
const MEMORY_GB = 0.5; // the CDK function's memorySize (512 MB)
// AWS Lambda pricing, arm64, us-east-1 (https://aws.amazon.com/lambda/pricing/, read 2026-12-07):
const PRICE_GB_S = 0.0000133334;
const PRICE_PER_MILLION_REQUESTS = 0.2;

const dir = mkdtempSync(join(tmpdir(), 'bench-stream-cost-'));
const emulators = await startEmulators({ dataDir: dir });
const dynamo = localDynamoClient(emulators.dynamoEndpoint);
await ensureAlertStateTable(dynamo, 'state');
const services = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
const file = RuleFileSchema.parse({
  tenant: 'acme',
  rules: Array.from({ length: RULES }, (_, i) => ({
    id: `r${i}`,
    name: `rule ${i}`,
    severity: 'warning',
    runbook: 'https://runbooks.example.com/x',
    kind: 'error_ratio',
    service: services[i % services.length],
    window: '5m',
    threshold: 0.5,
  })),
});
const evaluator = createStreamEvaluator({
  rules: new StaticRuleSource([file]),
  state: new DynamoAlertStateStore(dynamo, 'state'),
  slices: new DynamoAlertSliceStore(dynamo, 'state'),
  publisher: { publish: async () => undefined },
  queryBaseUrl: 'http://127.0.0.1:4318',
});

function records(end: number, n: number): KinesisStreamRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const service = services[i % services.length]!;
    const rows = Array.from({ length: 50 }, (_, j) => {
      const row: Record<string, unknown> = {};
      for (const c of physicalColumns('otel_traces'))
        row[c.name] = c.type === 'map' ? {} : c.nestedIn ? [] : '';
      return {
        ...row,
        TenantId: 'acme',
        Timestamp: `${BigInt(end - W + 1 + j) * 1_000_000n}`,
        ServiceName: service,
        SpanName: 'GET /',
        SpanKind: 'Server',
        ParentSpanId: '',
        Duration: 1_000_000 + j,
        StatusCode: j % 10 === 0 ? 'Error' : 'Ok',
        TraceId: `t${i}-${j}`,
        SpanId: `s${i}-${j}`,
        DroppedAttributesCount: 0,
        DroppedEventsCount: 0,
        DroppedLinksCount: 0,
      };
    });
    const [packed] = packEnvelopes('acme', 'traces', [
      { table: 'otel_traces', rowCount: rows.length, columns: columnsOf(rows) },
    ]);
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: `acme:${service}`,
        sequenceNumber: String(i),
        data: Buffer.from(packed!.data).toString('base64'),
        approximateArrivalTimestamp: (end - W / 2) / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${i}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/x',
      awsRegion: 'us-east-1',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/x',
    };
  });
}

function columnsOf(rows: Record<string, unknown>[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const c of physicalColumns('otel_traces')) out[c.name] = rows.map((r) => r[c.name]);
  return out;
}

const event = (end: number, rs: KinesisStreamRecord[], state: Record<string, unknown>, final: boolean) =>
  ({
    Records: rs,
    window: { start: new Date(end - W).toISOString(), end: new Date(end).toISOString() },
    state,
    shardId: 'shardId-000000000000',
    isFinalInvokeForWindow: final,
    isWindowTerminatedEarly: false,
  }) as KinesisStreamTumblingWindowEvent & { shardId: string };

const aggregateMs: number[] = [];
const finalMs: number[] = [];
let end = Math.floor(Date.now() / W) * W - 20 * W;
for (let round = 0; round < 4; round++, end += W) {
  const rs = records(end, 1000);
  let t = performance.now();
  const agg = await evaluator.handle(event(end, rs, {}, false));
  aggregateMs.push(performance.now() - t);
  t = performance.now();
  await evaluator.handle(event(end, [], agg.response.state, true));
  finalMs.push(performance.now() - t);
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const agg = med(aggregateMs);
const fin = med(finalMs);
// Per shard and window: one aggregating invocation per batch (assume one, the busy case is
// proportional to traffic and priced by the hot writer's figures) and one final invocation.
const windowsPerMonth = (30 * 86_400_000) / W;
const gbs = (windowsPerMonth * (agg + fin) * MEMORY_GB) / 1000;
const requests = windowsPerMonth * 2;
const dollars = gbs * PRICE_GB_S + (requests / 1e6) * PRICE_PER_MILLION_REQUESTS;
console.log(
  `${RULES} rules with data; aggregating invocation (1000 records of 50 spans): ${agg.toFixed(0)} ms; final invocation: ${fin.toFixed(0)} ms (dynalite)`,
);
console.log(
  `per shard per month: ${requests.toLocaleString()} requests, ${gbs.toFixed(0)} GB-s at ${MEMORY_GB * 1024} MB = $${dollars.toFixed(2)} (arm64 us-east-1: $${PRICE_GB_S}/GB-s, $${PRICE_PER_MILLION_REQUESTS}/M requests)`,
);
await emulators.close();
rmSync(dir, { recursive: true, force: true });
