import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import {
  allowedOrigin,
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
} from '../functions/shared/http/cors.js';
import { lambdaContext } from './lambda-context.js';

/**
 * A stand-in for API Gateway's HTTP API in local mode and tests: turns each request into the
 * payload-v2 event API Gateway would send and hands it to the same Lambda handler that runs in AWS,
 * so local traffic exercises the real request path (base64 bodies, lower-case headers, limits).
 */

export type GatewayHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

export interface GatewayRoute {
  /** 'POST', 'GET', … */
  readonly method: string;
  /** An exact path, or one with `{name}` segments: '/v1/query/traces/{traceId}'. */
  readonly path: string;
  readonly handler: GatewayHandler;
  /** The Lambda's name in `context.functionName`. @default derived from the path */
  readonly functionName?: string;
  /** The Lambda timeout behind `context.getRemainingTimeInMillis()`. @default the gateway's timeoutMs */
  readonly timeoutMs?: number;
  /**
   * Browsers may call this route from the gateway's CORS origins. Only the OTLP ingest routes set
   * it: a key that can read data must not sit in a web page. @default false
   */
  readonly cors?: boolean;
}

export interface HttpGatewayOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 4318 (the OTLP/HTTP default) */
  readonly port?: number;
  readonly routes: readonly GatewayRoute[];
  /** Lambda timeout given to handlers unless the route sets one. @default 30000 */
  readonly timeoutMs?: number;
  /** API Gateway's payload limit. @default 10 MiB */
  readonly maxBodyBytes?: number;
  /**
   * Origins whose pages may call the routes marked `cors` from a browser, as API Gateway's CORS
   * configuration takes them (functions/shared/http/cors.ts). @default [] - no CORS: preflights get 405
   */
  readonly corsAllowedOrigins?: readonly string[];
}

export interface HttpGateway {
  readonly url: string;
  readonly port: number;
  /**
   * Stops accepting connections, answers requests that arrive on open ones with 503 and
   * Retry-After, and waits up to `graceMs` (default 0) for the requests in flight to be answered
   * before it resets what is left. A request whose records reached the stream is then answered,
   * so the client does not resend it.
   */
  close(graceMs?: number): Promise<void>;
}

export class HttpGatewayError extends Error {
  override readonly name = 'HttpGatewayError';
}

/** API Gateway HTTP API's request payload limit. */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

interface CompiledRoute {
  readonly route: GatewayRoute;
  readonly segments: readonly string[];
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

function matchPath(route: CompiledRoute, segments: readonly string[]): Record<string, string> | undefined {
  if (route.segments.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const pattern = route.segments[i]!;
    const actual = segments[i]!;
    if (pattern.startsWith('{') && pattern.endsWith('}')) {
      try {
        params[pattern.slice(1, -1)] = decodeURIComponent(actual);
      } catch {
        return undefined;
      }
    } else if (pattern !== actual) {
      return undefined;
    }
  }
  return params;
}

const TEXT_TYPES =
  /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)\b|[^;]*\+(json|xml)\b)/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** API Gateway passes text bodies as strings and anything else base64-encoded. */
function encodeBody(
  body: Buffer,
  contentType: string,
  contentEncoding: string,
): { body?: string; b64: boolean } {
  if (body.length === 0) return { b64: false };
  const encoded = contentEncoding !== '' && contentEncoding.toLowerCase() !== 'identity';
  if (!encoded && TEXT_TYPES.test(contentType)) {
    try {
      return { body: utf8.decode(body), b64: false };
    } catch {
      // not valid UTF-8: falls through to base64, as API Gateway does for binary
    }
  }
  return { body: body.toString('base64'), b64: true };
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

function buildEvent(
  req: IncomingMessage,
  url: URL,
  route: GatewayRoute,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEventV2 {
  // API Gateway joins repeated headers and query parameters with commas and lower-cases names.
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name === 'cookie' || value === undefined) continue;
    headers[name.toLowerCase()] = headerValue(value);
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const cookies = req.headers.cookie?.split(';').map((c) => c.trim());
  const { body: eventBody, b64 } = encodeBody(
    body,
    headers['content-type'] ?? '',
    headers['content-encoding'] ?? '',
  );
  const method = (req.method ?? 'GET').toUpperCase();
  const now = new Date();
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  return {
    version: '2.0',
    routeKey: `${route.method.toUpperCase()} ${route.path}`,
    rawPath: url.pathname,
    rawQueryString: url.search.startsWith('?') ? url.search.slice(1) : url.search,
    headers,
    ...(cookies && cookies.length > 0 ? { cookies } : {}),
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0] ?? 'localhost',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: `${route.method.toUpperCase()} ${route.path}`,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(eventBody !== undefined ? { body: eventBody } : {}),
    isBase64Encoded: b64,
  };
}

