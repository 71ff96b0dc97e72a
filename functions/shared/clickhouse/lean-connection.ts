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
import { parseError } from '@clickhouse/client';
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
  serializeQueryParamsForUrl,
  toSearchParams,
} from '@clickhouse/client/dist/common/index.js';
// Not re-exported at the top level; the package has no exports map, so its common module is reachable.
import type { RequestCompressionOption } from './connect.js';

/**
 * A lean HTTP(S) connection for `@clickhouse/client` (plugged in with `createClient({ connection })`,
 * the hook chdb uses): one `http.request` per call with the whole response read into memory. The
 * client's own connection spends ~1.2-1.9 ms of CPU per request on stream pipelines, abort
 * controllers, socket bookkeeping and a zlib stream for every response; this one ~0.3-0.4 ms, a
 * bare `http.request` ~0.25 (docs/decisions/0004). At 512 spans and three round trips per
 * invocation that was ~10 µs per span. Built for the hot writer's requests (inserts, small result
 * sets): a result is buffered, not streamed, so big reads belong on the client's own connection.
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

interface Response {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  readonly queryId: string;
}

const EMPTY = Buffer.alloc(0);

export class LeanHttpConnection implements Connection<Readable> {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly compression: RequestCompressionOption;
  private readonly idleTtlMs: number;
  private lastUsedAt = 0;

  constructor(private readonly options: LeanConnectionOptions) {
    this.base = new URL(options.url);
    const secure = this.base.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.request = secure ? https.request : http.request;
    this.headers = {
      Authorization: `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`,
      Connection: 'keep-alive',
      'User-Agent': `${options.application ?? 'otlp-pipeline'} lean-connection`,
    };
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.compression = options.compression ?? false;
    this.idleTtlMs = options.idleSocketTtlMs ?? 2_500;
  }

  async ping(params: ConnPingParams): Promise<ConnPingResult> {
    try {
      const url = new URL(this.base);
      const queryId = params.query_id ?? randomUUID();
      if (params.select)
        url.search = toSearchParams({ database: undefined, query: 'SELECT 1', query_id: queryId }).toString();
      else url.pathname = url.pathname === '/' ? '/ping' : `${url.pathname}/ping`;
      await this.send('GET', url, [], queryId);
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
    const r = await this.post(params, chunks, this.compression);
    return {
      query_id: r.queryId,
      summary: summaryOf(r),
      response_headers: r.headers,
      http_status_code: r.status,
    };
  }

  async exec(params: ConnExecParams<Readable>): Promise<ConnExecResult<Readable>> {
    const chunks = params.values === undefined ? undefined : await chunksOf(params.values);
    const r = await this.post(params, chunks, this.compression);
    return {
      stream: Readable.from(r.body.length > 0 ? [r.body] : [], { objectMode: false }),
      query_id: r.queryId,
      summary: summaryOf(r),
      response_headers: r.headers,
      http_status_code: r.status,
    };
  }

  async command(params: ConnBaseQueryParams): Promise<ConnCommandResult> {
    const r = await this.post(params, undefined);
    return {
      query_id: r.queryId,
      summary: summaryOf(r),
      response_headers: r.headers,
      http_status_code: r.status,
    };
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  /**
   * A POST: with `values`, the query travels in the URL and the values are the body (an insert);
   * without, the query is the body (or a multipart body with its parameters when they are long).
   */
  private async post(
    params: ConnBaseQueryParams,
    values: Buffer[] | undefined,
    compression: RequestCompressionOption = false,
  ): Promise<Response> {
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
      database: this.options.database,
      ...(values !== undefined && { query: params.query }),
      ...(multipart ? {} : urlParams ? { param_entries: urlParams } : { query_params: queryParams }),
      ...(params.clickhouse_settings !== undefined && { clickhouse_settings: params.clickhouse_settings }),
      ...(params.session_id !== undefined && { session_id: params.session_id }),
      ...(params.role !== undefined && { role: params.role }),
      query_id: queryId,
    });
    const url = new URL(this.base);
    url.search = search.toString();
    const extra: Record<string, string> = { ...params.http_headers };
    let body: Buffer[] | Readable;
    if (values !== undefined) {
      body = compression === false ? values : compress(values, compression);
      if (compression !== false) extra['Content-Encoding'] = compression.codec;
    } else if (multipart && queryParams !== undefined) {
      const boundary = `----otlp-pipeline-${randomUUID()}`;
      const parts: Record<string, string> = { query: params.query };
      for (const [key, value] of Object.entries(queryParams))
        parts[`param_${key}`] = formatQueryParams({ value });
      body = [Buffer.from(buildMultipartBody(parts, boundary))];
      extra['Content-Type'] = `multipart/form-data; boundary=${boundary}`;
    } else {
      body = [Buffer.from(params.query)];
    }
    return this.send('POST', url, body, queryId, extra, params.abort_signal);
  }

  private send(
    method: 'GET' | 'POST',
    url: URL,
    body: readonly Buffer[] | Readable,
    queryId: string,
    extra: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Response> {
    const now = Date.now();
    // Sockets idle past the TTL may have been closed by the server (or a frozen container):
    // drop them rather than fail on a reset.
    if (this.lastUsedAt > 0 && now - this.lastUsedAt > this.idleTtlMs) {
      for (const list of Object.values(this.agent.freeSockets)) for (const s of list ?? []) s.destroy();
    }
    this.lastUsedAt = now;
    // A stream (a large compressed body) goes chunked, with backpressure; buffers with their length.
    let length = 0;
    if (!(body instanceof Readable)) for (const b of body) length += b.byteLength;
    return new Promise<Response>((resolve, reject) => {
      const req = this.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            ...this.headers,
            ...extra,
            ...(method === 'POST' && !(body instanceof Readable) && { 'Content-Length': String(length) }),
          },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('error', reject);
          res.on('end', () => {
            this.lastUsedAt = Date.now();
            let data: Buffer;
            try {
              data = decoded(
                parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts),
                res.headers['content-encoding'],
              );
            } catch (err) {
              reject(err);
              return;
            }
            const status = res.statusCode ?? 0;
            if (status !== 200 || res.headers['x-clickhouse-exception-code'] !== undefined) {
              reject(parseError(data.toString('utf8') || `HTTP ${status}`));
              return;
            }
            resolve({ status, headers: res.headers, body: data, queryId });
          });
        },
      );
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(new Error(`Timeout error: no answer in ${this.timeoutMs} ms`)),
      );
      req.on('error', reject);
      if (signal) {
        if (signal.aborted) req.destroy(new Error('The request was aborted'));
        else
          signal.addEventListener('abort', () => req.destroy(new Error('The request was aborted')), {
            once: true,
          });
      }
      if (body instanceof Readable) {
        body.once('error', (err) => req.destroy(err));
        body.pipe(req);
      } else {
        for (const b of body) req.write(b);
        req.end();
      }
    });
  }
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

