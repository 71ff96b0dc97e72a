import {
  type Context,
  type Counter,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Histogram,
  type ObservableGauge,
  ROOT_CONTEXT,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { type Logger, SeverityNumber } from '@opentelemetry/api-logs';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import {
  type InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  ATTR_DEPLOYMENT_ENVIRONMENT_NAME,
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_MESSAGE,
  ATTR_EXCEPTION_STACKTRACE,
  ATTR_EXCEPTION_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_NAMESPACE,
  ATTR_SERVICE_VERSION,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';
import { SERVICE_INFO, type ServiceName, type Severity, type SpanPlan } from './system.js';

/**
 * The OpenTelemetry SDK side of the demo: one TracerProvider, LoggerProvider and MeterProvider
 * per simulated service, each with that service's resource, as if every service were its own
 * process. Nothing is registered globally (several services share this process), so spans and
 * log records get their parent context passed explicitly rather than through a context manager.
 */

/** host.name is still incubating in semantic-conventions; the package asks for a local copy. */
const ATTR_HOST_NAME = 'host.name';

export const METRIC_REQUESTS = 'app.requests';
export const METRIC_ERRORS = 'app.errors';
export const METRIC_REQUEST_DURATION = METRIC_HTTP_SERVER_REQUEST_DURATION;
export const METRIC_QUEUE_DEPTH = 'app.queue.depth';

/** The semantic conventions' advised buckets for http.server.request.duration, in seconds. */
const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

const SEVERITY: Readonly<Record<Severity, SeverityNumber>> = {
  INFO: SeverityNumber.INFO,
  WARN: SeverityNumber.WARN,
  ERROR: SeverityNumber.ERROR,
};

/** What the exporters report back, summed over every service. */
export interface ExportCounters {
  spansExported: number;
  logsExported: number;
  metricExports: number;
  exportErrors: number;
  lastError: string | undefined;
}

export function newExportCounters(): ExportCounters {
  return { spansExported: 0, logsExported: 0, metricExports: 0, exportErrors: 0, lastError: undefined };
}

export interface ServiceExporters {
  readonly spans: SpanExporter;
  readonly logs: LogRecordExporter;
  readonly metrics: PushMetricExporter;
}

export interface TelemetrySettings {
  /** deployment.environment.name on every resource. */
  readonly environment: string;
  /** How often the batch processors send what they hold. */
  readonly exportDelayMs: number;
  /** How often metrics are collected and sent. */
  readonly metricIntervalMs: number;
}

export interface ServiceTelemetry {
  readonly name: ServiceName;
  readonly tracer: Tracer;
  readonly logger: Logger;
  /** Moves the simulated queue depth that the gauge reports. */
  setQueueDepth(depth: number): void;
  recordRequest(plan: SpanPlan, failed: boolean): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function serviceResource(service: ServiceName, environment: string, instanceId: string): Resource {
  const info = SERVICE_INFO[service];
  return defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: service,
      [ATTR_SERVICE_NAMESPACE]: 'demo-shop',
      [ATTR_SERVICE_VERSION]: info.version,
      [ATTR_SERVICE_INSTANCE_ID]: instanceId,
      [ATTR_DEPLOYMENT_ENVIRONMENT_NAME]: environment,
      [ATTR_HOST_NAME]: info.host,
    }),
  );
}

