import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { SpanStatusCode } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { InMemoryLogRecordExporter } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, InMemoryMetricExporter } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeOtlp } from '../../functions/shared/otlp/decode.js';
import type { AnyValue, KeyValue, OtlpRequest } from '../../functions/shared/otlp/model.js';
import type { Signal } from '../../functions/shared/schema/columns.js';
import { DemoConnectionError, DemoUsageError } from '../../local/demo/errors.js';
import { parseDemoArgs } from '../../local/demo/options.js';
import { type DemoStats, formatSummary, progressWriter } from '../../local/demo/progress.js';
import { seededRandom } from '../../local/demo/random.js';
import { runDemo } from '../../local/demo/run-demo.js';
import { planRequest, SERVICES, type ServiceName } from '../../local/demo/system.js';
import { createServiceTelemetry, emitTrace, type ServiceTelemetry } from '../../local/demo/telemetry.js';

const KEY = 'demo-test-key';
/** opentelemetry.proto.trace.v1 enums, as the decoder reports them. */
const PROTO_KIND_SERVER = 2;
const PROTO_KIND_CLIENT = 3;
const PROTO_STATUS_ERROR = 2;

interface Received {
  readonly signal: Signal;
  readonly authorization: string | undefined;
  readonly otlp: OtlpRequest;
}

