import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyClickHouseError } from '../../../../functions/shared/clickhouse/errors.js';
import {
  Http1Pool,
  type Http1Response,
  ResponseParser,
} from '../../../../functions/shared/clickhouse/http1.js';

// The lean connection's bare-socket HTTP/1.1 client (http1.ts), held to Node's own HTTP client
// (llhttp) on the same response bytes: a raw TCP server answers each request with crafted bytes,
// written in pieces, and both clients must read the same status, headers and body. Malformed
// answers must fail (an outage: retried with the same dedup token), never read as an answer. The
// lean connection's and the writer's tests run over it against the local ClickHouse HTTP interface
// (lean-connection, requests, *.over-lean-http).

/** What the server does for the n-th request it reads. */
type Reply = { readonly pieces: readonly Buffer[]; readonly close?: boolean } | 'silent' | 'reset';

interface RawServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: () => number;
  /** Writes `bytes` on every open connection, outside any answer. */
  readonly send: (bytes: Buffer) => void;
}

const closers: (() => Promise<void>)[] = [];
const pools: Http1Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  for (const c of closers.splice(0)) await c();
});

/** Reads whole requests (head + Content-Length body) and answers each as `reply(n)` says. */
async function serve(reply: (n: number) => Reply): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let acc = Buffer.alloc(0);
    socket.on('data', async (c: Buffer) => {
      acc = Buffer.concat([acc, c]);
      const end = acc.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(acc.toString('latin1', 0, end))?.[1] ?? 0);
      if (acc.length < end + 4 + length) return;
      acc = acc.subarray(end + 4 + length);
      const r = reply(requests++);
      if (r === 'silent') return;
      if (r === 'reset') {
        socket.destroy();
        return;
      }
      for (const p of r.pieces) {
        socket.write(p);
        // Each piece in its own packet, as a slow server's answer arrives.
        await new Promise((done) => setTimeout(done, 1));
      }
      if (r.close) socket.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    send: (bytes) => {
      for (const socket of sockets) socket.write(bytes);
    },
  };
}

const poolFor = (s: Pick<RawServer, 'port'>, extra: { timeoutMs?: number; idleTtlMs?: number } = {}) => {
  const p = new Http1Pool({
    host: '127.0.0.1',
    port: s.port,
    secure: false,
    timeoutMs: extra.timeoutMs ?? 2_000,
    timeoutMessage: 'Timeout error: no answer',
    idleTtlMs: extra.idleTtlMs ?? 2_500,
  });
  pools.push(p);
  return p;
};
const BODY = Buffer.from('SELECT 1');
const head = (port: number) =>
  `POST /?query=x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\nContent-Length: ${BODY.length}\r\n\r\n`;
const ours = (s: RawServer, pool = poolFor(s), signal?: AbortSignal): Promise<Http1Response> =>
  pool.request(head(s.port), [BODY], signal);

/** What Node's HTTP client reads from the same server: the oracle. */
function nodes(s: RawServer): Promise<Http1Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: s.port, method: 'POST', path: '/?query=x', agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers as Record<string, string>,
            body: Buffer.concat(parts),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(BODY);
  });
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

/** `text`'s bytes split at the given offsets. */
const cut = (text: string, at: readonly number[]): Buffer[] => {
  const bytes = Buffer.from(text, 'latin1');
  const points = [...new Set([0, ...at.map((a) => a % (bytes.length + 1)), bytes.length])].sort(
    (a, b) => a - b,
  );
  const out: Buffer[] = [];
  for (let i = 1; i < points.length; i++) out.push(bytes.subarray(points[i - 1], points[i]));
  return out;
};

