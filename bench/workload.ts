/**
 * The synthetic workload every benchmark shares: OTLP export requests shaped like what real
 * OpenTelemetry SDKs send, serialized by the official serializers of
 * `@opentelemetry/otlp-transformer` (protobuf and OTLP/JSON) from SDK data structures.
 *
 * - 4 services (checkout, cart, payment, catalog), each with a resource like a Node.js SDK's:
 *   service.name/namespace/version/instance.id, deployment.environment.name, telemetry.sdk.*,
 *   host.*, os.type, process.pid/runtime.*, cloud.provider/region (16 attributes).
 * - traces: 512 spans (default), 128 per service, under 2 instrumentation scopes per service
 *   (http, pg). Each span has 10 attributes whose keys average 20 characters, with values drawn
 *   from small realistic vocabularies (methods, 12 routes, 9 status codes, user ids from a pool
 *   of 1,000, peer addresses from a pool of 200, 3 user agents…), of mixed types (strings,
 *   ints, a double, a bool); server/client/internal kinds, parents, ~8% error status with an
 *   `exception` event, ~5% with a link.
 * - logs: 512 log records (default), 128 per service, 10 attributes each (same vocabularies),
 *   bodies of 60–120 characters from templates, severities mostly INFO with some DEBUG, WARN and
 *   ERROR, 70% carrying trace and span ids.
 * - metrics: one request holding the 4 services' ResourceMetrics, collected from a real
 *   MeterProvider per service: an http.server.request.duration histogram (method × route ×
 *   status), an exponential histogram of db.client.operation.duration, monotonic and
 *   non-monotonic sums, and a gauge; 2–5 attributes per data point, ~500 data points in all.
 *   The official metrics serializer takes one ResourceMetrics per request: protobuf requests are
 *   concatenated (in protobuf, concatenation merges: repeated fields append) and the JSON
 *   requests' resourceMetrics arrays joined.
 *
 * Everything is drawn from a seeded generator, so a seed gives the same payload (metrics carry
 * the wall-clock collection times of the SDK, so their bytes vary, their sizes do not).
 */

