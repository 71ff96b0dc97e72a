import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { AthenaClient } from '@aws-sdk/client-athena';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ClickHouseClient } from '@clickhouse/client';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  clickHouseClientProvider,
  clickHouseSourceFromEnv,
} from '../shared/clickhouse/secrets-manager-client.js';
import { observability } from '../shared/observability/middleware.js';
import { AthenaTelemetryReader } from '../shared/query/athena-reader.js';
import { ClickHouseTelemetryReader, HotTableSources, hotRollups } from '../shared/query/clickhouse-reader.js';
import { CursorCodec } from '../shared/query/cursor.js';
import type { TelemetryReader } from '../shared/query/model.js';
import { createQueryApi, type QueryApi, type QueryApiDeps } from '../shared/query/query-api.js';
import { QUERY_ROUTES } from '../shared/query/routes.js';
import { CachedTenantDirectory } from '../shared/tenants/directory.js';
import { DynamoWindowRateLimiter } from '../shared/tenants/dynamo-rate-limiter.js';
import { DynamoTenantDirectory } from '../shared/tenants/dynamo-tenant-directory.js';
import { TokenBucketRateLimiter } from '../shared/tenants/rate-limiter.js';
import { ClickHouseUsageReader } from '../shared/usage/usage.js';
import { type QueryConfig, queryConfig } from './config.js';

/**
 * The query Lambda: API Gateway HTTP API (payload v2) GET /v1/query/... in, JSON out. Wiring only;
 * the rules live in ../shared/query/query-api.ts.
 */

/** Method and path template of every route, for API Gateway and local mode's gateway. */
export const queryRoutes: ReadonlyArray<{ readonly method: 'GET'; readonly path: string }> = QUERY_ROUTES.map(
  (r) => ({ method: r.method, path: r.path }),
);

export interface QueryHandlerDeps {
  /** The API's ports, or a function building them on the first request (AWS clients need the environment). */
  readonly api: QueryApiDeps | (() => Promise<QueryApiDeps>);
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

export function createQueryHandler(deps: QueryHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();
  let api: Promise<QueryApi> | undefined;
  const getApi = () => {
    api ??= (async () => createQueryApi(typeof deps.api === 'function' ? await deps.api() : deps.api))();
    // A failed build (e.g. a secret not readable yet) is retried by the next request.
    api.catch(() => {
      api = undefined;
    });
    return api;
  };

  const lambdaHandler = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const query: Record<string, string | undefined> = { ...event.queryStringParameters };
    try {
      const res = await (await getApi())({
        method: event.requestContext.http.method,
        path: event.rawPath,
        headers: event.headers ?? {},
        query,
        ...(event.pathParameters && { pathParameters: event.pathParameters }),
        remainingMs: context.getRemainingTimeInMillis(),
      });
      const { operation, tenant, tiers } = res.log;
      if (operation) metrics.addDimension('operation', operation);
      metrics.addMetric('Requests', MetricUnit.Count, 1);
      if (res.status >= 500) metrics.addMetric('QueryFailures', MetricUnit.Count, 1);
      for (const t of tiers ?? []) {
        metrics.addMetric(`${t.tier === 'hot' ? 'Hot' : 'Cold'}TierQueries`, MetricUnit.Count, t.queries);
        if (t.bytesScanned !== undefined)
          metrics.addMetric('AthenaBytesScanned', MetricUnit.Bytes, t.bytesScanned);
      }
      const fields = { operation, tenant, status: res.status, tiers };
      if (res.status >= 500) logger.warn('query failed', { ...fields, body: res.body });
      else logger.info('query', fields);
      return { statusCode: res.status, headers: res.headers, body: res.bodyText ?? JSON.stringify(res.body) };
    } catch (err) {
      if (err instanceof Error) logger.error('query failed unexpectedly', err);
      else logger.error('query failed unexpectedly', { error: String(err) });
      metrics.addMetric('QueryFailures', MetricUnit.Count, 1);
      return {
        statusCode: 500,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: 'internal', message: 'internal error' }),
      };
    }
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

