import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, adviceFor, createApiClient, problemOf } from '../../console/src/lib/api.js';

describe('console API client against an HTTP server', () => {
  let server: Server;
  let base = '';
  const seen: { url: string; authorization: string | undefined }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      const path = (req.url ?? '').split('?')[0];
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      if (req.headers.authorization !== 'Bearer good-key')
        return json(401, { error: 'unauthorized', message: 'bad key' });
      if (path === '/ok') return json(200, { data: [1, 2], meta: { nextCursor: null } });
      if (path === '/slow') return json(504, { message: 'Gateway Timeout' });
      if (path === '/busy')
        return json(429, { error: 'rate_limited', message: 'slow down' }, { 'retry-after': '3' });
      return json(404, { message: 'Not Found' });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const client = (key: string | undefined) => createApiClient({ baseUrl: base, key: () => key, fetch });
  const problem = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      if (e instanceof ApiError) return e.problem;
      throw e;
    }
    throw new Error('no error');
  };

  it('sends the key as a bearer header, never in the URL, and drops empty parameters', async () => {
    const page = await client('good-key').get<number[]>('/ok', { from: 'now-1h', service: '', limit: 5 });
    expect(page.data).toEqual([1, 2]);
    const last = seen[seen.length - 1]!;
    expect(last).toEqual({ url: '/ok?from=now-1h&limit=5', authorization: 'Bearer good-key' });
    expect(last.url).not.toContain('good-key');
  });

  it('turns each failure into a problem with advice on what to do', async () => {
    expect(await problem(client('bad').get('/ok'))).toMatchObject({
      kind: 'unauthorized',
      message: 'bad key',
    });
    expect(await problem(client('good-key').get('/slow'))).toMatchObject({ kind: 'timeout', status: 504 });
    expect(await problem(client('good-key').get('/busy'))).toMatchObject({
      kind: 'rate-limited',
      retryAfterSeconds: 3,
    });
    expect(await problem(client('good-key').get('/v1/query/nope'))).toMatchObject({ kind: 'missing-route' });
    expect(await problem(client(undefined).get('/ok'))).toMatchObject({ kind: 'unauthorized' });
    expect(
      await problem(createApiClient({ baseUrl: 'http://127.0.0.1:1', key: () => 'k', fetch }).get('/ok')),
    ).toMatchObject({
      kind: 'network',
    });
  });

  it('reads both error shapes and advises per problem', () => {
    expect(problemOf(403, { error: { code: 'forbidden', message: 'no query scope' } }, null)).toMatchObject({
      kind: 'forbidden',
      message: 'no query scope',
    });
    expect(problemOf(404, { error: 'not_found', message: 'no such trace' }, null).kind).toBe('not-found');
    expect(adviceFor(problemOf(401, {}, null)).action).toMatch(/enter it again/);
    expect(adviceFor(problemOf(504, {}, null)).action).toMatch(/Narrow the time range/);
    expect(adviceFor(problemOf(429, {}, '7')).action).toMatch(/Wait 7 seconds/);
  });
});
