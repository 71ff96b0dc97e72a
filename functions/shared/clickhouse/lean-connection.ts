import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { pipeline, Readable } from 'node:stream';
import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  createBrotliCompress,
  createGzip,
  gunzipSync,
  gzipSync,
  inflateSync,
} from 'node:zlib';
import { type ClickHouseSettings, parseError } from '@clickhouse/client';
// Not re-exported at the top level; the package has no exports map, so its common module is reachable.
import {
  buildMultipartBody,
  type ConnBaseQueryParams,
  type ConnCommandResult,
  type ConnExecParams,
  type ConnExecResult,
  type Connection,
  type ConnInsertParams,
  type ConnInsertResult,
  type ConnPingParams,
  type ConnPingResult,
  type ConnQueryResult,
  formatQueryParams,
  formatQuerySettings,
  serializeQueryParamsForUrl,
  toSearchParams,
} from '@clickhouse/client/dist/common/index.js';
import { zstd } from '../compression/zstd.js';
import type { RequestCompressionOption } from './connect.js';
import { Http1Pool, type Http1Response } from './http1.js';
import type {
  ClickHouseRequests,
  InsertObjectsRequest,
  InsertTextRequest,
  QueryRequest,
} from './requests.js';

/**
 * A lean HTTP(S) connection for `@clickhouse/client` (plugged in with `createClient({ connection })`,
 * the hook chdb uses): one request per call with the whole response read into memory, over a bare
 * keep-alive socket (http1.ts) unless the body is streamed. The client's own connection spends
 * ~1.2-1.9 ms of CPU per request on stream pipelines, abort controllers, socket bookkeeping and a
 * zlib stream for every response; a bare `http.request` ~0.25-0.5, this ~0.15-0.3
 * (docs/decisions/0004). At 512 spans and three round trips per
 * invocation that was ~10 µs per span. Built for the hot writer's requests (inserts, small result
 * sets): a result is buffered, not streamed, so big reads belong on the client's own connection.
 * Three parts: `LeanHttp` (the transport: the one place of the HTTP logic), `LeanHttpConnection`
 * (the client's connection over it) and `LeanHttpRequests` (the hot writer's port over it, no
 * client between: ~0.1-0.15 ms less per request again).
 *
 * Errors are the client's: a ClickHouse exception arrives as `ClickHouseError` with its code
 * (`parseError` on the body), a socket failure as the socket's error, so errors.ts classifies
 * both paths alike.
 */

export interface LeanConnectionOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly database: string;
  /** @default 30000 */
  readonly requestTimeoutMs?: number;
  /** How insert bodies are compressed; false: sent as is. @default false */
  readonly compression?: RequestCompressionOption;
  /** User-Agent's application name. */
  readonly application?: string;
  /**
   * A socket idle longer than this is not reused (a Lambda container frozen between invocations
   * keeps sockets the server has closed). @default 2500
   */
  readonly idleSocketTtlMs?: number;
}

export interface LeanResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'] | Http1Response['headers'];
  readonly body: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * A whole answer as the caller gets it: its body decoded; a ClickHouse exception (a status other
 * than 200, or one announced in `X-ClickHouse-Exception-Code`) thrown as the client's error.
 */
function answer(r: LeanResponse): LeanResponse {
  const body = decoded(r.body, r.headers['content-encoding'] as string | undefined);
  if (r.status !== 200 || r.headers['x-clickhouse-exception-code'] !== undefined)
    throw parseError(body.toString('utf8') || `HTTP ${r.status}`);
  return body === r.body ? r : { status: r.status, headers: r.headers, body };
}

/**
 * The one place of the lean HTTP logic, shared by the client connection (LeanHttpConnection) and
 * the hot writer's port (LeanHttpRequests): the base URL parsed once, one request per call with the
 * whole answer read into one Buffer, a socket timeout, stale idle sockets dropped, and a ClickHouse
 * exception raised as the client's `ClickHouseError`. A body in memory goes over a bare keep-alive
 * socket (http1.ts: head and body in one write, ~0.2 ms of CPU less per request than
 * `http.request`); a streamed one (an insert over 8 MiB) through `http.request` and its agent.
 */