export function createServiceTelemetry(
  service: ServiceName,
  exporters: ServiceExporters,
  settings: TelemetrySettings,
  instanceId: string,
): ServiceTelemetry {
  const resource = serviceResource(service, settings.environment, instanceId);
  const batch = {
    scheduledDelayMillis: settings.exportDelayMs,
    // Headroom for high --rate values: the defaults (2048 queued) would drop spans silently.
    maxQueueSize: 16_384,
    maxExportBatchSize: 1024,
  };
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor({ exporter: exporters.spans, ...batch })],
  });
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ exporter: exporters.logs, ...batch })],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: exporters.metrics,
        exportIntervalMillis: settings.metricIntervalMs,
        // The reader refuses a timeout longer than its interval.
        exportTimeoutMillis: Math.min(10_000, settings.metricIntervalMs),
      }),
    ],
  });

  const scope = `demo-shop/${service}`;
  const version = SERVICE_INFO[service].version;
  const tracer = tracerProvider.getTracer(scope, version);
  const logger = loggerProvider.getLogger(scope, version);
  const meter = meterProvider.getMeter(scope, version);

  const requests: Counter = meter.createCounter(METRIC_REQUESTS, {
    description: 'HTTP requests served',
    unit: '{request}',
  });
  const errors: Counter = meter.createCounter(METRIC_ERRORS, {
    description: 'HTTP requests that failed with a server error',
    unit: '{request}',
  });
  const duration: Histogram = meter.createHistogram(METRIC_REQUEST_DURATION, {
    description: 'Duration of HTTP server requests',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
  });
  const queueDepth: ObservableGauge = meter.createObservableGauge(METRIC_QUEUE_DEPTH, {
    description: 'Messages waiting in the service queue',
    unit: '{message}',
  });
  let depth = 0;
  const queue = SERVICE_INFO[service].queue;
  queueDepth.addCallback((result) => result.observe(depth, { 'messaging.destination.name': queue }));

  return {
    name: service,
    tracer,
    logger,
    setQueueDepth: (value) => {
      depth = value;
    },
    recordRequest: (plan, failed) => {
      const request = plan.request;
      if (!request) return;
      const attributes = {
        [ATTR_HTTP_REQUEST_METHOD]: request.method,
        [ATTR_HTTP_ROUTE]: request.route,
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: request.status,
      };
      requests.add(1, attributes);
      duration.record(plan.durationMs / 1000, attributes);
      if (failed) errors.add(1, { ...attributes, [ATTR_ERROR_TYPE]: String(request.status) });
    },
    forceFlush: async () => {
      await Promise.all([
        tracerProvider.forceFlush(),
        loggerProvider.forceFlush(),
        meterProvider.forceFlush(),
      ]);
    },
    shutdown: async () => {
      // Each shutdown sends what its processor still holds (the metric reader collects once more).
      await Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}

// ---- emitting a planned trace ----

const propagator = new W3CTraceContextPropagator();

export interface EmitResult {
  readonly spans: number;
  readonly logs: number;
  /** True when any span of the trace has status ERROR. */
  readonly failed: boolean;
}

/**
 * Emits a planned trace through the services' SDKs so that it ends at `endMs` (epoch ms).
 * A call that crosses services goes through a W3C traceparent header, injected by the caller
 * and extracted by the callee, the way the HTTP instrumentation would carry it.
 */
export function emitTrace(
  root: SpanPlan,
  services: Readonly<Record<ServiceName, ServiceTelemetry>>,
  endMs: number,
): EmitResult {
  const counts = { spans: 0, logs: 0, failed: false };
  emitSpan(root, services, ROOT_CONTEXT, undefined, endMs - root.durationMs, counts);
  return counts;
}

function emitSpan(
  plan: SpanPlan,
  services: Readonly<Record<ServiceName, ServiceTelemetry>>,
  parent: Context,
  parentService: ServiceName | undefined,
  parentStartMs: number,
  counts: { spans: number; logs: number; failed: boolean },
): void {
  const svc = services[plan.service];
  let context = parent;
  if (parentService !== undefined && parentService !== plan.service) {
    const headers: Record<string, string> = {};
    propagator.inject(parent, headers, defaultTextMapSetter);
    context = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  }
  const startMs = parentStartMs + plan.offsetMs;
  const endMs = startMs + plan.durationMs;
  const span = svc.tracer.startSpan(
    plan.name,
    { kind: plan.kind, attributes: plan.attributes, startTime: startMs },
    context,
  );
  const spanContext = trace.setSpan(context, span);
  counts.spans++;

  for (const child of plan.children) emitSpan(child, services, spanContext, plan.service, startMs, counts);

  for (const log of plan.logs) {
    const attributes = { ...log.attributes };
    if (log.exception) {
      attributes[ATTR_EXCEPTION_TYPE] = log.exception.type;
      attributes[ATTR_EXCEPTION_MESSAGE] = log.exception.message;
      attributes[ATTR_EXCEPTION_STACKTRACE] = log.exception.stacktrace;
    }
    svc.logger.emit({
      timestamp: log.at === 'start' ? startMs : endMs,
      severityNumber: SEVERITY[log.severity],
      severityText: log.severity,
      body: log.body,
      attributes,
      // The log record takes its trace_id/span_id from the span in this context.
      context: spanContext,
    });
    counts.logs++;
  }

  if (plan.error) {
    const ex = plan.error.exception;
    if (ex) span.recordException({ name: ex.type, message: ex.message, stack: ex.stacktrace }, endMs);
    span.setStatus({ code: SpanStatusCode.ERROR, message: plan.error.message });
    counts.failed = true;
  }
  svc.recordRequest(plan, plan.error !== undefined);
  span.end(endMs);
}

// ---- counting exporters ----

function describe(result: ExportResult): string {
  const error = result.error;
  if (!error) return 'export failed';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' || typeof code === 'string' ? `${error.message} (${code})` : error.message;
}

function tally(counters: ExportCounters, result: ExportResult, onSuccess: () => void): void {
  if (result.code === ExportResultCode.SUCCESS) {
    onSuccess();
  } else {
    counters.exportErrors++;
    counters.lastError = describe(result);
  }
}

/** Wraps a span exporter to count what it sent and what it failed to send. */
export function countingSpanExporter(inner: SpanExporter, counters: ExportCounters): SpanExporter {
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      inner.export(spans, (result) => {
        tally(counters, result, () => {
          counters.spansExported += spans.length;
        });
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

export function countingLogExporter(inner: LogRecordExporter, counters: ExportCounters): LogRecordExporter {
  return {
    export(logs: ReadableLogRecord[], done: (result: ExportResult) => void) {
      inner.export(logs, (result) => {
        tally(counters, result, () => {
          counters.logsExported += logs.length;
        });
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush(),
  };
}

export function countingMetricExporter(
  inner: PushMetricExporter,
  counters: ExportCounters,
): PushMetricExporter {
  const wrapped: PushMetricExporter = {
    export(metrics: ResourceMetrics, done: (result: ExportResult) => void) {
      inner.export(metrics, (result) => {
        tally(counters, result, () => {
          counters.metricExports++;
        });
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush(),
  };
  // Keep the exporter's temporality and aggregation choices: the reader asks the exporter.
  if (inner.selectAggregationTemporality) {
    const select = inner.selectAggregationTemporality.bind(inner);
    wrapped.selectAggregationTemporality = (type: InstrumentType) => select(type);
  }
  if (inner.selectAggregation) {
    const select = inner.selectAggregation.bind(inner);
    wrapped.selectAggregation = (type: InstrumentType) => select(type);
  }
  return wrapped;
}
