import type * as z from 'zod';
import {
  LogHistogramParamsSchema,
  LogHistogramResponseSchema,
  LogSearchParamsSchema,
  LogSearchResponseSchema,
  MetricNamesParamsSchema,
  MetricNamesResponseSchema,
  MetricParamsSchema,
  MetricResponseSchema,
  ServiceMapParamsSchema,
  ServiceMapResponseSchema,
  ServiceOperationsResponseSchema,
  ServicePathSchema,
  ServiceSeriesParamsSchema,
  ServiceSeriesResponseSchema,
  ServicesParamsSchema,
  ServicesResponseSchema,
  TraceGetParamsSchema,
  TracePathSchema,
  TraceResponseSchema,
  TraceSearchParamsSchema,
  TraceSearchResponseSchema,
  UsageParamsSchema,
  UsageResponseSchema,
} from './schemas.js';

/** The routes of the query API: API Gateway (CDK) and local mode mount exactly these. */
export interface QueryRoute {
  readonly operationId: QueryOperation;
  readonly method: 'GET';
  readonly path: string;
  readonly summary: string;
  readonly path_params?: z.ZodObject;
  readonly params?: z.ZodObject;
  readonly response?: z.ZodType;
  /** Needs an API key (all but the API description). */
  readonly authenticated: boolean;
}

export type QueryOperation =
  | 'getTrace'
  | 'searchTraces'
  | 'searchLogs'
  | 'queryMetrics'
  | 'listServices'
  | 'serviceSeries'
  | 'serviceOperations'
  | 'serviceMap'
  | 'logHistogram'
  | 'metricNames'
  | 'getUsage'
  | 'openapi';

export const QUERY_ROUTES: readonly QueryRoute[] = [
  {
    operationId: 'getTrace',
    method: 'GET',
    path: '/v1/query/traces/{traceId}',
    summary: 'Every span of one trace, with parent links, attributes, events and links.',
    path_params: TracePathSchema,
    params: TraceGetParamsSchema,
    response: TraceResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'searchTraces',
    method: 'GET',
    path: '/v1/query/traces',
    summary: 'Traces with spans matching the filters, newest first.',
    params: TraceSearchParamsSchema,
    response: TraceSearchResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'searchLogs',
    method: 'GET',
    path: '/v1/query/logs',
    summary: 'Log records matching the filters, newest first.',
    params: LogSearchParamsSchema,
    response: LogSearchResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'queryMetrics',
    method: 'GET',
    path: '/v1/query/metrics',
    summary: 'A metric as time series (one per service and metric type), aggregated per step.',
    params: MetricParamsSchema,
    response: MetricResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'listServices',
    method: 'GET',
    path: '/v1/query/services',
    summary: 'Per service: request rate, error ratio and p50/p95/p99 latency of entry spans.',
    params: ServicesParamsSchema,
    response: ServicesResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'serviceSeries',
    method: 'GET',
    path: '/v1/query/services/series',
    summary: 'Per service and step: request rate, error ratio and p50/p95/p99 latency of entry spans.',
    params: ServiceSeriesParamsSchema,
    response: ServiceSeriesResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'serviceOperations',
    method: 'GET',
    path: '/v1/query/services/{service}/operations',
    summary: 'Per operation (entry span name) of one service: RED, busiest first.',
    path_params: ServicePathSchema,
    params: ServicesParamsSchema,
    response: ServiceOperationsResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'serviceMap',
    method: 'GET',
    path: '/v1/query/service-map',
    summary: 'Services and the calls between them (a span whose parent span is of another service).',
    params: ServiceMapParamsSchema,
    response: ServiceMapResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'logHistogram',
    method: 'GET',
    path: '/v1/query/logs/histogram',
    summary: 'Log records per step and severity, with the log search filters.',
    params: LogHistogramParamsSchema,
    response: LogHistogramResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'metricNames',
    method: 'GET',
    path: '/v1/query/metrics/names',
    summary: "The tenant's metric names in the range, with type, unit, description and services.",
    params: MetricNamesParamsSchema,
    response: MetricNamesResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'getUsage',
    method: 'GET',
    path: '/v1/usage',
    summary:
      "The caller's tenant's usage per UTC day and signal: items accepted and rejected, bytes received and stored.",
    params: UsageParamsSchema,
    response: UsageResponseSchema,
    authenticated: true,
  },
  {
    operationId: 'openapi',
    method: 'GET',
    path: '/v1/query/openapi.json',
    summary: 'This API description (OpenAPI 3.1).',
    authenticated: false,
  },
];

function segments(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

/** The route of a request path (a stage or domain prefix before /v1/ is allowed) and its path parameters. */
export function matchRoute(
  path: string,
):
  | { route: QueryRoute; pathParameters: Record<string, string> }
  | { route?: undefined; reason: 'not-found' } {
  const at = path.search(/\/v1\/(query\/|usage$)/);
  const actual = segments(at >= 0 ? path.slice(at) : path);
  for (const route of QUERY_ROUTES) {
    const pattern = segments(route.path);
    if (pattern.length !== actual.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i]!;
      const a = actual[i]!;
      if (p.startsWith('{') && p.endsWith('}')) {
        try {
          params[p.slice(1, -1)] = decodeURIComponent(a);
        } catch {
          params[p.slice(1, -1)] = a;
        }
      } else ok = p === a;
    }
    if (ok) return { route, pathParameters: params };
  }
  return { reason: 'not-found' };
}
