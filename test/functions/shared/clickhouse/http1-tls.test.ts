import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http1Pool } from '../../../../functions/shared/clickhouse/http1.js';

// The lean connection's bare-socket client over TLS (ClickHouse Cloud is HTTPS only): the server's
// certificate must be checked against the trust store and the host name, as https.request does.
// A self-signed certificate for `localhost` made by openssl; trusted only in a child process
// started with NODE_EXTRA_CA_CERTS, the way a user adds a private CA.

const dir = mkdtempSync(join(tmpdir(), 'http1-tls-'));
const certPath = join(dir, 'cert.pem');
let server: https.Server;
let port = 0;

beforeAll(async () => {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  const { readFileSync } = await import('node:fs');
  server = https.createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(certPath) },
    (req, res) => {
      req.resume();
      req.on('end', () => res.end(`Ok. ${req.method} ${req.url}\n`));
    },
  );
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
  rmSync(dir, { recursive: true, force: true });
});

const pool = (host: string) =>
  new Http1Pool({
    host,
    port,
    secure: true,
    timeoutMs: 5_000,
    timeoutMessage: 'timed out',
    idleTtlMs: 1_000,
  });

const get = (host: string) => `GET /ping HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`;

describe('http1 over TLS', () => {
  it('refuses a server whose certificate no trusted CA signed', async () => {
    const p = pool('localhost');
    try {
      await expect(p.request(get('localhost'), [])).rejects.toMatchObject({
        code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/),
      });
    } finally {
      p.close();
    }
  });

  it('with the CA trusted, reads the answer from the named host and refuses the same server by an address the certificate does not name', async () => {
    const script = join(dir, 'client.mts');
    const module = pathToFileURL(resolve('functions/shared/clickhouse/http1.ts')).href;
    writeFileSync(
      script,
      `import { Http1Pool } from ${JSON.stringify(module)};
const [port] = process.argv.slice(2).map(Number);
const out = {};
for (const host of ['localhost', '127.0.0.1']) {
  const pool = new Http1Pool({ host, port, secure: true, timeoutMs: 5000, timeoutMessage: 'timed out', idleTtlMs: 1000 });
  try {
    const r = await pool.request('GET /ping HTTP/1.1\\r\\nHost: ' + host + ':' + port + '\\r\\n\\r\\n', []);
    // Twice: the second request reuses the kept-alive TLS socket.
    const again = await pool.request('POST /q HTTP/1.1\\r\\nHost: ' + host + '\\r\\nContent-Length: 2\\r\\n\\r\\n', [Buffer.from('{}')]);
    out[host] = { status: r.status, body: r.body.toString(), again: again.body.toString() };
  } catch (err) {
    out[host] = { error: err.code ?? err.message };
  } finally {
    pool.close();
  }
}
console.log(JSON.stringify(out));
`,
    );
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', script, String(port)],
      {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: certPath },
        timeout: 30_000,
      },
    );
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, Record<string, unknown>>;
    expect(out.localhost).toEqual({ status: 200, body: 'Ok. GET /ping\n', again: 'Ok. POST /q\n' });
    expect(out['127.0.0.1']).toEqual({ error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });
});
