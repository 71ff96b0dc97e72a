import { admit } from '../tenants/admission.js';
import {
  type Endpoint,
  EndpointContext,
  type EndpointOperation,
  type QueryApiDeps,
  type TierLog,
} from './endpoints/context.js';
import { logHistogram, searchLogs } from './endpoints/logs.js';
import { metricNames, queryMetrics } from './endpoints/metrics.js';
import { listServices, serviceMap, serviceOperations, serviceSeries } from './endpoints/services.js';
import { getTrace, searchTraces } from './endpoints/traces.js';
import { getUsage } from './endpoints/usage.js';
import {
  QueryEngineError,
  QueryParameterError,
  QueryTimeoutError,
  QueryTooLargeError,
  ResponseTooLargeError,
} from './errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES, queryRateKey } from './limits.js';
import type { QueryBudget } from './model.js';
import { openApiDocument } from './openapi.js';
import { matchRoute, type QueryOperation } from './routes.js';

/**
 * The query API's use-case: a request (method, path, headers, query string) in, a status and JSON
 * body out. It authenticates the API key, matches the route, sets the time budget, runs the
 * endpoint (one module per endpoint family under endpoints/) and maps errors to statuses. No AWS
 * SDK here: the readers and the tenant directory are ports.
 */

export {
  DEFAULT_QUERY_LIMITS,
  DEFAULT_QUERY_RATE,
  type QueryApiDeps,
  type QueryLimits,
  type TierLog,
} from './endpoints/context.js';
export { DEFAULT_MAX_RESPONSE_BYTES, queryRateKey };

export interface QueryApiRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Path parameters the gateway already extracted (else taken from the path). */
  readonly pathParameters?: Readonly<Record<string, string | undefined>>;
  /** Time left before the caller (Lambda) is cut off. */
  readonly remainingMs?: number;
}

export interface QueryApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  /** `body` as JSON when it was serialised already (to measure it). */
  readonly bodyText?: string;
  /** What to log: tenant, operation, tiers. */
  readonly log: {
    readonly operation?: QueryOperation;
    readonly tenant?: string;
    readonly tiers?: TierLog[];
  };
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

/** Every operation's endpoint: a missing one fails to compile. */
const ENDPOINTS: Readonly<Record<EndpointOperation, Endpoint>> = {
  getTrace,
  searchTraces,
  searchLogs,
  queryMetrics,
  listServices,
  serviceSeries,
  serviceOperations,
  serviceMap,
  logHistogram,
  metricNames,
  getUsage,
};

export function createQueryApi(deps: QueryApiDeps) {
  const ctx = new EndpointContext(deps);
  const { limits, now } = ctx;

  const error = (status: number, code: string, message: string, extra: Record<string, string> = {}) => ({
    status,
    headers: JSON_HEADERS,
    body: { error: code, message, ...extra },
  });

  return async function handle(req: QueryApiRequest): Promise<QueryApiResponse> {
    const match = matchRoute(req.path);
    if (!match.route) return { ...error(404, 'not_found', 'Not Found'), log: {} };
    const { route } = match;
    const operation = route.operationId;
    if (req.method.toUpperCase() !== route.method) {
      return {
        ...error(405, 'method_not_allowed', 'Method Not Allowed'),
        headers: { ...JSON_HEADERS, allow: 'GET' },
        log: { operation },
      };
    }
    if (operation === 'openapi') {
      return { status: 200, headers: JSON_HEADERS, body: openApiDocument(), log: { operation } };
    }
    const admission = await admit(deps, req.headers, {
      scope: 'query',
      deniedAction: 'read data',
      limitName: 'query rate limit',
    });
    if (!admission.ok) {
      return {
        ...error(admission.status, admission.code, admission.message),
        headers: { ...JSON_HEADERS, ...admission.headers },
        log: { operation, ...(admission.tenant !== undefined && { tenant: admission.tenant }) },
      };
    }
    const { info } = admission;
    const tenant = info.tenantId;
    const timeout = Math.min(
      limits.timeoutMs,
      Math.max(0, (req.remainingMs ?? Number.POSITIVE_INFINITY) - 1_000),
    );
    const budget: QueryBudget = { deadlineMs: now() + timeout };
    if (operation === 'getUsage' && deps.usage === undefined) {
      return { ...error(404, 'not_found', 'usage metering is not configured'), log: { operation, tenant } };
    }
    const pathParams = { ...match.pathParameters, ...req.pathParameters };
    try {
      const r = await ENDPOINTS[operation](ctx, tenant, pathParams, req.query, budget);
      const bodyText = JSON.stringify(r.body);
      const bytes = Buffer.byteLength(bodyText);
      if (bytes > limits.maxResponseBytes) {
        throw new ResponseTooLargeError(
          `the answer is ${bytes} bytes, over the ${limits.maxResponseBytes}-byte response limit`,
        );
      }
      return {
        status: r.status,
        headers: JSON_HEADERS,
        body: r.body,
        bodyText,
        log: { operation, tenant, tiers: r.tiers },
      };
    } catch (err) {
      const log = { operation, tenant };
      if (err instanceof QueryTooLargeError) {
        return { ...error(422, 'query_too_large', `${err.message}; narrow the range or add filters`), log };
      }
      if (err instanceof ResponseTooLargeError) {
        return {
          ...error(422, 'response_too_large', `${err.message}; narrow the range or add filters`),
          log,
        };
      }
      if (err instanceof QueryParameterError) {
        return { ...error(400, 'bad_request', err.message, { parameter: err.parameter }), log };
      }
      if (err instanceof QueryTimeoutError) {
        return { ...error(504, 'timeout', `${err.message}; narrow the range or add filters`), log };
      }
      if (err instanceof QueryEngineError) return { ...error(502, 'tier_failed', err.message), log };
      throw err;
    }
  };
}

export type QueryApi = ReturnType<typeof createQueryApi>;
