/**
 * `npm run screenshots`: the README's pictures of the console, made the same way the browser test
 * runs it (local mode in a temporary data directory, the demo's telemetry, Debian's Chromium via
 * playwright-core), so they can be regenerated after any change. Writes docs/images/<page>.png and
 * prints the timings the README quotes.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CHROMIUM,
  enterKey,
  getJson,
  hasChromium,
  launchChromium,
  startDemoApp,
} from '../test/console/browser-support.js';

const OUT = fileURLToPath(new URL('../docs/images', import.meta.url));
const DEMO_MS = 60_000;

interface TraceSummary {
  traceId: string;
  durationMs: number;
  errorCount: number;
  spanCount: number;
}

async function main(): Promise<void> {
  if (!hasChromium) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  mkdirSync(OUT, { recursive: true });
  console.log(`starting local mode and sending ${DEMO_MS / 1000} s of demo telemetry…`);
  const demo = await startDemoApp({ demoMs: DEMO_MS, rate: 100, seed: 3 });
  const demoEnd = Date.now();
  const browser = await launchChromium();
  try {
    const iso = (ms: number) => new Date(Math.round(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    const range = new URLSearchParams({ from: iso(demo.startedMs - 2_000), to: iso(demoEnd + 2_000) });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    await enterKey(page, demo.url);
    await page.locator('[data-testid="services-table"] tbody tr').first().waitFor();
    const fcp = await page.evaluate(
      () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? 0,
    );

    const shot = async (name: string, hash: string, ready: string, fullPage = false) => {
      await page.goto(`${demo.url}/#/${hash}`);
      await page.locator(ready).first().waitFor({ timeout: 20_000 });
      // A hash change is no navigation for the load states: wait for the page's own queries.
      await page
        .locator('.refreshing, .state.loading')
        .first()
        .waitFor({ state: 'detached', timeout: 20_000 });
      await page.waitForTimeout(300); // charts draw on the next frame
      const path = join(OUT, `${name}.png`);
      await page.screenshot({ path, fullPage });
      console.log(`  ${path}`);
    };

    await shot('services', `services?${range}`, '[data-testid="services-table"] tbody tr');
    await shot('map', `map?${range}`, '[data-testid="service-map"] circle');
    await shot('traces', `traces?${range}&limit=1000`, '[data-testid="trace-scatter"] canvas');
    // The trace view: the slowest trace with an error if there is one (the richest picture).
    const { data: traces } = await getJson<{ data: TraceSummary[] }>(demo.url, '/v1/query/traces', {
      from: range.get('from')!,
      to: range.get('to')!,
      limit: '1000',
    });
    const sorted = [...traces].sort((a, b) => b.durationMs - a.durationMs);
    const pick = sorted.find((t) => t.errorCount > 0 && t.spanCount >= 6) ?? sorted[0]!;
    await shot('trace', `traces/${pick.traceId}?${range}`, '[data-testid="trace-logs"] .log', true);
    await shot('logs', `logs?${range}&severity=INFO`, '[data-testid="log-results"] .log');
    await shot(
      'metrics',
      `metrics?${range}&name=http.server.request.duration&agg=avg`,
      '[data-testid="metric-chart"] canvas',
    );
    const alerts = await fetch(`${demo.url}/v1/alerts/rules`, {
      headers: { authorization: 'Bearer local-dev-key' },
    });
    if (alerts.status === 404) console.log('  (alerts.png not made: this API has no /v1/alerts routes)');
    else await shot('alerts', `alerts?${range}`, '[data-testid="alert-rules"]');

    console.log(
      `timings: process start -> banner ${(demo.readyMs / 1000).toFixed(1)} s; navigation -> first contentful paint ${fcp.toFixed(0)} ms`,
    );
  } finally {
    await browser.close();
    await demo.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error('screenshots failed:', e);
    process.exit(1);
  },
);
