import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayHandler,
  type HttpGateway,
  HttpGatewayError,
  startHttpGateway,
} from '../../local/http-gateway.js';

interface Seen {
  event: APIGatewayProxyEventV2;
  remainingMs: number;
  functionName: string;
  requestId: string;
}

describe('local HTTP gateway', () => {
  let gateway: HttpGateway;
  const seen: Seen[] = [];
  const record: GatewayHandler = async (event: APIGatewayProxyEventV2, context: Context) => {
    seen.push({
      event,
      remainingMs: context.getRemainingTimeInMillis(),
      functionName: context.functionName,
      requestId: context.awsRequestId,
    });
    return { statusCode: 202, headers: { 'X-Echo': 'yes' }, body: 'ok' };
  };

  beforeAll(async () => {
    gateway = await startHttpGateway({
      port: 0,
      timeoutMs: 5000,
      maxBodyBytes: 64 * 1024,
      routes: [
        { method: 'POST', path: '/v1/traces', handler: record, functionName: 'ingest' },
        { method: 'GET', path: '/v1/query/traces/{traceId}', handler: record },
        {
          method: 'GET',
          path: '/binary',
          handler: async () => ({
            statusCode: 200,
            headers: { 'content-type': 'application/octet-stream' },
            body: Buffer.from([0, 1, 2, 255]).toString('base64'),
            isBase64Encoded: true,
          }),
        },
        { method: 'GET', path: '/string', handler: async () => '{"plain":true}' },
        {
          method: 'GET',
          path: '/boom',
          handler: async () => {
            throw new Error('handler bug');
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
  });

  const last = () => seen[seen.length - 1]!;

  it('hands a JSON POST to the handler as a payload v2 event with a text body', async () => {
    const res = await fetch(`${gateway.url}/v1/traces?a=1&a=2&b=x`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Custom': 'Value', 'User-Agent': 'test-agent' },
      body: '{"resourceSpans":[]}',
    });

    expect(res.status).toBe(202);
    expect(res.headers.get('x-echo')).toBe('yes');
    expect(await res.text()).toBe('ok');
    const { event, remainingMs, functionName, requestId } = last();
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('POST /v1/traces');
    expect(event.rawPath).toBe('/v1/traces');
    expect(event.rawQueryString).toBe('a=1&a=2&b=x');
    expect(event.queryStringParameters).toEqual({ a: '1,2', b: 'x' });
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.headers['x-custom']).toBe('Value');
    expect(event.requestContext.http).toMatchObject({
      method: 'POST',
      path: '/v1/traces',
      sourceIp: '127.0.0.1',
      userAgent: 'test-agent',
    });
    expect(event.isBase64Encoded).toBe(false);
    expect(event.body).toBe('{"resourceSpans":[]}');
    expect(event.pathParameters).toBeUndefined();
    expect(remainingMs).toBeGreaterThan(0);
    expect(remainingMs).toBeLessThanOrEqual(5000);
    expect(functionName).toBe('ingest');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('base64-encodes binary and gzip-encoded bodies byte for byte', async () => {
    const protobuf = Buffer.from([0x0a, 0x00, 0xff, 0x80, 0x00]);
    await fetch(`${gateway.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: protobuf,
    });
    expect(last().event.isBase64Encoded).toBe(true);
    expect(Buffer.from(last().event.body!, 'base64')).toEqual(protobuf);

    const gz = gzipSync('{"resourceSpans":[]}');
    await fetch(`${gateway.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gz,
    });
    expect(last().event.isBase64Encoded).toBe(true);
    expect(last().event.headers['content-encoding']).toBe('gzip');
    expect(Buffer.from(last().event.body!, 'base64')).toEqual(gz);
  });

  it('omits the body of an empty request', async () => {
    await fetch(`${gateway.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(last().event.body).toBeUndefined();
  });

  it('fills pathParameters from a templated route', async () => {
    const res = await fetch(`${gateway.url}/v1/query/traces/abc%20def`);
    expect(res.status).toBe(202);
    expect(last().event.routeKey).toBe('GET /v1/query/traces/{traceId}');
    expect(last().event.pathParameters).toEqual({ traceId: 'abc def' });
  });

  it('decodes base64 results and answers a bare string as 200 JSON', async () => {
    const bin = await fetch(`${gateway.url}/binary`);
    expect(Buffer.from(await bin.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 255]));

    const str = await fetch(`${gateway.url}/string`);
    expect(str.status).toBe(200);
    expect(str.headers.get('content-type')).toBe('application/json');
    expect(await str.json()).toEqual({ plain: true });
  });

  it('answers 404 for an unknown path and 405 with Allow for a wrong method', async () => {
    const missing = await fetch(`${gateway.url}/v1/nothing`, { method: 'POST' });
    expect(missing.status).toBe(404);

    const wrongMethod = await fetch(`${gateway.url}/v1/traces`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });

  it('answers 413 for a body over the limit without calling the handler', async () => {
    const before = seen.length;
    const res = await fetch(`${gateway.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.alloc(64 * 1024 + 1),
    });
    expect(res.status).toBe(413);
    expect(seen.length).toBe(before);
  });

  it('answers 500 when the handler throws, as API Gateway does for a failed invocation', async () => {
    const res = await fetch(`${gateway.url}/boom`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ message: 'Internal Server Error' });
  });

  it('runs one invocation of a handler at a time, as one Lambda instance does, and every request gets its answer', async () => {
    let inFlight = 0;
    let most = 0;
    const slow: GatewayHandler = async (event) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 50));
      inFlight--;
      return { statusCode: 200, body: event.rawPath };
    };
    const other: GatewayHandler = async () => ({ statusCode: 200, body: 'other' });
    const gw = await startHttpGateway({
      port: 0,
      routes: [
        { method: 'POST', path: '/v1/traces', handler: slow },
        { method: 'POST', path: '/v1/logs', handler: slow },
        { method: 'GET', path: '/other', handler: other },
      ],
    });
    try {
      const posts = ['/v1/traces', '/v1/logs', '/v1/traces', '/v1/logs'].map((path) =>
        fetch(`${gw.url}${path}`, { method: 'POST', body: 'x' }).then((r) => r.text()),
      );
      let postsDone = false;
      const answers = Promise.all(posts).then((a) => {
        postsDone = true;
        return a;
      });
      // Another handler is not held up behind the busy one (the four posts take 200 ms in turn).
      expect(await fetch(`${gw.url}/other`).then((r) => r.text())).toBe('other');
      expect(postsDone).toBe(false);
      expect(await answers).toEqual(['/v1/traces', '/v1/logs', '/v1/traces', '/v1/logs']);
      expect(most).toBe(1);
    } finally {
      await gw.close();
    }
  });

  it('answers browser preflights and marks answers for allowed origins only when CORS origins are configured', async () => {
    const ok: GatewayHandler = async () => ({ statusCode: 200, body: '{}' });
    const routes = [
      { method: 'POST', path: '/v1/traces', handler: ok, cors: true },
      { method: 'GET', path: '/v1/query/logs', handler: ok },
    ];
    const preflight = (url: string, origin: string) =>
      fetch(`${url}/v1/traces`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
      });
    const gw = await startHttpGateway({ port: 0, routes, corsAllowedOrigins: ['http://localhost:3000'] });
    try {
      const allowed = await preflight(gw.url, 'http://localhost:3000');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');
      expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
      expect(allowed.headers.get('access-control-allow-headers')).toContain('content-type');

      const post = await fetch(`${gw.url}/v1/traces`, {
        method: 'POST',
        headers: { origin: 'http://localhost:3000' },
        body: '{}',
      });
      expect(post.status).toBe(200);
      expect(post.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      expect(post.headers.get('access-control-expose-headers')).toContain('retry-after');

      const other = await preflight(gw.url, 'https://evil.example');
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      const otherPost = await fetch(`${gw.url}/v1/traces`, {
        method: 'POST',
        headers: { origin: 'https://evil.example' },
        body: '{}',
      });
      expect(otherPost.headers.get('access-control-allow-origin')).toBeNull();

      // A route not marked for CORS (the query API) gets no preflight answer and no CORS headers.
      const queryPreflight = await fetch(`${gw.url}/v1/query/logs`, {
        method: 'OPTIONS',
        headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET' },
      });
      expect(queryPreflight.status).toBe(405);
      expect(queryPreflight.headers.get('access-control-allow-origin')).toBeNull();
      const queryGet = await fetch(`${gw.url}/v1/query/logs`, {
        headers: { origin: 'http://localhost:3000' },
      });
      expect(queryGet.status).toBe(200);
      expect(queryGet.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await gw.close();
    }
    // Off by default: a preflight is just a method the route does not have.
    const plain = await startHttpGateway({ port: 0, routes });
    try {
      const res = await preflight(plain.url, 'http://localhost:3000');
      expect(res.status).toBe(405);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await plain.close();
    }
  });

  it('answers 504 for an invocation over its timeout, and the next one of that handler does not wait behind it', async () => {
    let calls = 0;
    const hangsOnce: GatewayHandler = async () => {
      calls++;
      if (calls === 1) await new Promise(() => {}); // never settles
      return { statusCode: 200, body: 'second' };
    };
    const gw = await startHttpGateway({
      port: 0,
      routes: [{ method: 'POST', path: '/v1/traces', handler: hangsOnce, timeoutMs: 200 }],
    });
    try {
      const first = fetch(`${gw.url}/v1/traces`, { method: 'POST', body: 'a' });
      const second = fetch(`${gw.url}/v1/traces`, { method: 'POST', body: 'b' });
      const timedOut = await first;
      expect(timedOut.status).toBe(504);
      expect(await timedOut.json()).toEqual({ message: 'Gateway Timeout' });
      const next = await second;
      expect(next.status).toBe(200);
      expect(await next.text()).toBe('second');
    } finally {
      await gw.close();
    }
  });

  it('a graceful close refuses new connections but answers the request in flight', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const gw = await startHttpGateway({
      port: 0,
      routes: [
        {
          method: 'POST',
          path: '/v1/traces',
          handler: async () => {
            entered();
            await gate;
            return { statusCode: 200, body: '{}' };
          },
        },
      ],
    });
    const inFlight = fetch(`${gw.url}/v1/traces`, { method: 'POST', body: '{}' });
    await inHandler;
    const closed = gw.close(10_000);
    // Not listening any more: a new connection is refused while the first request still runs.
    await expect(fetch(`${gw.url}/v1/traces`, { method: 'POST', body: '{}' })).rejects.toThrow();
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('close');
    await closed;
  });

  it('a graceful close waits no longer than its grace for a request that does not end', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => {
      entered = r;
    });
    const gw = await startHttpGateway({
      port: 0,
      routes: [
        {
          method: 'POST',
          path: '/v1/traces',
          handler: async () => {
            entered();
            return new Promise<never>(() => undefined);
          },
        },
      ],
    });
    const stuck = fetch(`${gw.url}/v1/traces`, { method: 'POST', body: '{}' });
    await inHandler;
    const t0 = performance.now();
    await gw.close(300);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    expect(performance.now() - t0).toBeLessThan(5_000);
    // Reset: the client retries it (OTLP treats a connection error as retryable).
    await expect(stuck).rejects.toThrow();
  });

  it('says clearly when the port is taken', async () => {
    const attempt = startHttpGateway({ port: gateway.port, routes: [] });
    await expect(attempt).rejects.toBeInstanceOf(HttpGatewayError);
    await expect(attempt).rejects.toThrow(/already in use/);
  });
});
