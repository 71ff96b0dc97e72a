import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import middy from '@middy/core';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { observability } from '../shared/observability/middleware.js';
import { encodeStatus } from '../shared/otlp/responses.js';
import { resolveRowLimits } from '../shared/rows/limits.js';
import { compileRedaction } from '../shared/rows/redact.js';
import type { Signal } from '../shared/schema/columns.js';
import { KinesisStreamSink } from '../shared/stream/kinesis-stream-sink.js';
import { CachedTenantDirectory, type TenantLimits } from '../shared/tenants/directory.js';
import { DynamoWindowRateLimiter } from '../shared/tenants/dynamo-rate-limiter.js';
import { DynamoTenantDirectory } from '../shared/tenants/dynamo-tenant-directory.js';
import {
  EventBridgeQuotaEventSink,
  OncePerDayQuotaEventSink,
  type PutEventsClient,
} from '../shared/tenants/quota-events.js';
import { DEFAULT_TENANT_LIMITS, TokenBucketRateLimiter } from '../shared/tenants/rate-limiter.js';
import { type IngestConfig, ingestConfig } from './config.js';
import {
  createIngest,
  formatForContentType,
  type Ingest,
  type IngestPorts,
  type IngestResponse,
} from './ingest.js';

/**
 * The ingest Lambda: API Gateway HTTP API (payload v2) events for POST /v1/traces|logs|metrics in,
 * OTLP/HTTP responses out. Wiring only; the receiver's rules live in ingest.ts.
 */

export interface IngestHandlerDeps {
  /** The use-case's ports, or a function building them on the first request (keeps imports free of AWS env). */
  readonly ports: IngestPorts | (() => IngestPorts);
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

/** Seconds a client is asked to wait after an unexpected failure. */
const UNEXPECTED_FAILURE_RETRY_AFTER_S = 5;

const SIGNAL_PATHS: Record<string, Signal> = {
  '/v1/traces': 'traces',
  '/v1/logs': 'logs',
  '/v1/metrics': 'metrics',
};

/** The signal for a request path; a stage or custom-domain prefix before /v1/… is allowed. */
export function signalForPath(path: string): Signal | undefined {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  const match = /\/v1\/(traces|logs|metrics)$/.exec(trimmed);
  return match ? SIGNAL_PATHS[match[0]] : undefined;
}

function message(statusCode: number, text: string, headers: Record<string, string> = {}) {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ message: text }),
  } satisfies APIGatewayProxyStructuredResultV2;
}

/** JSON bodies go back as text, protobuf base64-encoded (API Gateway decodes it for the client). */
function toResult(
  res: Pick<IngestResponse, 'status' | 'headers' | 'body'>,
): APIGatewayProxyStructuredResultV2 {
  const isJson = res.headers['content-type'] === 'application/json';
  const buf = Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength);
  return {
    statusCode: res.status,
    headers: res.headers,
    body: isJson ? buf.toString('utf8') : buf.toString('base64'),
    isBase64Encoded: !isJson,
  };
}