/** A stand-in OTLP/HTTP receiver: decodes protobuf posts with the pipeline's own decoder. */
async function startReceiver(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const signal = req.url?.replace(/^\/v1\//, '');
      if (signal !== 'traces' && signal !== 'logs' && signal !== 'metrics') {
        res.writeHead(404).end();
        return;
      }
      if (req.headers.authorization !== `Bearer ${KEY}`) {
        res.writeHead(401).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      received.push({
        signal,
        authorization: req.headers.authorization,
        otlp: decodeOtlp(signal, body, 'protobuf'),
      });
      // An empty protobuf body is a complete Export*ServiceResponse.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, server };
}

function str(attributes: readonly KeyValue[], key: string): string | undefined {
  const value: AnyValue | undefined = attributes.find((a) => a.key === key)?.value;
  return value?.t === 'string' ? value.v : undefined;
}

describe('npm run demo against an OTLP receiver', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let totals: DemoStats;
  const progress: DemoStats[] = [];
  let started = 0;

  beforeAll(async () => {
    receiver = await startReceiver();
    totals = await runDemo({
      endpoint: receiver.url,
      apiKey: KEY,
      rate: 150,
      durationMs: 2000,
      exportDelayMs: 200,
      metricIntervalMs: 500,
      progressIntervalMs: 500,
      random: seededRandom(42),
      onStarted: () => {
        started++;
      },
      onProgress: (s) => progress.push(s),
    });
  });

  afterAll(async () => {
    receiver.server.closeAllConnections();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  const spans = () =>
    receiver.received.flatMap((r) =>
      r.otlp.signal === 'traces'
        ? r.otlp.request.resourceSpans.flatMap((rs) =>
            rs.scopeSpans.flatMap((ss) =>
              ss.spans.map((span) => ({ span, service: str(rs.resource.attributes, 'service.name') })),
            ),
          )
        : [],
    );
  const logs = () =>
    receiver.received.flatMap((r) =>
      r.otlp.signal === 'logs'
        ? r.otlp.request.resourceLogs.flatMap((rl) =>
            rl.scopeLogs.flatMap((sl) =>
              sl.logRecords.map((log) => ({ log, service: str(rl.resource.attributes, 'service.name') })),
            ),
          )
        : [],
    );
  const metrics = () =>
    receiver.received.flatMap((r) =>
      r.otlp.signal === 'metrics'
        ? r.otlp.request.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
        : [],
    );

  it('delivers every generated span and log, with no export errors', () => {
    expect(started).toBe(1);
    expect(totals.exportErrors).toBe(0);
    expect(totals.traces).toBeGreaterThan(10);
    expect(totals.spansExported).toBe(totals.spans);
    expect(totals.logsExported).toBe(totals.logs);
    expect(spans()).toHaveLength(totals.spans);
    expect(logs()).toHaveLength(totals.logs);
    // The final progress report carries the totals after the flush.
    expect(progress.at(-1)).toEqual(totals);
  });

  it('sends traces from every service, one resource per service, with the resource attributes', () => {
    const resources = receiver.received.flatMap((r) =>
      r.otlp.signal === 'traces' ? r.otlp.request.resourceSpans.map((rs) => rs.resource.attributes) : [],
    );
    expect(new Set(resources.map((a) => str(a, 'service.name')))).toEqual(new Set(SERVICES));
    for (const attributes of resources) {
      expect(str(attributes, 'service.version')).toMatch(/^\d+\.\d+\.\d+$/);
      expect(str(attributes, 'deployment.environment.name')).toBe('demo');
      expect(str(attributes, 'host.name')).toBeTruthy();
    }
  });

  it('links spans across services into one trace through the propagated context', () => {
    const all = spans();
    const byId = new Map(all.map((s) => [`${s.span.traceId}/${s.span.spanId}`, s]));
    const servicesPerTrace = new Map<string, Set<string | undefined>>();
    for (const s of all) {
      const set = servicesPerTrace.get(s.span.traceId) ?? new Set();
      set.add(s.service);
      servicesPerTrace.set(s.span.traceId, set);
    }
    // Checkouts cross all four services; product pages cross two.
    expect([...servicesPerTrace.values()].some((set) => set.size === 4)).toBe(true);
    expect([...servicesPerTrace.values()].filter((set) => set.size >= 2).length).toBeGreaterThan(5);

    // Every server span below the root has its client span, in the calling service, as parent.
    const remoteServers = all.filter((s) => s.span.kind === PROTO_KIND_SERVER && s.span.parentSpanId !== '');
    expect(remoteServers.length).toBeGreaterThan(5);
    for (const s of remoteServers) {
      const parent = byId.get(`${s.span.traceId}/${s.span.parentSpanId}`);
      expect(parent?.span.kind).toBe(PROTO_KIND_CLIENT);
      expect(parent?.service).not.toBe(s.service);
    }
    // Roots are frontend server spans with the HTTP attributes a user would filter on.
    const roots = all.filter((s) => s.span.parentSpanId === '');
    expect(roots).toHaveLength(totals.traces);
    for (const root of roots) {
      expect(root.service).toBe('frontend');
      expect(str(root.span.attributes, 'http.route')).toMatch(/^\/api\//);
      expect(str(root.span.attributes, 'http.request.method')).toMatch(/^(GET|POST)$/);
    }
  });

  it('sends logs that carry the trace and span ids of the span they were written in', () => {
    const ids = new Set(spans().map((s) => `${s.span.traceId}/${s.span.spanId}`));
    const received = logs();
    expect(received.length).toBeGreaterThan(10);
    for (const { log } of received) {
      expect(log.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(ids.has(`${log.traceId}/${log.spanId}`)).toBe(true);
      expect(['INFO', 'WARN', 'ERROR']).toContain(log.severityText);
    }
  });

  it('sends the request counter, duration histogram and queue-depth gauge', () => {
    const byName = new Map(metrics().map((m) => [m.name, m]));
    expect(byName.get('app.requests')?.data?.type).toBe('sum');
    expect(byName.get('http.server.request.duration')?.data?.type).toBe('histogram');
    expect(byName.get('http.server.request.duration')?.unit).toBe('s');
    expect(byName.get('app.queue.depth')?.data?.type).toBe('gauge');
    // The error counter only appears once a server span has failed.
    const serverFailed = spans().some(
      (s) => s.span.kind === PROTO_KIND_SERVER && s.span.status.code === PROTO_STATUS_ERROR,
    );
    expect(byName.has('app.errors')).toBe(serverFailed);
    expect(totals.metricExports).toBeGreaterThanOrEqual(SERVICES.length);
  });

  it('sends the API key as a bearer token on every request', () => {
    expect(receiver.received.length).toBeGreaterThan(0);
    for (const r of receiver.received) expect(r.authorization).toBe(`Bearer ${KEY}`);
  });
});

describe('npm run demo stopped with Ctrl-C', () => {
  it('stops generating when aborted and flushes everything generated so far', async () => {
    const receiver = await startReceiver();
    try {
      const controller = new AbortController();
      const totals = await runDemo({
        endpoint: receiver.url,
        apiKey: KEY,
        rate: 100,
        durationMs: undefined,
        signal: controller.signal,
        exportDelayMs: 60_000,
        progressIntervalMs: 300,
        // Abort at the first progress report, as Ctrl-C would: nothing has been exported yet.
        onProgress: (s) => {
          if (!controller.signal.aborted && s.spans > 0) controller.abort();
        },
      });
      expect(totals.spans).toBeGreaterThan(0);
      expect(totals.exportErrors).toBe(0);
      expect(totals.spansExported).toBe(totals.spans);
      expect(totals.logsExported).toBe(totals.logs);
      const spanCount = receiver.received.reduce(
        (n, r) =>
          n +
          (r.otlp.signal === 'traces'
            ? r.otlp.request.resourceSpans.reduce(
                (m, rs) => m + rs.scopeSpans.reduce((k, ss) => k + ss.spans.length, 0),
                0,
              )
            : 0),
        0,
      );
      expect(spanCount).toBe(totals.spans);
    } finally {
      receiver.server.closeAllConnections();
      await new Promise((resolve) => receiver.server.close(resolve));
    }
  });
});

describe('npm run demo: clear errors before sending', () => {
  it('says to start the pipeline when the endpoint refuses connections', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));

    let started = false;
    const run = runDemo({
      endpoint: `http://127.0.0.1:${port}`,
      apiKey: KEY,
      rate: 10,
      durationMs: 500,
      onStarted: () => {
        started = true;
      },
    });
    await expect(run).rejects.toBeInstanceOf(DemoConnectionError);
    await expect(run).rejects.toThrow(
      `cannot connect to http://127.0.0.1:${port}: connection refused. Is \`npm start\` running?`,
    );
    expect(started).toBe(false);
  });

  it('says the key was refused when the endpoint answers 401', async () => {
    const receiver = await startReceiver();
    try {
      const run = runDemo({ endpoint: receiver.url, apiKey: 'wrong-key', rate: 10, durationMs: 500 });
      await expect(run).rejects.toThrow(/refused the API key \(HTTP 401\)\. Pass the right one with --key/);
      expect(receiver.received).toHaveLength(0);
    } finally {
      receiver.server.closeAllConnections();
      await new Promise((resolve) => receiver.server.close(resolve));
    }
  });
});

describe('the simulated shop (official SDK, in-memory exporters)', () => {
  it('has a few percent of failing traces, exception events, a slow tail and logs at every level', async () => {
    const spanExporters = new Map<ServiceName, InMemorySpanExporter>();
    const logExporters = new Map<ServiceName, InMemoryLogRecordExporter>();
    const services = Object.fromEntries(
      SERVICES.map((name) => {
        const spans = new InMemorySpanExporter();
        const logs = new InMemoryLogRecordExporter();
        spanExporters.set(name, spans);
        logExporters.set(name, logs);
        const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
        const settings = { environment: 'test', exportDelayMs: 60_000, metricIntervalMs: 60_000 };
        return [name, createServiceTelemetry(name, { spans, logs, metrics }, settings, randomUUID())];
      }),
    ) as Record<ServiceName, ServiceTelemetry>;

    const random = seededRandom(7);
    const traces = 2500;
    let failed = 0;
    for (let i = 0; i < traces; i++) {
      if (emitTrace(planRequest(random).root, services, Date.now()).failed) failed++;
    }
    await Promise.all(Object.values(services).map((s) => s.forceFlush()));
    const spans = [...spanExporters.values()].flatMap((e) => e.getFinishedSpans());
    const logs = [...logExporters.values()].flatMap((e) => e.getFinishedLogRecords());
    await Promise.all(Object.values(services).map((s) => s.shutdown()));

    expect(failed / traces).toBeGreaterThan(0.01);
    expect(failed / traces).toBeLessThan(0.05);
    const errors = spans.filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(errors.some((s) => s.events.some((e) => e.name === 'exception'))).toBe(true);

    // Latencies have a long tail: the slowest spans are far above the median.
    const durations = spans.map((s) => hrTimeToMilliseconds(s.duration)).sort((a, b) => a - b);
    const median = durations[Math.floor(durations.length / 2)] ?? 0;
    expect(durations.at(-1) ?? 0).toBeGreaterThan(median * 50);

    const db = spans.filter((s) => s.attributes['db.system.name'] !== undefined);
    expect(new Set(db.map((s) => s.attributes['db.system.name']))).toEqual(new Set(['postgresql', 'redis']));
    for (const s of db) expect(s.attributes['db.query.text']).toBeTruthy();
    expect(new Set(logs.map((l) => l.severityText))).toEqual(new Set(['INFO', 'WARN', 'ERROR']));
    for (const log of logs) expect(log.spanContext?.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('demo command line', () => {
  it('takes flags over the OTLP environment variables over the local defaults', () => {
    expect(parseDemoArgs([], {})).toEqual({
      help: false,
      options: {
        endpoint: 'http://127.0.0.1:4318',
        apiKey: 'local-dev-key',
        rate: 50,
        durationMs: undefined,
      },
    });
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com/',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-team=web,Authorization=Bearer%20tenant-key-123',
    };
    expect(parseDemoArgs([], env)).toMatchObject({
      options: { endpoint: 'https://otlp.example.com', apiKey: 'tenant-key-123' },
    });
    expect(
      parseDemoArgs(['--rate', '200', '--duration', '1.5', '--endpoint', 'http://h:1', '--key', 'k2'], env),
    ).toEqual({
      help: false,
      options: { endpoint: 'http://h:1', apiKey: 'k2', rate: 200, durationMs: 1500 },
    });
    expect(parseDemoArgs(['-h'], {})).toEqual({ help: true });
  });

  it('explains bad arguments', () => {
    expect(() => parseDemoArgs(['--rate', 'fast'], {})).toThrow(DemoUsageError);
    expect(() => parseDemoArgs(['--rate', '0'], {})).toThrow(/--rate: must be above 0/);
    expect(() => parseDemoArgs(['--endpoint', 'localhost:4318'], {})).toThrow(/--endpoint: must be an http/);
    expect(() => parseDemoArgs(['--speed', '3'], {})).toThrow(/Unknown option '--speed'/);
  });

  it('rewrites the progress line in place on a terminal and prints every few seconds otherwise', () => {
    const stats = (elapsedMs: number): DemoStats => ({
      elapsedMs,
      traces: 10,
      errorTraces: 1,
      spans: 50,
      logs: 20,
      spansExported: 40,
      logsExported: 20,
      metricExports: 4,
      exportErrors: 0,
      lastError: undefined,
    });
    const tty: string[] = [];
    const onTty = progressWriter({ isTTY: true, columns: 200, write: (c: string) => tty.push(c) });
    onTty.update(stats(1000));
    onTty.update(stats(2000));
    onTty.done();
    expect(tty[0]?.startsWith('\r\x1b[2K00:01 | traces 10 | spans 50 (50/s, 40 sent) | logs 20')).toBe(true);
    expect(tty.at(-1)).toBe('\n');

    const plain: string[] = [];
    const onPipe = progressWriter({ write: (c: string) => plain.push(c) }, 5000);
    for (let ms = 1000; ms <= 11_000; ms += 1000) onPipe.update(stats(ms));
    expect(plain).toHaveLength(3);
    expect(plain.every((line) => line.endsWith('\n') && !line.includes('\r'))).toBe(true);

    const summary = formatSummary(stats(3000), 'http://127.0.0.1:4318', 'local-dev-key');
    expect(summary).toContain(
      'curl -H "Authorization: Bearer local-dev-key" "http://127.0.0.1:4318/v1/query/services?from=now-15m"',
    );
    expect(summary).toContain('/v1/query/traces?service=checkout');
  });
});
