import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as OTLPTraceJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  type ReadableLogRecord,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { z } from 'zod';
import {
  LogSearchResponseSchema,
  MetricResponseSchema,
  ServicesResponseSchema,
  TraceResponseSchema,
  TraceSearchResponseSchema,
} from '../../functions/shared/query/schemas.js';

/**
 * Helpers for the local-mode end-to-end test: run `bin/local.ts` as a child process the way a
 * user does, make telemetry with the official OpenTelemetry SDK and send it with the official
 * OTLP exporters, and read it back through the query API.
 */

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** `npm start` is `tsx bin/local.ts`; calling tsx directly skips npm's own start-up and signal relay. */
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
export const API_KEY = 'local-dev-key';
export const RUN_ID_ATTR = 'e2e.run_id';
const BANNER = 'otlp-pipeline is running locally';

/** A port nothing listens on right now: the kernel picks one for a throwaway listener. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from listen(0)');
  return address.port;
}

function childEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...settings };
  // A developer's own shell settings must not point the test at a real server.
  if (!('CLICKHOUSE_URL' in settings)) delete env.CLICKHOUSE_URL;
  // Tests run side by side: the ClickHouse HTTP interface takes a free port unless asked for one.
  if (!('CLICKHOUSE_HTTP_PORT' in settings)) env.CLICKHOUSE_HTTP_PORT = '0';
  return env;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningApp {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string;
  /** Sends the signal and waits for the exit; rejects if it takes longer than `withinMs`. */
  stop(signal: NodeJS.Signals, withinMs: number): Promise<Exit>;
}

/**
 * SIGKILL for the process and tsx's node child: killing only tsx would orphan the app, which
 * holds the port and the data directory. (Signals that can be caught go to tsx, which relays them.)
 */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function spawnLocal(settings: Record<string, string>): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<Exit>;
} {
  const child = spawn(TSX, ['bin/local.ts'], {
    cwd: REPO_ROOT,
    env: childEnv(settings),
    stdio: ['ignore', 'pipe', 'pipe'],
    // tsx runs the app in a node child of its own: a group of their own lets killGroup reach both.
    detached: true,
  });
  const orphanGuard = () => killGroup(child);
  process.once('exit', orphanGuard);
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    text += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    text += s;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      process.off('exit', orphanGuard);
      resolve({ code, signal });
    });
  });
  return { child, output: () => text, exited };
}

/** Starts local mode and resolves once its banner names the URL it listens on. */
export async function startApp(settings: Record<string, string>, withinMs = 90_000): Promise<RunningApp> {
  const { child, output, exited } = spawnLocal(settings);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`no banner within ${withinMs} ms; output:\n${output()}`));
    }, withinMs);
    const check = () => {
      const text = output();
      const match = /OTLP\/HTTP\s+(http:\/\/\S+)\/v1\/traces/.exec(text);
      if (text.includes(BANNER) && match?.[1]) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`exited (${e.code ?? e.signal}) before the banner; output:\n${output()}`));
    });
  });
  return {
    url,
    child,
    output,
    async stop(signal, withinMs) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      if (signal === 'SIGKILL') killGroup(child);
      else child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          killGroup(child);
          reject(new Error(`no exit within ${withinMs} ms of ${signal}; output:\n${output()}`));
        }, withinMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Runs local mode expecting it to give up on its own (bad settings, port taken). */
export async function runToExit(
  settings: Record<string, string>,
  withinMs = 90_000,
): Promise<Exit & { output: string }> {
  const { child, output, exited } = spawnLocal(settings);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`still running after ${withinMs} ms; output:\n${output()}`));
    }, withinMs);
  });
  try {
    const exit = await Promise.race([exited, timeout]);
    return { ...exit, output: output() };
  } finally {
    clearTimeout(timer);
  }
}

// ---- telemetry made with the OpenTelemetry SDK

/** Hands the SDK's collected metrics to the test instead of exporting them on a timer. */
class OnDemandMetricReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/**
 * One run's worth of telemetry: the same shape every run, told apart by the run id in the
 * service name (the query API filters by service) and in a `e2e.run_id` attribute.
 */
