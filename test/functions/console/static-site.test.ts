import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { createConsoleHandler } from '../../../functions/console/handler.js';
import {
  CONSOLE_SECURITY_HEADERS,
  consolePath,
  DirectoryConsoleFiles,
  pickEncoding,
} from '../../../functions/shared/console/static-site.js';

const dir = mkdtempSync(join(tmpdir(), 'console-files-'));
mkdirSync(join(dir, 'assets'));
const INDEX = '<!doctype html><script type="module" src="assets/main-AB12.js"></script>';
const JS = `console.log(${JSON.stringify('x'.repeat(5000))});`;
writeFileSync(join(dir, 'index.html'), INDEX);
writeFileSync(join(dir, 'assets', 'main-AB12.js'), JS);
writeFileSync(join(dir, 'secret.txt'), 'not served');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The payload-v2 event API Gateway sends for a request (only what the handler reads varies). */
function createLambdaEvent(r: {
  method: string;
  path: string;
  headers?: Record<string, string>;
}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `${r.method} ${r.path}`,
    rawPath: r.path,
    rawQueryString: '',
    headers: r.headers ?? {},
    requestContext: {
      accountId: 'test',
      apiId: 'test',
      domainName: 'example.test',
      domainPrefix: 'example',
      http: {
        method: r.method,
        path: r.path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: 'r',
      routeKey: `${r.method} ${r.path}`,
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}

const handler = createConsoleHandler(new DirectoryConsoleFiles(dir, true));
const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  handler(createLambdaEvent({ method, path, headers }));

describe('console files (the console Lambda and local mode)', () => {
  it('serves index.html and hashed assets with the security headers and fitting cache rules', async () => {
    const index = await get('/');
    expect(index.statusCode).toBe(200);
    expect(Buffer.from(index.body!, 'base64').toString()).toBe(INDEX);
    expect(index.headers).toMatchObject({
      ...CONSOLE_SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
    });
    expect(String(index.headers?.['content-security-policy'])).toMatch(/script-src 'self';/);
    expect(String(index.headers?.['content-security-policy'])).not.toMatch(/unsafe-inline/);
    const js = await get('/assets/main-AB12.js');
    expect(js.headers).toMatchObject({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
      'x-frame-options': 'DENY',
    });
  });

  it('compresses with brotli or gzip as the browser accepts, byte-identical once decoded', async () => {
    const br = await get('/assets/main-AB12.js', { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.headers?.['content-encoding']).toBe('br');
    expect(brotliDecompressSync(Buffer.from(br.body!, 'base64')).toString()).toBe(JS);
    const gz = await get('/assets/main-AB12.js', { 'accept-encoding': 'gzip, br;q=0' });
    expect(gz.headers?.['content-encoding']).toBe('gzip');
    expect(gunzipSync(Buffer.from(gz.body!, 'base64')).toString()).toBe(JS);
    expect(Buffer.from(gz.body!, 'base64').length).toBeLessThan(JS.length / 10);
    expect(pickEncoding(undefined)).toBe('identity');
    expect(pickEncoding('identity, *;q=0')).toBe('identity');
  });

  it('answers 404 with the security headers for anything else: no path escapes, no other files', async () => {
    for (const path of [
      '/secret.txt',
      '/assets/../secret.txt',
      '/assets/%2e%2e/secret.txt',
      '/assets/',
      '/v1/query/traces',
      '/assets/a/b.js',
    ]) {
      const res = await get(path);
      expect(res.statusCode, path).toBe(404);
      expect(res.headers, path).toMatchObject(CONSOLE_SECURITY_HEADERS);
    }
    expect(consolePath('/v1/traces')).toBeUndefined();
    expect((await get('/', {}, 'POST')).statusCode).toBe(405);
  });

  it('says how to build the console when it is not built', async () => {
    const empty = createConsoleHandler(new DirectoryConsoleFiles(join(dir, 'missing'), false));
    const res = await empty(createLambdaEvent({ method: 'GET', path: '/' }));
    expect(res.statusCode).toBe(404);
    expect(res.body).toMatch(/build-console/);
  });
});
