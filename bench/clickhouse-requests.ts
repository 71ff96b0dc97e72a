/**
 * CPU per ClickHouse request of the hot writer, by path: `npx tsx bench/clickhouse-requests.ts
 * [--warmup N] [--rounds N]`. The same one-row insert and lookup-shaped query (the writer's two
 * kinds of request) through the writer's lean port (LeanHttpRequests), through the client on the
 * lean connection (what the writer used before) and through a bare `http.request` (the floor of
 * Node's HTTP client), against one ClickHouse served over HTTP by another process. The paths take
 * turns round by round, after unmeasured warm-up requests (the JIT settles after hundreds), and a
 * bare 5 ms timer shows what waiting itself costs the process on this machine.
 * docs/decisions/0004 quotes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteClickHouse, HOT_WRITER_CLIENT_OPTIONS } from '../functions/shared/clickhouse/connect.js';
import { ClientRequests, clickHouseRequests } from '../functions/shared/clickhouse/requests.js';
import { spawnClickHouseHttp } from '../local/clickhouse-http-process.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const WARMUP = option('--warmup', 800);
const ROUNDS = option('--rounds', 400);

const dir = mkdtempSync(join(tmpdir(), 'bench-ch-requests-'));
const server = await spawnClickHouseHttp({ path: dir, hotRetentionDays: 3650, databases: ['bench'] });
const client = createRemoteClickHouse(
  { url: server.url, username: 'default', password: '', database: 'default' },
  HOT_WRITER_CLIENT_OPTIONS,
);
const lean = clickHouseRequests(client);
const viaClient = new ClientRequests(client);
await client.command({
  query: 'CREATE TABLE IF NOT EXISTS bench.t (a String, b UInt32) ENGINE = MergeTree ORDER BY a',
});

const agent = new http.Agent({ keepAlive: true });
const base = new URL(server.url);
const bare = (path: string, body: string) =>
  new Promise<void>((resolve, reject) => {
    const req = http.request(
      {
        hostname: base.hostname,
        port: base.port,
        path,
        method: 'POST',
        agent,
        headers: { 'Content-Length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });

let key = 0;
const row = () => ({ a: `k${key++}`, b: 1 });
const query = 'SELECT a, count() AS n FROM bench.t WHERE a IN {ids:Array(String)} GROUP BY a';
const ids = ['k1', 'k2'];
const paths: [string, () => Promise<unknown>][] = [
  ['insert: lean port', () => lean.insertObjects({ table: 'bench.t', objects: [row()] })],
  ['insert: client, lean connection', () => viaClient.insertObjects({ table: 'bench.t', objects: [row()] })],
  [
    'insert: bare http.request',
    () =>
      bare(
        `/?query=${encodeURIComponent('INSERT INTO bench.t FORMAT JSONEachRow')}`,
        `${JSON.stringify(row())}\n`,
      ),
  ],
  ['query: lean port', () => lean.rows({ query, params: { ids } })],
  ['query: client, lean connection', () => viaClient.rows({ query, params: { ids } })],
  [
    'query: bare http.request',
    () => bare(`/?default_format=JSON&param_ids=${encodeURIComponent("['k1','k2']")}`, query),
  ],
  ['wait: setTimeout 5 ms', () => new Promise((r) => setTimeout(r, 5))],
];

try {
  for (const [, run] of paths) for (let i = 0; i < WARMUP; i++) await run();
  const cpu = new Map<string, number[]>(paths.map(([name]) => [name, []]));
  const wall = new Map<string, number[]>(paths.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of round % 2 === 0 ? paths : [...paths].reverse()) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await run();
      const c = process.cpuUsage(c0);
      cpu.get(name)!.push(c.user + c.system);
      wall.get(name)!.push(performance.now() - t0);
    }
  }
  const at = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!;
  console.log(`${ROUNDS} rounds after ${WARMUP} warm-up requests per path`);
  console.table(
    paths.map(([name]) => ({
      path: name,
      'CPU µs (median)': at(cpu.get(name)!, 0.5),
      p25: at(cpu.get(name)!, 0.25),
      'wall ms (median)': Number(at(wall.get(name)!, 0.5).toFixed(2)),
    })),
  );
} finally {
  agent.destroy();
  await client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
