import net from 'node:net';
import tls from 'node:tls';

/**
 * The lean connection's HTTP/1.1 client over a bare socket, for requests whose body is in memory
 * (every request of the hot writer but an insert body over 8 MiB). `http.request` spends CPU per
 * request on ClientRequest and IncomingMessage streams, the agent's bookkeeping, a timer per
 * request and llhttp's callbacks; this writes the request head and body in one `writev` and parses
 * the answer itself: ~0.2 ms less per small request here (bench/clickhouse-requests.ts: 229-279 µs
 * against 443-510, docs/decisions/0004).
 *
 * It speaks only what the lean connection needs: one request at a time per socket, keep-alive,
 * answers framed by Content-Length, chunked transfer coding or the connection's close. Anything it
 * cannot read as one of these is an error, never an answer: a request fails unless a whole
 * well-formed response arrived, so a failure is retried (an outage, same dedup token) and a
 * misread can never turn a failed insert into a success.
 */

export interface Http1Response {
  readonly status: number;
  /** Lower-case names, as Node's `IncomingMessage.headers`; a repeated header joined with `, `. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** A response that is not HTTP/1.1 as this client reads it. */
export class Http1ProtocolError extends Error {
  override readonly name = 'Http1ProtocolError';
  /** An outage code for errors.ts: the answer was lost, not refused. */
  readonly code = 'EPROTO';
}

/** Larger heads are refused (ClickHouse's are ~0.5 KB). */
const MAX_HEAD_BYTES = 64 * 1024;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CHUNK_LINE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/;
const DIGITS = /^\d{1,15}$/;

enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Done,
}

/**
 * One response, parsed from its bytes as they arrive (`push`), then `end` when the socket closed.
 * Throws Http1ProtocolError on anything malformed.
 */
export class ResponseParser {
  status = 0;
  headers: Record<string, string> = {};
  /** Whether the socket may carry another request after this response. */
  reusable = false;
  private state = State.Head;
  private pending: Buffer | undefined;
  private readonly parts: Buffer[] = [];
  private remaining = 0;

  /** The body, once done. */
  body(): Buffer {
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
  }