export interface RunTelemetry {
  readonly runId: string;
  readonly service: string;
  /** A server span with a client child, sent as protobuf. */
  readonly checkoutSpans: readonly ReadableSpan[];
  /** One failed server span, sent as JSON with gzip. */
  readonly paymentSpans: readonly ReadableSpan[];
  readonly logs: readonly ReadableLogRecord[];
  readonly metrics: ResourceMetrics;
  readonly checkoutTraceId: string;
  readonly paymentTraceId: string;
}

export const ORDERS_METRIC = 'e2e.orders';
export const ORDER_VALUE_METRIC = 'e2e.order.value';
/** Orders counted by the counter: 3 + 4. */
export const ORDERS_TOTAL = 7;
/** Order values recorded by the histogram; their mean is what `agg=avg` answers. */
export const ORDER_VALUES = [10, 20, 30] as const;

export async function makeRunTelemetry(runId: string): Promise<RunTelemetry> {
  const service = `e2e-shop-${runId}`;
  const resource = resourceFromAttributes({
    'service.name': service,
    'service.version': '1.2.3',
    [RUN_ID_ATTR]: runId,
  });

  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
  });
  const tracer = tracerProvider.getTracer('e2e-shop', '0.1.0');
  const t0 = Date.now() - 1_000;

  const checkout = tracer.startSpan(
    'GET /checkout',
    {
      kind: SpanKind.SERVER,
      startTime: t0,
      attributes: { 'http.request.method': 'GET', 'http.route': '/checkout', [RUN_ID_ATTR]: runId },
    },
    ROOT_CONTEXT,
  );
  const checkoutCtx = trace.setSpan(ROOT_CONTEXT, checkout);
  const select = tracer.startSpan(
    'SELECT orders',
    { kind: SpanKind.CLIENT, startTime: t0 + 5, attributes: { 'db.system.name': 'postgresql' } },
    checkoutCtx,
  );
  select.end(t0 + 45);
  checkout.addEvent('order.validated', { 'order.items': 3 }, t0 + 50);
  checkout.setStatus({ code: SpanStatusCode.OK });
  checkout.end(t0 + 120);
  const checkoutSpans = spans.getFinishedSpans();
  spans.reset();

  const payment = tracer.startSpan(
    'POST /pay',
    {
      kind: SpanKind.SERVER,
      startTime: t0 + 200,
      attributes: { 'http.request.method': 'POST', 'http.route': '/pay', [RUN_ID_ATTR]: runId },
    },
    ROOT_CONTEXT,
  );
  payment.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
  payment.end(t0 + 260);
  const paymentSpans = spans.getFinishedSpans();
  await tracerProvider.shutdown();

  const logs = new InMemoryLogRecordExporter();
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new SimpleLogRecordProcessor({ exporter: logs })],
  });
  const logger = loggerProvider.getLogger('e2e-shop', '0.1.0');
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: `checkout started for run ${runId}`,
    attributes: { [RUN_ID_ATTR]: runId },
    context: checkoutCtx,
    timestamp: t0 + 10,
  });
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: `order placed for run ${runId}`,
    attributes: { [RUN_ID_ATTR]: runId, 'order.id': 'o-1' },
    context: checkoutCtx,
    timestamp: t0 + 100,
  });
  logger.emit({
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: `Payment declined: insufficient funds (run ${runId})`,
    attributes: { [RUN_ID_ATTR]: runId },
    context: trace.setSpan(ROOT_CONTEXT, payment),
    timestamp: t0 + 250,
  });
  const logRecords = logs.getFinishedLogRecords();
  await loggerProvider.shutdown();

  const reader = new OnDemandMetricReader();
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  const meter = meterProvider.getMeter('e2e-shop', '0.1.0');
  const orders = meter.createCounter(ORDERS_METRIC, { unit: '{order}' });
  orders.add(3, { [RUN_ID_ATTR]: runId });
  orders.add(4, { [RUN_ID_ATTR]: runId });
  const value = meter.createHistogram(ORDER_VALUE_METRIC, { unit: 'EUR' });
  for (const v of ORDER_VALUES) value.record(v, { [RUN_ID_ATTR]: runId });
  const collected = await reader.collect();
  if (collected.errors.length > 0)
    throw new Error(`metric collection failed: ${String(collected.errors[0])}`);
  await meterProvider.shutdown();

  return {
    runId,
    service,
    checkoutSpans,
    paymentSpans,
    logs: logRecords,
    metrics: collected.resourceMetrics,
    checkoutTraceId: checkout.spanContext().traceId,
    paymentTraceId: payment.spanContext().traceId,
  };
}

