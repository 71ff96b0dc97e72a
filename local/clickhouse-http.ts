import { constants } from 'node:buffer';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { Session } from 'chdb';
import { zstd, zstdMissing } from '../functions/shared/compression/zstd.js';

/**
 * The ClickHouse HTTP interface over embedded ClickHouse (chdb), on loopback, for local mode and
 * tests: `@clickhouse/client` over HTTP (the production code path), Grafana's ClickHouse plugin,
 * HyperDX, DBeaver and curl all work against local data.
 *
 * What it serves, as the server does: the SQL in the `query` URL parameter and/or the body
 * (concatenated, so `INSERT … FORMAT X` in the URL takes its rows from the body), query parameters
 * `param_<name>` (URL or multipart/form-data body) for `{name:Type}`, settings as URL parameters
 * (scoped to the request), `database`, `default_format`, `query_id`, basic /
 * `X-ClickHouse-User`+`X-ClickHouse-Key` / `user`+`password` authentication against one configured
 * user, gzip/deflate/br/zstd request bodies and gzip/deflate/br responses
 * (`enable_http_compression=1` + `Accept-Encoding`), GET as read-only, `/ping`, and errors with ClickHouse's HTTP status,
 * `X-ClickHouse-Exception-Code` and the `Code: N. DB::Exception: …` text. Successful responses carry
 * `X-ClickHouse-Query-Id`, `X-ClickHouse-Summary`, `X-ClickHouse-Format` and `X-ClickHouse-Timezone`.
 *
 * Not served: sessions (`session_id` is ignored: every request stands alone), the native
 * compression (`compress=1`), binary insert formats (chdb takes insert bodies as text),
 * `INSERT … SELECT … FROM input()` (refused: chdb reads no rows through it), progress headers, and
 * `SET`/`USE` as a statement of their own (accepted, with no effect past the request, which is
 * what a server does without a session).
 *
 * Each request runs on a chdb session of its own from a small pool: settings and the database are
 * applied to that session and reset before it serves another request, so they never leak into
 * another request (chdb applies settings session-wide; see docs/decisions/0004, "Embedded
 * ClickHouse"). Insert settings go into the statement's own `SETTINGS` clause.
 */

export interface ClickHouseHttpOptions {
  /** chdb data directory: the same one as the process's other embedded clients. */
  readonly path: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 8123 */
  readonly port?: number;
  /** The one user accepted. @default 'default' */
  readonly user?: string;
  /** @default '' */
  readonly password?: string;
  /** Concurrent statements (one chdb session each). @default 4 */
  readonly sessions?: number;
}

