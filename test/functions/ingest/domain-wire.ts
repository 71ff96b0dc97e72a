/**
 * OTLP requests described once and encoded two ways, for the domain tests: a message is a list of
 * fields that know their protobuf number and kind and their OTLP/JSON name, so the same generated
 * values go out as protobuf (written here byte by byte, invalid encodings included) and as
 * OTLP/JSON (lowerCamelCase, hex ids, 64-bit integers as strings, non-finite doubles as words).
 */

export type Text = { readonly text: string } | { readonly invalidUtf8: Uint8Array };

export type WireField =
  | { readonly no: number; readonly name: string; readonly k: 'msg'; readonly v: Wire; readonly rep?: true }
  | { readonly no: number; readonly name: string; readonly k: 'string'; readonly v: Text }
  | { readonly no: number; readonly name: string; readonly k: 'id'; readonly v: string }
  /** fixed64 (times, counts), sfixed64 (as_int), varint uint64/int64, varint int (enums). */
  | {
      readonly no: number;
      readonly name: string;
      readonly k: 'fixed64' | 'sfixed64' | 'uint64' | 'int64' | 'int' | 'sint32' | 'fixed32';
      readonly v: bigint;
    }
  | { readonly no: number; readonly name: string; readonly k: 'double'; readonly v: number }
  | { readonly no: number; readonly name: string; readonly k: 'bool'; readonly v: boolean }
  | {
      readonly no: number;
      readonly name: string;
      readonly k: 'packedFixed64' | 'packedUint64';
      readonly v: readonly bigint[];
    }
  | { readonly no: number; readonly name: string; readonly k: 'packedDouble'; readonly v: readonly number[] };

export type Wire = readonly WireField[];

// ---- protobuf ----

function varint(out: number[], n: bigint): void {
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

function fixed(out: number[], n: bigint, bytes: number): void {
  let v = BigInt.asUintN(bytes * 8, n);
  for (let i = 0; i < bytes; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
}

function double(out: number[], x: number): void {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, x, true);
  for (let i = 0; i < 8; i++) out.push(b.getUint8(i));
}

function delimited(out: number[], no: number, payload: ArrayLike<number>): void {
  varint(out, BigInt((no << 3) | 2));
  varint(out, BigInt(payload.length));
  for (let i = 0; i < payload.length; i++) out.push(payload[i]!);
}

function textBytes(t: Text): Uint8Array {
  return 'text' in t ? Buffer.from(t.text, 'utf8') : t.invalidUtf8;
}

export function toProtobuf(message: Wire): Uint8Array {
  const out: number[] = [];
  for (const f of message) {
    const tag = (wire: number) => varint(out, BigInt((f.no << 3) | wire));
    switch (f.k) {
      case 'msg':
        delimited(out, f.no, toProtobuf(f.v));
        break;
      case 'string':
        delimited(out, f.no, textBytes(f.v));
        break;
      case 'id':
        delimited(out, f.no, Buffer.from(f.v, 'hex'));
        break;
      case 'fixed64':
      case 'sfixed64':
        tag(1);
        fixed(out, f.v, 8);
        break;
      case 'fixed32':
        tag(5);
        fixed(out, f.v, 4);
        break;
      case 'uint64':
      case 'int64':
      case 'int':
        tag(0);
        varint(out, f.v);
        break;
      case 'sint32':
        tag(0);
        varint(out, f.v >= 0n ? f.v * 2n : -f.v * 2n - 1n);
        break;
      case 'double':
        tag(1);
        double(out, f.v);
        break;
      case 'bool':
        tag(0);
        varint(out, f.v ? 1n : 0n);
        break;
      case 'packedFixed64': {
        const p: number[] = [];
        for (const x of f.v) fixed(p, x, 8);
        delimited(out, f.no, p);
        break;
      }
      case 'packedUint64': {
        const p: number[] = [];
        for (const x of f.v) varint(p, x);
        delimited(out, f.no, p);
        break;
      }
      case 'packedDouble': {
        const p: number[] = [];
        for (const x of f.v) double(p, x);
        delimited(out, f.no, p);
        break;
      }
    }
  }
  return Uint8Array.from(out);
}

// ---- OTLP/JSON ----

function jsonDouble(x: number): number | string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  return x;
}

function jsonValue(f: WireField): unknown {
  switch (f.k) {
    case 'msg':
      return toJsonObject(f.v);
    case 'string':
      if (!('text' in f.v)) throw new Error('invalid UTF-8 has no JSON form');
      return f.v.text;
    case 'id':
      return f.v;
    case 'fixed64':
    case 'sfixed64':
    case 'uint64':
    case 'int64':
      return f.v.toString();
    case 'int':
    case 'sint32':
    case 'fixed32':
      return Number(f.v);
    case 'double':
      return jsonDouble(f.v);
    case 'bool':
      return f.v;
    case 'packedFixed64':
    case 'packedUint64':
      return f.v.map((x) => x.toString());
    case 'packedDouble':
      return f.v.map(jsonDouble);
  }
}

export function toJsonObject(message: Wire): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of message) {
    const v = jsonValue(f);
    if (f.k === 'msg' && f.rep) {
      const list = (o[f.name] as unknown[] | undefined) ?? [];
      list.push(v);
      o[f.name] = list;
    } else o[f.name] = v;
  }
  return o;
}

/** OTLP/JSON bytes; JSON.stringify writes a lone surrogate as `\udXXX`, as a JS SDK sends it. */
export function toJson(message: Wire): Uint8Array {
  return Buffer.from(JSON.stringify(toJsonObject(message)), 'utf8');
}
