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
  if (Number.isFinite(v)) return v === 0 && Object.is(v, -0) ? '-0' : String(v);
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
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
