import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLocalConfig } from '../../local/config.js';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.js';
import { type Receiver, startReceiver } from '../functions/shared/alerts/support.js';

/**
 * Local mode end to end: a channel and a rule made through /v1/alerts on the local gateway, an
 * ERROR log sent over OTLP/HTTP, the evaluator (on its timer) reading the API rule, the webhook
 * received on loopback with the secret the API stored, then state and history through the API.
 */

let pipeline: LocalPipeline;
let receiver: Receiver;
const KEY = 'local-dev-key';

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'local-alerts-'));
  const rulesDir = await mkdtemp(join(tmpdir(), 'local-alerts-rules-'));
  // No file rules for this tenant: everything comes through the API.
  await writeFile(join(rulesDir, 'other.yaml'), 'tenant: someone-else\nrules: []\n');
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  pipeline = await startLocalPipeline(
    loadLocalConfig({
      DATA_DIR: dataDir,
      PORT: '0',
      CLICKHOUSE_HTTP_PORT: 'off',
      ALERT_INTERVAL_MS: '1000',
      ALERT_RULES_DIR: rulesDir,
      STREAM_SHARDS: '1',
      HOT_BATCH_WINDOW_MS: '200',
      STOP_TIMEOUT_MS: '5000',
    }),
  );
  receiver = await startReceiver();
}, 180_000);

afterAll(async () => {
  await receiver?.close();
  await pipeline?.stop();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${pipeline.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${KEY}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as { data: unknown; error?: unknown } };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('alerts API in local mode', () => {
  it('a rule made through the API fires to a channel made through the API, and shows in state and history', async () => {
    const channel = await call('POST', '/v1/alerts/channels', {
      id: 'hook',
      type: 'webhook',
      secret: { url: `${receiver.url}/local-hook`, hmacKey: 'a-local-hmac-key-123' },
    });
    expect(channel.status).toBe(201);
    const rule = await call('POST', '/v1/alerts/rules', {
      id: 'payment-errors',
      name: 'Payment errors logged',
      severity: 'error',
      runbook: 'https://runbooks.example.com/payments',
      channels: ['hook'],
      kind: 'log_count',
      service: 'payments',
      minSeverity: 'ERROR',
      window: '5m',
      threshold: 0,
    });
    expect(rule.status).toBe(201);

    const sendError = async () => {
      const nowNs = `${Date.now()}000000`;
      const otlp = await fetch(`${pipeline.url}/v1/logs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          resourceLogs: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'payments' } }] },
              scopeLogs: [
                {
                  logRecords: [
                    {
                      timeUnixNano: nowNs,
                      severityNumber: 17,
                      severityText: 'ERROR',
                      body: { stringValue: 'card declined' },
                    },
                  ],
                },
              ],
            },
          ],
        }),
      });
      expect(otlp.status).toBe(200);
    };

    // The rule is decided on the stream (evaluation-path.ts), which reads new rules within its
    // rules cache (5 s locally) and counts what arrives from then on: errors keep coming, as in life.
    await sendError();
    const sender = setInterval(() => void sendError().catch(() => undefined), 2000);
    try {
      await until('the webhook', async () => receiver.requests.find((r) => r.path === '/local-hook'));
    } finally {
      clearInterval(sender);
    }
    const hook = await until('the webhook', async () =>
      receiver.requests.find((r) => r.path === '/local-hook'),
    );
    const body = JSON.parse(hook.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      type: 'AlertFiring',
      tenant: 'local',
      rule: { id: 'payment-errors', runbook: 'https://runbooks.example.com/payments' },
    });
    expect(body.value).toBeGreaterThanOrEqual(1);
    expect(String(body.consoleUrl)).toMatch(
      new RegExp(`^${pipeline.url}/#/logs\\?service=payments&severity=ERROR&`),
    );

    const state = await call('GET', '/v1/alerts/state');
    expect(state.json.data).toContainEqual(
      expect.objectContaining({ ruleId: 'payment-errors', state: 'firing', threshold: 0 }),
    );
    const history = await call('GET', '/v1/alerts/history?from=now-1h&ruleId=payment-errors');
    expect(history.json.data).toEqual([
      expect.objectContaining({
        ruleId: 'payment-errors',
        ruleName: 'Payment errors logged',
        from: 'ok',
        to: 'firing',
        value: body.value,
        threshold: 0,
        windowMs: 300_000,
        link: expect.stringContaining('/#/logs?service=payments'),
      }),
    ]);
  });
});