function exportWith<T>(exporter: {
  export(items: T, done: (r: ExportResult) => void): void;
  shutdown(): Promise<void>;
}) {
  return async (items: T): Promise<ExportResult> => {
    const result = await new Promise<ExportResult>((resolve) => exporter.export(items, resolve));
    await exporter.shutdown();
    return result;
  };
}

export interface SendResults {
  readonly tracesProto: ExportResult;
  readonly logsJson: ExportResult;
  readonly metricsProto: ExportResult;
  readonly tracesJsonGzip: ExportResult;
}

/** Sends one run through four official exporters, as an instrumented app would. */
export async function sendRun(baseUrl: string, run: RunTelemetry): Promise<SendResults> {
  const headers = { Authorization: `Bearer ${API_KEY}` };
  // The config type's `compression` is an enum from a package this project does not depend on.
  type JsonTraceConfig = NonNullable<ConstructorParameters<typeof OTLPTraceJsonExporter>[0]>;
  const gzip = 'gzip' as JsonTraceConfig['compression'];
  const [tracesProto, logsJson, metricsProto, tracesJsonGzip] = await Promise.all([
    exportWith<ReadableSpan[]>(new OTLPTraceProtoExporter({ url: `${baseUrl}/v1/traces`, headers }))([
      ...run.checkoutSpans,
    ]),
    exportWith<ReadableLogRecord[]>(new OTLPLogExporter({ url: `${baseUrl}/v1/logs`, headers }))([
      ...run.logs,
    ]),
    exportWith<ResourceMetrics>(new OTLPMetricExporter({ url: `${baseUrl}/v1/metrics`, headers }))(
      run.metrics,
    ),
    exportWith<ReadableSpan[]>(
      new OTLPTraceJsonExporter({ url: `${baseUrl}/v1/traces`, headers, compression: gzip }),
    )([...run.paymentSpans]),
  ]);
  return { tracesProto, logsJson, metricsProto, tracesJsonGzip };
}

export function succeeded(r: ExportResult): string {
  return r.code === ExportResultCode.SUCCESS ? 'success' : `failed: ${r.error?.message ?? 'unknown'}`;
}

// ---- the query API

export class QueryApi {
  constructor(private readonly baseUrl: string) {}

