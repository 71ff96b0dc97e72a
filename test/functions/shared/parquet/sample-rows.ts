import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';
import {
  physicalColumns,
  type ScalarType,
  TABLES,
  type TableName,
} from '../../../../functions/shared/schema/columns.js';

/**
 * Deterministic rows for the lake tests and the Parquet benchmark, built column by column as the
 * flattener would (values per schema/columns.ts). Spans look like an instrumented HTTP service:
 * a handful of services and routes, realistic attribute sets, an event on some spans.
 */

/** mulberry32: small, fast, seeded. */
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

const hex = (r: () => number, bytes: number): string => {
  let s = '';
  for (let i = 0; i < bytes; i++)
    s += Math.floor(r() * 256)
      .toString(16)
      .padStart(2, '0');
  return s;
};

const SERVICES = ['checkout', 'cart', 'payments', 'frontend', 'inventory', 'shipping'];
const ROUTES = ['/api/cart', '/api/checkout', '/api/items/:id', '/health', '/api/pay', '/api/ship'];

/** Base time: 2026-11-23T10:00:00Z in nanoseconds. */
export const BASE_NS = 1795428000000000000n;

export function nsString(offsetNs: bigint): string {
  return (BASE_NS + offsetNs).toString();
}

export interface SampleOptions {
  readonly seed?: number;
  readonly tenant?: string;
  /** Spread of event times from BASE_NS. @default 1 hour */
  readonly spreadNs?: bigint;
  /** Start offset from BASE_NS. @default 0 */
  readonly startNs?: bigint;
}

export function sampleTraces(n: number, options: SampleOptions = {}): ColumnBatch {
  const r = rng(options.seed ?? 1);
  const spread = Number(options.spreadNs ?? 3_600_000_000_000n);
  const start = options.startNs ?? 0n;
  const cols: Record<string, unknown[]> = {};
  for (const c of physicalColumns('otel_traces')) cols[c.name] = new Array(n);
  const set = (name: string, i: number, v: unknown) => {
    cols[name]![i] = v;
  };
  for (let i = 0; i < n; i++) {
    const svc = SERVICES[Math.floor(r() * SERVICES.length)]!;
    const route = ROUTES[Math.floor(r() * ROUTES.length)]!;
    const t = start + BigInt(Math.floor(r() * spread));
    const status = r() < 0.05 ? 500 : 200;
    set('TenantId', i, options.tenant ?? 'acme');
    // Filled by the writers from the envelope header; here as in a decoded lake file.
    set('EnvelopeId', i, `sample-${options.seed ?? 1}-${Math.floor(i / 25)}`);
    // Also filled by the writers: 1 in the lake; hot-tier weights (N, 0) round-trip all the same.
    set('SampleRate', i, i % 7 === 0 ? 10 : i % 11 === 0 ? 0 : 1);
    set('Timestamp', i, nsString(t));
    set('TraceId', i, hex(r, 16));
    set('SpanId', i, hex(r, 8));
    set('ParentSpanId', i, r() < 0.3 ? '' : hex(r, 8));
    set('TraceState', i, '');
    set('SpanName', i, `GET ${route}`);
    set('SpanKind', i, r() < 0.5 ? 'Server' : 'Client');
    set('ServiceName', i, svc);
    set('ResourceAttributes', i, {
      'service.name': svc,
      'service.version': '1.4.2',
      'deployment.environment': 'production',
      'host.name': `ip-10-0-${Math.floor(r() * 4)}-${Math.floor(r() * 20)}`,
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.version': '2.12.0',
      'cloud.region': 'eu-west-1',
    });
    set('ScopeName', i, '@opentelemetry/instrumentation-http');
    set('ScopeVersion', i, '0.223.0');
    set('SpanAttributes', i, {
      'http.request.method': 'GET',
      'http.route': route,
      'http.response.status_code': String(status),
      'url.path': route.replace(':id', String(Math.floor(r() * 10000))),
      'server.address': `${svc}.internal`,
      'network.protocol.version': '1.1',
      'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64)',
    });
    set('Duration', i, Math.floor(r() * 50_000_000));
    set('StatusCode', i, status === 500 ? 'Error' : 'Unset');
    set('StatusMessage', i, status === 500 ? 'Internal Server Error' : '');
    const events = r() < 0.1 ? 1 : 0;
    set('Events.Timestamp', i, events ? [nsString(t + 1000n)] : []);
    set('Events.Name', i, events ? ['exception'] : []);
    set('Events.Attributes', i, events ? [{ 'exception.type': 'Error', 'exception.message': 'boom' }] : []);
    const links = r() < 0.02 ? 1 : 0;
    set('Links.TraceId', i, links ? [hex(r, 16)] : []);
    set('Links.SpanId', i, links ? [hex(r, 8)] : []);
    set('Links.TraceState', i, links ? [''] : []);
    set('Links.Attributes', i, links ? [{ 'link.kind': 'follows' }] : []);
  }
  return { table: 'otel_traces', rowCount: n, columns: cols };
}

function sampleValue(type: ScalarType, r: () => number, i: number, t: bigint): unknown {
  switch (type) {
    case 'string':
    case 'lowcard':
      return `v${Math.floor(r() * 5)}`;
    case 'timestamp_ns':
      return nsString(t);
    case 'uint8':
      return Math.floor(r() * 24);
    case 'uint32':
      return Math.floor(r() * 1000);
    case 'int32':
      return Math.floor(r() * 5) - 2;
    case 'uint64':
      return Math.floor(r() * 1e9);
    case 'float64':
      return i % 7 === 3 ? 'NaN' : Math.round(r() * 1e6) / 1000;
    case 'bool':
      return r() < 0.5;
    case 'map':
      return { k1: `a${i}`, k2: 'b' };
    case 'array_float64':
      return [0.5, 1, 2.5];
    case 'array_uint64':
      return [1, 2, Math.floor(r() * 100)];
  }
}

/** Rows of any table from the column model alone: every column filled with a value of its type. */
export function sampleRows(table: TableName, n: number, options: SampleOptions = {}): ColumnBatch {
  if (table === 'otel_traces') return sampleTraces(n, options);
  const r = rng(options.seed ?? 7);
  const spread = Number(options.spreadNs ?? 3_600_000_000_000n);
  const start = options.startNs ?? 0n;
  const cols: Record<string, unknown[]> = {};
  const phys = physicalColumns(table);
  for (const c of phys) cols[c.name] = new Array(n);
  const timeColumn = TABLES[table].timeColumn;
  for (let i = 0; i < n; i++) {
    const t = start + BigInt(Math.floor(r() * spread));
    const items = i % 3;
    for (const c of phys) {
      let v: unknown;
      if (c.name === 'TenantId') v = options.tenant ?? 'acme';
      else if (c.name === 'ServiceName') v = SERVICES[i % SERVICES.length];
      else if (c.name === timeColumn) v = nsString(t);
      else if (c.nestedIn) v = Array.from({ length: items }, () => sampleValue(c.type, r, i, t));
      else v = sampleValue(c.type, r, i, t);
      cols[c.name]![i] = v;
    }
  }
  return { table, rowCount: n, columns: cols };
}
