/**
 * Breach ingested -> signed webhook received, in local mode, for stream-evaluated and scheduled
 * rules: the whole pipeline in this process (startLocalPipeline: OTLP/HTTP gateway, ingest,
 * kinesalite, the stream alert evaluator on the poller's tumbling windows, the scheduled evaluator
 * on its one-minute timer over chdb, dynalite state, the in-process bus, the webhook notifier) and
 * an HTTP receiver on 127.0.0.1 that verifies each signature.
 *
 *   npx tsx bench/alert-latency.ts [--quick] [--breaches 20]
 *
 * Each breach is one OTLP/HTTP JSON logs request with ERROR records of a service never seen before
 * (so it is a new series, a new alert), sent at a random moment; t0 is when the request is
 * acknowledged (200), t1 when the receiver has the signed webhook for that service. Two rules match
 * every breach: `stream` (log_count per service, 1 m window: owned by the stream evaluator) and
 * `scheduled` (the same over 20 m: longer than the stream takes, so the schedule owns it).
 * Also prints the stream evaluator's per-invocation durations, the input of the cost estimate.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyWebhookSignature } from '../functions/shared/alerts/signing.js';
import { loadLocalConfig } from '../local/config.js';
import { startLocalPipeline } from '../local/pipeline.js';

const quick = process.argv.includes('--quick');
const arg = process.argv.indexOf('--breaches');
const BREACHES = arg > 0 ? Number(process.argv[arg + 1]) : quick ? 5 : 20;
/** Breaches are spread at random over this span, so they land at every phase of windows and ticks. */
const SPREAD_MS = quick ? 30_000 : 150_000;
const KEY = 'bench-hmac-key-0123456789';

const dir = mkdtempSync(join(tmpdir(), 'bench-alert-latency-'));
const received = new Map<string, { at: number; rule: string }[]>();
let badSignatures = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const at = performance.now();
    const body = Buffer.concat(chunks).toString('utf8');
    const check = verifyWebhookSignature({
      body,
      timestamp: String(req.headers['x-timestamp']),
      alertId: String(req.headers['x-alert-id']),
      signature: String(req.headers['x-signature-256']),
      key: KEY,
    });
    if (!check.ok) badSignatures++;
    const detail = JSON.parse(body) as { status: string; series: { service?: string }; rule: { id: string } };
    if (detail.status === 'firing' && detail.series.service) {
      const list = received.get(detail.series.service) ?? [];
      list.push({ at, rule: detail.rule.id });
      received.set(detail.series.service, list);
    }
    res.end('ok');
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
process.env.BENCH_HOOK = JSON.stringify({ url: hookUrl, hmacKey: KEY });

const rulesDir = join(dir, 'alerts');
const rule = (id: string, window: string) => `
  - id: ${id}
    name: ${id} error logs
    severity: critical
    runbook: https://runbooks.example.com/bench
    channels: [hook]
    kind: log_count
    groupBy: [service]
    minSeverity: ERROR
    window: ${window}
    threshold: 0`;
mkdirSync(rulesDir, { recursive: true });
writeFileSync(
  join(rulesDir, 'bench.yaml'),
  `tenant: local\nchannels:\n  hook: { type: webhook, secret: env:BENCH_HOOK }\nrules:${rule('stream', '1m')}${rule('scheduled', '20m')}\n`,
);

const config = loadLocalConfig({
  DATA_DIR: join(dir, 'data'),
  PORT: '0',
  CLICKHOUSE_HTTP_PORT: 'off',
  ALERT_RULES_DIR: rulesDir,
  LOG_LEVEL: 'ERROR',
});
const pipeline = await startLocalPipeline(config);
console.log(
  `local pipeline up; ${BREACHES} breaches over ${SPREAD_MS / 1000} s; stream window ${config.ALERT_STREAM_WINDOW_SECONDS} s, schedule ${config.ALERT_INTERVAL_MS / 1000} s`,
);

function logsRequest(service: string): string {
  const nowNs = `${BigInt(Date.now()) * 1_000_000n}`;
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: nowNs,
                severityNumber: 17,
                severityText: 'ERROR',
                body: { stringValue: 'boom' },
              },
            ],
          },
        ],
      },
    ],
  });
}

const sent = new Map<string, number>();
const runId = Math.random().toString(36).slice(2, 8);
await Promise.all(
  Array.from({ length: BREACHES }, async (_, i) => {
    await new Promise((r) => setTimeout(r, Math.random() * SPREAD_MS));
    const service = `bench-${runId}-${i}`;
    const res = await fetch(`${pipeline.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${pipeline.apiKey}` },
      body: logsRequest(service),
    });
    if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
    sent.set(service, performance.now());
  }),
);
// Wait for every scheduled delivery (up to one schedule period after the last breach, plus work).
const deadline = performance.now() + config.ALERT_INTERVAL_MS + 30_000;
while (performance.now() < deadline) {
  const done = [...sent.keys()].every((s) => (received.get(s) ?? []).length >= 2);
  if (done) break;
  await new Promise((r) => setTimeout(r, 200));
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};
for (const ruleId of ['stream', 'scheduled']) {
  const lat: number[] = [];
  let missing = 0;
  for (const [service, t0] of sent) {
    const hit = (received.get(service) ?? []).find((r) => r.rule === ruleId);
    if (hit) lat.push(hit.at - t0);
    else missing++;
  }
  console.log(
    `${ruleId.padEnd(9)}: n=${lat.length} missing=${missing} p50=${(pct(lat, 0.5) / 1000).toFixed(2)} s p95=${(pct(lat, 0.95) / 1000).toFixed(2)} s max=${(Math.max(...lat) / 1000).toFixed(2)} s`,
  );
}
const dup = [...received.values()].filter((l) => l.length > 2).length;
console.log(`bad signatures: ${badSignatures}; services notified more than once per rule: ${dup}`);
await pipeline.stop();
server.close();
rmSync(dir, { recursive: true, force: true });
