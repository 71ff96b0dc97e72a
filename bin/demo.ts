/**
 * `npm run demo`: realistic telemetry from the official OpenTelemetry JS SDK, for watching the
 * pipeline work (start it with `npm start` in another terminal). See `npm run demo -- --help`.
 * Ctrl-C stops generating, flushes every SDK and prints totals and queries to try; a second
 * Ctrl-C exits at once.
 */
import { DemoConnectionError, DemoUsageError } from '../local/demo/errors.js';
import { DEMO_USAGE, parseDemoArgs } from '../local/demo/options.js';
import { formatSummary, progressWriter } from '../local/demo/progress.js';
import { runDemo } from '../local/demo/run-demo.js';
import { SERVICES } from '../local/demo/system.js';

async function main(): Promise<number> {
  const parsed = parseDemoArgs(process.argv.slice(2));
  if (parsed.help) {
    console.log(DEMO_USAGE);
    return 0;
  }
  const { options } = parsed;

  const progress = progressWriter(process.stdout);
  const controller = new AbortController();
  let signals = 0;
  const stop = () => {
    signals++;
    if (signals > 1) process.exit(130);
    progress.done();
    console.log('stopping: flushing the SDKs (Ctrl-C again to exit at once)…');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const until =
    options.durationMs === undefined ? 'until Ctrl-C' : `for ${(options.durationMs / 1000).toString()} s`;
  const onStarted = () => {
    console.log(`Sending about ${options.rate} spans/s to ${options.endpoint} ${until}`);
    console.log(`  services: ${SERVICES.join(', ')} (traces, logs with trace context, metrics)\n`);
  };

  const totals = await runDemo({
    ...options,
    signal: controller.signal,
    onStarted,
    onProgress: (s) => progress.update(s),
  });
  progress.done();
  console.log(formatSummary(totals, options.endpoint, options.apiKey));
  if (totals.exportErrors > 0) {
    console.error(`${totals.exportErrors} exports failed; the last error: ${totals.lastError ?? 'unknown'}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof DemoUsageError) {
      console.error(e.message);
      process.exit(2);
    }
    if (e instanceof DemoConnectionError) {
      console.error(`demo: ${e.message}`);
    } else {
      console.error('demo failed:', e);
    }
    process.exit(1);
  },
);
