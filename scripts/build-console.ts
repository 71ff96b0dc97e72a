/**
 * Builds the console (console/src, Preact + uPlot) into console/dist with esbuild: content-hashed
 * JS and CSS under assets/ and an index.html with no inline script, so the CSP can forbid them.
 * `npm start` calls ensureConsoleBuilt (rebuilds only when a source is newer than the build), the
 * CDK app builds before synthesis (the files are the console Lambda's asset), and
 * `npx tsx scripts/build-console.ts` builds by hand and prints the sizes.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { type BuildOptions, build, buildSync, type Metafile } from 'esbuild';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CONSOLE_SRC = join(REPO_ROOT, 'console', 'src');
export const CONSOLE_DIST = join(REPO_ROOT, 'console', 'dist');
/** The budget of the issue: initial load <= 250 KB of compressed JS. */
export const JS_BUDGET_BYTES = 250 * 1024;

export interface BuiltFile {
  /** Path under dist, with '/' separators: 'assets/main-X.js'. */
  readonly path: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly brotliBytes: number;
}

export interface ConsoleBuild {
  readonly outDir: string;
  readonly files: readonly BuiltFile[];
  readonly ms: number;
}

function options(outDir: string): BuildOptions {
  return {
    absWorkingDir: REPO_ROOT,
    entryPoints: [join(CONSOLE_SRC, 'main.tsx')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    outdir: join(outDir, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  };
}

function finish(outDir: string, metafile: Metafile, tmpDir: string, started: number): ConsoleBuild {
  const outputs = Object.keys(metafile.outputs).map((p) =>
    relative(tmpDir, join(REPO_ROOT, p)).split('\\').join('/'),
  );
  const js = outputs.find((p) => p.endsWith('.js'));
  const css = outputs.find((p) => p.endsWith('.css'));
  if (!js) throw new Error('esbuild produced no JS bundle');
  const template = readFileSync(join(CONSOLE_SRC, 'index.html'), 'utf8');
  const html = template
    .replace('<!--css-->', css ? `<link rel="stylesheet" href="${css}" />` : '')
    .replace('<!--js-->', `<script type="module" src="${js}"></script>`);
  writeFileSync(join(tmpDir, 'index.html'), html);
  // Swap the finished build in whole: a server reading dist never sees half of one.
  rmSync(outDir, { recursive: true, force: true });
  try {
    renameSync(tmpDir, outDir);
  } catch (e) {
    // Another process (parallel test workers synthesizing the app) swapped its build in first:
    // same sources, same files.
    if (!existsSync(join(outDir, 'index.html'))) throw e;
    rmSync(tmpDir, { recursive: true, force: true });
  }
  const files = ['index.html', ...outputs].map((path) => {
    const body = readFileSync(join(outDir, path));
    return {
      path,
      bytes: body.length,
      gzipBytes: gzipSync(body, { level: 9 }).length,
      brotliBytes: brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
    };
  });
  return { outDir, files, ms: performance.now() - started };
}

function tmpFor(outDir: string): string {
  const tmp = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(dirname(tmp), { recursive: true });
  return tmp;
}

export async function buildConsole(outDir = CONSOLE_DIST): Promise<ConsoleBuild> {
  const started = performance.now();
  const tmp = tmpFor(outDir);
  try {
    const result = await build(options(tmp));
    return finish(outDir, result.metafile!, tmp, started);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The same build, synchronous: the CDK app needs the files before it synthesizes. */
export function buildConsoleSync(outDir = CONSOLE_DIST): ConsoleBuild {
  const started = performance.now();
  const tmp = tmpFor(outDir);
  try {
    const result = buildSync(options(tmp));
    return finish(outDir, result.metafile!, tmp, started);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** True when dist is missing or older than a source file (or this script). */
export function consoleIsStale(outDir = CONSOLE_DIST): boolean {
  const index = join(outDir, 'index.html');
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return newestMtime(CONSOLE_SRC) > built || statSync(fileURLToPath(import.meta.url)).mtimeMs > built;
}

/** Builds when stale; `undefined` when the build on disk is current. */
export async function ensureConsoleBuilt(outDir = CONSOLE_DIST): Promise<ConsoleBuild | undefined> {
  return consoleIsStale(outDir) ? buildConsole(outDir) : undefined;
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

export function formatBuild(b: ConsoleBuild): string {
  const rows = b.files.map(
    (f) =>
      `  ${f.path.padEnd(32)} ${kb(f.bytes).padStart(10)} ${kb(f.gzipBytes).padStart(10)} ${kb(f.brotliBytes).padStart(10)}`,
  );
  return [
    `console built in ${b.ms.toFixed(0)} ms -> ${relative(process.cwd(), b.outDir) || '.'}`,
    `  ${'file'.padEnd(32)} ${'raw'.padStart(10)} ${'gzip'.padStart(10)} ${'brotli'.padStart(10)}`,
    ...rows,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const b = await buildConsole();
  console.log(formatBuild(b));
  const js = b.files.filter((f) => f.path.endsWith('.js')).reduce((n, f) => n + f.gzipBytes, 0);
  if (js > JS_BUDGET_BYTES) {
    console.error(`initial JS is ${kb(js)} gzip, over the ${kb(JS_BUDGET_BYTES)} budget`);
    process.exit(1);
  }
}
