import type { Signal } from '../schema/columns.js';
import { type DecodeCaps, OtlpDecodeError, OtlpLimitError } from './decode-error.js';
import { decodeJson, jsonText } from './decode-json.js';
import { decodeLogsProtobuf, decodeMetricsProtobuf, decodeTracesProtobuf } from './decode-protobuf.js';
import type { OtlpRequest } from './model.js';

export { type DecodeCaps, OtlpDecodeError, OtlpLimitError } from './decode-error.js';
export { jsonText } from './decode-json.js';

/** How deeply attribute values (arrays and kvlists inside arrays and kvlists) may nest. */
export const DEFAULT_MAX_DEPTH = 32;

export type OtlpFormat = 'protobuf' | 'json';

export interface DecodeOptions extends DecodeCaps {
  /** Deepest nesting of array/kvlist attribute values accepted. @default DEFAULT_MAX_DEPTH */
  readonly maxDepth?: number;
}

/**
 * Decodes an OTLP/HTTP export request body (already decompressed) into the model.
 *
 * Throws OtlpDecodeError, and only that, when the body cannot be parsed at all; its message is
 * the reason to return in the 400 response. Items that are malformed on their own (an id of the
 * wrong length, invalid UTF-8, an unknown enum name) come back with `invalid` set instead.
 * An empty body is an empty request. Past a cap of `options` (items, attributes) it stops and
 * throws OtlpLimitError (the receiver's 413).
 */
export function decodeOtlp(
  signal: Signal,
  body: Uint8Array | string,
  format: OtlpFormat,
  options?: DecodeOptions,
): OtlpRequest {
  const maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (format === 'json') {
    // OTLP/JSON may come as its text already (jsonText: the receiver counts items on it first).
    if (body.length === 0) return emptyRequest(signal);
    return rethrown(() =>
      decodeJson(signal, typeof body === 'string' ? body : jsonText(body), maxDepth, options),
    );
  }
  if (typeof body === 'string') throw new TypeError('only an OTLP/JSON body can be given as text');
  // A Buffer (or another subclass) would make copied bytes values Buffers too: view it plainly.
  const bytes =
    body.constructor === Uint8Array ? body : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  return rethrown((): OtlpRequest => {
    switch (signal) {
      case 'traces':
        return { signal, request: decodeTracesProtobuf(bytes, maxDepth, options) };
      case 'logs':
        return { signal, request: decodeLogsProtobuf(bytes, maxDepth, options) };
      case 'metrics':
        return { signal, request: decodeMetricsProtobuf(bytes, maxDepth, options) };
    }
  });
}

/** Runs a decoder, keeping the contract: OtlpDecodeError (or OtlpLimitError) and nothing else. */
function rethrown(decode: () => OtlpRequest): OtlpRequest {
  try {
    return decode();
  } catch (err) {
    if (err instanceof OtlpDecodeError || err instanceof OtlpLimitError) throw err;
    // Not expected from well-formed code paths; the contract is still "OtlpDecodeError only".
    throw new OtlpDecodeError('the request could not be decoded', { cause: err });
  }
}

function emptyRequest(signal: Signal): OtlpRequest {
  switch (signal) {
    case 'traces':
      return { signal, request: { resourceSpans: [] } };
    case 'logs':
      return { signal, request: { resourceLogs: [] } };
    case 'metrics':
      return { signal, request: { resourceMetrics: [] } };
  }
}
