import { randomUUID } from 'node:crypto';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { DemoOptions } from './options.js';
import { checkEndpoint } from './preflight.js';
import type { DemoStats } from './progress.js';
import { between, chance, type Random } from './random.js';
import { planRequest, SERVICES, type ServiceName } from './system.js';
import {
  countingLogExporter,
  countingMetricExporter,
  countingSpanExporter,
  createServiceTelemetry,
  type ExportCounters,
  emitTrace,
  newExportCounters,
  type ServiceExporters,
  type ServiceTelemetry,
} from './telemetry.js';

export interface RunDemoOptions extends DemoOptions {
  /** Aborting stops generating; the SDKs are then flushed and runDemo resolves. */
  readonly signal?: AbortSignal;
  /** Called once the endpoint has answered, just before generating starts. */
  readonly onStarted?: () => void;
  /** Called every `progressIntervalMs` and once more at the end, after the final flush. */
  readonly onProgress?: (stats: DemoStats) => void;
  /** @default 1000 */
  readonly progressIntervalMs?: number;
  /** How often the span and log batch processors send. @default 1000 */
  readonly exportDelayMs?: number;
  /** How often metrics are collected and sent. @default 5000 */
  readonly metricIntervalMs?: number;
  /** deployment.environment.name of every service. @default 'demo' */
  readonly environment?: string;
  /** @default Math.random */
  readonly random?: Random;
}

/** Generation runs in ticks; each emits the spans due since the last one. */
const TICK_MS = 100;

/**
 * Runs the simulated shop against an OTLP/HTTP endpoint until `durationMs` passes or `signal`
 * aborts, then flushes every SDK and resolves with the totals. Rejects with DemoConnectionError
 * before sending anything when the endpoint is unreachable or refuses the key.
 *
 * Rate control is a token bucket refilled every tick with `rate` spans per second (at most one
 * second's worth banked); a trace is emitted while the bucket is positive, so the long-run rate
 * matches the request even though traces come in sizes of 2 to 11 spans.
 */
export async function runDemo(options: RunDemoOptions): Promise<DemoStats> {
  const { endpoint, apiKey, rate, durationMs, signal } = options;
  const random = options.random ?? Math.random;
  await checkEndpoint(endpoint, apiKey);

  const counters = newExportCounters();
  const settings = {
    environment: options.environment ?? 'demo',
    exportDelayMs: options.exportDelayMs ?? 1000,
    metricIntervalMs: options.metricIntervalMs ?? 5000,
  };
  const services = Object.fromEntries(
    SERVICES.map((name) => [
      name,
      createServiceTelemetry(name, otlpExporters(endpoint, apiKey, counters), settings, randomUUID()),
    ]),
  ) as Record<ServiceName, ServiceTelemetry>;

  options.onStarted?.();
  const generated = { traces: 0, errorTraces: 0, spans: 0, logs: 0 };
  const started = performance.now();
  const snapshot = (): DemoStats => ({
    elapsedMs: performance.now() - started,
    ...generated,
    spansExported: counters.spansExported,
    logsExported: counters.logsExported,
    metricExports: counters.metricExports,
    exportErrors: counters.exportErrors,
    lastError: counters.lastError,
  });

  const queueDepth = new Map<ServiceName, number>(SERVICES.map((s) => [s, 0]));
  const progressEvery = options.progressIntervalMs ?? 1000;
  let nextProgress = progressEvery;
  let budget = 0;
  let last = started;
  try {
    while (!signal?.aborted) {
      const now = performance.now();
      const elapsed = now - started;
      if (durationMs !== undefined && elapsed >= durationMs) break;
      budget = Math.min(budget + (rate * (now - last)) / 1000, rate);
      const tickMs = now - last;
      last = now;
      while (budget > 0) {
        const plan = planRequest(random);
        // Spread the traces of a tick over that tick, each ending when it "finished".
        const result = emitTrace(plan.root, services, Date.now() - random() * tickMs);
        budget -= result.spans;
        generated.traces++;
        generated.spans += result.spans;
        generated.logs += result.logs;
        if (result.failed) generated.errorTraces++;
      }
      moveQueues(queueDepth, services, random);
      if (elapsed >= nextProgress) {
        nextProgress = elapsed + progressEvery;
        options.onProgress?.(snapshot());
      }
      const remaining = durationMs === undefined ? TICK_MS : Math.min(TICK_MS, durationMs - elapsed);
      await pause(Math.max(1, remaining), signal);
    }
  } finally {
    const results = await Promise.allSettled(Object.values(services).map((s) => s.shutdown()));
    for (const r of results) {
      if (r.status === 'rejected') {
        counters.exportErrors++;
        counters.lastError = r.reason instanceof Error ? r.reason.message : String(r.reason);
      }
    }
  }
  const totals = snapshot();
  options.onProgress?.(totals);
  return totals;
}

function otlpExporters(endpoint: string, apiKey: string, counters: ExportCounters): ServiceExporters {
  const config = { headers: { Authorization: `Bearer ${apiKey}` }, timeoutMillis: 10_000 };
  return {
    spans: countingSpanExporter(new OTLPTraceExporter({ ...config, url: `${endpoint}/v1/traces` }), counters),
    logs: countingLogExporter(new OTLPLogExporter({ ...config, url: `${endpoint}/v1/logs` }), counters),
    metrics: countingMetricExporter(
      new OTLPMetricExporter({ ...config, url: `${endpoint}/v1/metrics` }),
      counters,
    ),
  };
}

/** A mean-reverting random walk with the odd burst, so the queue-depth gauges have a shape. */
function moveQueues(
  depths: Map<ServiceName, number>,
  services: Readonly<Record<ServiceName, ServiceTelemetry>>,
  random: Random,
): void {
  for (const [name, depth] of depths) {
    let next = depth + between(random, -3, 3) - depth * 0.05;
    if (chance(random, 0.002)) next += between(random, 50, 200);
    next = Math.max(0, next);
    depths.set(name, next);
    services[name].setQueueDepth(Math.round(next));
  }
}

/** Waits `ms`, or less if `signal` aborts first; never rejects. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