import { gzipSync } from 'node:zlib';
import { type Attributes, type HrTime, type Link, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  AggregationType,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import type { KinesisStreamRecord } from 'aws-lambda';
import { createIngest } from '../functions/ingest/ingest.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import type { OtlpRequest } from '../functions/shared/otlp/model.js';

export interface Payload {
  readonly protobuf: Uint8Array;
  readonly json: Uint8Array;
  /** Spans, log records or data points in the request. */
  readonly items: number;
}

export interface WorkloadOptions {
  /** Spans or log records per request. @default 512 */
  readonly items?: number;
  /** @default 1 */
  readonly seed?: number;
}

/** mulberry32: small, fast, good enough to draw a workload. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SERVICES = ['checkout', 'cart', 'payment', 'catalog'] as const;
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const ROUTES = [
  '/api/v1/orders',
  '/api/v1/orders/:id',
  '/api/v1/cart',
  '/api/v1/cart/items/:id',
  '/api/v1/products',
  '/api/v1/products/:id',
  '/api/v1/payments',
  '/api/v1/users/:id',
  '/health',
  '/api/v1/search',
  '/api/v1/recommendations',
  '/api/v1/shipping/quote',
];
const STATUSES = [200, 200, 200, 200, 201, 204, 301, 400, 401, 404, 500, 503];
const AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15',
  'okhttp/4.12.0',
  'python-requests/2.32.3',
];
const TABLES = ['orders', 'carts', 'products', 'payments', 'users'];
const OPERATIONS = ['SELECT', 'SELECT', 'INSERT', 'UPDATE'];

function hex(next: () => number, bytes: number): string {
  let s = '';
  for (let i = 0; i < bytes; i++)
    s += Math.floor(next() * 256)
      .toString(16)
      .padStart(2, '0');
  return s;
}

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)]!;
}

function serviceResource(service: string, i: number): Resource {
  return resourceFromAttributes({
    'service.name': service,
    'service.namespace': 'shop',
    'service.version': `1.${i + 4}.${i * 3}`,
    'service.instance.id': `6f1c${i}a2e-3b4d-4c5e-9f60-7a8b9c0d1e2f`,
    'deployment.environment.name': 'production',
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.version': '2.2.0',
    'host.name': `ip-10-0-${i}-17.eu-west-1.compute.internal`,
    'host.arch': 'arm64',
    'os.type': 'linux',
    'process.pid': 4242 + i,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': '22.11.0',
    'cloud.provider': 'aws',
    'cloud.region': 'eu-west-1',
  });
}

const RESOURCES = SERVICES.map(serviceResource);
const HTTP_SCOPE = { name: '@opentelemetry/instrumentation-http', version: '0.208.0' };
const PG_SCOPE = { name: '@opentelemetry/instrumentation-pg', version: '0.61.0' };
const LOG_SCOPE = { name: 'pino', version: '9.5.0' };
const BASE_SECONDS = 1_763_900_000;

function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [BASE_SECONDS + s, Math.round((ms - s * 1000) * 1e6) + 123];
}

/** Ten attributes, keys of 20 characters on average, mixed value types. */
function itemAttributes(next: () => number, status: number, route: string): Attributes {
  return {
    'http.request.method': pick(next, METHODS),
    'http.route': route,
    'http.response.status_code': status,
    'network.protocol.version': next() < 0.7 ? '1.1' : '2',
    'server.address': 'api.shop.example.com',
    'network.peer.address': `10.1.${Math.floor(next() * 4)}.${Math.floor(next() * 50)}`,
    'user_agent.original': pick(next, AGENTS),
    'app.user.account_id': `user-${10000 + Math.floor(next() * 1000)}`,
    'http.request.body.size': Math.round(next() * 4096) + 0.5,
    'app.feature_flag.checkout_v2': next() < 0.6,
  };
}

export function traceRequest(options?: WorkloadOptions): Payload {
  const spans = traceSpans(options);
  return {
    protobuf: ProtobufTraceSerializer.serializeRequest(spans)!,
    json: JsonTraceSerializer.serializeRequest(spans)!,
    items: spans.length,
  };
}

/** The SDK spans of the trace workload (ReadableSpan objects as a span processor sees them). */
export function traceSpans(options?: WorkloadOptions): ReadableSpan[] {
  const n = options?.items ?? 512;
  const next = rng(options?.seed ?? 1);
  const spans: ReadableSpan[] = [];
  for (let i = 0; i < n; i++) {
    const svc = i % SERVICES.length;
    const traceId = hex(next, 16);
    const spanId = hex(next, 8);
    const status = pick(next, STATUSES);
    const route = pick(next, ROUTES);
    const isDb = next() < 0.3;
    const startMs = i * 7 + next() * 5;
    const durMs = 1 + next() * 250;
    const events: TimedEvent[] = [];
    if (status >= 500) {
      events.push({
        name: 'exception',
        time: hrTime(startMs + durMs / 2),
        attributes: {
          'exception.type': 'UpstreamTimeoutError',
          'exception.message': `upstream ${pick(next, SERVICES)} timed out after 2000 ms`,
        },
        droppedAttributesCount: 0,
      });
    }
    const links: Link[] =
      next() < 0.05
        ? [{ context: { traceId: hex(next, 16), spanId: hex(next, 8), traceFlags: 1 }, attributes: {} }]
        : [];
    spans.push({
      name: isDb ? `${pick(next, OPERATIONS)} ${pick(next, TABLES)}` : `${pick(next, METHODS)} ${route}`,
      kind: isDb ? SpanKind.CLIENT : next() < 0.8 ? SpanKind.SERVER : SpanKind.INTERNAL,
      spanContext: () => ({ traceId, spanId, traceFlags: 1 }),
      parentSpanContext: next() < 0.7 ? { traceId, spanId: hex(next, 8), traceFlags: 1 } : undefined,
      startTime: hrTime(startMs),
      endTime: hrTime(startMs + durMs),
      duration: [0, Math.round(durMs * 1e6)],
      status:
        status >= 500
          ? { code: SpanStatusCode.ERROR, message: 'upstream request failed' }
          : { code: SpanStatusCode.UNSET },
      attributes: itemAttributes(next, status, route),
      links,
      events,
      ended: true,
      resource: RESOURCES[svc]!,
      instrumentationScope: isDb ? PG_SCOPE : HTTP_SCOPE,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    });
  }
  return spans;
}

const LOG_TEMPLATES = [
  (u: string, r: string) => `request completed for ${u} on ${r} in a reasonable time, cache warm`,
  (u: string, r: string) => `order placed by ${u}: 3 items, total 149.90 EUR, payment authorised via ${r}`,
  (u: string, r: string) =>
    `retrying upstream call for ${u} (${r}) after connection reset by peer, attempt 2 of 3`,
  (u: string, r: string) =>
    `slow query detected while serving ${r} to ${u}: SELECT * FROM orders WHERE user_id = $1`,
];
const SEVERITIES: readonly [SeverityNumber, string][] = [
  [SeverityNumber.INFO, 'INFO'],
  [SeverityNumber.INFO, 'INFO'],
  [SeverityNumber.INFO, 'INFO'],
  [SeverityNumber.DEBUG, 'DEBUG'],
  [SeverityNumber.WARN, 'WARN'],
  [SeverityNumber.ERROR, 'ERROR'],
];

export function logsRequest(options?: WorkloadOptions): Payload {
  const records = logRecords(options);
  return {
    protobuf: ProtobufLogsSerializer.serializeRequest(records)!,
    json: JsonLogsSerializer.serializeRequest(records)!,
    items: records.length,
  };
}

/** The SDK log records of the logs workload (ReadableLogRecord objects as an exporter sees them). */
export function logRecords(options?: WorkloadOptions): ReadableLogRecord[] {
  const n = options?.items ?? 512;
  const next = rng((options?.seed ?? 1) + 1000);
  const out: ReadableLogRecord[] = [];
  for (let i = 0; i < n; i++) {
    const svc = i % SERVICES.length;
    const status = pick(next, STATUSES);
    const route = pick(next, ROUTES);
    const user = `user-${10000 + Math.floor(next() * 1000)}`;
    const [severityNumber, severityText] = pick(next, SEVERITIES);
    const ms = i * 7 + next() * 5;
    out.push({
      hrTime: hrTime(ms),
      hrTimeObserved: hrTime(ms + 0.25),
      spanContext: next() < 0.7 ? { traceId: hex(next, 16), spanId: hex(next, 8), traceFlags: 1 } : undefined,
      severityNumber,
      severityText,
      body: pick(next, LOG_TEMPLATES)(user, route),
      resource: RESOURCES[svc]!,
      instrumentationScope: LOG_SCOPE,
      attributes: itemAttributes(next, status, route),
      droppedAttributesCount: 0,
    });
  }
  return out;
}

/** Hands out what the MeterProvider has aggregated, on demand. */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** The SDK's ResourceMetrics of the metrics workload, one per service. */
export async function resourceMetrics(options?: { seed?: number }): Promise<ResourceMetrics[]> {
  const next = rng((options?.seed ?? 1) + 2000);
  const out: ResourceMetrics[] = [];
  for (const resource of RESOURCES) {
    const reader = new CollectingReader();
    const provider = new MeterProvider({
      resource,
      readers: [reader],
      views: [
        {
          instrumentName: 'db.client.operation.duration',
          aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM },
        },
      ],
    });
    const meter = provider.getMeter(HTTP_SCOPE.name, HTTP_SCOPE.version);
    const duration = meter.createHistogram('http.server.request.duration', {
      unit: 's',
      description: 'Duration of HTTP server requests.',
    });
    const requests = meter.createCounter('http.server.request.count', { description: 'Requests served.' });
    const active = meter.createUpDownCounter('http.server.active_requests', { unit: '{request}' });
    const cpu = meter.createGauge('process.cpu.utilization', { unit: '1' });
    const db = meter.createHistogram('db.client.operation.duration', { unit: 's' });
    for (let i = 0; i < 2000; i++) {
      const method = pick(next, METHODS);
      const route = ROUTES[Math.floor(next() * 5)]!;
      const status = pick(next, [200, 200, 201, 404, 500]);
      const attrs = {
        'http.request.method': method,
        'http.route': route,
        'http.response.status_code': status,
        'url.scheme': 'https',
        'network.protocol.version': '1.1',
      };
      duration.record(next() * 0.8, attrs);
      if (i % 4 === 0) requests.add(1, { ...attrs, 'http.response.status_code': 200 });
      if (i % 50 === 0) active.add(next() < 0.5 ? 1 : -1, { 'http.route': route, 'url.scheme': 'https' });
      if (i % 20 === 0) {
        db.record(next() * 0.05, {
          'db.system.name': 'postgresql',
          'db.operation.name': pick(next, OPERATIONS),
          'db.collection.name': pick(next, TABLES),
          'server.address': 'db.shop.internal',
          'server.port': 5432,
        });
      }
    }
    for (let c = 0; c < 4; c++) cpu.record(next(), { 'cpu.logical_number': c, 'host.arch': 'arm64' });
    const { resourceMetrics: rm } = await reader.collect();
    out.push(rm);
    await provider.shutdown();
  }
  return out;
}

