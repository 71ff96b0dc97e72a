/**
 * Local-mode benchmark: the whole pipeline in one process (local/pipeline.ts), as `npm start` runs it.
 *
 *   npx tsx bench/local.ts [--quick] [--only=startup,latency,throughput] [--rates=2000,4000] [--step-s=20]
 *
 * 1. Start to ready: `npx tsx bin/local.ts` spawned (until the banner is printed and the port answers),
 *    and `startLocalPipeline()` in this process; each cold (empty data directory) and warm (the same
 *    directory again, after a clean stop).
 * 2. Ingest-to-queryable latency: 512-span requests at a steady modest rate, each with a unique marker
 *    attribute; ClickHouse is polled for the markers and the delay from the 200 response to the first
 *    poll that sees the marker is recorded (resolution: the poll interval). Target p99 <= 5 s.
 * 3. Sustained spans/s with zero loss: the offered rate is ramped (protobuf 512-span requests, a few in
 *    flight). A step holds when the hot tier catches up within a bound after the load stops (ClickHouse
 *    holds every acknowledged span), `whenIdle()` returns within the lake window plus that bound, and
 *    every span of the step's run id is in ClickHouse exactly once. Peak RSS and CPU per step.
 *
 * The workload's timestamps are fixed in the past (bench/workload.ts), so the pipeline runs with a long
 * hot retention; everything else is local mode's defaults (2 shards, hot batch 1000 records / 1 s window,
 * lake window 15 s), except under --quick, which shortens the lake window, measures only the
 * in-process cold start, sends 4 latency requests and runs one 3 s step at 2,000 spans/s.
 * The machine is shared: figures are what this run saw, not a capacity promise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HrTime } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { loadLocalConfig } from '../local/config.js';
import { type LocalPipeline, startLocalPipeline } from '../local/pipeline.js';
import { traceSpans } from './workload.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const option = (name: string): string | undefined =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = new Set((option('only') ?? 'startup,latency,throughput').split(','));

const SPANS_PER_REQUEST = 512;
const RETENTION_DAYS = '3650';
const LAKE_WINDOW_MS = quick ? 2_000 : 15_000;
/** After the load stops, ClickHouse must hold every acknowledged span within this. */
const HOT_DRAIN_BOUND_MS = 5_000;
const LATENCY_REQUESTS = quick ? 4 : 40;
const LATENCY_RATE = 2; // requests per second: 1,024 spans/s
const LATENCY_POLL_MS = 50;
const STEP_S = Number(option('step-s') ?? (quick ? 3 : 20));
const RATES = (option('rates') ?? (quick ? '2000' : '2000,4000,6000,8000,12000,16000,24000,32000'))
  .split(',')
  .map(Number);
const CONCURRENCY = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => (ms / 1000).toFixed(2);

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// --- the workload: pre-serialized requests with fixed-width placeholders patched per request ----------

const RUN_PLACEHOLDER = 'RRRRRRRRRRRR';
const REQ_PLACEHOLDER = 'QQQQQQQQQQQQ';

interface Template {
  readonly bytes: Buffer;
  readonly runAt: readonly number[];
  readonly reqAt: readonly number[];
}

function offsetsOf(bytes: Buffer, text: string): number[] {
  const at: number[] = [];
  for (let i = bytes.indexOf(text); i >= 0; i = bytes.indexOf(text, i + text.length)) at.push(i);
  return at;
}

/**
 * The workload's spans moved to the last minute: local mode's hot writer drops rows older than the hot
 * retention (7 days; pipeline.ts does not pass HOT_RETENTION_DAYS to the writer), and the workload's
 * timestamps are fixed in 2025.
 */
function template(seed: number): Template {
  const spans = traceSpans({ items: SPANS_PER_REQUEST, seed });
  const shift = Math.floor(Date.now() / 1000) - 60 - (spans[0]?.startTime[0] ?? 0);
  const moved = (t: HrTime): HrTime => [t[0] + shift, t[1]];
  const marked = spans.map((s) => ({
    ...s,
    startTime: moved(s.startTime),
    endTime: moved(s.endTime),
    events: s.events.map((e) => ({ ...e, time: moved(e.time) })),
    attributes: { ...s.attributes, 'bench.run': RUN_PLACEHOLDER, 'bench.req': REQ_PLACEHOLDER },
  }));
  const bytes = Buffer.from(ProtobufTraceSerializer.serializeRequest(marked)!);
  const runAt = offsetsOf(bytes, RUN_PLACEHOLDER);
  const reqAt = offsetsOf(bytes, REQ_PLACEHOLDER);
  if (runAt.length !== SPANS_PER_REQUEST || reqAt.length !== SPANS_PER_REQUEST)
    throw new Error('placeholders not found once per span');
  return { bytes, runAt, reqAt };
}

