import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { seededRandom } from '../../local/demo/random.js';
import { runDemo } from '../../local/demo/run-demo.js';
import { API_KEY, freePort, type RunningApp, startApp } from '../local/e2e-support.js';

/**
 * Local mode filled by the demo's telemetry, and Debian's Chromium driven by playwright-core (never
 * a browser download): shared by the console's browser test and `npm run screenshots`.
 */

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export { API_KEY };

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface DemoApp {
  readonly app: RunningApp;
  readonly url: string;
  /** When the demo started sending (epoch ms). */
  readonly startedMs: number;
  /** Process start to banner, as bin/local.ts printed it. */
  readonly readyMs: number;
  stop(): Promise<void>;
}

/** GET on the query API with the local key. */
export async function getJson<T>(base: string, path: string, query: Record<string, string> = {}): Promise<T> {
  const qs = new URLSearchParams(query).toString();
  const res = await fetch(`${base}${path}${qs ? `?${qs}` : ''}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function until(what: string, withinMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${what}: not within ${withinMs} ms`);
}

/** Starts local mode in a temporary data directory and sends `demoMs` of demo telemetry. */
export async function startDemoApp(opts: { demoMs: number; rate: number; seed?: number }): Promise<DemoApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'otlp-console-'));
  const app = await startApp({
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    HOT_BATCH_WINDOW_MS: '200',
    LAKE_BATCH_WINDOW_MS: '2000',
    // Alert rules evaluated every 5 s, so the alerts page has series states within the test.
    ALERT_INTERVAL_MS: '5000',
    LOG_LEVEL: 'WARN',
  });
  const readyMs = Number(/ready in ([\d.]+) s/.exec(app.output())?.[1] ?? Number.NaN) * 1000;
  const startedMs = Date.now();
  await runDemo({
    endpoint: app.url,
    apiKey: API_KEY,
    rate: opts.rate,
    durationMs: opts.demoMs,
    exportDelayMs: 250,
    metricIntervalMs: 1000,
    progressIntervalMs: 60_000,
    random: seededRandom(opts.seed ?? 7),
  });
  const from = new Date(startedMs - 60_000).toISOString();
  // Written by the hot writer within its window: wait until every signal reads back.
  await until('demo data queryable', 30_000, async () => {
    const s = await getJson<{ data: unknown[] }>(app.url, '/v1/query/services', { from });
    const l = await getJson<{ data: unknown[] }>(app.url, '/v1/query/logs', { from, limit: '1' });
    const m = await getJson<{ data: { series: unknown[] } }>(app.url, '/v1/query/metrics', {
      from,
      name: 'http.server.request.duration',
    });
    return s.data.length > 0 && l.data.length > 0 && m.data.series.length > 0;
  });
  return {
    app,
    url: app.url,
    startedMs,
    readyMs,
    async stop() {
      await app.stop('SIGKILL', 10_000).catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Opens the console and enters the key once (it stays in the tab's sessionStorage). */
export async function enterKey(page: Page, url: string, key = API_KEY): Promise<void> {
  await page.goto(`${url}/`);
  await page.locator('input[name="api-key"]').fill(key);
  await page.getByRole('button', { name: 'Open the console' }).click();
}

/** Reports Content-Security-Policy violations into window.__cspViolations (the init script is not subject to the CSP). */
export async function recordCspViolations(page: Page): Promise<void> {
  await page.addInitScript({
    content: `window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
      });`,
  });
}