export function createIngestHandler(deps: IngestHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();
  let ingest: Ingest | undefined;
  const getIngest = () => {
    ingest ??= createIngest(typeof deps.ports === 'function' ? deps.ports() : deps.ports);
    return ingest;
  };

  const lambdaHandler = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const signal = signalForPath(event.rawPath);
    if (signal === undefined) return message(404, 'Not Found');
    if (event.requestContext.http.method.toUpperCase() !== 'POST') {
      return message(405, 'Method Not Allowed', { allow: 'POST' });
    }
    const body =
      event.body === undefined
        ? new Uint8Array(0)
        : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    metrics.addDimension('signal', signal);

    let res: IngestResponse;
    try {
      res = await getIngest()({
        signal,
        headers: event.headers ?? {},
        body,
        remainingMs: context.getRemainingTimeInMillis(),
      });
    } catch (err) {
      // A bug or an unexpected failure; nothing was acknowledged. OTLP/HTTP clients retry only 429,
      // 502, 503 and 504 (a 500 drops the batch), so answer 503: a transient cause costs a retry,
      // not the data; a lasting one ends with the client's own retry limit.
      if (err instanceof Error) logger.error('ingest failed', err);
      else logger.error('ingest failed', { error: String(err) });
      metrics.addMetric('IngestErrors', MetricUnit.Count, 1);
      const format = formatForContentType(event.headers?.['content-type']) ?? 'json';
      return toResult({
        status: 503,
        headers: {
          'content-type': format === 'json' ? 'application/json' : 'application/x-protobuf',
          'retry-after': String(UNEXPECTED_FAILURE_RETRY_AFTER_S),
        },
        body: encodeStatus(format, 14, 'internal error, retry later'),
      });
    }

    const { stats } = res;
    metrics.addMetric('RequestBytes', MetricUnit.Bytes, stats.requestBytes);
    metrics.addMetric('ItemsAccepted', MetricUnit.Count, stats.accepted);
    metrics.addMetric('ItemsRejected', MetricUnit.Count, stats.rejected);
    metrics.addMetric('EnvelopeBytes', MetricUnit.Bytes, stats.envelopeBytes);
    if (stats.outcome === 'throttled' || stats.outcome === 'unavailable') {
      metrics.addMetric('StreamWriteFailures', MetricUnit.Count, 1);
    }
    const logFields = { signal, status: res.status, ...stats };
    if (res.status >= 500) logger.warn('ingest not acknowledged', logFields);
    else if (res.status === 429 || res.status === 413) logger.info('ingest refused', logFields);
    else logger.debug('ingest done', logFields);
    return toResult(res);
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

/** Limits for tenants without their own: DEFAULT_TENANT_LIMITS, each overridable by the environment. */
export function defaultLimitsFromConfig(
  config: Partial<
    Pick<
      IngestConfig,
      'DEFAULT_ITEMS_PER_SECOND' | 'DEFAULT_BURST' | 'DEFAULT_BYTES_PER_DAY' | 'DEFAULT_ITEMS_PER_DAY'
    >
  >,
): TenantLimits {
  const itemsPerSecond = config.DEFAULT_ITEMS_PER_SECOND ?? DEFAULT_TENANT_LIMITS.itemsPerSecond;
  // A rate set without a burst brings 10 s of itself, as a tenant's own rate does.
  const burst =
    config.DEFAULT_BURST ??
    (config.DEFAULT_ITEMS_PER_SECOND === undefined ? DEFAULT_TENANT_LIMITS.burst : undefined);
  return {
    itemsPerSecond,
    ...(burst !== undefined && { burst }),
    bytesPerDay: config.DEFAULT_BYTES_PER_DAY ?? DEFAULT_TENANT_LIMITS.bytesPerDay,
    ...((config.DEFAULT_ITEMS_PER_DAY ?? DEFAULT_TENANT_LIMITS.itemsPerDay) !== undefined && {
      itemsPerDay: config.DEFAULT_ITEMS_PER_DAY ?? DEFAULT_TENANT_LIMITS.itemsPerDay,
    }),
  };
}

/** The AWS clients the ingest talks to: Lambda's defaults, or local mode's emulators. */
export interface IngestClients {
  /** Our sink retries failed entries within the deadline: the client must not retry (`maxAttempts: 1`). */
  readonly kinesis: KinesisClient;
  readonly dynamo: DynamoDBClient;
  /** The alert bus for quota warnings, made on the first warning (the SDK is imported lazily). */
  readonly eventBridge: () => Promise<PutEventsClient>;
}

function lambdaClients(tracer: Tracer): IngestClients {
  return {
    kinesis: tracer.captureAWSv3Client(
      new KinesisClient({ maxAttempts: 1, requestHandler: new NodeHttpHandler({ connectionTimeout: 2000 }) }),
    ),
    dynamo: tracer.captureAWSv3Client(new DynamoDBClient({})),
    eventBridge: async () => {
      const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge');
      return tracer.captureAWSv3Client(new EventBridgeClient({}));
    },
  };
}

/**
 * The ingest's one composition: ports from the validated config and the clients, built on the
 * first request. The Lambda passes its environment and the AWS clients; local mode the same
 * function's config and clients on the emulators (local/functions.ts).
 */
export function depsFromConfig(
  config: () => IngestConfig = ingestConfig,
  clients?: IngestClients,
): IngestHandlerDeps {
  const logger = new Logger();
  const metrics = new Metrics();
  const tracer = new Tracer();
  const build = (config: IngestConfig): IngestPorts => {
    const { kinesis, dynamo, eventBridge } = clients ?? lambdaClients(tracer);
    const defaultLimits = defaultLimitsFromConfig(config);
    const rateLimiter = config.RATE_LIMIT_TABLE
      ? new DynamoWindowRateLimiter({
          client: dynamo,
          tableName: config.RATE_LIMIT_TABLE,
          defaultLimits,
          ...(config.RATE_LIMIT_FALLBACK_INSTANCES !== undefined && {
            fallbackInstances: config.RATE_LIMIT_FALLBACK_INSTANCES,
          }),
          onError: (err) =>
            logger.warn('rate-limit table unavailable; in-process fallback limits apply', {
              error: String(err),
            }),
        })
      : new TokenBucketRateLimiter({ defaultLimits });
    return {
      tenants: new CachedTenantDirectory(new DynamoTenantDirectory(dynamo, config.TENANTS_TABLE)),
      rateLimiter,
      ...(config.QUOTA_EVENT_BUS && {
        quotaEvents: new OncePerDayQuotaEventSink(
          new EventBridgeQuotaEventSink(eventBridge, config.QUOTA_EVENT_BUS),
        ),
      }),
      onQuotaEventError: (err) => logger.warn('quota warning not sent', { error: String(err) }),
      stream: new KinesisStreamSink(kinesis, {
        streamName: config.STREAM_NAME,
        ...(config.STREAM_ARN && { streamArn: config.STREAM_ARN }),
      }),
      maxBodyBytes: config.MAX_BODY_BYTES,
      maxDecompressedBytes: config.MAX_DECOMPRESSED_BYTES,
      requestCaps: {
        maxItems: config.MAX_ITEMS_PER_REQUEST,
        maxAttributes: config.MAX_ATTRIBUTES_PER_REQUEST,
        maxJsonValues: config.MAX_JSON_VALUES_PER_REQUEST,
        maxExpandedAttributeBytes: config.MAX_EXPANDED_ATTRIBUTE_BYTES,
      },
      deadlineMarginMs: config.DEADLINE_MARGIN_MS,
      flatten: {
        limits: resolveRowLimits({ ...config.ROW_LIMITS, hotRetentionDays: config.HOT_RETENTION_DAYS }),
        redactor: compileRedaction(config.REDACTION_RULES ?? {}),
        logger,
      },
    };
  };
  let ports: IngestPorts | undefined;
  return {
    logger,
    metrics,
    tracer,
    ports: () => {
      ports ??= build(config());
      return ports;
    },
  };
}

export const handler = createIngestHandler(depsFromConfig());
