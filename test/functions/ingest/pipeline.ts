import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { createIngestHandler } from '../../../functions/ingest/handler.js';
import type { IngestPorts } from '../../../functions/ingest/ingest.js';
import { type UnpackedEnvelope, unpackEnvelope } from '../../../functions/shared/envelope/envelope.js';
import { KinesisStreamSink } from '../../../functions/shared/stream/kinesis-stream-sink.js';
import type { TenantLimits } from '../../../functions/shared/tenants/directory.js';
import { CachedTenantDirectory } from '../../../functions/shared/tenants/directory.js';
import {
  DynamoTenantDirectory,
  ensureTenantsTable,
  registerKey,
} from '../../../functions/shared/tenants/dynamo-tenant-directory.js';
import { TokenBucketRateLimiter } from '../../../functions/shared/tenants/rate-limiter.js';
import { localDynamoClient, localKinesisClient } from '../../../local/aws-clients.js';
import { type Emulators, startEmulators } from '../../../local/emulators.js';
import { type HttpGateway, startHttpGateway } from '../../../local/http-gateway.js';
import { createStream, type ReadRecord, readAllRecords } from '../shared/stream/kinesis-helpers.js';

/**
 * The ingest path as local mode runs it: kinesalite + dynalite, the real handler behind the local
 * HTTP gateway, a registered tenant key. Each test file starts its own (vitest forks per file).
 */

/** Captures what the handler publishes instead of printing EMF to stdout. */
export class CapturingMetrics extends Metrics {
  readonly published: Record<string, unknown>[] = [];

  override publishStoredMetrics(): this {
    if (this.hasStoredMetrics())
      this.published.push(this.serializeMetrics() as unknown as Record<string, unknown>);
    this.clearMetrics();
    this.clearDimensions();
    this.clearMetadata();
    return this;
  }
}

export interface PipelineOptions {
  /** @default 4 */
  readonly shards?: number;
  readonly tenantId?: string;
  readonly limits?: TenantLimits;
  /** Overrides of the ports the handler is built with (caps, flatten options, a different stream…). */
  readonly ports?: (
    defaults: IngestPorts,
    ctx: { kinesis: KinesisClient; streamName: string },
  ) => IngestPorts;
  /** Lambda timeout the gateway gives the handler. @default 10_000 */
  readonly timeoutMs?: number;
}

export interface ReadEnvelope extends ReadRecord {
  readonly envelope: UnpackedEnvelope;
}

export interface Pipeline {
  readonly url: string;
  readonly apiKey: string;
  readonly tenantId: string;
  readonly kinesis: KinesisClient;
  readonly dynamo: DynamoDBClient;
  readonly streamName: string;
  readonly emulators: Emulators;
  readonly metrics: CapturingMetrics;
  readonly gateway: HttpGateway;
  /** Every record in the stream so far, unpacked. */
  readEnvelopes(): Promise<ReadEnvelope[]>;
  close(): Promise<void>;
}

export const TENANTS_TABLE = 'tenants';
export const STREAM_NAME = 'telemetry';

export async function startPipeline(options: PipelineOptions = {}): Promise<Pipeline> {
  const dir = await mkdtemp(join(tmpdir(), 'ingest-'));
  const emulators = await startEmulators({ dataDir: dir });
  const kinesis = localKinesisClient(emulators.kinesisEndpoint);
  const dynamo = localDynamoClient(emulators.dynamoEndpoint);
  await createStream(kinesis, STREAM_NAME, options.shards ?? 4);
  await ensureTenantsTable(dynamo, TENANTS_TABLE);
  const tenantId = options.tenantId ?? 'acme';
  const apiKey = 'test-key-acme-0123456789';
  await registerKey(dynamo, TENANTS_TABLE, {
    tenantId,
    key: apiKey,
    ...(options.limits ? { limits: options.limits } : {}),
  });

  const defaults: IngestPorts = {
    tenants: new CachedTenantDirectory(new DynamoTenantDirectory(dynamo, TENANTS_TABLE)),
    rateLimiter: new TokenBucketRateLimiter(),
    stream: new KinesisStreamSink(kinesis, { streamName: STREAM_NAME }),
  };
  const ports = options.ports ? options.ports(defaults, { kinesis, streamName: STREAM_NAME }) : defaults;
  const metrics = new CapturingMetrics({ namespace: 'test', serviceName: 'ingest' });
  const handler = createIngestHandler({
    ports,
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics,
    tracer: new Tracer({ enabled: false }),
  });
  const routes = ['/v1/traces', '/v1/logs', '/v1/metrics'].map((path) => ({
    method: 'POST',
    path,
    handler,
    functionName: 'ingest',
  }));
  const gateway = await startHttpGateway({ port: 0, routes, timeoutMs: options.timeoutMs ?? 10_000 });

  return {
    url: gateway.url,
    apiKey,
    tenantId,
    kinesis,
    dynamo,
    streamName: STREAM_NAME,
    emulators,
    metrics,
    gateway,
    async readEnvelopes() {
      const records = await readAllRecords(kinesis, STREAM_NAME);
      return records.map((r) => ({ ...r, envelope: unpackEnvelope(r.data) }));
    },
    async close() {
      await gateway.close();
      kinesis.destroy();
      dynamo.destroy();
      await emulators.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Sum of row counts per table across envelopes. */
export function rowCounts(envelopes: readonly ReadEnvelope[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of envelopes)
    for (const b of e.envelope.batches) counts[b.table] = (counts[b.table] ?? 0) + b.rowCount;
  return counts;
}