function buildContext(route: GatewayRoute, timeoutMs: number): Context {
  const functionName = route.functionName ?? `local${route.path.replace(/[^A-Za-z0-9]+/g, '-')}`;
  return lambdaContext({ functionName, region: 'local', remaining: { timeoutMs } });
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: Buffer | string,
): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function sendMessage(
  res: ServerResponse,
  status: number,
  message: string,
  extra: Record<string, string> = {},
): void {
  send(res, status, { 'content-type': 'application/json', ...extra }, JSON.stringify({ message }));
}

/** Writes a handler result the way API Gateway does (a bare string is a 200 JSON body). */
function writeResult(res: ServerResponse, result: APIGatewayProxyResultV2): void {
  if (typeof result === 'string') {
    send(res, 200, { 'content-type': 'application/json' }, result);
    return;
  }
  const r = (result ?? {}) as APIGatewayProxyStructuredResultV2;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = String(v);
  const body =
    r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body, r.isBase64Encoded ? 'base64' : 'utf8');
  if (r.cookies && r.cookies.length > 0) res.setHeader('set-cookie', r.cookies);
  send(res, r.statusCode ?? 200, headers, body);
}

/** Reads the body up to `limit` bytes; undefined when over it (the rest is not buffered). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      resolve(undefined);
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        parts.length = 0;
        return;
      }
      parts.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(parts)));
    req.on('error', reject);
  });
}

class InvocationTimeout extends Error {}

/**
 * `invocation`, or an InvocationTimeout after `ms`: Lambda would stop the function there, and the
 * next invocation of the handler must not wait behind one that never ends.
 */
