/**
 * `npm start`: the whole pipeline on this machine (see local/pipeline.ts), with a banner that says
 * how to send data and query it. SIGINT/SIGTERM stop accepting, answer the requests in flight,
 * let the consumers write what is on the stream and checkpoint, and exit (each step bounded by
 * STOP_TIMEOUT_MS); a restart resumes from the checkpoints with the data still there.
 *
 * Under tsx (`npm start`), tsx relays SIGINT/SIGTERM to this process and SIGKILLs it when it does
 * not confirm within ~60 ms, which a writer busy in chdb can miss: for a stop that is sure to be
 * graceful, signal the node process itself (`kill <pid>`) or run `node --import tsx bin/local.ts`.
 */
import { relative } from 'node:path';
import { LocalConfigError, loadLocalConfig } from '../local/config.js';
import { HttpGatewayError } from '../local/http-gateway.js';
import { type LocalPipeline, LocalStartError, startLocalPipeline } from '../local/pipeline.js';
import { ensureConsoleBuilt } from '../scripts/build-console.js';

function banner(p: LocalPipeline, startedMs: number, consoleNote: string): string {
  const dataDir = relative(process.cwd(), p.dataDir) || '.';
  const header = `authorization=Bearer ${p.apiKey}`;
  const ch = p.clickhouseHttp;
  const clickhouse =
    'url' in ch
      ? `${ch.url}  (user ${ch.user}; Grafana, HyperDX, DBeaver, curl)`
      : `not served: ${ch.notServed}`;
  return [
    '',
    `otlp-pipeline is running locally (ready in ${(startedMs / 1000).toFixed(1)} s)`,
    '',
    `  Console        ${p.url}/  (enter the key below)${consoleNote}`,
    `  OTLP/HTTP      ${p.url}/v1/traces  /v1/logs  /v1/metrics`,
    `  Query API      ${p.url}/v1/query/...`,
    `  Alerts API     ${p.url}/v1/alerts/rules  /channels  /silences  /state  /history`,
    `  Tenant / key   ${p.tenant} / ${p.apiKey}`,
    `  ClickHouse     ${clickhouse}`,
    `  Data           ${dataDir}/  (ClickHouse: ${p.clickhouseMode === 'embedded' ? 'embedded' : 'CLICKHOUSE_URL'})`,
    '',
    '  Send data from any OpenTelemetry SDK or Collector:',
    `    export OTEL_EXPORTER_OTLP_ENDPOINT=${p.url}`,
    `    export OTEL_EXPORTER_OTLP_HEADERS="${header}"`,
    '    npm run demo          # realistic telemetry from the OpenTelemetry JS SDK',
    '',
    '  Query it:',
    `    curl -H "Authorization: Bearer ${p.apiKey}" "${p.url}/v1/query/services?from=now-1h"`,
    '',
    '  Ctrl-C stops (consumers flush and checkpoint; data stays in the data directory).',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const config = loadLocalConfig();
  // The console builds (esbuild, well under a second, only when its sources changed) while the
  // emulators and ClickHouse start; a failed build leaves the API running and says so.
  const consoleBuild = ensureConsoleBuilt().then(
    (b) => (b === undefined ? '' : `  [built in ${b.ms.toFixed(0)} ms]`),
    (e: unknown) => `  [NOT BUILT: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}]`,
  );
  const pipeline = await startLocalPipeline(config);
  const consoleNote = await consoleBuild;
  // performance.now() counts from process start: the figure includes loading the modules.
  console.log(banner(pipeline, performance.now(), consoleNote));

  let firstSignalMs: number | undefined;
  const shutdown = (signal: string) => {
    if (firstSignalMs !== undefined) {
      // A wrapper (tsx, npm) relays the signal the terminal already sent to the whole group: a
      // copy within a second is that echo, not a user asking to hurry.
      if (performance.now() - firstSignalMs < 1_000) return;
      console.error('second signal: exiting without waiting');
      process.exit(130);
    }
    firstSignalMs = performance.now();
    console.log(
      `\n${signal}: stopping (answering requests in flight, flushing consumers, writing checkpoints; again to exit at once)…`,
    );
    pipeline.stop().then(
      () => {
        console.log('stopped cleanly');
        process.exit(0);
      },
      (e) => {
        console.error('stop failed', e);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((e: unknown) => {
  if (e instanceof LocalConfigError || e instanceof LocalStartError || e instanceof HttpGatewayError) {
    console.error(`cannot start: ${e.message}`);
  } else {
    console.error('cannot start:', e);
  }
  process.exit(1);
});
