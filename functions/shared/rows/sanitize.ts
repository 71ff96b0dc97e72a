import type { AnyValue, KeyValue } from '../otlp/model.js';
import { anyValueToString, type KeyPolicy } from './attributes.js';
import type { RowLimits } from './limits.js';
import type { Redactor } from './redact.js';
import { truncateUtf8 } from './utf8.js';

/**
 * Per-request sanitation state: applies the row limits and redaction to strings and attribute
 * maps, decides which item timestamps are rejected, and counts what it did. See
 * docs/decisions/0002-sanitation-and-redaction.md for which timestamps are clamped or rejected.
 */

/** Truncations (not rejections): the item is kept with the excess cut. */
export interface TruncationCounts {
  /** Attributes left out because a map already had `maxAttributesPerMap` keys. */
  attributes: number;
  attributeKeys: number;
  attributeValues: number;
  logBodies: number;
  names: number;
  statusMessages: number;
  spanEvents: number;
  spanLinks: number;
}

export interface RedactionCounts {
  /** Attributes (and keys inside kvlist values) left out by the drop-key rules. */
  droppedKeys: number;
  /** Pattern name -> matches replaced or hashed. */
  matches: Record<string, number>;
}

export class FlattenError extends Error {
  override readonly name = 'FlattenError';
}

// Redaction runs before the length cap (a cut must not leave half a card number in clear), on at
// most this many bytes beyond the cap so a huge value costs bounded regex work.
const REDACT_LOOKAHEAD_BYTES = 256;
const NS_PER_MS = 1_000_000n;
const NS_PER_DAY = 86_400_000_000_000n;
const UINT64_MAX = '18446744073709551615';
const DIGITS = /^\d+$/;

/**
 * Canonical decimal nanoseconds ('0' for zero, no leading zeros), or undefined when `s` is not a
 * uint64 in decimal.
 */
export function normalizeNs(s: string): string | undefined {
  if (s === '0') return s;
  if (!DIGITS.test(s)) return undefined;
  let t = s;
  if (t.charCodeAt(0) === 48) {
    t = t.replace(/^0+/, '');
    if (t === '') return '0';
  }
  if (t.length > 20 || (t.length === 20 && t > UINT64_MAX)) return undefined;
  return t;
}

/** Compares canonical decimal strings (as produced by normalizeNs). */
export function compareNs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The latest time both tiers store exactly: the lake keeps microseconds in a double (exact to
 * 2^53 µs, 2255-06-05T23:47:34.740991999Z); ClickHouse's DateTime64(9) reaches 2262-04-11.
 */
export const MAX_STORED_NS = '9007199254740991999';

/** Whether canonical `ns` is later than MAX_STORED_NS. */
export function beyondStoredRange(ns: string): boolean {
  // Today's times have 19 digits and start with 1: one length and one char look settle them.
  const n = ns.length;
  if (n !== 19) return n > 19;
  return ns.charCodeAt(0) === 57 && ns > MAX_STORED_NS;
}

/**
 * end - start in nanoseconds as a Uint64 (model.ts: a number below 2^53, else a decimal string;
 * 0 when end <= start); both canonical.
 */
export function durationNs(end: string, start: string): number | string {
  if (compareNs(end, start) <= 0) return 0;
  // Seconds and the 9-digit nanosecond remainder apart: each half is exact as a double. Read digit
  // by digit: four slices and four Number() calls cost more than the whole span's other times.
  const endSplit = end.length - 9;
  const startSplit = start.length - 9;
  const seconds = digitsValue(end, 0, endSplit) - digitsValue(start, 0, startSplit);
  // Below 2^53 - 1e9 the sum is exact; a span of 104 days or more is worked out in BigInt.
  if (seconds < 9_007_198) {
    return (
      seconds * 1e9 + (digitsValue(end, endSplit, end.length) - digitsValue(start, startSplit, start.length))
    );
  }
  const d = BigInt(end) - BigInt(start);
  return d <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(d) : d.toString();
}

/** The decimal digits of `s` from `from` (clamped at 0) to `to` as a number. */
function digitsValue(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = Math.max(0, from); i < to; i++) v = v * 10 + (s.charCodeAt(i) - 48);
  return v;
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

export class Sanitizer {
  readonly truncated: TruncationCounts = {
    attributes: 0,
    attributeKeys: 0,
    attributeValues: 0,
    logBodies: 0,
    names: 0,
    statusMessages: 0,
    spanEvents: 0,
    spanLinks: 0,
  };
  readonly redacted: RedactionCounts = { droppedKeys: 0, matches: {} };
  readonly rejections: Record<string, number> = {};
  rejected = 0;

  /** The receive time (canonical), used for clamping zero timestamps. */
  readonly receivedAtNs: string;
  /** Rows given the receive time as their time (flatten counts them where it does so). */
  timesFilled = 0;
  private readonly futureBound: string;
  private readonly pastBound: string;
  private readonly futureReason: string;
  private readonly pastReason: string;
  private readonly keyPolicy: KeyPolicy;

