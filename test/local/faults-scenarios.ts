import { rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_RETRY,
  fillDisk,
  runScenario,
  type ScenarioOptions,
  type ScenarioResult,
  smallTmpfs,
} from './faults-support.js';

/**
 * The fault matrix (issue #16): one scenario per way local mode gets hurt. Shared by the test
 * (test/local/faults.test.ts), which asserts zero acknowledged items lost and zero duplicated in
 * both tiers, and the bench (bench/faults.ts), which prints the table.
 */

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const REQUESTS = 40;
const SPANS = 50;
/** A short client timeout so a stalled server is given up on (and resent to) within the test. */
const CLIENT_TIMEOUT_MS = 2_000;
/** Room for local mode's start-up state, small enough to fill in a moment. */
const TMPFS_SIZE = '64m';

export interface Scenario extends Omit<ScenarioOptions, 'dataDir'> {
  /** Files the scenario must see quarantined (its fault tears one): the proof the fault bit. */
  readonly quarantines?: number;
  /** Prepares a special DATA_DIR (the tmpfs of the full-disk case) and undoes it. */
  readonly dataDir?: () => Promise<{ dir: string; release: () => Promise<void> }>;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'byte-identical resend (response lost)',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    load: { resendEach: true },
    fault: async () => undefined,
  },
  {
    name: 'kill -9 during ingest',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    load: { gapMs: 30 },
    fault: async (ctx) => {
      await ctx.load.whenAcknowledged(REQUESTS / 3);
      ctx.signalApp('SIGKILL');
      await ctx.exited();
      await ctx.restart();
    },
  },
  {
    name: 'kill -9 right after a hot insert commits',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    faultEnv: { LOCAL_FAULT: 'hot-insert:1' },
    fault: async (ctx) => {
      await ctx.exited();
      await ctx.restart();
    },
  },
  {
    name: 'kill -9 right after a lake object is stored',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    faultEnv: { LOCAL_FAULT: 'lake-put:1' },
    fault: async (ctx) => {
      await ctx.exited();
      await ctx.restart();
    },
  },
  {
    name: 'kill -9 while a lake object is created',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    faultEnv: { LOCAL_FAULT: 'lake-object-created:1' },
    fault: async (ctx) => {
      await ctx.exited();
      await ctx.restart();
    },
  },
  {
    // What s3rver used to leave (it wrote objects in place): the object of the killed put, cut in
    // half. Restarted with one-record lake batches, so the redelivery is grouped differently (as
    // Lambda's may be) and its first file gets another key: the writer must not trust the torn
    // file, rewrite its records and move it under _quarantine/.
    name: 'kill -9 right after a lake object is stored, object torn',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    faultEnv: { LOCAL_FAULT: 'lake-put:1' },
    quarantines: 1,
    fault: async (ctx) => {
      await ctx.exited();
      const file = /LOCAL_FAULT: SIGKILL at lake-put \(file (.+)\)/.exec(ctx.app().output())?.[1];
      if (!file) throw new Error('the lake-put fault did not name its object');
      const range = /-(\d+)-(\d+)\.parquet\._S3rver_object$/.exec(file);
      if (!range || range[1] === range[2])
        throw new Error(`torn object of one record, not regrouped: ${file}`);
      await truncate(file, Math.floor((await stat(file)).size / 2));
      await ctx.restart({ LAKE_BATCH_SIZE: '1' });
    },
  },
  {
    name: 'SIGSTOP past the client timeout, then SIGCONT',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    load: { gapMs: 30, policy: { ...DEFAULT_RETRY, timeoutMs: CLIENT_TIMEOUT_MS } },
    fault: async (ctx) => {
      await ctx.load.whenAcknowledged(REQUESTS / 4);
      ctx.signalApp('SIGSTOP');
      await sleep(CLIENT_TIMEOUT_MS * 2);
      ctx.signalApp('SIGCONT');
    },
  },
  {
    name: 'SIGTERM mid-batch, then start again',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    load: { gapMs: 30 },
    fault: async (ctx) => {
      await ctx.load.whenAcknowledged(REQUESTS / 3);
      const exit = await ctx.terminate();
      if (exit.code !== 0) throw new Error(`SIGTERM: exited with ${exit.code ?? exit.signal}`);
      await ctx.restart();
    },
  },
  {
    name: 'data disk full, then freed',
    requests: REQUESTS,
    spansPerRequest: SPANS,
    // Spread over ~10 s or more, so requests arrive before, while and after the disk is full.
    load: { gapMs: 1_000 },
    dataDir: () => smallTmpfs(TMPFS_SIZE),
    fault: async (ctx) => {
      await ctx.load.whenAcknowledged(8);
      const ballast = join(ctx.dataDir, 'ballast');
      await fillDisk(ballast);
      // Full for a while: ingest must answer 503 (the client retries) and the writers wait. Held
      // until a 503 came back (the stream emulator's writes are buffered, so the first may pass).
      const before = ctx.load.answers().get(503) ?? 0;
      const refusedSoFar = () => (ctx.load.answers().get(503) ?? 0) - before;
      const fullSince = Date.now();
      await sleep(3_000);
      while (refusedSoFar() === 0 && Date.now() - fullSince < 15_000) await sleep(200);
      const alive = ctx.app().child.exitCode === null && ctx.app().child.signalCode === null;
      const refused = refusedSoFar();
      await rm(ballast, { force: true });
      if (!alive) throw new Error('local mode ended on the full disk');
      if (refused === 0) throw new Error('no 503 while the disk was full: the fault did not bite');
    },
  },
];

/** Runs one scenario of the matrix, with its special data directory if it has one. */
export async function runMatrixScenario(scenario: Scenario): Promise<ScenarioResult> {
  const { dataDir, quarantines: _, ...options } = scenario;
  if (!dataDir) return runScenario(options);
  const prepared = await dataDir();
  try {
    return await runScenario({ ...options, dataDir: prepared.dir });
  } finally {
    await prepared.release();
  }
}