export interface ClickHouseHttpServer {
  /** e.g. http://127.0.0.1:8123 */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A ClickHouse exception: its code, its name, its text. */
export class ClickHouseHttpException extends Error {
  override readonly name = 'ClickHouseHttpException';
  constructor(
    readonly code: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
  /** The text a server sends: `Code: N. DB::Exception: message. (TYPE)`. */
  text(): string {
    return `Code: ${this.code}. DB::Exception: ${this.message}. (${this.type})`;
  }
}

/**
 * The HTTP status ClickHouse sends for an exception code: authentication 401/403, malformed input
 * 400, unknown names 404, a few server conditions 408/411/413/415/501/503, everything else 500.
 * (Codes from the engine's errorCodeToName; the server answers 500 for READONLY too.)
 */
export function httpStatusOf(code: number): number {
  return HTTP_STATUS.get(code) ?? 500;
}

const HTTP_STATUS = new Map<number, number>([
  [194, 401], // REQUIRED_PASSWORD
  // UNKNOWN_USER, WRONG_PASSWORD, AUTHENTICATION_FAILED, SET_NON_GRANTED_ROLE, ACCESS_DENIED
  ...[192, 193, 516, 512, 497].map((c) => [c, 403] as const),
  // BAD_ARGUMENTS, CANNOT_COMPILE_REGEXP, CANNOT_PARSE_* (text, escape, quoted, date, datetime, number,
  // domain value, IPv4, IPv6, input assertion, UUID), DUPLICATE_COLUMN, ILLEGAL_COLUMN,
  // UNKNOWN_ELEMENT_IN_AST, UNKNOWN_TYPE_OF_AST_NODE, THERE_IS_NO_COLUMN, TOO_DEEP_AST, TOO_BIG_AST,
  // UNEXPECTED_AST_STRUCTURE, SYNTAX_ERROR, INCORRECT_DATA, TYPE_MISMATCH, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  ...[
    36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376, 15, 44, 37, 123, 8, 167, 168, 223, 62, 117, 53,
    321,
  ].map((c) => [c, 400] as const),
  // UNKNOWN_TABLE, _FUNCTION, _IDENTIFIER, _TYPE, _STORAGE, _DATABASE, _SETTING, _DIRECTION_OF_SORTING,
  // _AGGREGATE_FUNCTION, _FORMAT, _DATABASE_ENGINE, _TYPE_OF_QUERY, _ROLE
  ...[60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511].map((c) => [c, 404] as const),
  [229, 413], // QUERY_IS_TOO_LARGE
  [48, 501], // NOT_IMPLEMENTED
  [209, 503], // SOCKET_TIMEOUT
  [76, 503], // CANNOT_OPEN_FILE
  [381, 411], // HTTP_LENGTH_REQUIRED
  [159, 408], // TIMEOUT_EXCEEDED
  [439, 503], // CANNOT_SCHEDULE_TASK
  [779, 415], // UNSUPPORTED_MEDIA_TYPE
]);

/** URL parameters that are not settings. */
const NOT_SETTINGS = new Set([
  'query',
  'database',
  'default_format',
  'user',
  'password',
  'query_id',
  'session_id',
  'session_timeout',
  'session_check',
  'compress',
  'decompress',
  'buffer_size',
  'wait_end_of_query',
  'role',
  'quota_key',
  'stacktrace',
  'enable_http_compression',
  'http_zlib_compression_level',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'http_response_buffer_size',
  'http_wait_end_of_query',
  'http_native_compression_disable_checksumming_on_decompress',
  'cancel_http_readonly_queries_on_client_close',
]);

/**
 * Server defaults that chdb changes: a server quotes 64-bit integers in JSON output (JavaScript
 * cannot hold them as numbers), chdb does not. Applied to every session, restored after a request.
 */
const SERVER_DEFAULTS: Readonly<Record<string, string>> = { output_format_json_quote_64bit_integers: '1' };

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const READ_ONLY = /^\s*(\(\s*)*(SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN)\b/i;
const SESSION_STATEMENT = /^\s*(SET|USE)\s/i;
/** The head of `INSERT … FORMAT X`: settings go right before FORMAT. */
const INSERT_FORMAT = /^\s*INSERT\b[\s\S]*?\sFORMAT\s+[A-Za-z][A-Za-z0-9]*/i;
/** The `input()` table function, which reads an insert's rows from the request body. */
const INPUT_FUNCTION = /\binput\s*\(/i;
const TRAILING_FORMAT = /\bFORMAT\s+([A-Za-z][A-Za-z0-9]*)\s*;?\s*$/i;

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotliDecompress = promisify(zlib.brotliDecompress);
const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);
const brotliCompress = promisify(zlib.brotliCompress);

/** An insert reaches chdb as one string with its statement: no decoded body can be longer. */
const MAX_DECODED_BODY_BYTES = constants.MAX_STRING_LENGTH;

async function decodeBody(body: Buffer, encoding: string | undefined): Promise<Buffer> {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return body;
    case 'gzip':
    case 'x-gzip':
      return gunzip(body);
    case 'deflate':
      return inflate(body);
    case 'br':
      return brotliDecompress(body);
    case 'zstd':
      // What the hot writer sends on Node 22 (connect.ts); the WebAssembly build on older Node.
      if (!zstd) throw new ClickHouseHttpException(48, 'NOT_IMPLEMENTED', zstdMissing ?? 'no zstd');
      return zstd.decompressBounded(body, MAX_DECODED_BODY_BYTES);
    default:
      throw new ClickHouseHttpException(
        48,
        'NOT_IMPLEMENTED',
        `Unknown Content-Encoding ${JSON.stringify(encoding)} (gzip, deflate, br and zstd are served)`,
      );
  }
}

function responseEncoding(accept: string | undefined): 'gzip' | 'deflate' | 'br' | undefined {
  const offered = (accept ?? '').toLowerCase();
  for (const codec of ['gzip', 'br', 'deflate'] as const) if (offered.includes(codec)) return codec;
  return undefined;
}

async function encode(body: Buffer, codec: 'gzip' | 'deflate' | 'br'): Promise<Buffer> {
  return codec === 'gzip' ? gzip(body) : codec === 'deflate' ? deflate(body) : brotliCompress(body);
}

/** `name="value"` parts of a multipart/form-data body. */
export function parseMultipart(body: Buffer, boundary: string): Map<string, string> {
  const parts = new Map<string, string>();
  const text = body.toString('utf8');
  for (const chunk of text.split(`--${boundary}`)) {
    const split = chunk.indexOf('\r\n\r\n');
    if (split < 0) continue;
    const name = /name="([^"]*)"/.exec(chunk.slice(0, split))?.[1];
    if (name === undefined) continue;
    let value = chunk.slice(split + 4);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    parts.set(name, value);
  }
  return parts;
}