export class LeanHttp {
  readonly database: string;
  readonly compression: RequestCompressionOption;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly hostname: string;
  private readonly port: string;
  /** The base URL's path, ending in `/`. */
  private readonly path: string;
  private readonly headers: Readonly<Record<string, string>>;
  /** The same headers as request-head lines, with `Host` and keep-alive (the bare-socket path). */
  private readonly head: string;
  private readonly pool: Http1Pool;
  private readonly timeoutMs: number;
  private readonly idleTtlMs: number;
  private readonly timeoutMessage: string;
  private lastUsedAt = 0;

  constructor(options: LeanConnectionOptions) {
    const base = new URL(options.url);
    const secure = base.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.request = secure ? https.request : http.request;
    // Brackets off an IPv6 literal: `hostname` takes the address alone.
    this.hostname = base.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = base.port || (secure ? '443' : '80');
    this.path = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
    this.database = options.database;
    // The agent adds `Connection: keep-alive` itself; the bare-socket head has it below.
    this.headers = {
      Authorization: `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`,
      'User-Agent': `${options.application ?? 'otlp-pipeline'} lean-connection`,
    };
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.timeoutMessage = `Timeout error: no answer in ${this.timeoutMs} ms`;
    this.compression = options.compression ?? false;
    this.idleTtlMs = options.idleSocketTtlMs ?? 2_500;
    let head = `Host: ${base.host}\r\nConnection: keep-alive\r\n`;
    for (const [name, value] of Object.entries(this.headers)) head += `${name}: ${value}\r\n`;
    this.head = head;
    this.pool = new Http1Pool({
      host: this.hostname,
      port: Number(this.port),
      secure,
      timeoutMs: this.timeoutMs,
      timeoutMessage: this.timeoutMessage,
      idleTtlMs: this.idleTtlMs,
    });
  }

  /**
   * One request to `<base path><tail>?<search>`. A body of Buffers goes with its length; a stream
   * (a large compressed body) chunked, with backpressure.
   */
  send(
    method: 'GET' | 'POST',
    tail: string,
    search: string,
    body: readonly Buffer[] | Readable,
    extra?: Readonly<Record<string, string>>,
    signal?: AbortSignal,
  ): Promise<LeanResponse> {
    if (body instanceof Readable) return this.sendStream(tail, search, body, extra, signal);
    const path = search === '' ? this.path + tail : `${this.path}${tail}?${search}`;
    let head = `${method} ${path} HTTP/1.1\r\n${this.head}`;
    if (extra !== undefined) for (const name in extra) head += `${name}: ${extra[name]}\r\n`;
    if (method === 'POST') {
      let length = 0;
      for (const b of body) length += b.byteLength;
      head += `Content-Length: ${length}\r\n`;
    }
    return this.pool.request(`${head}\r\n`, body, signal).then(answer);
  }

