import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { type AlertsApi, type AlertsApiDeps, createAlertsApi } from '../shared/alerts/alerts-api.js';
import type { ChannelSecretStore } from '../shared/alerts/channel-secrets.js';
import {
  DynamoAlertConfigStore,
  DynamoAlertHistoryStore,
} from '../shared/alerts/dynamo-alert-config-store.js';
import { DynamoAlertStateStore } from '../shared/alerts/dynamo-alert-state-store.js';
import { FileRuleSource } from '../shared/alerts/rule-source.js';
import { SecretsManagerChannelSecretStore } from '../shared/alerts/secrets-manager-channel-secret-store.js';
import { observability } from '../shared/observability/middleware.js';
import { CachedTenantDirectory } from '../shared/tenants/directory.js';
import { DynamoWindowRateLimiter } from '../shared/tenants/dynamo-rate-limiter.js';
import { DynamoTenantDirectory } from '../shared/tenants/dynamo-tenant-directory.js';
import { TokenBucketRateLimiter } from '../shared/tenants/rate-limiter.js';
import { type AlertsApiConfig, alertsApiConfig } from './config.js';

/**
 * The alerts API Lambda: API Gateway HTTP API (payload v2) /v1/alerts/... in, JSON out. Wiring
 * only; the rules live in ../shared/alerts/alerts-api.ts.
 */

export interface AlertsApiHandlerDeps {
  /** The API's ports, or a function building them on the first request. */
  readonly api: AlertsApiDeps | (() => AlertsApiDeps);
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

export function createAlertsApiHandler(deps: AlertsApiHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();
  let api: AlertsApi | undefined;

  const lambdaHandler = async (
    event: APIGatewayProxyEventV2,
    _context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    try {
      api ??= createAlertsApi(typeof deps.api === 'function' ? deps.api() : deps.api);
      const body =
        event.body === undefined
          ? undefined
          : event.isBase64Encoded
            ? Buffer.from(event.body, 'base64').toString('utf8')
            : event.body;
      const res = await api({
        method: event.requestContext.http.method,
        path: event.rawPath,
        headers: event.headers ?? {},
        query: { ...event.queryStringParameters },
        ...(body !== undefined && { body }),
      });
      const { operation, tenant } = res.log;
      if (operation) metrics.addDimension('operation', operation);
      metrics.addMetric('Requests', MetricUnit.Count, 1);
      logger.info('alerts api', { operation, tenant, status: res.status });
      return { statusCode: res.status, headers: res.headers, body: JSON.stringify(res.body) };
    } catch (err) {
      if (err instanceof Error) logger.error('alerts api failed unexpectedly', err);
      else logger.error('alerts api failed unexpectedly', { error: String(err) });
      metrics.addMetric('Failures', MetricUnit.Count, 1);
      return {
        statusCode: 500,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: { code: 'internal', message: 'internal error' } }),
      };
    }
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

/** What the alerts API talks to: Lambda's defaults, or local mode's emulator and stand-ins. */
export interface AlertsApiClients {
  readonly dynamo: DynamoDBClient;
  /** Channel secrets: Secrets Manager in AWS; local mode has none, a file stands in (ADR 0010). */
  readonly secrets: ChannelSecretStore;
  /** Local receivers (a webhook on 127.0.0.1) are plain HTTP; AWS requires HTTPS. @default false */
  readonly allowHttpUrls?: boolean;
}

function lambdaClients(config: AlertsApiConfig, tracer: Tracer): AlertsApiClients {
  return {
    dynamo: tracer.captureAWSv3Client(new DynamoDBClient({})),
    secrets: new SecretsManagerChannelSecretStore(
      tracer.captureAWSv3Client(new SecretsManagerClient({})),
      config.ALERT_SECRET_PREFIX,
    ),
  };
}

/**
 * The alerts API's one composition, from the validated config and the clients, built on the first
 * request (local mode: local/functions.ts).
 */
export function depsFromConfig(
  config: () => AlertsApiConfig = alertsApiConfig,
  clients?: AlertsApiClients,
): AlertsApiHandlerDeps {
  const tracer = new Tracer();
  const logger = new Logger();
  return {
    logger,
    tracer,
    metrics: new Metrics(),
    api: (): AlertsApiDeps => {
      const c = config();
      const { dynamo, secrets, allowHttpUrls } = clients ?? lambdaClients(c, tracer);
      const defaultLimits = { itemsPerSecond: c.QUERY_REQUESTS_PER_SECOND, burst: c.QUERY_BURST };
      return {
        tenants: new CachedTenantDirectory(new DynamoTenantDirectory(dynamo, c.TENANTS_TABLE)),
        store: new DynamoAlertConfigStore(dynamo, c.ALERT_CONFIG_TABLE),
        history: new DynamoAlertHistoryStore(dynamo, c.ALERT_HISTORY_TABLE),
        state: new DynamoAlertStateStore(dynamo, c.ALERT_STATE_TABLE),
        files: new FileRuleSource(c.ALERT_RULES_DIR),
        secrets,
        ...(allowHttpUrls && { allowHttpUrls }),
        rateLimiter: c.RATE_LIMIT_TABLE
          ? new DynamoWindowRateLimiter({
              client: dynamo,
              tableName: c.RATE_LIMIT_TABLE,
              defaultLimits,
              onError: (err) =>
                logger.warn('rate limiter unavailable; request allowed', { error: String(err) }),
            })
          : new TokenBucketRateLimiter({ defaultLimits }),
      };
    },
  };
}

export const handler = createAlertsApiHandler(depsFromConfig());
