import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { API_KEY, type Exit, freePort, REPO_ROOT, type RunningApp, startApp } from './e2e-support.js';
import type { Tiers } from './faults-read.js';

/**
 * The fault matrix harness (test/local/faults.test.ts, bench/faults.ts): local mode started as a
 * user starts it (`tsx bin/local.ts`, DATA_DIR and PORT in the environment), fed by a client that
 * retries as the OTLP/HTTP spec says, hurt in one way per scenario, then stopped gracefully and
 * read back per item from both tiers with the real engines (test/local/faults-read.ts).
 */

const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
const READER = fileURLToPath(new URL('./faults-read.ts', import.meta.url));
const run = promisify(execFile);

// ---- items: spans with unique ids, in OTLP/JSON requests

export interface OtlpRequest {
  /** The exact bytes sent on every attempt: a resend is byte-identical. */
  readonly body: Buffer;
  /** The span ids this request carries (lower-case hex, as ClickHouse and Parquet hold them). */
  readonly ids: readonly string[];
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** `count` requests of `perRequest` spans each, every span id unique, timestamps around now. */
export function makeRequests(count: number, perRequest: number): OtlpRequest[] {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const out: OtlpRequest[] = [];
  for (let r = 0; r < count; r++) {
    const traceId = hex(16);
    const ids: string[] = [];
    const spans = [];
    for (let i = 0; i < perRequest; i++) {
      const spanId = hex(8);
      ids.push(spanId);
      const start = nowNs - BigInt((count - r) * 1000 + i) * 1_000_000n;
      spans.push({
        traceId,
        spanId,
        name: `op-${i % 7}`,
        kind: 2,
        startTimeUnixNano: String(start),
        endTimeUnixNano: String(start + 1_500_000n),
        attributes: [{ key: 'faults.request', value: { intValue: String(r) } }],
        status: {},
      });
    }
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'faults' } }] },
          scopeSpans: [{ scope: { name: 'faults' }, spans }],
        },
      ],
    };
    out.push({ body: Buffer.from(JSON.stringify(body)), ids });
  }
  return out;
}

// ---- a client that retries as the OTLP/HTTP spec says

export interface RetryPolicy {
  /** One attempt's timeout: past it the client gives up on the answer and resends. */
  readonly timeoutMs: number;
  /** First backoff; doubles per attempt up to maxDelayMs, with jitter. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Gives up on a request after this long (then it is sent, never acknowledged). */
  readonly maxElapsedMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  timeoutMs: 5_000,
  initialDelayMs: 200,
  maxDelayMs: 2_000,
  maxElapsedMs: 60_000,
};

/** The OTLP/HTTP spec's retryable answers; a connection error or timeout is retried too. */
const RETRYABLE = new Set([429, 502, 503, 504]);