function summaryOf(r: Response): ConnInsertResult['summary'] {
  const raw = r.headers['x-clickhouse-summary'];
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
 * `chunks` compressed (one gzip member or Brotli stream, shared chunks included). A small body in
 * one call: Brotli fed chunk by chunk sent 103 B/span of the workload's rows where one call sends
 * 94, for the same CPU. A large one as a stream the request reads with backpressure: its
 * compressed form can be large too (a 250 KB attribute map repeated on 1,000 rows lies beyond
 * gzip's 32 KB window), and must not be held whole (docs/decisions/0004).
 */
function compress(
  chunks: readonly Buffer[],
  codec: Exclude<RequestCompressionOption, false>,
): Buffer[] | Readable {
  let size = 0;
  for (const c of chunks) size += c.byteLength;
  const brotli = {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: codec.codec === 'br' ? codec.quality : 0,
      [constants.BROTLI_PARAM_SIZE_HINT]: size,
    },
  };
  if (size <= ONE_CALL_BYTES) {
    const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as Buffer[], size);
    return [
      codec.codec === 'gzip' ? gzipSync(whole, { level: codec.level }) : brotliCompressSync(whole, brotli),
    ];
  }
  const z = codec.codec === 'gzip' ? createGzip({ level: codec.level }) : createBrotliCompress(brotli);
  return pipeline(Readable.from(chunks, { objectMode: false }), z, () => {});
}