  /** A body too large to hold (a streamed compressed insert): chunked, through `http.request`. */
  private sendStream(
    tail: string,
    search: string,
    body: Readable,
    extra?: Readonly<Record<string, string>>,
    signal?: AbortSignal,
  ): Promise<LeanResponse> {
    const method = 'POST';
    const now = Date.now();
    // Sockets idle past the TTL may have been closed by the server (or a frozen container):
    // drop them rather than fail on a reset.
    if (this.lastUsedAt > 0 && now - this.lastUsedAt > this.idleTtlMs) {
      for (const list of Object.values(this.agent.freeSockets)) for (const s of list ?? []) s.destroy();
    }
    this.lastUsedAt = now;
    const headers: Record<string, string> =
      extra === undefined ? { ...this.headers } : { ...this.headers, ...extra };
    return new Promise<LeanResponse>((resolve, reject) => {
      const req = this.request(
        {
          method,
          hostname: this.hostname,
          port: this.port,
          path: search === '' ? this.path + tail : `${this.path}${tail}?${search}`,
          agent: this.agent,
          headers,
          timeout: this.timeoutMs,
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('error', reject);
          res.on('end', () => {
            this.lastUsedAt = Date.now();
            const body = parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts);
            try {
              resolve(answer({ status: res.statusCode ?? 0, headers: res.headers, body }));
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(this.timeoutMessage)));
      req.on('error', reject);
      if (signal) {
        if (signal.aborted) req.destroy(new Error('The request was aborted'));
        else
          signal.addEventListener('abort', () => req.destroy(new Error('The request was aborted')), {
            once: true,
          });
      }
      body.once('error', (err) => req.destroy(err));
      body.pipe(req);
    });
  }

  close(): void {
    this.agent.destroy();
    this.pool.close();
  }
}

export class LeanHttpConnection implements Connection<Readable> {
  private readonly http: LeanHttp;

  /** Over its own transport, or over one shared with a LeanHttpRequests (one agent, one socket pool). */
  constructor(options: LeanConnectionOptions | LeanHttp) {
    this.http = options instanceof LeanHttp ? options : new LeanHttp(options);
  }

  async ping(params: ConnPingParams): Promise<ConnPingResult> {
    try {
      const queryId = params.query_id ?? randomUUID();
      if (params.select)
        await this.http.send(
          'GET',
          '',
          toSearchParams({ database: undefined, query: 'SELECT 1', query_id: queryId }).toString(),
          [],
        );
      else await this.http.send('GET', 'ping', '', []);
      return { success: true };
    } catch (error) {
      return { success: false, error: error as Error };
    }
  }

  async query(params: ConnBaseQueryParams): Promise<ConnQueryResult<Readable>> {
    const r = await this.post(params, undefined);
    return {
      stream: Readable.from(r.body.length > 0 ? [r.body] : [], { objectMode: false }),
      query_id: r.queryId,
      response_headers: r.headers,
      http_status_code: r.status,
    };
  }

  async insert(params: ConnInsertParams<Readable>): Promise<ConnInsertResult> {
    const chunks =
      typeof params.values === 'string' ? [Buffer.from(params.values)] : await chunksOf(params.values);
    const r = await this.post(params, chunks, this.http.compression);
    return {
      query_id: r.queryId,
      summary: summaryOf(r.headers),
      response_headers: r.headers,
      http_status_code: r.status,
    };
  }

  async exec(params: ConnExecParams<Readable>): Promise<ConnExecResult<Readable>> {
    const chunks = params.values === undefined ? undefined : await chunksOf(params.values);
    const r = await this.post(params, chunks, this.http.compression);
    return {
      stream: Readable.from(r.body.length > 0 ? [r.body] : [], { objectMode: false }),
      query_id: r.queryId,
      summary: summaryOf(r.headers),
      response_headers: r.headers,
      http_status_code: r.status,
    };
  }

  async command(params: ConnBaseQueryParams): Promise<ConnCommandResult> {
    const r = await this.post(params, undefined);
    return {
      query_id: r.queryId,
      summary: summaryOf(r.headers),
      response_headers: r.headers,
      http_status_code: r.status,
    };
  }

  async close(): Promise<void> {
    this.http.close();
  }

  /**
   * A POST: with `values`, the query travels in the URL and the values are the body (an insert);
   * without, the query is the body (or a multipart body with its parameters when they are long).
   */
  private async post(
    params: ConnBaseQueryParams,
    values: Buffer[] | undefined,
    compression: RequestCompressionOption = false,
  ): Promise<LeanResponse & { queryId: string }> {
    const queryId = params.query_id || randomUUID();
    const queryParams = params.query_params;
    const hasParams = queryParams !== undefined && Object.keys(queryParams).length > 0;
    let multipart = hasParams && values === undefined && params.use_multipart_params === true;
    let urlParams: [string, string][] | undefined;
    if (hasParams && !multipart && values === undefined && params.use_multipart_params_auto !== false) {
      const entries = serializeQueryParamsForUrl(queryParams);
      if (entries === null) multipart = true;
      else urlParams = entries;
    }
    const search = toSearchParams({
      database: this.http.database,
      ...(values !== undefined && { query: params.query }),
      ...(multipart ? {} : urlParams ? { param_entries: urlParams } : { query_params: queryParams }),
      ...(params.clickhouse_settings !== undefined && { clickhouse_settings: params.clickhouse_settings }),
      ...(params.session_id !== undefined && { session_id: params.session_id }),
      ...(params.role !== undefined && { role: params.role }),
      query_id: queryId,
    });
    const extra: Record<string, string> = { ...params.http_headers };
    let body: readonly Buffer[] | Readable;
    if (values !== undefined) {
      const encoded = encodedBody(values, compression);
      body = encoded.body;
      if (encoded.encoding !== undefined) extra['Content-Encoding'] = encoded.encoding;
    } else if (multipart && queryParams !== undefined) {
      const boundary = `----otlp-pipeline-${randomUUID()}`;
      body = [Buffer.from(multipartBody(params.query, queryParams, boundary))];
      extra['Content-Type'] = `multipart/form-data; boundary=${boundary}`;
    } else {
      body = [Buffer.from(params.query)];
    }
    const r = await this.http.send('POST', '', search.toString(), body, extra, params.abort_signal);
    return { ...r, queryId };
  }
}

/**
 * The hot writer's port (requests.ts) straight over the lean transport: no client between, so no
 * result-set or stream objects per request, no query id made here (the server assigns one), the
 * URL built as one string. About a third of the CPU per request of the client on LeanHttpConnection
 * (docs/decisions/0004).
 */
export class LeanHttpRequests implements ClickHouseRequests {
  /** `database=…&` or nothing: ClickHouse's `default` needs no parameter. */
  private readonly prefix: string;

  constructor(private readonly http: LeanHttp) {
    this.prefix = http.database === 'default' ? '' : `database=${encodeURIComponent(http.database)}&`;
  }

  async rows<T>(request: QueryRequest): Promise<T[]> {
    const r = await this.post(request, 'default_format=JSON&');
    const text = r.body.toString('utf8');
    try {
      return (JSON.parse(text) as { data: T[] }).data;
    } catch (err) {
      // An exception met after the answer began comes at the end of a 200 answer's body.
      if (EXCEPTION_IN_TEXT.test(text)) throw parseError(text);
      throw err;
    }
  }

  async command(request: QueryRequest): Promise<void> {
    await this.post(request, '');
  }

  async insertText(request: InsertTextRequest): Promise<void> {
    await this.insert(request, request.format, request.chunks);
  }

  async insertObjects(request: InsertObjectsRequest): Promise<void> {
    let text = '';
    for (const o of request.objects) text += `${JSON.stringify(o)}\n`;
    if (text === '') return;
    await this.insert(request, 'JSONEachRow', [Buffer.from(text)]);
  }

  private async insert(
    request: InsertTextRequest | InsertObjectsRequest,
    format: string,
    chunks: readonly Buffer[],
  ): Promise<void> {
    const columns = request.columns === undefined ? '' : ` (${request.columns.join(', ')})`;
    const query = `INSERT INTO ${request.table}${columns} FORMAT ${format}`;
    const search = `${this.prefix}${settingsSearch(request.settings)}query=${encodeURIComponent(query)}`;
    const { body, encoding } = encodedBody(chunks, this.http.compression);
    await this.http.send(
      'POST',
      '',
      search,
      body,
      encoding === undefined ? undefined : { 'Content-Encoding': encoding },
    );
  }

  /** The query as the body; its parameters in the URL, or with it in a multipart body when long. */
  private post(request: QueryRequest, format: string): Promise<LeanResponse> {
    let search = `${this.prefix}${format}${settingsSearch(request.settings)}`;
    const params = request.params;
    const entries = params === undefined ? [] : serializeQueryParamsForUrl(params as Record<string, unknown>);
    if (entries !== null) {
      for (const [k, v] of entries) search += `${k}=${encodeURIComponent(v)}&`;
      // No empty last field: some URL parsers read one as a setting with no name.
      return this.http.send('POST', '', search.slice(0, -1), [Buffer.from(request.query)]);
    }
    const boundary = `----otlp-pipeline-${randomUUID()}`;
    return this.http.send(
      'POST',
      '',
      search.slice(0, -1),
      [Buffer.from(multipartBody(request.query, params as Record<string, unknown>, boundary))],
      { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    );
  }
}

const EXCEPTION_IN_TEXT = /\bCode: \d+\. DB::Exception/;

/** `name=value&` for each setting, values formatted as the client formats them. */
function settingsSearch(settings: ClickHouseSettings | undefined): string {
  if (settings === undefined) return '';
  let out = '';
  for (const key in settings) {
    const value = settings[key as keyof ClickHouseSettings];
    if (value !== undefined) out += `${key}=${encodeURIComponent(formatQuerySettings(value))}&`;
  }
  return out;
}

/** The query and its parameters as a multipart/form-data body (parameters too long for a URL). */
function multipartBody(query: string, queryParams: Record<string, unknown>, boundary: string): string {
  const parts: Record<string, string> = { query };
  for (const [key, value] of Object.entries(queryParams))
    parts[`param_${key}`] = formatQueryParams({ value });
  return buildMultipartBody(parts, boundary);
}

/**
 * A stream's chunks as they were pushed, each by reference. Not `for await`: the async iterator
 * reads whatever is buffered in one `read()`, which joins the chunks into a copy, and the writer's
 * bodies repeat one large Buffer (a resource's attribute map) by reference at every row.
 */
function chunksOf(stream: Readable): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c));
    stream.once('error', reject);
    stream.once('end', () => resolve(chunks));
  });
}