/** What the query API talks to: Lambda's defaults, or local mode's engine and emulators. */
export interface QueryClients {
  readonly clickhouse: () => Promise<ClickHouseClient>;
  readonly dynamo: DynamoDBClient;
  /**
   * The cold tier. Lambda: Athena over the Glue tables when the config names them. Local mode has
   * no Athena: its stand-in reads the same Parquet through the embedded engine (ADR 0010).
   */
  readonly cold?: TelemetryReader;
}

function lambdaClients(config: QueryConfig, tracer: Tracer): QueryClients {
  return {
    clickhouse: clickHouseClientProvider(clickHouseSourceFromEnv(config), {
      requestTimeoutMs: config.QUERY_TIMEOUT_MS + 2_000,
      application: 'otlp-query',
    }),
    dynamo: tracer.captureAWSv3Client(new DynamoDBClient({})),
    ...(config.ATHENA_WORKGROUP &&
      config.GLUE_DATABASE && {
        cold: new AthenaTelemetryReader(tracer.captureAWSv3Client(new AthenaClient({})), {
          workgroup: config.ATHENA_WORKGROUP,
          database: config.GLUE_DATABASE,
        }),
      }),
  };
}

/**
 * The query API's one composition, from the validated config and the clients, built on the first
 * request, once per instance. The Lambda passes its environment and the AWS clients; local mode
 * the same function's config and its local clients (local/functions.ts).
 */
export function depsFromConfig(
  config: () => QueryConfig = queryConfig,
  clients?: (config: QueryConfig) => QueryClients,
): QueryHandlerDeps {
  const tracer = new Tracer();
  const logger = new Logger();
  return {
    logger,
    metrics: new Metrics(),
    tracer,
    api: async (): Promise<QueryApiDeps> => {
      const c = config();
      const { dynamo, cold, ...rest } = clients ? clients(c) : lambdaClients(c, tracer);
      const clickhouse = await rest.clickhouse();
      const database = c.CLICKHOUSE_SECRET_ARN ? undefined : c.CLICKHOUSE_DATABASE;
      const secret = c.CURSOR_SECRET_ARN
        ? await getSecret(c.CURSOR_SECRET_ARN, { maxAge: 3_600 })
        : c.CURSOR_SECRET;
      if (typeof secret !== 'string') throw new Error('the cursor secret is not a string');
      const defaultLimits = { itemsPerSecond: c.QUERY_REQUESTS_PER_SECOND, burst: c.QUERY_BURST };
      return {
        tenants: new CachedTenantDirectory(new DynamoTenantDirectory(dynamo, c.TENANTS_TABLE)),
        hot: new ClickHouseTelemetryReader(clickhouse, {
          tier: 'hot',
          engine: 'clickhouse',
          sources: new HotTableSources(database),
          rollups: hotRollups(database),
          maxExecutionSeconds: c.CLICKHOUSE_MAX_EXECUTION_SECONDS,
          maxRowsToRead: c.CLICKHOUSE_MAX_ROWS_TO_READ,
          maxBytesToRead: c.CLICKHOUSE_MAX_BYTES_TO_READ,
          maxPageBytes: c.MAX_RESPONSE_BYTES,
        }),
        // One window count per tenant across instances; without the table, one bucket per instance.
        rateLimiter: c.RATE_LIMIT_TABLE
          ? new DynamoWindowRateLimiter({
              client: dynamo,
              tableName: c.RATE_LIMIT_TABLE,
              defaultLimits,
              onError: (err) =>
                logger.warn('query rate limiter unavailable; request allowed', { error: String(err) }),
            })
          : new TokenBucketRateLimiter({ defaultLimits }),
        ...(cold && { cold }),
        cursors: new CursorCodec(secret),
        usage: new ClickHouseUsageReader(clickhouse, database),
        hotRetentionDays: c.HOT_RETENTION_DAYS,
        limits: {
          timeoutMs: c.QUERY_TIMEOUT_MS,
          maxRangeMs: c.MAX_RANGE_DAYS * 86_400_000,
          defaultLookbackMs: c.DEFAULT_LOOKBACK_MINUTES * 60_000,
          maxResponseBytes: c.MAX_RESPONSE_BYTES,
        },
      };
    },
  };
}

export const handler = createQueryHandler(depsFromConfig());
