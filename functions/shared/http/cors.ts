/**
 * Cross-origin access to the OTLP/HTTP ingest routes, for browser instrumentation (the OpenTelemetry
 * web SDK exports from the page's origin). Off unless origins are listed: API Gateway answers
 * preflights itself from these values in AWS (the ingest API in lib/stacks/compute-stack.ts), the
 * local gateway from the same ones for the routes marked `cors` (local/http-gateway.ts). The query
 * API never gets CORS: a key in a web page is readable by anyone, so browsers get ingest-only keys
 * (see README), and a page has no business reading the tenant's data with one.
 */

/** What a browser exporter sends besides CORS-safelisted headers. */
export const CORS_ALLOW_HEADERS: readonly string[] = [
  'authorization',
  'content-encoding',
  'content-type',
  'x-api-key',
];
export const CORS_ALLOW_METHODS: readonly 'POST'[] = ['POST'];
/** The exporter's retry logic reads Retry-After on 429 and 503. */
export const CORS_EXPOSE_HEADERS: readonly string[] = ['retry-after'];
/** How long a browser may cache a preflight answer. */
export const CORS_MAX_AGE_SECONDS = 3600;

/**
 * What API Gateway's HTTP API takes as an allowed origin: an origin as a browser sends it (scheme,
 * host, optional port, no path), `https://*` or `http://*` (any origin of that scheme), or `*`.
 */
export const CORS_ORIGIN = /^(\*|https?:\/\/\*|https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?)$/;
export const CORS_ORIGIN_MESSAGE =
  'an origin such as https://app.example.com or http://localhost:3000, https://*, http://* or *';

/** The Access-Control-Allow-Origin value for a request from `origin`, or undefined when it is not allowed. */
export function allowedOrigin(allowed: readonly string[], origin: string | undefined): string | undefined {
  if (origin === undefined) return undefined;
  for (const entry of allowed) {
    if (entry === '*') return '*';
    if (entry === origin) return origin;
    if (entry.endsWith('://*') && origin.startsWith(entry.slice(0, -1)) && origin.length > entry.length - 1)
      return origin;
  }
  return undefined;
}