/** The answer's body as sent: plain unless a setting asked the server to compress it. */
function decoded(body: Buffer, encoding: string | undefined): Buffer {
  if (encoding === undefined || encoding === 'identity' || body.length === 0) return body;
  if (encoding === 'gzip') return gunzipSync(body);
  if (encoding === 'br') return brotliDecompressSync(body);
  if (encoding === 'deflate') return inflateSync(body);
  throw new Error(
    `ClickHouse answered with Content-Encoding ${encoding}, which this connection does not read`,
  );
}

function summaryOf(headers: IncomingMessage['headers']): ConnInsertResult['summary'] {
  const raw = headers['x-clickhouse-summary'];
  if (typeof raw !== 'string') return undefined;
  try {
    return JSON.parse(raw) as ConnInsertResult['summary'];
  } catch {
    return undefined;
  }
}

/** Bodies up to this size are joined and compressed in one call; larger ones are streamed. */
const ONE_CALL_BYTES = 8 * 1024 * 1024;

/**
 * Bodies below this go uncompressed: they fit the request's first packet either way, and Brotli's
 * set-up (~8 µs a call) would buy a few hundred bytes at most (a usage row, a keep list, the
 * insert of a span or two).
 */
export const SMALL_BODY_BYTES = 1024;

/** An insert body as sent: compressed (with its Content-Encoding) unless small or turned off. */
function encodedBody(
  chunks: readonly Buffer[],
  compression: RequestCompressionOption,
): { body: readonly Buffer[] | Readable; encoding?: string } {
  if (compression === false) return { body: chunks };
  let size = 0;
  for (const c of chunks) size += c.byteLength;
  if (size < SMALL_BODY_BYTES) return { body: chunks };
  return compress(chunks, size, compression);
}

