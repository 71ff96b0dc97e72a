/**
 * `npm start`: the whole pipeline on this machine (see local/pipeline.ts), with a banner that says
 * how to send data and query it. SIGINT/SIGTERM stop accepting, let the consumers finish and
 * checkpoint, and exit; a restart resumes from the checkpoints with the data still there.
 */
import { relative } from 'node:path';
import { LocalConfigError, loadLocalConfig } from '../local/config.js';
import { HttpGatewayError } from '../local/http-gateway.js';
import { type LocalPipeline, LocalStartError, startLocalPipeline } from '../local/pipeline.js';

function banner(p: LocalPipeline, startedMs: number): string {
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
    `  OTLP/HTTP      ${p.url}/v1/traces  /v1/logs  /v1/metrics`,
    `  Query API      ${p.url}/v1/query/...`,
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
  const t0 = performance.now();
  const config = loadLocalConfig();
  const pipeline = await startLocalPipeline(config);
  console.log(banner(pipeline, performance.now() - t0));

  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) {
      console.error('second signal: exiting without waiting');
      process.exit(130);
    }
    console.log(`\n${signal}: stopping (flushing consumers, writing checkpoints)…`);
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
