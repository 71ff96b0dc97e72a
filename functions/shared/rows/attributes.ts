import type { AnyValue, KeyValue } from '../otlp/model.js';

/**
 * AnyValue -> string, as the Collector's pdata `Value.AsString()` does, so attribute maps and log
 * bodies read the same as in tables the Collector's ClickHouse exporter writes:
 * string as is; bool 'true'/'false'; int in decimal; double in the shortest round-trip decimal
 * (ECMAScript Number-to-String, which Go's encoder also follows); bytes in base64; array and kvlist
 * as compact JSON with kvlist keys sorted (Go's encoding/json sorts map keys) and duplicate keys
 * resolved last-wins. Two deliberate differences: non-finite doubles become 'NaN' | 'Infinity' |
 * '-Infinity' (pdata yields an error text, or '' inside JSON), and JSON strings are not
 * HTML-escaped (Go writes \u003c for '<').
 */

/** Decides, for keys inside kvlist values, which ones to leave out (redaction's drop-keys). */
export interface KeyPolicy {
  drop(key: string): boolean;
}

export function formatDouble(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(v)) return v === 0 && Object.is(v, -0) ? '-0' : String(v);
  return shortDecimal(v) ?? String(v);
}

/** Six fraction digits, and below 2^53 by a decimal digit: the scaled value's ulp is under 1/4. */
const SCALE = 1e6;
const MAX_SCALED = 1e15;

/**
 * String(v) for a double with at most six fraction digits (0.5, 1234.25, 99.9: the doubles
 * telemetry mostly carries), or undefined. V8's shortest round-trip conversion is slowest on
 * exactly these: on Node 22, String(1234.5) costs ~150 ns and this ~105, while a random double
 * costs ~70 and ~80 (one multiply and divide turn it away). If v is the double nearest n / 10^6 for
 * an integer n, that n is unique, and with its trailing zeros dropped it gives the shortest digits
 * that read back as v, which is what String(v) prints (tested against it).
 */
function shortDecimal(v: number): string | undefined {
  const scaled = v * SCALE;
  if (!(Math.abs(scaled) < MAX_SCALED)) return undefined;
  const n = Math.round(scaled);
  if (n / SCALE !== v) return undefined;
  let digits = String(n < 0 ? -n : n);
  if (digits.length <= 6) digits = '0'.repeat(7 - digits.length) + digits;
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) end--;
  const cut = digits.length - 6;
  return `${n < 0 ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut, end)}`;
}

export function bytesToBase64(v: Uint8Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function anyValueToString(value: AnyValue | undefined, keys?: KeyPolicy): string {
  if (value === undefined) return '';
  switch (value.t) {
    case 'string':
      return value.v;
    case 'bool':
      return value.v ? 'true' : 'false';
    case 'int':
      return value.v;
    case 'double':
      return formatDouble(value.v);
    case 'bytes':
      return bytesToBase64(value.v);
    case 'array':
      return arrayJson(value.v, keys);
    case 'kvlist':
      return kvlistJson(value.v, keys);
  }
}

function toJson(value: AnyValue | undefined, keys: KeyPolicy | undefined): string {
  if (value === undefined) return 'null';
  switch (value.t) {
    case 'string':
      return JSON.stringify(value.v);
    case 'bool':
      return value.v ? 'true' : 'false';
    case 'int':
      // int64 kept exact: written as a JSON number from its decimal string.
      return value.v;
    case 'double':
      return Number.isFinite(value.v) ? formatDouble(value.v) : `"${formatDouble(value.v)}"`;
    case 'bytes':
      return `"${bytesToBase64(value.v)}"`;
    case 'array':
      return arrayJson(value.v, keys);
    case 'kvlist':
      return kvlistJson(value.v, keys);
  }
}

function arrayJson(values: readonly AnyValue[], keys: KeyPolicy | undefined): string {
  let out = '[';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    out += toJson(values[i], keys);
  }
  return `${out}]`;
}

function kvlistJson(kvs: readonly KeyValue[], keys: KeyPolicy | undefined): string {
  const byKey = new Map<string, AnyValue | undefined>();
  for (const kv of kvs) {
    if (keys?.drop(kv.key)) continue;
    byKey.set(kv.key, kv.value);
  }
  const sorted = [...byKey.keys()].sort();
  let out = '{';
  for (let i = 0; i < sorted.length; i++) {
    const k = sorted[i]!;
    if (i > 0) out += ',';
    out += `${JSON.stringify(k)}:${toJson(byKey.get(k), keys)}`;
  }
  return `${out}}`;
}
