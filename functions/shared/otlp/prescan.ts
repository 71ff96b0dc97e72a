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
  const count = { n: 0, max: maxItems };
  try {
    countIn(r, r.len, REQUEST, signal === 'metrics', count);
  } catch (err) {
    if (err instanceof OtlpLimitError) throw err;
    if (!(err instanceof OtlpDecodeError)) throw err;
  }
  return count.n;
}

/** Levels of countIn: the message whose fields [pos, end) holds (1 is a Resource* message). */
const REQUEST = 0;
const SCOPE = 2;
const METRIC = 3;
const METRIC_DATA = 4;

/**
 * Counts the items under the message at `level` in [r.pos, end). Plain functions over a counter
 * object, no closures: one made per call costs more than the walk on a small request.
 */
function countIn(r: ProtoReader, end: number, level: number, metrics: boolean, count: Counter): void {
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const descend =
      (tag & 7) === WIRE_LEN &&
      (level === METRIC
        ? METRIC_DATA_FIELDS.has(field)
        : field === (level === REQUEST || level === METRIC_DATA ? 1 : 2));
    if (!descend) r.skip(tag, 0, 'prescan');
    else if (level === METRIC_DATA || (level === SCOPE && !metrics)) {
      const itemEnd = r.lenEnd();
      if (++count.n > count.max) throw tooManyItems(count.max);
      r.pos = itemEnd;
    } else countIn(r, r.lenEnd(), level + 1, metrics, count);
    if (level !== METRIC && r.pos > end) throw new OtlpDecodeError('malformed protobuf');
  }
}

interface Counter {
  n: number;
  readonly max: number;
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

/**
 * Keys that mark an item of each signal in OTLP/JSON (before `UnixNano`): keys no other message of
 * the request has, which every SDK and the Collector write on each item (a span's start and end, a
 * log record's time and observed time, a data point's start: exemplars have only `timeUnixNano`).
 */
const ITEM_MARKERS: Readonly<Record<Signal, readonly string[]>> = {
  traces: ['startTime', 'endTime'],
  logs: ['time', 'observedTime'],
  metrics: ['startTime'],
};
const SNAKE_ITEM_MARKERS: Readonly<Record<Signal, readonly string[]>> = {
  traces: ['start_time', 'end_time'],
  logs: ['time', 'observed_time'],
  metrics: ['start_time'],
};

/**
 * The items of an OTLP/JSON request as its marker keys count them (ITEM_MARKERS; the snake_case
 * spelling when no camelCase key is found): the most of any one marker, since an item holds each at
 * most once. Exact for what exporters send; an item without its markers is not counted (a lower
 * bound: the receiver takes the rest from the limiter after the decode), and a marker key where
 * none belongs (an unknown field, a duplicated key) counts one too many. For the rate limiter,
 * before JSON.parse: one native search for `UnixNano":` (its rare first letter makes the search
 * skip ahead) and a look at the few characters before each match, ~0.1 µs a span.
 */
export function countJsonItems(signal: Signal, text: string): number {
  return (
    countMarkers(text, 'UnixNano":', ITEM_MARKERS[signal]) ||
    countMarkers(text, '_unix_nano":', SNAKE_ITEM_MARKERS[signal])
  );
}

function countMarkers(text: string, suffix: string, markers: readonly string[]): number {
  const quoted = markers.map((m) => `"${m}`);
  const counts = quoted.map(() => 0);
  for (let i = text.indexOf(suffix); i !== -1; i = text.indexOf(suffix, i + suffix.length)) {
    for (let k = 0; k < quoted.length; k++) {
      const q = quoted[k]!;
      if (text.startsWith(q, i - q.length)) counts[k]!++;
    }
  }
  return Math.max(...counts);
}