  constructor(
    readonly limits: RowLimits,
    private readonly redactor: Redactor,
    receivedAtNs: string,
  ) {
    const recv = normalizeNs(receivedAtNs);
    if (recv === undefined || recv === '0')
      throw new FlattenError(`receivedAtNs must be nanoseconds since the epoch, got: ${receivedAtNs}`);
    this.receivedAtNs = recv;
    const r = BigInt(recv);
    this.futureBound = (r + BigInt(limits.maxFutureSkewMs) * NS_PER_MS).toString();
    const past = r - BigInt(limits.hotRetentionDays) * NS_PER_DAY;
    this.pastBound = past > 0n ? past.toString() : '0';
    this.futureReason = `timestamp more than ${formatDuration(limits.maxFutureSkewMs)} in the future`;
    this.pastReason = `timestamp older than the ${limits.hotRetentionDays}-day hot retention`;
    this.keyPolicy = {
      drop: (key) => {
        if (!this.redactor.dropsKey(key)) return false;
        this.redacted.droppedKeys++;
        return true;
      },
    };
  }

  reject(reason: string): void {
    this.rejections[reason] = (this.rejections[reason] ?? 0) + 1;
    this.rejected++;
  }

  /** The rejection reason for an item stamped `ns` (canonical, non-zero), or undefined to keep it. */
  timeRejection(ns: string): string | undefined {
    if (compareNs(ns, this.futureBound) > 0) return this.futureReason;
    if (compareNs(ns, this.pastBound) < 0) return this.pastReason;
    return undefined;
  }

  /** A name (span, event, metric, scope, severity text): capped, not redacted. */
  name(s: string): string {
    const t = truncateUtf8(s, this.limits.maxNameBytes);
    if (t !== s) this.truncated.names++;
    return t;
  }

  /** Free text (status message, log body, attribute value): redacted, then capped. */
  text(s: string, maxBytes: number, counter: 'attributeValues' | 'logBodies' | 'statusMessages'): string {
    if (s === '') return s;
    const pre =
      s.length * 3 > maxBytes + REDACT_LOOKAHEAD_BYTES
        ? truncateUtf8(s, maxBytes + REDACT_LOOKAHEAD_BYTES)
        : s;
    const redacted = this.redactor.redact(pre, this.redacted.matches);
    const out = truncateUtf8(redacted, maxBytes);
    if (pre !== s || out !== redacted) this.truncated[counter]++;
    return out;
  }

  /** A log body: the AnyValue as a string (kvlist keys filtered by the drop-key rules), redacted, capped. */
  body(v: AnyValue | undefined): string {
    return this.text(anyValueToString(v, this.keyPolicy), this.limits.maxLogBodyBytes, 'logBodies');
  }

  /**
   * Key sequences that needed no key work last time (nothing dropped or cut; a repeated key is
   * fine: it overwrites either way), by first key, with the map built from them. Maps of one
   * instrumentation repeat their keys in order: a repeat copies that map's shape and writes the
   * values, skipping the per-key checks and the shape changes of adding keys one by one.
   */
  private readonly keySequences = new Map<string, { keys: string[]; map: Record<string, string> }>();

  /**
   * An attribute map: drop-key rules, then the first `maxAttributesPerMap` distinct keys (a later
   * duplicate overwrites: last wins), keys and values capped, values redacted.
   */
  attributes(kvs: readonly KeyValue[]): Record<string, string> {
    const n = kvs.length;
    if (n === 0) return {};
    const known = this.keySequences.get(kvs[0]!.key);
    if (known !== undefined && sameKeys(kvs, known.keys)) {
      const out = { ...known.map };
      const keys = known.keys;
      // Stored under the cached key, equal to kv.key: it is a property name already, while a fresh
      // key string (a JSON value, not internalized) would be looked up in the string table first.
      for (let j = 0; j < n; j++) out[keys[j]!] = this.attributeValue(kvs[j]!.value);
      return out;
    }
    const out: Record<string, string> = {};
    const limits = this.limits;
    let size = 0;
    let plain = n <= limits.maxAttributesPerMap;
    for (const kv of kvs) {
      if (this.keyPolicy.drop(kv.key)) {
        plain = false;
        continue;
      }
      let key = kv.key;
      if (key.length * 3 > limits.maxAttributeKeyBytes) {
        key = truncateUtf8(key, limits.maxAttributeKeyBytes);
        if (key !== kv.key) {
          this.truncated.attributeKeys++;
          plain = false;
        }
      }
      const present = Object.hasOwn(out, key);
      if (!present && size >= limits.maxAttributesPerMap) {
        this.truncated.attributes++;
        continue;
      }
      const value = this.attributeValue(kv.value);
      if (key === '__proto__') {
        // A plain assignment would set the prototype instead of an own key.
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        plain = false;
      } else out[key] = value;
      if (!present) size++;
    }
    if (plain) {
      if (this.keySequences.size >= MAX_KEY_SEQUENCES) this.keySequences.clear();
      this.keySequences.set(kvs[0]!.key, { keys: kvs.map((kv) => kv.key), map: out });
    }
    return out;
  }

  private attributeValue(v: AnyValue | undefined): string {
    return this.text(
      anyValueToString(v, this.keyPolicy),
      this.limits.maxAttributeValueBytes,
      'attributeValues',
    );
  }
}

/** Bounds Sanitizer.keySequences (it lives for one request, whose maps could all differ). */
const MAX_KEY_SEQUENCES = 256;

function sameKeys(kvs: readonly KeyValue[], keys: readonly string[]): boolean {
  if (kvs.length !== keys.length) return false;
  for (let j = 0; j < keys.length; j++) if (kvs[j]!.key !== keys[j]) return false;
  return true;
}
