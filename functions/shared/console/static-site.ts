import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

/**
 * Serves the built console (console/dist: index.html and content-hashed assets) as API Gateway
 * payload-v2 results: the console Lambda in AWS and local mode's gateway answer with the same
 * bytes and headers. Only `/`, `/index.html` and `/assets/<file>` exist here, so the query API's
 * `/v1/...` routes are never shadowed.
 */

/** The console's routes (API Gateway route keys; local mode's gateway registers the same). */
export const CONSOLE_ROUTES: readonly string[] = ['/', '/index.html', '/assets/{file}'];

/**
 * On every console answer, errors included. The CSP allows no inline script or style attribute
 * injection beyond the console's own files, no framing, and connections to this origin only
 * (the query API is on the same origin).
 */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  woff2: 'font/woff2',
  json: 'application/json',
};

/** Where the console's files come from (a directory in local mode and in the Lambda package). */
export interface ConsoleFiles {
  /** The file's bytes, or undefined when there is none. `path` is relative: 'index.html', 'assets/x.js'. */
  read(path: string): Buffer | undefined;
}

/** Files of a directory; `cache` keeps them in memory (the Lambda package never changes). */
export class DirectoryConsoleFiles implements ConsoleFiles {
  private readonly cached = new Map<string, Buffer | undefined>();
  constructor(
    private readonly dir: string,
    private readonly cache: boolean,
  ) {}

  read(path: string): Buffer | undefined {
    if (this.cache && this.cached.has(path)) return this.cached.get(path);
    let body: Buffer | undefined;
    try {
      body = readFileSync(join(this.dir, path));
    } catch {
      body = undefined;
    }
    if (this.cache) this.cached.set(path, body);
    return body;
  }
}

export interface ConsoleResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly isBase64Encoded: boolean;
}

const ASSET = /^\/assets\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;

/** The file a request path names, or undefined (404). */
export function consolePath(path: string): string | undefined {
  if (path === '/' || path === '/index.html') return 'index.html';
  const m = ASSET.exec(path);
  return m ? `assets/${m[1]}` : undefined;
}

type Encoding = 'br' | 'gzip' | 'identity';

/** The best encoding the client accepts (q=0 refuses one). */
export function pickEncoding(acceptEncoding: string | undefined): Encoding {
  const accepted = new Map<string, number>();
  for (const part of (acceptEncoding ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((x) => x !== undefined);
    accepted.set(name, q === undefined ? 1 : Number(q));
  }
  const ok = (e: string) => (accepted.get(e) ?? accepted.get('*') ?? 0) > 0;
  if (ok('br')) return 'br';
  if (ok('gzip')) return 'gzip';
  return 'identity';
}

/** Compressed copies, made once per file and encoding. */
const compressed = new WeakMap<Buffer, Map<Encoding, Buffer>>();

function encode(body: Buffer, encoding: Encoding): Buffer {
  if (encoding === 'identity') return body;
  let byEncoding = compressed.get(body);
  if (!byEncoding) {
    byEncoding = new Map();
    compressed.set(body, byEncoding);
  }
  let out = byEncoding.get(encoding);
  if (!out) {
    out =
      encoding === 'br'
        ? brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 9 } })
        : gzipSync(body, { level: 9 });
    byEncoding.set(encoding, out);
  }
  return out;
}

export interface ConsoleRequest {
  readonly method: string;
  readonly path: string;
  readonly acceptEncoding?: string;
}

export function serveConsole(req: ConsoleRequest, files: ConsoleFiles): ConsoleResponse {
  const text = (
    statusCode: number,
    message: string,
    extra: Record<string, string> = {},
  ): ConsoleResponse => ({
    statusCode,
    headers: {
      ...CONSOLE_SECURITY_HEADERS,
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      ...extra,
    },
    body: message,
    isBase64Encoded: false,
  });
  const method = req.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') return text(405, 'Method Not Allowed', { allow: 'GET, HEAD' });
  const path = consolePath(req.path);
  const body = path === undefined ? undefined : files.read(path);
  if (path === undefined || body === undefined) {
    return text(
      404,
      path === 'index.html'
        ? 'The console is not built: run `npx tsx scripts/build-console.ts`.'
        : 'Not Found',
    );
  }
  const ext = path.slice(path.lastIndexOf('.') + 1);
  const encoding = pickEncoding(req.acceptEncoding);
  const out = encode(body, encoding);
  return {
    statusCode: 200,
    headers: {
      ...CONSOLE_SECURITY_HEADERS,
      'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      // Assets carry a content hash in their name; index.html names the current ones.
      'cache-control': path === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
      vary: 'accept-encoding',
      ...(encoding !== 'identity' && { 'content-encoding': encoding }),
    },
    body: method === 'HEAD' ? '' : out.toString('base64'),
    isBase64Encoded: method !== 'HEAD',
  };
}
