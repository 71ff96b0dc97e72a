/**
 * Just enough protobuf to build small OTLP requests by hand (including deliberately invalid ones
 * the SDK would never send) and to read the receiver's protobuf responses.
 */

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export type Field =
  | { readonly no: number; readonly bytes: Uint8Array | string | Field[] }
  | { readonly no: number; readonly varint: number }
  | { readonly no: number; readonly fixed64: bigint };

export function encode(fields: readonly Field[]): Uint8Array {
  const out: number[] = [];
  for (const f of fields) {
    if ('varint' in f) {
      out.push(...varint(f.no << 3), ...varint(f.varint));
    } else if ('fixed64' in f) {
      out.push(...varint((f.no << 3) | 1));
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(f.fixed64);
      out.push(...b);
    } else {
      const payload =
        typeof f.bytes === 'string'
          ? Buffer.from(f.bytes, 'utf8')
          : Array.isArray(f.bytes)
            ? encode(f.bytes)
            : (f.bytes as Uint8Array);
      out.push(...varint((f.no << 3) | 2), ...varint(payload.length), ...payload);
    }
  }
  return Uint8Array.from(out);
}

export interface Decoded {
  readonly varints: Map<number, number>;
  readonly bytes: Map<number, Uint8Array>;
}

/** Decodes one message level: last varint and last length-delimited value per field number. */
export function decode(buf: Uint8Array): Decoded {
  const varints = new Map<number, number>();
  const bytes = new Map<number, Uint8Array>();
  let i = 0;
  const readVarint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(readVarint());
    const no = key >> 3;
    const wire = key & 7;
    if (wire === 0) varints.set(no, Number(readVarint()));
    else if (wire === 2) {
      const len = Number(readVarint());
      bytes.set(no, buf.subarray(i, i + len));
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return { varints, bytes };
}

const hex = (s: string) => Buffer.from(s, 'hex');

export interface SpanSpec {
  readonly traceId: string;
  readonly spanId: string;
  readonly name: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

/** An ExportTraceServiceRequest: one resource per service, each with its spans. */
export function tracesRequest(
  resources: readonly { service: string; spans: readonly SpanSpec[] }[],
): Uint8Array {
  return encode(
    resources.map((r) => ({
      no: 1, // resource_spans
      bytes: [
        {
          no: 1, // resource
          bytes: [
            {
              no: 1,
              bytes: [
                { no: 1, bytes: 'service.name' },
                { no: 2, bytes: [{ no: 1, bytes: r.service }] },
              ],
            },
          ],
        },
        {
          no: 2, // scope_spans
          bytes: [
            { no: 1, bytes: [{ no: 1, bytes: 'test-scope' }] },
            ...r.spans.map(
              (s): Field => ({
                no: 2,
                bytes: [
                  { no: 1, bytes: hex(s.traceId) },
                  { no: 2, bytes: hex(s.spanId) },
                  { no: 5, bytes: s.name },
                  { no: 6, varint: 2 },
                  { no: 7, fixed64: s.startNs },
                  { no: 8, fixed64: s.endNs },
                ],
              }),
            ),
          ],
        },
      ],
    })),
  );
}
