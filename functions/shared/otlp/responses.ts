import type { Signal } from '../schema/columns.js';
import type { OtlpFormat } from './decode.js';

/**
 * The receiver's response bodies, in the format of the request (OTLP/HTTP):
 * - Export*ServiceResponse (collector/{trace,logs,metrics}/v1): `partial_success` (field 1) holding
 *   the rejected count (field 1, int64) and `error_message` (field 2). Full success is the empty
 *   message: zero bytes in protobuf, `{}` in JSON.
 * - google.rpc.Status for errors: `code` (field 1, int32), `message` (field 2).
 * JSON follows OTLP/JSON: lowerCamelCase keys, fields at their default value omitted.
 */

const REJECTED_FIELD: Readonly<Record<Signal, string>> = {
  traces: 'rejectedSpans',
  logs: 'rejectedLogRecords',
  metrics: 'rejectedDataPoints',
};

const encoder = new TextEncoder();

export interface PartialSuccess {
  /** Items rejected (spans, log records or data points). */
  readonly rejected: number;
  /** Why, for the sender's logs; '' for none. */
  readonly message: string;
}

export function encodeExportResponse(
  signal: Signal,
  format: OtlpFormat,
  partial?: PartialSuccess,
): Uint8Array {
  if (format === 'json') {
    if (partial === undefined) return encoder.encode('{}');
    const body: Record<string, number | string> = {};
    if (partial.rejected !== 0) body[REJECTED_FIELD[signal]] = partial.rejected;
    if (partial.message !== '') body.errorMessage = partial.message;
    return encoder.encode(JSON.stringify({ partialSuccess: body }));
  }
  if (partial === undefined) return new Uint8Array(0);
  const inner = new ProtoWriter();
  if (partial.rejected !== 0) inner.varintField(1, partial.rejected);
  if (partial.message !== '') inner.stringField(2, partial.message);
  const outer = new ProtoWriter();
  outer.bytesField(1, inner.finish());
  return outer.finish();
}

export function encodeStatus(format: OtlpFormat, code: number, message: string): Uint8Array {
  if (format === 'json') return encoder.encode(JSON.stringify({ code, message }));
  const w = new ProtoWriter();
  if (code !== 0) w.varintField(1, code);
  if (message !== '') w.stringField(2, message);
  return w.finish();
}

/** Just enough of a protobuf writer for these small messages. */
class ProtoWriter {
  private readonly bytes: number[] = [];

  varintField(field: number, value: number): void {
    this.varint(field << 3);
    if (value < 0) {
      // int32/int64 negatives are sign-extended to ten bytes.
      this.varint64Negative(value);
    } else {
      this.varint(value);
    }
  }

  stringField(field: number, value: string): void {
    this.bytesField(field, encoder.encode(value));
  }

  bytesField(field: number, value: Uint8Array): void {
    this.varint((field << 3) | 2);
    this.varint(value.length);
    for (const b of value) this.bytes.push(b);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }

  private varint(value: number): void {
    // Division instead of shifts: counts may exceed 2^31.
    let v = Math.floor(value);
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }

  private varint64Negative(value: number): void {
    let v = BigInt.asUintN(64, BigInt(Math.trunc(value)));
    for (let i = 0; i < 9; i++) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }
}