function withTimeout<T>(invocation: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InvocationTimeout(`invocation ran over ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([invocation, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts the gateway. Unknown paths get 404, known paths with another method 405 (with Allow),
 * bodies over `maxBodyBytes` 413, and a handler that throws 500, as API Gateway reports a failed
 * Lambda invocation, and one that runs over its timeout 504. Each handler runs one invocation at a
 * time, as one warm Lambda instance does: the Powertools Metrics a handler holds gathers dimensions
 * and metrics per invocation, and concurrent requests (an SDK exports traces, logs and metrics at
 * once) would mix them.
 */
export async function startHttpGateway(options: HttpGatewayOptions): Promise<HttpGateway> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 4318;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBodyBytes = options.maxBodyBytes ?? API_GATEWAY_MAX_BODY_BYTES;
  const corsOrigins = options.corsAllowedOrigins ?? [];
  const routes: CompiledRoute[] = options.routes.map((route) => ({ route, segments: splitPath(route.path) }));
  // The last invocation queued per handler (routes may share one, as the three OTLP paths do).
  const turns = new Map<GatewayHandler, Promise<unknown>>();
  const invokeInTurn = <T>(handler: GatewayHandler, invoke: () => Promise<T>): Promise<T> => {
    const run = (turns.get(handler) ?? Promise.resolve()).then(invoke);
    const settled = run.catch(() => undefined);
    turns.set(handler, settled);
    // Forget a handler once idle, so the map does not pin the last result.
    void settled.then(() => {
      if (turns.get(handler) === settled) turns.delete(handler);
    });
    return run;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://gateway.local');
    const method = (req.method ?? 'GET').toUpperCase();
    const segments = splitPath(url.pathname);
    const matches = routes
      .map((r) => ({ r, params: matchPath(r, segments) }))
      .filter((m): m is { r: CompiledRoute; params: Record<string, string> } => m.params !== undefined);
    if (corsOrigins.length > 0 && matches.some((m) => m.r.route.cors === true)) {
      // As API Gateway with CORS configured (the ingest API): the headers on every answer of a CORS
      // route, preflights answered here. Other routes (the query API) get neither.
      const origin = allowedOrigin(corsOrigins, req.headers.origin);
      if (origin !== undefined) {
        res.setHeader('access-control-allow-origin', origin);
        res.setHeader('access-control-expose-headers', CORS_EXPOSE_HEADERS.join(','));
        if (origin !== '*') res.setHeader('vary', 'origin');
      }
      if (method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
        req.resume();
        if (origin !== undefined) {
          res.setHeader('access-control-allow-methods', CORS_ALLOW_METHODS.join(','));
          res.setHeader('access-control-allow-headers', CORS_ALLOW_HEADERS.join(','));
          res.setHeader('access-control-max-age', String(CORS_MAX_AGE_SECONDS));
        }
        send(res, 204, {}, '');
        return;
      }
    }
    if (matches.length === 0) {
      req.resume();
      sendMessage(res, 404, 'Not Found');
      return;
    }
    const match = matches.find((m) => m.r.route.method.toUpperCase() === method);
    if (!match) {
      req.resume();
      const allow = [...new Set(matches.map((m) => m.r.route.method.toUpperCase()))].join(', ');
      sendMessage(res, 405, 'Method Not Allowed', { allow });
      return;
    }
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) {
      sendMessage(res, 413, 'Request Entity Too Large', { connection: 'close' });
      return;
    }
    const { route } = match.r;
    const event = buildEvent(req, url, route, match.params, body);
    const limitMs = route.timeoutMs ?? timeoutMs;
    let result: APIGatewayProxyResultV2;
    try {
      result = await invokeInTurn(route.handler, () =>
        // The context is made when the invocation starts: waiting for a turn is not Lambda time.
        withTimeout(route.handler(event, buildContext(route, limitMs)), limitMs),
      );
    } catch (err) {
      // the handler logs its own failure; the client sees what API Gateway would send
      if (err instanceof InvocationTimeout) sendMessage(res, 504, 'Gateway Timeout');
      else sendMessage(res, 500, 'Internal Server Error');
      return;
    }
    writeResult(res, result);
  };

  // Requests being handled (headers read, not yet answered): a graceful close waits for them.
  const active = new Set<ServerResponse>();
  let closing = false;
  let onDrained: (() => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (closing) {
      // Arrived on a kept-alive connection after the close began: not taken, the client retries.
      req.resume();
      sendMessage(res, 503, 'Service Unavailable: stopping', { 'retry-after': '1', connection: 'close' });
      return;
    }
    active.add(res);
    res.once('close', () => {
      active.delete(res);
      if (!closing) return;
      server.closeIdleConnections();
      if (active.size === 0) onDrained?.();
    });
    handle(req, res).catch(() => {
      if (!res.headersSent) sendMessage(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        err.code === 'EADDRINUSE'
          ? new HttpGatewayError(
              `port ${port} on ${host} is already in use; pick another port or stop what holds it`,
              {
                cause: err,
              },
            )
          : new HttpGatewayError(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });

  const actualPort = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${actualPort}`,
    port: actualPort,
    async close(graceMs = 0) {
      closing = true;
      for (const res of active) if (!res.headersSent) res.setHeader('connection', 'close');
      const closed = new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
      });
      server.closeIdleConnections();
      if (active.size > 0 && graceMs > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          onDrained = resolve;
          timer = setTimeout(resolve, graceMs);
        });
        clearTimeout(timer);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
