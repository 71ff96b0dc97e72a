import type { Signal } from '../schema/columns.js';
import { OtlpDecodeError, OtlpLimitError, tooManyItems } from './decode-error.js';
import { ProtoReader, WIRE_LEN } from './protobuf-reader.js';

/**
 * Cheap looks at a request body before the full decode, so the receiver can refuse what is over
 * its caps or over the tenant's rate limit without building the model (see docs/decisions/0003).
 * Neither allocates per item; both stop as soon as a cap is passed.
 */

/**
 * Field numbers from the request down to the items, per signal: resource_* (1), scope_* (2), then
 * spans / log_records (2); metrics go one level further (metrics 2, then the data oneof, then
 * data_points 1).
 */
const METRIC_DATA_FIELDS = new Set([5, 7, 9, 10, 11]); // gauge, sum, histogram, exponential_histogram, summary

/**
 * Spans, log records or metric data points in a protobuf export request, counted by walking only
 * the length prefixes of the envelopes (item contents are skipped, not read). Throws OtlpLimitError
 * once the count passes `maxItems`. A malformed body is counted as far as it goes (the decoder
 * then answers 400 with the reason); the result is an upper bound of what the decoder yields
 * (a metric with two data fields counts both).
 */
export function countProtobufItems(signal: Signal, body: Uint8Array, maxItems: number): number {
  const r = new ProtoReader(body, 0);
  let n = 0;
  // Calls `each` for every length-delimited field `field` in [pos, end).
  const walk = (end: number, field: number, each: (end: number) => void): void => {
    while (r.pos < end) {
      const tag = r.varint();
      if (tag >>> 3 === field && (tag & 7) === WIRE_LEN) each(r.lenEnd());
      else r.skip(tag, 0, 'prescan');
      if (r.pos > end) throw new OtlpDecodeError('malformed protobuf');
    }
  };
  const item = (end: number): void => {
    if (++n > maxItems) throw tooManyItems(maxItems);
    r.pos = end;
  };
  const points = (end: number): void => walk(end, 1, item);
  const metric = (end: number): void => {
    while (r.pos < end) {
      const tag = r.varint();
      if (METRIC_DATA_FIELDS.has(tag >>> 3) && (tag & 7) === WIRE_LEN) points(r.lenEnd());
      else r.skip(tag, 0, 'prescan');
    }
  };
  const leaf = signal === 'metrics' ? metric : item;
  try {
    walk(r.len, 1, (resourceEnd) => walk(resourceEnd, 2, (scopeEnd) => walk(scopeEnd, 2, leaf)));
  } catch (err) {
    if (err instanceof OtlpLimitError) throw err;
    if (!(err instanceof OtlpDecodeError)) throw err;
  }
  return n;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const COMMA = 0x2c;

/**
 * An upper-bound-ish count of the values in a JSON text (objects and arrays opened, plus commas
 * outside strings), to bound what `JSON.parse` will build before it runs: 16 MiB of `{},` would
 * otherwise become 5.6 million objects. Throws OtlpLimitError ('json-values') past `maxValues`;
 * undefined when the body is too short to pass it (not scanned).
 */
export function countJsonValues(body: Uint8Array, maxValues: number): number | undefined {
  // Each counted value is one byte of the body: a body no longer than the cap cannot pass it, and
  // most requests are (the scan costs ~1.5 ns a byte, ~7% of decoding JSON).
  if (body.length <= maxValues) return undefined;
  let n = 0;
  const len = body.length;
  let i = 0;
  while (i < len) {
    const c = body[i]!;
    if (c === QUOTE) {
      // Skip the string: to the next quote not escaped.
      i++;
      while (i < len) {
        const d = body[i]!;
        if (d === BACKSLASH) i += 2;
        else if (d === QUOTE) break;
        else i++;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET || c === COMMA) {
      if (++n > maxValues) {
        throw new OtlpLimitError(
          `request has more than ${maxValues} JSON values (the cap per request is ${maxValues}): split it into smaller requests`,
          'json-values',
          maxValues,
        );
      }
    }
    i++;
  }
  return n;
}