const TEMPLATES = [1, 2, 3, 4].map(template);

/** Request `n` of run `run` (both fit 12 characters): the template's bytes with the markers written in. */
function body(run: string, n: number): Buffer {
  const t = TEMPLATES[n % TEMPLATES.length]!;
  const out = Buffer.from(t.bytes);
  const req = String(n).padStart(12, '0');
  for (const at of t.runAt) out.write(run, at, 'latin1');
  for (const at of t.reqAt) out.write(req, at, 'latin1');
  return out;
}

function runId(label: string): string {
  return `${label}-${Math.random().toString(36).slice(2)}`.padEnd(12, '0').slice(0, 12);
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function post(p: LocalPipeline, data: Buffer): Promise<number> {
  const url = new URL(`${p.url}/v1/traces`);
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/x-protobuf',
          'content-length': data.length,
          authorization: `Bearer ${p.apiKey}`,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(data);
  });
}

async function scalar(
  p: LocalPipeline,
  query: string,
  params: Record<string, unknown> = {},
): Promise<number> {
  const rs = await p.clickhouse.query({ query, query_params: params, format: 'JSONEachRow' });
  const [row] = await rs.json<{ n: string | number }>();
  return Number(row?.n ?? 0);
}

// --- memory and CPU sampling ----------------------------------------------------------------------

let rssPeak = 0;
const rssTimer = setInterval(() => {
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
}, 100);
rssTimer.unref();
const takeRssPeak = () => {
  const peak = Math.max(rssPeak, process.memoryUsage.rss());
  rssPeak = 0;
  return peak;
};

/** CPU seconds of this process split into the JS main thread and every other thread (chdb, libuv, V8). */
function threadCpu(): { main: number; other: number } {
  const tick = 100; // USER_HZ on Linux
  let main = 0;
  let other = 0;
  try {
    const tasks = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8');
    const fields = tasks.slice(tasks.lastIndexOf(')') + 2).split(' ');
    main = (Number(fields[11]) + Number(fields[12])) / tick;
    const all = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const f = all.slice(all.lastIndexOf(')') + 2).split(' ');
    other = (Number(f[11]) + Number(f[12])) / tick - main;
  } catch {
    const u = process.cpuUsage();
    main = (u.user + u.system) / 1e6;
  }
  return { main, other };
}