  /** Feeds bytes; true once the response is complete. Bytes after it are an error. */
  push(chunk: Buffer): boolean {
    if (this.state === State.Done) throw new Http1ProtocolError('bytes after the response');
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    let at = 0;
    while (at < buf.length || this.state === State.Done) {
      switch (this.state) {
        case State.Head: {
          const end = this.until(buf, at, HEAD_END, 'response head too large');
          if (end < 0) return false;
          const head = buf.toString('latin1', at, end);
          at = end + 4;
          this.head(head);
          break;
        }
        case State.Length:
        case State.ChunkData: {
          // `remaining` bytes of body: a Content-Length body's, or one chunk's.
          const n = Math.min(this.remaining, buf.length - at);
          this.parts.push(buf.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = this.state === State.Length ? State.Done : State.ChunkEnd;
          break;
        }
        case State.ChunkSize:
        case State.ChunkEnd:
        case State.Trailers: {
          const end = this.until(buf, at, CRLF, 'chunk line too long');
          if (end < 0) return false;
          const line = buf.toString('latin1', at, end);
          at = end + 2;
          this.line(line);
          break;
        }
        case State.UntilClose:
          this.parts.push(buf.subarray(at));
          at = buf.length;
          break;
        case State.Done:
          if (at < buf.length) throw new Http1ProtocolError('bytes after the response');
          return true;
      }
    }
    return false;
  }

  /**
   * Where `delimiter` starts in `buf` from `at`; -1 when it has not arrived yet, the bytes from `at`
   * then kept for the next push (up to MAX_HEAD_BYTES: past that, `tooLong`).
   */
  private until(buf: Buffer, at: number, delimiter: Buffer, tooLong: string): number {
    const end = buf.indexOf(delimiter, at);
    if (end >= 0) return end;
    if (buf.length - at > MAX_HEAD_BYTES) throw new Http1ProtocolError(tooLong);
    this.pending = buf.subarray(at);
    return -1;
  }

  /** The socket closed: true if that ends the response (a body framed by the close). */
  end(): boolean {
    if (this.state === State.UntilClose && this.pending === undefined) {
      this.state = State.Done;
      this.reusable = false;
      return true;
    }
    return this.state === State.Done;
  }

  private head(text: string): void {
    let eol = text.indexOf('\r\n');
    if (eol < 0) eol = text.length;
    const status = STATUS_LINE.exec(text.slice(0, eol));
    if (!status)
      throw new Http1ProtocolError(`not an HTTP/1.x status line: ${text.slice(0, Math.min(eol, 80))}`);
    const code = Number(status[2]);
    const headers: Record<string, string> = {};
    // Line by line with indexOf: a ClickHouse answer parses in ~3.7 µs, ~5.3 with a regex per line.
    for (let at = eol + 2; at < text.length; at = eol + 2) {
      eol = text.indexOf('\r\n', at);
      if (eol < 0) eol = text.length;
      const colon = text.indexOf(':', at);
      const name = colon < 0 || colon > eol ? '' : text.slice(at, colon);
      if (!TOKEN.test(name))
        throw new Http1ProtocolError(`malformed header line: ${text.slice(at, Math.min(eol, at + 80))}`);
      // Optional whitespace (space, tab) around the value, as Node trims it.
      let from = colon + 1;
      let to = eol;
      while (from < to && (text.charCodeAt(from) === 32 || text.charCodeAt(from) === 9)) from++;
      while (to > from && (text.charCodeAt(to - 1) === 32 || text.charCodeAt(to - 1) === 9)) to--;
      const value = text.slice(from, to);
      const key = name.toLowerCase();
      const prior = headers[key];
      headers[key] = prior === undefined ? value : `${prior}, ${value}`;
    }
    // An interim answer (100 Continue, 103 Early Hints): the real one follows.
    if (code >= 100 && code < 200) return;
    this.status = code;
    this.headers = headers;
    const connection = (headers.connection ?? '').toLowerCase();
    this.reusable = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    const coding = headers['transfer-encoding'];
    const length = headers['content-length'];
    if (code === 204 || code === 304) {
      this.state = State.Done;
    } else if (coding !== undefined) {
      // Only `chunked` is read; a server must not send Content-Length beside it.
      if (coding.toLowerCase() !== 'chunked' || length !== undefined)
        throw new Http1ProtocolError(`unsupported transfer coding: ${coding}`);
      this.state = State.ChunkSize;
    } else if (length !== undefined) {
      if (!DIGITS.test(length)) throw new Http1ProtocolError(`bad Content-Length: ${length}`);
      this.remaining = Number(length);
      this.state = this.remaining === 0 ? State.Done : State.Length;
    } else {
      this.state = State.UntilClose;
      this.reusable = false;
    }
  }

  private line(text: string): void {
    if (this.state === State.ChunkEnd) {
      if (text !== '') throw new Http1ProtocolError('chunk not followed by CRLF');
      this.state = State.ChunkSize;
      return;
    }
    if (this.state === State.Trailers) {
      if (text === '') this.state = State.Done;
      else if (!TOKEN.test(text.slice(0, Math.max(0, text.indexOf(':')))))
        throw new Http1ProtocolError('malformed trailer');
      return;
    }
    const size = CHUNK_LINE.exec(text);
    if (!size) throw new Http1ProtocolError(`bad chunk size line: ${text.slice(0, 80)}`);
    this.remaining = Number.parseInt(size[1]!, 16);
    this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
  }
}

export interface Http1PoolOptions {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** No answer (no byte either way) for this long fails the request. */
  readonly timeoutMs: number;
  readonly timeoutMessage: string;
  /** An idle socket older than this is closed, not reused. */
  readonly idleTtlMs: number;
}

interface Pending {
  readonly parser: ResponseParser;
  readonly resolve: (r: Http1Response) => void;
  readonly reject: (e: Error) => void;
}

const hangUp = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

/** One socket: at most one request on it at a time; idle in the pool between requests. */
class Conn {
  current: Pending | undefined;
  idleSince = 0;

  constructor(
    readonly socket: net.Socket,
    private readonly pool: Http1Pool,
    timeout: { readonly ms: number; readonly message: string },
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(timeout.ms);
    socket.on('timeout', () => socket.destroy(this.current ? new Error(timeout.message) : undefined));
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => {
      this.pool.forget(this);
      const p = this.current;
      if (!p) return;
      this.current = undefined;
      let complete = false;
      try {
        complete = p.parser.end();
      } catch (err) {
        p.reject(err as Error);
        return;
      }
      if (complete) p.resolve(response(p.parser));
      else p.reject(hangUp());
    });
  }