  /** GET a query route and validate the body against the API's own response schema. */
  async get<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S>> {
    const res = await fetch(`${this.baseUrl}${path}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const text = await res.text();
    if (res.status !== 200) throw new QueryStatusError(res.status, `${path}: ${res.status} ${text}`);
    return schema.parse(JSON.parse(text));
  }

  /**
   * Asks again until `ready` holds (the consumers write in batches, so data shows up a moment
   * after it was accepted), then returns the last answer; gives up after `withinMs`.
   */
  async poll<S extends z.ZodType>(
    path: string,
    schema: S,
    ready: (body: z.infer<S>) => boolean,
    withinMs = 30_000,
  ): Promise<z.infer<S>> {
    const deadline = Date.now() + withinMs;
    let last: unknown;
    for (;;) {
      try {
        const body = await this.get(path, schema);
        if (ready(body)) return body;
        last = body;
      } catch (e) {
        // 404 until the trace arrives; anything else is a real failure.
        if (!(e instanceof QueryStatusError && e.status === 404)) throw e;
        last = e.message;
      }
      if (Date.now() > deadline) {
        throw new Error(`${path} not ready within ${withinMs} ms; last answer: ${JSON.stringify(last)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export class QueryStatusError extends Error {
  override readonly name = 'QueryStatusError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// ---- what the query API holds for one run

/** What a user sees of one run through the query API (counts and the values that would double). */
export interface RunView {
  readonly traces: number;
  readonly checkoutSpans: number;
  readonly paymentSpans: number;
  readonly logs: number;
  readonly ordersSum: number;
  /** The histogram's Sum and Count (the query API's avg is their ratio). */
  readonly orderValueSum: number;
  readonly orderValueCount: number;
  readonly requests: number;
  readonly errors: number;
}

export const EXPECTED_VIEW: RunView = {
  traces: 2,
  checkoutSpans: 2,
  paymentSpans: 1,
  logs: 3,
  ordersSum: ORDERS_TOTAL,
  orderValueSum: ORDER_VALUES.reduce((a, b) => a + b, 0),
  orderValueCount: ORDER_VALUES.length,
  requests: 2,
  errors: 1,
};

function sumPoints(body: z.infer<typeof MetricResponseSchema>): number {
  return body.data.series.flatMap((s) => s.points).reduce((a, p) => a + (p.value ?? 0), 0);
}

/**
 * Reads one run back through the query API, waiting (bounded) until at least the expected items
 * are there; the caller then asserts the exact figures, so a duplicate shows as a larger count.
 */
export async function viewRun(api: QueryApi, run: RunTelemetry, withinMs = 30_000): Promise<RunView> {
  const svc = encodeURIComponent(run.service);
  const e = EXPECTED_VIEW;
  const [traces, checkout, payment, logs, orders, valueSum, valueCount, services] = await Promise.all([
    api.poll(
      `/v1/query/traces?service=${svc}`,
      TraceSearchResponseSchema,
      (b) => b.data.length >= e.traces,
      withinMs,
    ),
    api.poll(
      `/v1/query/traces/${run.checkoutTraceId}`,
      TraceResponseSchema,
      (b) => b.data.spans.length >= e.checkoutSpans,
      withinMs,
    ),
    api.poll(
      `/v1/query/traces/${run.paymentTraceId}`,
      TraceResponseSchema,
      (b) => b.data.spans.length >= e.paymentSpans,
      withinMs,
    ),
    api.poll(
      `/v1/query/logs?service=${svc}`,
      LogSearchResponseSchema,
      (b) => b.data.length >= e.logs,
      withinMs,
    ),
    api.poll(
      `/v1/query/metrics?name=${ORDERS_METRIC}&service=${svc}&agg=sum`,
      MetricResponseSchema,
      (b) => sumPoints(b) >= e.ordersSum,
      withinMs,
    ),
    api.poll(
      `/v1/query/metrics?name=${ORDER_VALUE_METRIC}&service=${svc}&agg=sum`,
      MetricResponseSchema,
      (b) => sumPoints(b) >= e.orderValueSum,
      withinMs,
    ),
    api.poll(
      `/v1/query/metrics?name=${ORDER_VALUE_METRIC}&service=${svc}&agg=count`,
      MetricResponseSchema,
      (b) => sumPoints(b) >= e.orderValueCount,
      withinMs,
    ),
    api.poll(
      '/v1/query/services',
      ServicesResponseSchema,
      (b) => (b.data.find((s) => s.serviceName === run.service)?.requests ?? 0) >= e.requests,
      withinMs,
    ),
  ]);
  const service = services.data.find((s) => s.serviceName === run.service);
  return {
    traces: traces.data.length,
    checkoutSpans: checkout.data.spans.length,
    paymentSpans: payment.data.spans.length,
    logs: logs.data.length,
    ordersSum: sumPoints(orders),
    orderValueSum: sumPoints(valueSum),
    orderValueCount: sumPoints(valueCount),
    requests: service?.requests ?? 0,
    errors: service?.errors ?? 0,
  };
}