/** Undoes ClickHouse's escaped text format (what `param_*` values are written in). */
export function unescapeText(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\' || i === s.length - 1) {
      out += c;
      continue;
    }
    const n = s[++i]!;
    const simple: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      b: '\b',
      f: '\f',
      '0': '\0',
      a: '\x07',
      v: '\v',
      e: '\x1b',
    };
    if (n in simple) out += simple[n];
    else if (n === 'x' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out += String.fromCharCode(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out += n;
  }
  return out;
}

/** chdb's binder takes a tuple as an object of this shape (matched by constructor name). */
class TupleParam {
  constructor(readonly values: unknown[]) {}
}

/**
 * Parses a composite literal (`['a','b\'c']`, `{'k':1}`, `(1,'x')`) into the JS value chdb's binder
 * serializes back to the same literal. Needed only when the text holds a backslash: chdb escapes
 * backslashes of a string parameter once more, which would change what the engine reads.
 */
export function parseLiteral(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === "'") {
      let j = i + 1;
      let raw = '';
      while (j < text.length && text[j] !== "'") {
        if (text[j] === '\\' && j + 1 < text.length) {
          raw += text.slice(j, j + 2);
          j += 2;
        } else raw += text[j++];
      }
      i = j + 1;
      return unescapeText(raw);
    }
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')';
      i++;
      const items: unknown[] = [];
      ws();
      while (i < text.length && text[i] !== close) {
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        ws();
      }
      i++;
      return c === '[' ? items : new TupleParam(items);
    }
    if (c === '{') {
      i++;
      const map = new Map<unknown, unknown>();
      ws();
      while (i < text.length && text[i] !== '}') {
        const k = value();
        ws();
        if (text[i] === ':') i++;
        map.set(k, value());
        ws();
        if (text[i] === ',') i++;
        ws();
      }
      i++;
      return map;
    }
    const m = /^[^,\])}:\s]+/.exec(text.slice(i));
    const token = m?.[0] ?? '';
    i += token.length;
    if (/^NULL$/i.test(token)) return null;
    if (/^(true|false)$/i.test(token)) return token.toLowerCase() === 'true';
    if (/^-?\d+$/.test(token)) return BigInt(token);
    return Number(token);
  };
  return value();
}

/** The placeholder types of a statement: `{name:Type}` -> name -> Type. */
function placeholderTypes(sql: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of sql.matchAll(/\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^}]+)\}/g))
    types.set(m[1]!, m[2]!.trim());
  return types;
}