export interface ExportOutcome {
  readonly acknowledged: boolean;
  readonly attempts: number;
  /** Status codes (or 'error'/'timeout') per attempt, for the report. */
  readonly answers: readonly (number | string)[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sends `body` until a 2xx (acknowledged), a non-retryable answer or maxElapsedMs. */
export async function exportWithRetry(
  url: string,
  body: Buffer,
  policy: RetryPolicy = DEFAULT_RETRY,
  onAnswer: (answer: number | string) => void = () => undefined,
): Promise<ExportOutcome> {
  const started = Date.now();
  const answers: (number | string)[] = [];
  const note = (a: number | string) => {
    answers.push(a);
    onAnswer(a);
  };
  let delay = policy.initialDelayMs;
  for (;;) {
    let retryAfterMs: number | undefined;
    try {
      const res = await fetch(`${url}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body,
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      await res.arrayBuffer();
      note(res.status);
      if (res.status >= 200 && res.status < 300)
        return { acknowledged: true, attempts: answers.length, answers };
      if (!RETRYABLE.has(res.status)) return { acknowledged: false, attempts: answers.length, answers };
      const after = Number(res.headers.get('retry-after'));
      if (Number.isFinite(after) && after >= 0) retryAfterMs = after * 1000;
    } catch (e) {
      note((e as Error).name === 'TimeoutError' ? 'timeout' : 'error');
    }
    const wait = Math.min(retryAfterMs ?? delay * (0.5 + Math.random() / 2), policy.maxDelayMs);
    if (Date.now() + wait - started > policy.maxElapsedMs) {
      return { acknowledged: false, attempts: answers.length, answers };
    }
    await sleep(wait);
    delay = Math.min(delay * 2, policy.maxDelayMs);
  }
}

// ---- load: many requests through a few concurrent exporters

export interface Load {
  /** Requests acknowledged so far. */
  acknowledged(): number;
  /** Answers seen so far by status code ('error'/'timeout' for none), over all attempts. */
  answers(): ReadonlyMap<number | string, number>;
  /** Resolves once `n` requests are acknowledged (or the load ends). */
  whenAcknowledged(n: number): Promise<void>;
  readonly done: Promise<readonly ExportOutcome[]>;
}

export interface LoadOptions {
  readonly concurrency?: number;
  /** Pause between a sender's requests, to spread the load over the fault. @default 0 */
  readonly gapMs?: number;
  /** Send every request a second time with the same bytes once acknowledged (a lost response). */
  readonly resendEach?: boolean;
  readonly policy?: RetryPolicy;
}

export function startLoad(url: string, requests: readonly OtlpRequest[], options: LoadOptions = {}): Load {
  const outcomes: ExportOutcome[] = new Array(requests.length);
  const seen = new Map<number | string, number>();
  const onAnswer = (a: number | string) => seen.set(a, (seen.get(a) ?? 0) + 1);
  let acked = 0;
  let next = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const notify = (all = false) => {
    for (const w of [...waiters]) {
      if (all || acked >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const sender = async () => {
    while (next < requests.length) {
      const i = next++;
      const request = requests[i]!;
      let outcome = await exportWithRetry(url, request.body, options.policy, onAnswer);
      if (outcome.acknowledged && options.resendEach) {
        const again = await exportWithRetry(url, request.body, options.policy, onAnswer);
        outcome = { ...outcome, attempts: outcome.attempts + again.attempts };
      }
      outcomes[i] = outcome;
      if (outcome.acknowledged) acked++;
      notify();
      if (options.gapMs) await sleep(options.gapMs);
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency ?? 4 }, sender)).then(() => {
    notify(true);
    return outcomes;
  });
  return {
    acknowledged: () => acked,
    answers: () => seen,
    whenAcknowledged: (n) =>
      acked >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    done,
  };
}

// ---- reading both tiers back

/** What test/local/faults-read.ts prints: see there. */
export type StoredTiers = Readonly<Tiers>;

/** Both tiers of a stopped local mode, per span id (a process of its own: chdb binds one dir). */
export async function readTiers(dataDir: string): Promise<StoredTiers> {
  const { stdout } = await run(TSX, [READER, dataDir], {
    cwd: REPO_ROOT,
    maxBuffer: 256 * 1024 * 1024,
    timeout: 120_000,
  });
  return JSON.parse(stdout) as StoredTiers;
}

// ---- the matrix row

export interface MatrixRow {
  readonly scenario: string;
  readonly sent: number;
  readonly acknowledged: number;
  readonly storedHot: number;
  readonly storedLake: number;
  /** Acknowledged items missing from the tier. */
  readonly lostHot: number;
  readonly lostLake: number;
  /** Extra copies: items stored n > 1 times count n - 1. */
  readonly duplicatedHot: number;
  readonly duplicatedLake: number;
  /** Traces staging files quarantined (their rows must have been rewritten, or they count as lost). */
  readonly quarantined: number;
  /** Client attempts, rows the compactor left out as duplicates, unreadable parts, dead letters. */
  readonly notes: string;
}

export function tally(
  scenario: string,
  requests: readonly OtlpRequest[],
  outcomes: readonly ExportOutcome[],
  tiers: StoredTiers,
): MatrixRow {
  const sent = new Set<string>();
  const acked = new Set<string>();
  requests.forEach((r, i) => {
    for (const id of r.ids) {
      sent.add(id);
      if (outcomes[i]?.acknowledged) acked.add(id);
    }
  });
  const count = (tier: Readonly<Record<string, number>>) => {
    let stored = 0;
    let lost = 0;
    let duplicated = 0;
    for (const id of sent) {
      const n = tier[id] ?? 0;
      if (n > 0) stored++;
      if (n > 1) duplicated += n - 1;
      if (n === 0 && acked.has(id)) lost++;
    }
    return { stored, lost, duplicated };
  };
  const hot = count(tiers.hot);
  const lake = count(tiers.lake);
  const attempts = outcomes.reduce((a, o) => a + (o?.attempts ?? 0), 0);
  const notes = [
    `${requests.length} requests, ${attempts} attempts`,
    `compaction: ${tiers.compaction.rows} rows published, ${tiers.compaction.duplicates} duplicate rows left out`,
    tiers.quarantined.length > 0 ? `quarantined: ${tiers.quarantined.map((q) => q.reason).join(', ')}` : '',
    tiers.stagingLeft.length > 0 ? `${tiers.stagingLeft.length} staging files not compacted` : '',
    tiers.compaction.failed.length > 0 ? `${tiers.compaction.failed.length} partitions failed` : '',
    tiers.unreadableObjects.length > 0 ? `${tiers.unreadableObjects.length} unreadable lake parts` : '',
    tiers.deadLetters > 0 ? `${tiers.deadLetters} dead letters` : '',
  ]
    .filter((s) => s !== '')
    .join('; ');
  return {
    scenario,
    sent: sent.size,
    acknowledged: acked.size,
    storedHot: hot.stored,
    storedLake: lake.stored,
    lostHot: hot.lost,
    lostLake: lake.lost,
    duplicatedHot: hot.duplicated,
    duplicatedLake: lake.duplicated,
    quarantined: tiers.quarantined.length,
    notes,
  };
}

export function formatMatrix(rows: readonly MatrixRow[]): string {
  const head =
    '| scenario | sent | acknowledged | stored hot | stored lake | lost (hot/lake) | duplicated (hot/lake) | quarantined | notes |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|---|';
  const lines = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.sent} | ${r.acknowledged} | ${r.storedHot} | ${r.storedLake} | ${r.lostHot}/${r.lostLake} | ${r.duplicatedHot}/${r.duplicatedLake} | ${r.quarantined} | ${r.notes} |`,
  );
  return [head, sep, ...lines].join('\n');
}

// ---- one scenario

/** What a scenario's fault step can do to the running local mode. */
export interface FaultContext {
  readonly dataDir: string;
  readonly load: Load;
  /** The running process (replaced by restart()). */
  app(): RunningApp;
  /**
   * Resolves when the current process has ended (e.g. killed by its own LOCAL_FAULT hook); rejects
   * if it is still running once the load is done and 20 s more have passed (the hook never fired).
   */
  exited(): Promise<void>;
  /**
   * Starts local mode again on the same port and data directory, without the fault hook, with
   * `env` over the scenario's settings (e.g. another batch size, so redelivery regroups).
   */
  restart(env?: Record<string, string>): Promise<void>;
  /** Sends a signal to the app process itself (tsx's node child), e.g. SIGSTOP/SIGCONT. */
  signalApp(signal: NodeJS.Signals): void;
  /** SIGTERM to the app process, as `kill <pid>` does; resolves with the exit. */
  terminate(): Promise<Exit>;
}

export interface ScenarioOptions {
  readonly name: string;
  readonly requests: number;
  readonly spansPerRequest: number;
  readonly load?: LoadOptions;
  /** Extra environment for the first start only (e.g. LOCAL_FAULT). */
  readonly faultEnv?: Record<string, string>;
  /** A DATA_DIR to use (e.g. on a small tmpfs) instead of a fresh temporary one. */
  readonly dataDir?: string;
  readonly fault: (ctx: FaultContext) => Promise<void>;
}

export interface ScenarioResult {
  readonly row: MatrixRow;
  readonly tiers: StoredTiers;
  /** The output of every process of the scenario, for a failing test's message. */
  readonly output: string;
  /** Seconds spent per phase (start, load with the fault, graceful stop, read). */
  readonly seconds: Readonly<Record<string, number>>;
}

const STOP_WITHIN_MS = 60_000;

/**
 * SIGTERM to the app's own node process, as `kill <pid>` or a service manager sends it. Not to
 * tsx: tsx relays a signal (its own, or the group's on Ctrl-C) and SIGKILLs the app when the app
 * does not confirm it within ~60 ms, which a writer busy in chdb or the Parquet encoder misses
 * (measured: exit 143 with nothing flushed). tsx then exits with the app's code.
 */
async function terminate(app: RunningApp, appPid: number, withinMs: number): Promise<Exit> {
  const { child } = app;
  const exited = new Promise<Exit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (child.exitCode === null && child.signalCode === null) process.kill(appPid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no exit within ${withinMs} ms of SIGTERM`)), withinMs);
  });
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The pid of tsx's node child (the app itself): signals that stop it must not go to tsx. */
async function appPid(app: RunningApp): Promise<number> {
  const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(app.child.pid)]);
  const pid = Number(stdout.trim().split(/\s+/)[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no app process under tsx ${app.child.pid}`);
  return pid;
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'otlp-faults-')));
  const settings: Record<string, string> = {
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    HOT_BATCH_WINDOW_MS: '200',
    HOT_BATCH_SIZE: '50',
    LAKE_BATCH_WINDOW_MS: '500',
    LAKE_BATCH_SIZE: '100',
    STOP_TIMEOUT_MS: '20000',
    LOG_LEVEL: 'ERROR',
  };
  const outputs: string[] = [];
  const seconds: Record<string, number> = {};
  let mark = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    seconds[name] = Math.round((now - mark) / 100) / 10;
    mark = now;
  };
  let app = await startApp({ ...settings, ...options.faultEnv });
  phase('start');
  let pid = await appPid(app);
  const requests = makeRequests(options.requests, options.spansPerRequest);
  const load = startLoad(app.url, requests, options.load);
  const exitedOf = (a: RunningApp) =>
    new Promise<void>((resolve, reject) => {
      if (a.child.exitCode !== null || a.child.signalCode !== null) return resolve();
      let timer: NodeJS.Timeout | undefined;
      let ended = false;
      a.child.once('exit', () => {
        ended = true;
        clearTimeout(timer);
        resolve();
      });
      void load.done.then(() => {
        if (ended) return;
        timer = setTimeout(() => reject(new Error('the process did not end: the fault never fired')), 20_000);
      });
    });
  const ctx: FaultContext = {
    dataDir,
    load,
    app: () => app,
    exited: () => exitedOf(app),
    async restart(env = {}) {
      outputs.push(app.output());
      await app.stop('SIGKILL', STOP_WITHIN_MS).catch(() => undefined);
      app = await startApp({ ...settings, ...env });
      pid = await appPid(app);
    },
    signalApp(signal) {
      process.kill(pid, signal);
    },
    terminate: () => terminate(app, pid, STOP_WITHIN_MS),
  };
  try {
    await options.fault(ctx);
    const outcomes = await load.done;
    phase('load');
    const exit = await terminate(app, pid, STOP_WITHIN_MS);
    outputs.push(app.output());
    if (exit.code !== 0) throw new Error(`graceful stop ended with ${exit.code ?? exit.signal}`);
    phase('stop');
    const tiers = await readTiers(dataDir);
    phase('read');
    return {
      row: tally(options.name, requests, outcomes, tiers),
      tiers,
      output: outputs.join('\n----\n'),
      seconds,
    };
  } catch (e) {
    throw new Error(
      `${options.name}: ${(e as Error).message}\noutput:\n${[...outputs, app.output()].join('\n----\n')}`,
    );
  } finally {
    await app.stop('SIGKILL', STOP_WITHIN_MS).catch(() => undefined);
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
  }
}