  private data(chunk: Buffer): void {
    const p = this.current;
    // Bytes while idle: nothing asked for them, the socket cannot be trusted with a next request.
    if (!p) {
      this.socket.destroy();
      return;
    }
    let complete: boolean;
    try {
      complete = p.parser.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (!complete) return;
    this.current = undefined;
    // An answer that came before the whole body was handed to the kernel (an early error to a
    // large insert): the server may read what follows as a next request, so no reuse.
    if (p.parser.reusable && this.socket.writableLength === 0) this.pool.release(this);
    else this.socket.destroy();
    p.resolve(response(p.parser));
  }

  private fail(err: Error): void {
    const p = this.current;
    this.current = undefined;
    this.pool.forget(this);
    this.socket.destroy();
    p?.reject(err);
  }
}

const response = (p: ResponseParser): Http1Response => ({
  status: p.status,
  headers: p.headers,
  body: p.body(),
});

/** Keep-alive sockets to one server, most recently used first. */
export class Http1Pool {
  private readonly idle: Conn[] = [];
  private readonly open = new Set<Conn>();
  private readonly timeout: { readonly ms: number; readonly message: string };

  constructor(private readonly options: Http1PoolOptions) {
    this.timeout = { ms: options.timeoutMs, message: options.timeoutMessage };
  }

  /**
   * Sends `head` (the request line and headers, ending in an empty line) and `body` in one write,
   * and resolves with the whole response, or rejects (socket error, timeout, close before the
   * response's end, an unreadable response, `signal`).
   */
  request(head: string, body: readonly Buffer[], signal?: AbortSignal): Promise<Http1Response> {
    if (signal?.aborted) return Promise.reject(new Error('The request was aborted'));
    const conn = this.take();
    return new Promise<Http1Response>((resolve, reject) => {
      if (signal === undefined) conn.current = { parser: new ResponseParser(), resolve, reject };
      else {
        const abort = () => conn.socket.destroy(new Error('The request was aborted'));
        signal.addEventListener('abort', abort, { once: true });
        // Not left on the signal: the socket may carry another request by then.
        const settled = () => signal.removeEventListener('abort', abort);
        conn.current = {
          parser: new ResponseParser(),
          resolve: (r) => {
            settled();
            resolve(r);
          },
          reject: (e) => {
            settled();
            reject(e);
          },
        };
      }
      const { socket } = conn;
      socket.cork();
      socket.write(head, 'latin1');
      for (const b of body) socket.write(b);
      socket.uncork();
    });
  }

  /** Called by a Conn whose response completed and may carry another. */
  release(conn: Conn): void {
    conn.idleSince = Date.now();
    // An idle socket must not keep the process alive (tests, CLIs).
    conn.socket.unref();
    this.idle.push(conn);
  }

  /** Called by a Conn that closed or failed. */
  forget(conn: Conn): void {
    this.open.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
  }

  close(): void {
    for (const c of this.open) c.socket.destroy();
    this.open.clear();
    this.idle.length = 0;
  }

  private take(): Conn {
    const now = Date.now();
    // Sockets idle past the TTL may have been closed by the server unseen (a frozen container).
    while (this.idle.length > 0 && now - this.idle[0]!.idleSince > this.options.idleTtlMs) {
      const stale = this.idle.shift()!;
      this.open.delete(stale);
      stale.socket.destroy();
    }
    for (let reused = this.idle.pop(); reused !== undefined; reused = this.idle.pop()) {
      // Destroyed while idle (a timeout, stray bytes) and not yet forgotten: its close is pending.
      if (reused.socket.destroyed) continue;
      reused.socket.ref();
      return reused;
    }
    const { host, port, secure } = this.options;
    const socket = secure
      ? tls.connect({ host, port, ...(net.isIP(host) === 0 && { servername: host }) })
      : net.connect({ host, port });
    const conn = new Conn(socket, this, this.timeout);
    this.open.add(conn);
    return conn;
  }
}