const COMPOSITE = /^(Nullable\()?(Array|Map|Tuple)\(/;

/**
 * HTTP `param_*` text -> what chdb's binder turns back into that text. Text without backslashes or
 * control characters passes through (the binder leaves it unchanged); otherwise scalars are
 * unescaped (the binder escapes them again) and composites parsed into JS values.
 */
export function toChdbParam(text: string, type: string | undefined): unknown {
  if (!/[\\\0\b\f\n\r\t]/.test(text)) return text;
  if (type && COMPOSITE.test(type)) return parseLiteral(text);
  return unescapeText(text);
}

function literal(value: string): string {
  return /^-?\d+(\.\d+)?$/.test(value) ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function contentType(format: string): string {
  if (/^JSON/i.test(format) && !/EachRow|Lines|Strings?EachRow/i.test(format))
    return 'application/json; charset=UTF-8';
  if (/EachRow/i.test(format)) return 'application/x-ndjson; charset=UTF-8';
  if (/^CSV/i.test(format)) return 'text/csv; charset=UTF-8; header=absent';
  if (/^(TSV|TabSeparated)/i.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  return 'text/plain; charset=UTF-8';
}

function countLines(text: string, from: number): number {
  let n = 0;
  let content = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      if (content) n++;
      content = false;
    } else if (c !== 13 && c !== 32 && c !== 9) content = true;
  }
  return content ? n + 1 : n;
}

interface ChdbFailure {
  readonly message?: unknown;
  readonly clickhouseCode?: unknown;
}

/** A chdb error as a ClickHouse exception (its message already reads `Code: N. DB::Exception: …`). */
function asException(err: unknown): { code: number; text: string } {
  if (err instanceof ClickHouseHttpException) return { code: err.code, text: err.text() };
  const e = (err ?? {}) as ChdbFailure;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const parsed = /Code: (\d+)\./.exec(message);
  const code = typeof e.clickhouseCode === 'number' ? e.clickhouseCode : parsed ? Number(parsed[1]) : 1001; // STD_EXCEPTION
  return {
    code,
    text: parsed ? message.slice(parsed.index) : `Code: ${code}. DB::Exception: ${message}. (STD_EXCEPTION)`,
  };
}

/** A fixed set of chdb sessions, one per running statement. */
class SessionPool {
  private readonly idle: Session[] = [];
  private readonly waiting: ((s: Session) => void)[] = [];
  private readonly all: Session[] = [];
  constructor(
    private readonly path: string,
    private readonly size: number,
  ) {}

  /** Runs on a free session; `discard()` (say, when its settings could not be reset) closes it instead. */
  async use<T>(run: (s: Session, discard: () => void) => Promise<T>): Promise<T> {
    const session = await this.acquire();
    let discarded = false;
    try {
      return await run(session, () => {
        discarded = true;
      });
    } finally {
      if (discarded) {
        this.all.splice(this.all.indexOf(session), 1);
        session.close();
        // A waiter gets a fresh session.
        const next = this.waiting.shift();
        if (next) this.acquire().then(next, () => this.waiting.unshift(next));
      } else {
        const next = this.waiting.shift();
        if (next) next(session);
        else this.idle.push(session);
      }
    }
  }

  private async acquire(): Promise<Session> {
    const free = this.idle.pop();
    if (free) return free;
    if (this.all.length < this.size) {
      const s = new Session(this.path);
      this.all.push(s);
      const defaults = Object.entries(SERVER_DEFAULTS).map(([k, v]) => `SET ${k} = ${literal(v)}`);
      await s.queryAsync(defaults.join('; '));
      return s;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): void {
    for (const s of this.all) s.close();
  }
}

interface Credentials {
  readonly user: string;
  readonly password: string;
}

function credentials(req: IncomingMessage, params: URLSearchParams): Credentials {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const at = decoded.indexOf(':');
    return at < 0
      ? { user: decoded, password: '' }
      : { user: decoded.slice(0, at), password: decoded.slice(at + 1) };
  }
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    user: header('x-clickhouse-user') ?? params.get('user') ?? 'default',
    password: header('x-clickhouse-key') ?? params.get('password') ?? '',
  };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Summary {
  read_rows: string;
  read_bytes: string;
  written_rows: string;
  written_bytes: string;
  total_rows_to_read: string;
  result_rows: string;
  result_bytes: string;
  elapsed_ns: string;
}

export async function startClickHouseHttp(options: ClickHouseHttpOptions): Promise<ClickHouseHttpServer> {
  const host = options.host ?? '127.0.0.1';
  const user = options.user ?? 'default';
  const password = options.password ?? '';
  const pool = new SessionPool(options.path, Math.max(1, options.sessions ?? 4));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const params = url.searchParams;
    if (url.pathname === '/ping' || url.pathname === '/replicas_status') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/' && url.pathname !== '/query') {
      throw new ClickHouseHttpException(
        1001,
        'STD_EXCEPTION',
        `There is no handle ${url.pathname} (served: /, /ping, /replicas_status)`,
      );
    }
    const given = credentials(req, params);
    if (given.user !== user || !sameSecret(given.password, password)) {
      throw new ClickHouseHttpException(
        516,
        'AUTHENTICATION_FAILED',
        `${given.user}: Authentication failed: password is incorrect, or there is no user with such name`,
      );
    }
    if (req.method === 'GET' && !params.has('query')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }

    // ClickHouse's own LZ4 framing (JDBC and clickhouse-go can ask for it): refuse it plainly rather
    // than send what the client would misread.
    for (const p of ['compress', 'decompress'] as const) {
      if (params.get(p) === '1') {
        throw new ClickHouseHttpException(
          48,
          'NOT_IMPLEMENTED',
          `${p}=1 (ClickHouse native compression) is not served locally: turn it off in the client (e.g. the driver property compress=false); gzip is served`,
        );
      }
    }
    let body = await decodeBody(await readBody(req), req.headers['content-encoding']);
    const queryParams = new Map<string, string>();
    for (const [k, v] of params) if (k.startsWith('param_')) queryParams.set(k.slice(6), v);
    let urlQuery = params.get('query') ?? '';
    const boundary = /multipart\/form-data;.*boundary=("?)([^";]+)\1/i.exec(
      req.headers['content-type'] ?? '',
    );
    if (boundary) {
      for (const [k, v] of parseMultipart(body, boundary[2]!)) {
        if (k === 'query') urlQuery = urlQuery ? `${urlQuery}\n${v}` : v;
        else if (k.startsWith('param_')) queryParams.set(k.slice(6), v);
      }
      body = Buffer.alloc(0);
    }
    const bodyText = body.toString('utf8');
    let sql = urlQuery && bodyText.length > 0 ? `${urlQuery}\n${bodyText}` : urlQuery || bodyText;
    if (sql.trim() === '') throw new ClickHouseHttpException(62, 'SYNTAX_ERROR', 'Empty query');
    if (req.method === 'GET' && !READ_ONLY.test(sql) && !SESSION_STATEMENT.test(sql)) {
      throw new ClickHouseHttpException(
        164,
        'READONLY',
        'Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries',
      );
    }

    const settings: [string, string][] = [];
    for (const [k, v] of params) {
      if (NOT_SETTINGS.has(k) || k.startsWith('param_')) continue;
      if (!SETTING_NAME.test(k))
        throw new ClickHouseHttpException(115, 'UNKNOWN_SETTING', `Unknown setting ${k}`);
      settings.push([k, v]);
    }
    const format = params.get('default_format') ?? 'TabSeparated';
    const database = params.get('database');
    const compressOut =
      params.get('enable_http_compression') === '1'
        ? responseEncoding(req.headers['accept-encoding'])
        : undefined;

    const insertHead = INSERT_FORMAT.exec(sql);
    // chdb takes an insert's rows inline with its statement, where `input()` reads none: the insert
    // would answer 200 having stored nothing. Refuse it rather than lose the rows.
    if (insertHead && INPUT_FUNCTION.test(insertHead[0])) {
      throw new ClickHouseHttpException(
        48,
        'NOT_IMPLEMENTED',
        'INSERT … SELECT … FROM input() is not served locally (embedded ClickHouse reads no rows through input()): send the rows as INSERT INTO <table> (<columns>) FORMAT <format>',
      );
    }
    // chdb reports no written rows: count the body's rows (exact for the line-delimited formats).
    const insertedRows = insertHead ? countLines(sql, insertHead[0].length) : 0;
    const toSet: [string, string][] = [];
    if (settings.length > 0) {
      if (insertHead) {
        const at = insertHead[0].search(/\sFORMAT\s+[A-Za-z][A-Za-z0-9]*$/i);
        const clause = settings.map(([k, v]) => `${k} = ${literal(v)}`).join(', ');
        sql = `${sql.slice(0, at)} SETTINGS ${clause}${sql.slice(at)}`;
      } else {
        toSet.push(...settings);
      }
    }
    // Placeholders live in the statement, never in an insert's rows: skip scanning those.
    const types = placeholderTypes(insertHead ? insertHead[0] : sql);
    const bound: Record<string, unknown> = {};
    for (const [k, v] of queryParams) bound[k] = toChdbParam(v, types.get(k));

    const started = performance.now();
    const result = SESSION_STATEMENT.test(sql)
      ? undefined
      : await pool.use(async (session, discard) => {
          const state: string[] = [];
          if (database && database !== 'default') state.push(`USE ${database.replace(/[^A-Za-z0-9_]/g, '')}`);
          for (const [k, v] of toSet) state.push(`SET ${k} = ${literal(v)}`);
          const reset = [
            ...(state.length > 0 && database && database !== 'default' ? ['USE default'] : []),
            ...toSet.map(
              ([k]) => `SET ${k} = ${k in SERVER_DEFAULTS ? literal(SERVER_DEFAULTS[k]!) : 'DEFAULT'}`,
            ),
          ];
          try {
            if (state.length > 0) await session.queryAsync(state.join('; '));
            return Object.keys(bound).length > 0
              ? await session.queryBindAsync(sql, bound, { format })
              : await session.queryAsync(sql, { format });
          } finally {
            // A session whose settings could not be reset must not serve another request.
            if (reset.length > 0) await session.queryAsync(reset.join('; ')).catch(discard);
          }
        });
    const out = result ? Buffer.from(result.bytes()) : Buffer.alloc(0);
    const rows = String(result?.rowsRead ?? 0);
    const bytes = String(result?.bytesRead ?? 0);
    const summary: Summary = {
      read_rows: rows,
      read_bytes: bytes,
      written_rows: String(insertedRows),
      written_bytes: insertHead ? String(sql.length - insertHead[0].length) : '0',
      total_rows_to_read: '0',
      result_rows: insertHead ? '0' : rows,
      result_bytes: insertHead ? '0' : String(out.length),
      elapsed_ns: String(Math.round((result?.elapsed ?? (performance.now() - started) / 1000) * 1e9)),
    };
    const outFormat = insertHead ? format : (TRAILING_FORMAT.exec(sql)?.[1] ?? format);
    const headers: Record<string, string> = {
      'Content-Type': contentType(outFormat),
      'X-ClickHouse-Format': outFormat,
      'X-ClickHouse-Summary': JSON.stringify(summary),
    };
    const payload = compressOut && out.length > 0 ? await encode(out, compressOut) : out;
    if (compressOut && out.length > 0) headers['Content-Encoding'] = compressOut;
    res.writeHead(200, headers).end(payload);
  };

  const server = createServer((req, res) => {
    const queryId = new URL(req.url ?? '/', 'http://localhost').searchParams.get('query_id') || randomUUID();
    res.setHeader('X-ClickHouse-Query-Id', queryId);
    res.setHeader('X-ClickHouse-Timezone', 'UTC');
    res.setHeader('X-ClickHouse-Server-Display-Name', 'chdb-local');
    handle(req, res).catch((err: unknown) => {
      const { code, text } = asException(err);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res
        .writeHead(httpStatusOf(code), {
          'Content-Type': 'text/plain; charset=UTF-8',
          'X-ClickHouse-Exception-Code': String(code),
        })
        .end(`${text}\n`);
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8123, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => pool.close());
      return closed;
    },
  };
}