/** CPU seconds per thread name (chdb's pools, libuv workers, V8 helpers, the main thread "node"). */
function cpuByThreadName(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
      const base = `/proc/${process.pid}/task/${tid}`;
      const comm = readFileSync(`${base}/comm`, 'utf8')
        .trim()
        .replace(/[\d]+$/, '#');
      const name = tid === String(process.pid) ? 'main (JS)' : comm;
      const stat = readFileSync(`${base}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    }
  } catch {
    // Not Linux, or a thread ended while reading: the breakdown is optional.
  }
  return out;
}

// --- 1. start to ready ------------------------------------------------------------------------------

interface StartFigure {
  readonly what: string;
  readonly banner: number;
  readonly port: number;
  readonly reported?: number;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', timeout: 500 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // npx runs tsx runs node: signal the whole group we created (detached), as Ctrl-C would.
  process.kill(-child.pid, 'SIGINT');
  const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

async function spawnedStart(dataDir: string, what: string): Promise<StartFigure> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn('npx', ['tsx', 'bin/local.ts'], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOT_RETENTION_DAYS: RETENTION_DAYS },
  });
  let out = '';
  let bannerMs: number | undefined;
  let reported: number | undefined;
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const m = /running locally \(ready in ([\d.]+) s\)/.exec(out);
    if (m && bannerMs === undefined) {
      bannerMs = performance.now() - t0;
      reported = Number(m[1]) * 1000;
    }
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  try {
    let portMs: number | undefined;
    const deadline = t0 + 120_000;
    while ((portMs === undefined || bannerMs === undefined) && performance.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`bin/local.ts exited early: ${err.slice(-500)}`);
      if (portMs === undefined && (await answers(port))) portMs = performance.now() - t0;
      await sleep(25);
    }
    if (portMs === undefined || bannerMs === undefined) throw new Error('bin/local.ts did not become ready');
    return { what, banner: bannerMs, port: portMs, ...(reported === undefined ? {} : { reported }) };
  } finally {
    await stopChild(child);
  }
}

function benchConfig(dataDir: string, port: number) {
  return loadLocalConfig({
    DATA_DIR: dataDir,
    PORT: String(port),
    HOT_RETENTION_DAYS: RETENTION_DAYS,
    LAKE_BATCH_WINDOW_MS: String(LAKE_WINDOW_MS),
    LOG_LEVEL: 'ERROR',
  });
}

async function startup(dirs: string[]): Promise<{ figures: StartFigure[]; pipeline: LocalPipeline }> {
  const figures: StartFigure[] = [];
  // --quick: the in-process cold start only (a spawned start costs npx + tsx + a second engine).
  if (only.has('startup') && !quick) {
    const dir = await mkdtemp(join(tmpdir(), 'bench-local-spawn-'));
    dirs.push(dir);
    figures.push(await spawnedStart(dir, 'npx tsx bin/local.ts, cold'));
    figures.push(await spawnedStart(dir, 'npx tsx bin/local.ts, warm'));
  }
  // chdb binds one data directory per process: the in-process runs share this one.
  const dir = await mkdtemp(join(tmpdir(), 'bench-local-'));
  dirs.push(dir);
  let t0 = performance.now();
  let pipeline = await startLocalPipeline(benchConfig(dir, await freePort()));
  const cold = performance.now() - t0;
  if (only.has('startup') && quick)
    figures.push({ what: 'startLocalPipeline, cold', banner: cold, port: cold });
  if (only.has('startup') && !quick) {
    await pipeline.stop();
    t0 = performance.now();
    pipeline = await startLocalPipeline(benchConfig(dir, await freePort()));
    const warm = performance.now() - t0;
    figures.push({ what: 'startLocalPipeline, cold', banner: cold, port: cold });
    figures.push({ what: 'startLocalPipeline, warm', banner: warm, port: warm });
  }
  return { figures, pipeline };
}

// --- 2. ingest-to-queryable latency ------------------------------------------------------------------

async function latency(p: LocalPipeline): Promise<{ delays: number[]; lost: number }> {
  const run = runId('lat');
  const acked = new Map<string, number>();
  const delays: number[] = [];
  let sending = true;
  let lastAck = performance.now();
  const poll = (async () => {
    const deadline = () => !sending && performance.now() > lastAck + 30_000;
    while ((sending || acked.size > 0) && !deadline()) {
      const rs = await p.clickhouse.query({
        query: `SELECT DISTINCT SpanAttributes['bench.req'] AS r FROM otel_traces
                WHERE SpanAttributes['bench.run'] = {run:String}`,
        query_params: { run },
        format: 'JSONEachRow',
      });
      const now = performance.now();
      for (const { r } of await rs.json<{ r: string }>()) {
        const at = acked.get(r);
        if (at === undefined) continue;
        delays.push(now - at);
        acked.delete(r);
      }
      await sleep(LATENCY_POLL_MS);
    }
  })();
  const start = performance.now();
  const sends: Promise<void>[] = [];
  for (let n = 0; n < LATENCY_REQUESTS; n++) {
    const due = start + (n * 1000) / LATENCY_RATE;
    await sleep(Math.max(0, due - performance.now()));
    const data = body(run, n);
    sends.push(
      post(p, data).then((status) => {
        if (status !== 200) return;
        lastAck = performance.now();
        acked.set(String(n).padStart(12, '0'), lastAck);
      }),
    );
  }
  await Promise.all(sends);
  sending = false;
  await poll;
  return { delays, lost: LATENCY_REQUESTS - delays.length };
}

// --- 3. sustained throughput --------------------------------------------------------------------------

interface Step {
  readonly offered: number;
  readonly achieved: number;
  readonly acked: number;
  readonly refused: number;
  readonly statuses: string;
  readonly backlogMid: number;
  readonly backlogEnd: number;
  readonly hotDrainMs: number;
  readonly idleMs: number;
  readonly stored: number;
  readonly distinct: number;
  readonly cpuMain: number;
  readonly cpuOther: number;
  /** CPU seconds of the whole process over the step, drain included. */
  readonly cpuSeconds: number;
  readonly rss: number;
  /** CPU seconds per thread name over the step. */
  readonly threads: ReadonlyMap<string, number>;
  readonly holds: boolean;
}

async function step(p: LocalPipeline, spansPerSecond: number): Promise<Step> {
  const run = runId(`t${spansPerSecond}`);
  const reqPerSecond = spansPerSecond / SPANS_PER_REQUEST;
  const total = Math.max(1, Math.round(reqPerSecond * STEP_S));
  const before = await scalar(p, 'SELECT count() AS n FROM otel_traces');
  takeRssPeak();
  const cpu0 = threadCpu();
  const threads0 = cpuByThreadName();
  let acked = 0;
  let refused = 0;
  const statuses = new Map<number, number>();
  let inFlight = 0;
  const backlog: number[] = [];
  let sending = true;
  const sampler = (async () => {
    while (sending) {
      await sleep(1000);
      const visible = (await scalar(p, 'SELECT count() AS n FROM otel_traces')) - before;
      backlog.push(acked * SPANS_PER_REQUEST - visible);
    }
  })();
  const t0 = performance.now();
  const pending = new Set<Promise<void>>();
  for (let n = 0; n < total; n++) {
    const due = t0 + (n * 1000) / reqPerSecond;
    await sleep(Math.max(0, due - performance.now()));
    // A few requests in flight at most, as an exporter would; past that the sender falls behind.
    while (inFlight >= CONCURRENCY) await Promise.race(pending);
    inFlight++;
    const sent: Promise<void> = post(p, body(run, n)).then((status) => {
      inFlight--;
      pending.delete(sent);
      if (status === 200) acked++;
      else {
        refused++;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    });
    pending.add(sent);
  }
  await Promise.all(pending);
  const sendMs = performance.now() - t0;
  sending = false;
  await sampler;
  const stopped = performance.now();
  const idle = Promise.race([
    p.whenIdle().then(() => performance.now() - stopped),
    sleep(120_000).then(() => -1),
  ]);
  let hotDrainMs = -1;
  while (performance.now() - stopped < 60_000) {
    const visible = (await scalar(p, 'SELECT count() AS n FROM otel_traces')) - before;
    if (visible >= acked * SPANS_PER_REQUEST) {
      hotDrainMs = performance.now() - stopped;
      break;
    }
    await sleep(50);
  }
  const idleMs = await idle;
  const cpu1 = threadCpu();
  const threads = new Map<string, number>();
  for (const [name, t] of cpuByThreadName()) threads.set(name, t - (threads0.get(name) ?? 0));
  const wall = (performance.now() - t0) / 1000;
  const rs = await p.clickhouse.query({
    query: `SELECT count() AS n, uniqExact(SpanAttributes['bench.req'], SpanId) AS d FROM otel_traces
            WHERE SpanAttributes['bench.run'] = {run:String}`,
    query_params: { run },
    format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ n: string; d: string }>();
  const stored = Number(row?.n ?? 0);
  const distinct = Number(row?.d ?? 0);
  const expected = acked * SPANS_PER_REQUEST;
  const holds =
    refused === 0 &&
    hotDrainMs >= 0 &&
    hotDrainMs <= HOT_DRAIN_BOUND_MS &&
    idleMs >= 0 &&
    idleMs <= LAKE_WINDOW_MS + HOT_DRAIN_BOUND_MS &&
    stored === expected &&
    distinct === expected;
  return {
    offered: spansPerSecond,
    achieved: (acked * SPANS_PER_REQUEST) / (sendMs / 1000),
    acked,
    refused,
    statuses: [...statuses].map(([k, v]) => `${v}x${k}`).join(' '),
    backlogMid: backlog[Math.floor(backlog.length / 2)] ?? 0,
    backlogEnd: backlog[backlog.length - 1] ?? 0,
    hotDrainMs,
    idleMs,
    stored,
    distinct,
    cpuMain: (cpu1.main - cpu0.main) / wall,
    cpuOther: (cpu1.other - cpu0.other) / wall,
    cpuSeconds: cpu1.main - cpu0.main + cpu1.other - cpu0.other,
    rss: takeRssPeak(),
    threads,
    holds,
  };
}

// --- main --------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dirs: string[] = [];
  const { figures, pipeline } = await startup(dirs);
  try {
    console.log(`local-mode benchmark${quick ? ' (--quick)' : ''}; lake window ${LAKE_WINDOW_MS / 1000} s\n`);
    if (figures.length > 0) {
      console.log('Start to ready (s)');
      table(
        ['start', 'banner', 'port answers', 'banner says'],
        figures.map((f) => [
          f.what,
          seconds(f.banner),
          seconds(f.port),
          f.reported === undefined ? '' : seconds(f.reported),
        ]),
      );
      console.log('');
    }

    if (only.has('latency')) {
      const { delays, lost } = await latency(pipeline);
      console.log(
        `Ingest-to-queryable latency: ${LATENCY_REQUESTS} requests of ${SPANS_PER_REQUEST} spans at ${LATENCY_RATE}/s, ` +
          `polled every ${LATENCY_POLL_MS} ms`,
      );
      table(
        ['p50 s', 'p90 s', 'p99 s', 'max s', 'not seen', 'target p99'],
        [
          [
            seconds(quantile(delays, 0.5)),
            seconds(quantile(delays, 0.9)),
            seconds(quantile(delays, 0.99)),
            seconds(Math.max(...delays)),
            String(lost),
            quantile(delays, 0.99) <= 5000 ? '<= 5 s: met' : '<= 5 s: MISSED',
          ],
        ],
      );
      console.log('');
    }

    if (only.has('throughput')) {
      console.log(
        `Sustained throughput: ${STEP_S} s per step, ${SPANS_PER_REQUEST}-span protobuf requests, ` +
          `<= ${CONCURRENCY} in flight; holds = refused 0, hot drain <= ${HOT_DRAIN_BOUND_MS / 1000} s, ` +
          `whenIdle <= lake window + ${HOT_DRAIN_BOUND_MS / 1000} s, every span once`,
      );
      const steps: Step[] = [];
      for (const rate of RATES) {
        const s = await step(pipeline, rate);
        steps.push(s);
        if (!s.holds) break;
      }
      table(
        [
          'offered/s',
          'sent/s',
          'refused',
          'backlog mid',
          'backlog end',
          'hot drain s',
          'whenIdle s',
          'stored',
          'once',
          'cpu main',
          'cpu other',
          'spans/cpu-s',
          'peak RSS MB',
          'holds',
        ],
        steps.map((s) => [
          String(s.offered),
          s.achieved.toFixed(0),
          s.refused === 0 ? '0' : `${s.refused} (${s.statuses})`,
          String(s.backlogMid),
          String(s.backlogEnd),
          s.hotDrainMs < 0 ? '>60' : seconds(s.hotDrainMs),
          s.idleMs < 0 ? '>120' : seconds(s.idleMs),
          `${s.stored}/${s.acked * SPANS_PER_REQUEST}`,
          s.distinct === s.stored ? 'yes' : 'NO',
          s.cpuMain.toFixed(2),
          s.cpuOther.toFixed(2),
          (s.stored / s.cpuSeconds).toFixed(0),
          (s.rss / 2 ** 20).toFixed(0),
          s.holds ? 'yes' : 'no',
        ]),
      );
      if (args.includes('--threads')) {
        for (const s of steps) {
          const top = [...s.threads].filter(([, t]) => t > 0).sort((a, b) => b[1] - a[1]);
          console.log(`\nCPU seconds by thread at ${s.offered} spans/s offered:`);
          table(
            ['thread', 'cpu s', 'share'],
            top.map(([name, t]) => [name, t.toFixed(2), `${((100 * t) / s.cpuSeconds).toFixed(0)}%`]),
          );
        }
      }
      const best = steps.filter((s) => s.holds).reduce((m, s) => Math.max(m, s.achieved), 0);
      console.log(`\nhighest rate held with zero loss: ${best.toFixed(0)} spans/s`);
    }
    console.log(`peak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  } finally {
    await pipeline.stop();
    agent.destroy();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