// ---- the full disk: a small tmpfs as DATA_DIR, filled with a ballast file, then freed

/** A tmpfs of `size` (e.g. '64m') mounted on a fresh temporary directory; needs root, as CI has. */
export async function smallTmpfs(size: string): Promise<{ dir: string; release: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'otlp-faults-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  } catch (e) {
    await rmdir(dir).catch(() => undefined);
    throw new Error(`a full-disk test mounts a tmpfs and needs root (as CI has): ${(e as Error).message}`);
  }
  return {
    dir,
    async release() {
      await run('umount', ['-l', dir]).catch(() => undefined);
      await rmdir(dir).catch(() => undefined);
    },
  };
}

/** Writes zeros into `file` until the file system is full; returns the bytes written. */
export async function fillDisk(file: string): Promise<number> {
  const chunk = Buffer.alloc(1024 * 1024);
  let written = 0;
  const handle = await open(file, 'w');
  try {
    for (;;) {
      try {
        await handle.write(chunk);
        written += chunk.length;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw e;
      }
    }
    // The last partial megabyte: the remaining blocks, so nothing is left for anyone.
    for (let size = 64 * 1024; size >= 512; size /= 2) {
      for (;;) {
        try {
          await handle.write(chunk.subarray(0, size));
          written += size;
        } catch {
          break;
        }
      }
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
  return written;
}