/** What a zstd body falls back to where zstd cannot do it (no zstd, or no stream for a large one). */
const ZSTD_FALLBACK = { codec: 'br', quality: 1 } as const;

/**
 * `chunks` compressed (one gzip member, Brotli stream or zstd frame, shared chunks included), with
 * its Content-Encoding. A small body in one call: Brotli fed chunk by chunk sent 103 B/span of the
 * workload's rows where one call sends 94, for the same CPU. A large one as a stream the request
 * reads with backpressure: its compressed form can be large too (a 250 KB attribute map repeated
 * on 1,000 rows lies beyond gzip's 32 KB window), and must not be held whole (docs/decisions/0004).
 */
function compress(
  chunks: readonly Buffer[],
  size: number,
  codec: Exclude<RequestCompressionOption, false>,
): { body: Buffer[] | Readable; encoding: string } {
  const oneCall = size <= ONE_CALL_BYTES;
  if (codec.codec === 'zstd' && (oneCall ? zstd : zstd?.compressStream) === undefined)
    return compress(chunks, size, ZSTD_FALLBACK);
  const encoding = codec.codec;
  if (oneCall) {
    const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as Buffer[], size);
    if (codec.codec === 'zstd') return { body: [zstd!.compress(whole, codec.level)], encoding };
    if (codec.codec === 'gzip') return { body: [gzipSync(whole, { level: codec.level })], encoding };
    return { body: [brotliCompressSync(whole, brotliOptions(codec.quality, size))], encoding };
  }
  const z =
    codec.codec === 'zstd'
      ? zstd!.compressStream!(codec.level)
      : codec.codec === 'gzip'
        ? createGzip({ level: codec.level })
        : createBrotliCompress(brotliOptions(codec.quality, size));
  return { body: pipeline(Readable.from(chunks, { objectMode: false }), z, () => {}), encoding };
}

function brotliOptions(quality: number, size: number) {
  return {
    params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: size },
  };
}