export async function metricsRequest(options?: { seed?: number }): Promise<Payload> {
  const all = await resourceMetrics(options);
  const protobufs = all.map((rm) => ProtobufMetricsSerializer.serializeRequest(rm)!);
  const jsons = all.map(
    (rm) =>
      JSON.parse(new TextDecoder().decode(JsonMetricsSerializer.serializeRequest(rm)!)) as {
        resourceMetrics: unknown[];
      },
  );
  const protobuf = new Uint8Array(protobufs.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of protobufs) {
    protobuf.set(p, at);
    at += p.length;
  }
  const json = new TextEncoder().encode(
    JSON.stringify({ resourceMetrics: jsons.flatMap((j) => j.resourceMetrics) }),
  );
  let items = 0;
  for (const rm of all)
    for (const sm of rm.scopeMetrics) for (const m of sm.metrics) items += m.dataPoints.length;
  return { protobuf, json, items };
}

/** Latest item time in the request plus one second: every item then falls inside the hot window. */
export function receivedAfter(otlp: OtlpRequest): string {
  let max = 0n;
  const see = (ns: string) => {
    const v = BigInt(ns);
    if (v > max) max = v;
  };
  if (otlp.signal === 'traces')
    for (const r of otlp.request.resourceSpans)
      for (const s of r.scopeSpans) for (const sp of s.spans) see(sp.startTimeUnixNano);
  if (otlp.signal === 'logs')
    for (const r of otlp.request.resourceLogs)
      for (const s of r.scopeLogs) for (const l of s.logRecords) see(l.timeUnixNano);
  if (otlp.signal === 'metrics')
    for (const r of otlp.request.resourceMetrics)
      for (const s of r.scopeMetrics)
        for (const m of s.metrics) for (const p of m.data?.dataPoints ?? []) see(p.timeUnixNano);
  return (max + 1_000_000_000n).toString();
}

