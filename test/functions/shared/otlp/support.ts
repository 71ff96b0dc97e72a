import type { LogRecord, MetricData, OtlpRequest, Span } from '../../../../functions/shared/otlp/model.js';
import type { Signal } from '../../../../functions/shared/schema/columns.js';

/** The signal of a fixture file by its name (trace*, log*, metrics*). */
export function signalOf(file: string): Signal {
  if (file.startsWith('trace')) return 'traces';
  if (file.startsWith('log')) return 'logs';
  return 'metrics';
}

export function spansOf(r: OtlpRequest): Span[] {
  if (r.signal !== 'traces') throw new Error(`expected traces, got ${r.signal}`);
  return r.request.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => [...ss.spans]));
}

export function logsOf(r: OtlpRequest): LogRecord[] {
  if (r.signal !== 'logs') throw new Error(`expected logs, got ${r.signal}`);
  return r.request.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => [...sl.logRecords]));
}

export function metricsOf(r: OtlpRequest): { name: string; data: MetricData | undefined }[] {
  if (r.signal !== 'metrics') throw new Error(`expected metrics, got ${r.signal}`);
  return r.request.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => [...sm.metrics]));
}

/** Every item (span, log record, data point) of a request. */
export function itemsOf(r: OtlpRequest): { invalid?: string }[] {
  if (r.signal === 'traces') return spansOf(r);
  if (r.signal === 'logs') return logsOf(r);
  return metricsOf(r).flatMap((m) => [...(m.data?.dataPoints ?? [])]);
}

/**
 * A minimal protobuf writer for hand-made test messages: `msg(field(1, LEN, bytes), ...)`.
 * Each helper returns the encoded field; `msg` concatenates.
 */
export function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export const pb = {
  tag: (field: number, wire: number): number[] => varint((field << 3) | wire),
  varint: (field: number, v: number | bigint): number[] => [...pb.tag(field, 0), ...varint(v)],
  fixed64: (field: number, v: bigint): number[] => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
    return [...pb.tag(field, 1), ...b];
  },
  double: (field: number, v: number): number[] => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    return [...pb.tag(field, 1), ...b];
  },
  fixed32: (field: number, v: number): number[] => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return [...pb.tag(field, 5), ...b];
  },
  bytes: (field: number, v: ArrayLike<number>): number[] => [
    ...pb.tag(field, 2),
    ...varint(v.length),
    ...Array.from(v),
  ],
  string: (field: number, s: string): number[] => pb.bytes(field, new TextEncoder().encode(s)),
  msg: (field: number, ...fields: number[][]): number[] => pb.bytes(field, fields.flat()),
  hex: (s: string): number[] => Array.from(Buffer.from(s, 'hex')),
};

export function bytesOf(...fields: number[][]): Uint8Array {
  return Uint8Array.from(fields.flat());
}

const SPAN_KIND_NAMES = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS_NAMES = ['UNSET', 'OK', 'ERROR'];
const TEMPORALITY_NAMES = ['UNSPECIFIED', 'DELTA', 'CUMULATIVE'];
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
function severityName(n: number): string {
  if (n === 0) return 'SEVERITY_NUMBER_UNSPECIFIED';
  const level = LEVELS[Math.floor((n - 1) / 4)]!;
  const k = ((n - 1) % 4) + 1;
  return `SEVERITY_NUMBER_${level}${k === 1 ? '' : k}`;
}
const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);
const INT64_KEYS = new Set([
  'intValue',
  'asInt',
  'count',
  'zeroCount',
  'bucketCounts',
  'timeUnixNano',
  'startTimeUnixNano',
  'endTimeUnixNano',
  'observedTimeUnixNano',
]);

/**
 * Rewrites an OTLP/JSON document the way a producer using the protobuf canonical JSON mapping
 * would have written it: snake_case keys, base64 ids, enum names, int64 as strings.
 */
export function toCanonicalJson(value: unknown, key = '', parent = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => toCanonicalJson(v, key, parent));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = toCanonicalJson(v, k, key);
    }
    return out;
  }
  if (typeof value === 'string' && ID_KEYS.has(key) && value !== '')
    return Buffer.from(value, 'hex').toString('base64');
  if (typeof value === 'number') {
    if (key === 'kind') return `SPAN_KIND_${SPAN_KIND_NAMES[value]}`;
    if (key === 'code' && parent === 'status') return `STATUS_CODE_${STATUS_NAMES[value]}`;
    if (key === 'severityNumber') return severityName(value);
    if (key === 'aggregationTemporality') return `AGGREGATION_TEMPORALITY_${TEMPORALITY_NAMES[value]}`;
    if (INT64_KEYS.has(key)) return `${value}`;
  }
  return value;
}

export function canonicalBytes(json: Uint8Array): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(toCanonicalJson(JSON.parse(new TextDecoder().decode(json)))),
  );
}