/** Well-formed answers, and whether the server closes after (the body is framed by the close). */
const WELL_FORMED: Record<string, { readonly text: string; readonly close?: boolean }> = {
  'a Content-Length body': {
    text: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
  },
  'a chunked body with extensions and trailers': {
    text:
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-ClickHouse-Summary: {"written_rows":"1"}\r\n\r\n' +
      '3;name=v\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n',
  },
  'an empty chunked body': { text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
  'a zero length': { text: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' },
  'an interim 100 Continue first': {
    text: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  },
  'a repeated header and spaces around values': {
    text: 'HTTP/1.1 200 OK\r\nX-A:  one \r\nx-a: two\r\nContent-Length: 1\r\n\r\n!',
  },
  'an error status with an exception code': {
    text: 'HTTP/1.1 500 Internal Server Error\r\nX-ClickHouse-Exception-Code: 60\r\nContent-Length: 38\r\n\r\nCode: 60. DB::Exception: no table. (X)',
  },
  'a body ended by the close': {
    text: 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end',
    close: true,
  },
  'no content': { text: 'HTTP/1.1 204 No Content\r\n\r\n' },
  'HTTP/1.0 with a length': { text: 'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc', close: true },
};

describe('Http1Pool reads what Node’s HTTP client reads', () => {
  for (const [name, { text, close }] of Object.entries(WELL_FORMED)) {
    it(`${name}, sent whole and in pieces`, async () => {
      for (const at of [[], [1], [17], [text.length - 1], [5, 23, 40, 41, 60, 61, 62, 63, 80]]) {
        const pieces = cut(text, at);
        const s = await serve(() => ({ pieces, ...(close && { close }) }));
        const [a, b] = await Promise.all([settle(ours(s)), settle(nodes(s))]);
        if (!a.ok) throw new Error(`${name} cut at ${at}: ${String(a.error)}`);
        if (!b.ok) throw new Error(`Node failed on ${name}: ${String(b.error)}`);
        expect(a.value.status).toBe(b.value.status);
        expect(a.value.body.toString('latin1')).toBe(b.value.body.toString('latin1'));
        for (const [k, v] of Object.entries(b.value.headers)) expect(a.value.headers[k], k).toBe(v);
      }
    });
  }

  it('reads any body in any chunking, split anywhere on the wire (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat(300), { maxLength: 6 }),
        fc.array(fc.nat(400), { maxLength: 8 }),
        fc.boolean(),
        (body, chunkCuts, wireCuts, chunked) => {
          const bytes = Buffer.from(body);
          let wire: string;
          if (chunked) {
            wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
            for (const piece of cut(bytes.toString('latin1'), chunkCuts))
              if (piece.length > 0) wire += `${piece.length.toString(16)}\r\n${piece.toString('latin1')}\r\n`;
            wire += '0\r\n\r\n';
          } else {
            wire = `HTTP/1.1 200 OK\r\nContent-Length: ${bytes.length}\r\n\r\n${bytes.toString('latin1')}`;
          }
          const parser = new ResponseParser();
          const pieces = cut(wire, wireCuts);
          const done = pieces.map((p) => parser.push(p));
          expect(done.at(-1)).toBe(true);
          expect(done.slice(0, -1).every((d) => !d)).toBe(true);
          expect(parser.body().equals(bytes)).toBe(true);
          expect(parser.reusable).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** Answers no client may read as a success. */
const MALFORMED: Record<string, Reply> = {
  'not an HTTP status line': { pieces: [Buffer.from('HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n')] },
  'a malformed header': {
    pieces: [Buffer.from('HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n')],
  },
  'a Content-Length that is not a number': {
    pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n1')],
  },
  'a chunk size that is not hex': {
    pieces: [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n')],
  },
  'a chunk longer than its size': {
    pieces: [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n')],
  },
  'a transfer coding other than chunked': {
    pieces: [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc')],
    close: true,
  },
  'both Transfer-Encoding and Content-Length': {
    pieces: [
      Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'),
    ],
  },
  'a body cut short by the close': {
    pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')],
    close: true,
  },
  'a chunked body cut short by the close': {
    pieces: [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n')],
    close: true,
  },
  'a head cut short by the close': { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Le')], close: true },
  'bytes after the answer': {
    pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\n')],
  },
  'a reset before any answer': 'reset',
};

describe('Http1Pool fails on what it cannot read (an outage, never an answer)', () => {
  for (const [name, reply] of Object.entries(MALFORMED)) {
    it(name, async () => {
      const s = await serve(() => reply);
      const r = await settle(ours(s));
      expect(r.ok, name).toBe(false);
      if (!r.ok) expect(classifyClickHouseError(r.error).kind).toBe('outage');
    });
  }

  it('times out a server that never answers, and gives up a request its signal aborts', async () => {
    const s = await serve(() => 'silent');
    const timedOut = await settle(ours(s, poolFor(s, { timeoutMs: 150 })));
    expect(timedOut.ok).toBe(false);
    if (!timedOut.ok)
      expect(classifyClickHouseError(timedOut.error)).toMatchObject({ reasonClass: 'TIMEOUT' });

    const controller = new AbortController();
    const pending = settle(ours(s, poolFor(s), controller.signal));
    setTimeout(() => controller.abort(), 50);
    const aborted = await pending;
    expect(aborted.ok).toBe(false);
    if (!aborted.ok) expect(String(aborted.error)).toContain('aborted');
  });

  it('classifies a closed port as an outage (ECONNREFUSED)', async () => {
    const s = await serve(() => 'silent');
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const r = await settle(ours({ ...s, port }, poolFor({ ...s, port })));
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(classifyClickHouseError(r.error)).toMatchObject({ kind: 'outage', reasonClass: 'ECONNREFUSED' });
  });
});

describe('Http1Pool keeps sockets alive only while it may', () => {
  const ok = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1')] };

  it('reuses a socket for the next request, not after Connection: close or past the idle TTL', async () => {
    const s = await serve((n) =>
      n === 1
        ? { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n1')] }
        : ok,
    );
    const pool = poolFor(s, { idleTtlMs: 150 });
    await ours(s, pool);
    await ours(s, pool);
    expect(s.connections()).toBe(1);
    await ours(s, pool); // after Connection: close
    expect(s.connections()).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    await ours(s, pool); // past the idle TTL
    expect(s.connections()).toBe(3);
  });

  it.each([
    ['the server closed while idle', (): Reply => ({ ...ok, close: true }), undefined],
    // Sent once the answer was read: sent with it, they are bytes after the answer (MALFORMED).
    ['that sends bytes nobody asked for', (): Reply => ok, Buffer.from('HTTP/1.1 200 OK\r\n')],
  ])('drops a socket %s, and the next request opens another', async (_, reply, stray) => {
    const s = await serve(reply);
    const pool = poolFor(s);
    await ours(s, pool);
    if (stray) s.send(stray);
    await new Promise((r) => setTimeout(r, 50));
    const r = await settle(ours(s, pool));
    expect(r.ok).toBe(true);
    expect(s.connections()).toBe(2);
  });

  it('does not reuse a socket answered before the whole body was sent (an early error)', async () => {
    // The server answers on the head and stops reading: the rest of the body, still queued, must
    // not be taken as the start of a next request.
    let connections = 0;
    const sockets = new Set<net.Socket>();
    const early = net.createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('error', () => {});
      let acc = '';
      const onData = (c: Buffer) => {
        acc += c.toString('latin1');
        if (!acc.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        socket.pause();
        socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n');
      };
      socket.on('data', onData);
    });
    await new Promise<void>((r) => early.listen(0, '127.0.0.1', r));
    closers.push(async () => {
      for (const x of sockets) x.destroy();
      await new Promise<void>((r) => early.close(() => r()));
    });
    const s = { port: (early.address() as AddressInfo).port };
    const pool = poolFor(s);
    const big = Buffer.alloc(32 * 1024 * 1024, 0x61);
    const head = `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n`;
    const first = await pool.request(head, [big]);
    expect(first.status).toBe(413);
    await settle(pool.request(head, [Buffer.alloc(0)]));
    expect(connections).toBe(2);
  });

  it('runs concurrent requests on separate sockets', async () => {
    const s = await serve(() => ok);
    const pool = poolFor(s);
    const answers = await Promise.all([ours(s, pool), ours(s, pool), ours(s, pool)]);
    expect(answers.map((a) => a.body.toString())).toEqual(['1', '1', '1']);
    expect(s.connections()).toBe(3);
    await ours(s, pool);
    expect(s.connections()).toBe(3);
  });
});