/**
 * A Kinesis record as the event source hands it to a consumer Lambda: `data` (an envelope) base64'd,
 * sequence number `10^20 + n` on one shard of the stream `bench`.
 */
export function kinesisRecord(data: Uint8Array, n: number | bigint): KinesisStreamRecord {
  const sequenceNumber = String(10n ** 20n + BigInt(n));
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'bench',
      sequenceNumber,
      data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
      approximateArrivalTimestamp: Date.now() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000000:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/bench',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/bench',
  };
}

/**
 * Kinesis records of workload trace requests (`spansPerRequest` spans each, gzip protobuf) as the
 * ingest handler's own code writes them to the stream: what a hot-writer invocation gets. Each
 * call makes one invocation's records from `requests` requests; sequence numbers keep rising.
 */
export function traceRecordMaker(
  spansPerRequest: number,
): (requests: number, seed: number) => Promise<KinesisStreamRecord[]> {
  const captured: Uint8Array[] = [];
  let latestNs = '0';
  let sequence = 0n;
  const ingest = createIngest({
    tenants: { resolve: () => Promise.resolve({ tenantId: 'bench', keyId: 'k' }) },
    stream: {
      put(records: readonly { data: Uint8Array }[]) {
        for (const r of records) captured.push(r.data);
        return Promise.resolve({ kind: 'durable' as const, records: records.length, bytes: 0, attempts: 1 });
      },
    },
    nowNs: () => latestNs,
  });
  return async (requests, seed) => {
    const out: KinesisStreamRecord[] = [];
    for (let q = 0; q < requests; q++) {
      const payload = traceRequest({ items: spansPerRequest, seed: seed * 1000 + q });
      latestNs = receivedAfter(decodeOtlp('traces', payload.protobuf, 'protobuf'));
      captured.length = 0;
      const r = await ingest({
        signal: 'traces',
        headers: {
          'content-type': 'application/x-protobuf',
          'content-encoding': 'gzip',
          authorization: 'Bearer bench',
        },
        body: gzipSync(payload.protobuf),
        remainingMs: 30_000,
      });
      if (r.status !== 200) throw new Error(`ingest answered ${r.status}`);
      for (const data of captured) out.push(kinesisRecord(data, sequence++));
    }
    return out;
  };
}
