import { Buffer } from 'node:buffer';
import { OtlpDecodeError, tooManyAttributes, tooManyItems } from '../decode-error.js';
import { EMPTY_RESOURCE, EMPTY_SCOPE, markAll } from '../decoded-defaults.js';
import { jsonInt64, jsonUint64, uint64OfDecimal } from '../int64.js';
import type { AnyValue, InstrumentationScope, KeyValue, MaybeInvalid, Resource, Uint64 } from '../model.js';

export {
  EMPTY_RESOURCE,
  EMPTY_SCOPE,
  type Mutable,
  markAll,
  NO_BUCKETS,
  NO_STATUS,
} from '../decoded-defaults.js';

/**
 * What the per-signal parts of the OTLP/JSON decoder (./traces.ts, ./logs.ts, ./metrics.ts; the
 * entry is ../decode-json.ts, which says what it accepts) share: the JSON types, scalars, ids,
 * AnyValue and KeyValue, Resource and InstrumentationScope, and the problem slots of envelopes
 * and items.
 */

export type Json = { readonly [key: string]: unknown };

export interface Walk {
  readonly maxDepth: number;
  /** The first problem in the item being decoded (see protobuf/common.ts). */
  problem: string | undefined;
  /** Lists read (arrays), by LIST_KEYS name: checked against the text (checkLists). */
  readonly lists: ListCounts;
  /** List keys read whose value was null, by name (checkLists then counts them in the text too). */
  readonly nullLists: ListCounts;
  /** Items and attributes (nested entries) so far, against the caps (see DecodeCaps). */
  items: number;
  attributes: number;
  readonly maxItems: number;
  readonly maxAttributes: number;
}

export function countItem(w: Walk): void {
  if (++w.items > w.maxItems) throw tooManyItems(w.maxItems);
}

export function countAttributes(w: Walk, n: number): void {
  w.attributes += n;
  if (w.attributes > w.maxAttributes) throw tooManyAttributes(w.maxAttributes);
}

export const EMPTY: readonly unknown[] = [];

/** Lists read per list key name (camelCase), all present from the start: one object shape. */
export type ListCounts = Record<string, number>;

/** The Walk of the decode under way (decoding is synchronous): `list` counts into its lists. */
let listsRead: Walk | undefined;

/** Makes `w` the walk `list` counts into (decodeJson, before walking). */
export function startWalk(w: Walk): void {
  listsRead = w;
}

/**
 * A field given by its lowerCamelCase (`a`) or snake_case (`b`) name; both at once is refused (one
 * would be lost). The callers read both by name, so each load stays a monomorphic property load.
 */
export function one(a: unknown, b: unknown, camel: string, snake: string): unknown {
  // A null stays null (not undefined): `list` counts a list key that is present, even as null.
  if (a === undefined || a === null) return b === undefined ? a : b;
  if (b !== undefined && b !== null)
    throw new OtlpDecodeError(`both "${camel}" and "${snake}" in one JSON object`);
  return a;
}

/** A message's dropped attributes count, in either spelling (both at once is refused). */
export function droppedAttributes(w: Walk, o: Json, path: string): number {
  return uint32(
    w,
    one(
      o.droppedAttributesCount,
      o.dropped_attributes_count,
      'droppedAttributesCount',
      'dropped_attributes_count',
    ),
    path,
  );
}

export function obj(v: unknown, what: string): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new OtlpDecodeError(`${what} must be a JSON object`);
  return v as Json;
}

export function arr(v: unknown, what: string): readonly unknown[] {
  if (v === undefined || v === null) return EMPTY;
  if (!Array.isArray(v)) throw new OtlpDecodeError(`${what} must be a JSON array`);
  return v;
}

export function list<T>(v: unknown, what: string, item: (v: unknown) => T): T[] {
  const a = arr(v, what);
  // Properties of fixed-shape objects, not a Map: every span's events and links pass here.
  if (listsRead !== undefined && v !== undefined) {
    if (v === null) listsRead.nullLists[what]!++;
    else listsRead.lists[what]!++;
  }
  const out = new Array<T>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = item(a[i]);
  return out;
}

export function str(w: Walk, v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  w.problem ??= `${what} must be a string`;
  return '';
}

const DIGITS = /^\d+$/;

export function uint32(w: Walk, v: unknown, what: string): number {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  } else if (v === undefined || v === null) {
    return 0;
  } else if (typeof v === 'string' && DIGITS.test(v)) {
    const n = Number(v);
    if (n <= 0xffffffff) return n;
  }
  w.problem ??= `${what} must be an unsigned 32-bit integer`;
  return 0;
}

export function int32(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff ? n : undefined;
}

export function sint32(w: Walk, v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  const n = int32(v);
  if (n !== undefined) return n;
  w.problem ??= `${what} must be a 32-bit integer`;
  return 0;
}

export function enumValue(w: Walk, v: unknown, names: ReadonlyMap<string, number>, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'string') {
    const n = names.get(v);
    if (n !== undefined) return n;
  }
  const n = int32(v);
  if (n !== undefined) return n;
  w.problem ??= `unknown ${what} ${JSON.stringify(v)}`;
  return 0;
}

export function time(w: Walk, v: unknown, what: string): string {
  if (v === undefined || v === null) return '0';
  const s = jsonUint64(v);
  if (s !== undefined) return s;
  w.problem ??= `${what} must be an unsigned 64-bit integer`;
  return '0';
}

/** A uint64 count as a Uint64 (model.ts); a JSON number past 2^53 is taken as the double it became. */
export function count(w: Walk, v: unknown, what: string): Uint64 {
  if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) return v;
  if (v === undefined || v === null) return 0;
  const s = jsonUint64(v);
  if (s !== undefined) return uint64OfDecimal(s);
  w.problem ??= `${what} must be an unsigned 64-bit integer`;
  return 0;
}

export function int64Number(w: Walk, v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  const s = jsonInt64(v);
  if (s !== undefined) return Number(s);
  w.problem ??= `${what} must be a 64-bit integer`;
  return 0;
}

/** A double: a JSON number, or a string ("NaN", "Infinity", "-Infinity", or a decimal). */
export function double(w: Walk, v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (v === undefined || v === null) return 0;
  const n = optDouble(w, v, what);
  return n ?? 0;
}

export function optDouble(w: Walk, v: unknown, what: string): number | undefined {
  if (typeof v === 'number') return v;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    if (v === 'NaN') return Number.NaN;
    if (v === 'Infinity') return Number.POSITIVE_INFINITY;
    if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
    const n = v.trim() === '' ? Number.NaN : Number(v);
    if (!Number.isNaN(n)) return n;
  }
  w.problem ??= `${what} must be a number`;
  return 0;
}

export function bool(w: Walk, v: unknown, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === undefined || v === null) return false;
  w.problem ??= `${what} must be a boolean`;
  return false;
}

export function numbers<T>(
  w: Walk,
  v: unknown,
  what: string,
  convert: (w: Walk, v: unknown, what: string) => T,
): T[] {
  const a = arr(v, what);
  const out = new Array<T>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = convert(w, a[i], what);
  return out;
}

/** By char code: 1 for a digit or a-f, 2 for A-F, 0 for anything else (code >= 128 included). */
const HEX_DIGIT = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  HEX_DIGIT[c] = /[0-9a-f]/.test(ch) ? 1 : /[A-F]/.test(ch) ? 2 : 0;
}

/**
 * 0 when `s` holds a character that is not a hex digit, else 1, or 3 when it has an uppercase
 * one. A loop over a table: a regex test and toLowerCase cost ~2x as much per id, and ids are
 * nearly always lowercase already (then returned as they are).
 */
export function hexCase(s: string): number {
  let kind = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const k = c < 128 ? HEX_DIGIT[c]! : 0;
    if (k === 0) return 0;
    kind |= k;
  }
  return kind | 1;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * A trace or span id of `size` bytes: hex (OTLP/JSON) or base64 (the canonical mapping); the
 * lengths never overlap (32/16 hex characters, 24/12 base64 characters, 22/11 unpadded).
 */
export function id(w: Walk, v: unknown, size: number, what: string): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v === 'string') {
    if (v.length === size * 2) {
      const hex = hexCase(v);
      if (hex === 1) return v;
      if (hex === 3) return v.toLowerCase();
    } else {
      const b = base64(v);
      if (b !== undefined && b.length === size) return b.toString('hex');
    }
  }
  w.problem ??= `${what} must be ${size} bytes (${size * 2} hex or ${Math.ceil(size / 3) * 4} base64 characters)`;
  return '';
}

function base64(s: string): Buffer | undefined {
  if (s.length % 4 === 1 || !BASE64.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}

function bytesValue(w: Walk, v: unknown): Uint8Array {
  const b = typeof v === 'string' ? base64(v) : undefined;
  if (b !== undefined) return new Uint8Array(b);
  w.problem ??= 'bytesValue must be a base64 string';
  return new Uint8Array(0);
}

export function keyValues(w: Walk, v: unknown, what: string, depth: number): KeyValue[] {
  const a = arr(v, what);
  countAttributes(w, a.length);
  const out = new Array<KeyValue>(a.length);
  for (let i = 0; i < a.length; i++) {
    const o = obj(a[i], `an element of ${what}`);
    out[i] =
      o === undefined
        ? { key: '', value: undefined }
        : { key: str(w, o.key, 'key'), value: anyValue(w, o.value, depth) };
  }
  return out;
}

export function anyValue(w: Walk, v: unknown, depth: number): AnyValue | undefined {
  const o = obj(v, 'an attribute value');
  if (o === undefined) return undefined;
  // One member is expected; should several be present, the last recognised one wins, as the last
  // field of a oneof wins in protobuf.
  let out: AnyValue | undefined;
  for (const key in o) {
    const x = o[key];
    if (x === undefined || x === null) continue;
    switch (key) {
      case 'stringValue':
      case 'string_value':
        out = { t: 'string', v: str(w, x, 'stringValue') };
        break;
      case 'boolValue':
      case 'bool_value':
        out = { t: 'bool', v: bool(w, x, 'boolValue') };
        break;
      case 'intValue':
      case 'int_value': {
        const s = jsonInt64(x);
        if (s === undefined) w.problem ??= 'intValue must be a 64-bit integer';
        out = { t: 'int', v: s ?? '0' };
        break;
      }
      case 'doubleValue':
      case 'double_value':
        out = { t: 'double', v: double(w, x, 'doubleValue') };
        break;
      case 'arrayValue':
      case 'array_value':
        out = { t: 'array', v: arrayValue(w, x, depth + 1) };
        break;
      case 'kvlistValue':
      case 'kvlist_value':
        out = { t: 'kvlist', v: kvlistValue(w, x, depth + 1) };
        break;
      case 'bytesValue':
      case 'bytes_value':
        out = { t: 'bytes', v: bytesValue(w, x) };
        break;
    }
  }
  return out;
}

function checkDepth(w: Walk, depth: number): void {
  if (depth > w.maxDepth)
    throw new OtlpDecodeError(`attribute values nested deeper than ${w.maxDepth} levels`);
}

function arrayValue(w: Walk, v: unknown, depth: number): AnyValue[] {
  checkDepth(w, depth);
  const o = obj(v, 'arrayValue');
  const a = arr(o?.values, 'arrayValue.values');
  countAttributes(w, a.length);
  const out: AnyValue[] = [];
  // An element with no value has nothing to carry in the model: dropped (as in the protobuf decoder).
  for (const x of a) {
    const value = anyValue(w, x, depth);
    if (value !== undefined) out.push(value);
  }
  return out;
}

function kvlistValue(w: Walk, v: unknown, depth: number): KeyValue[] {
  checkDepth(w, depth);
  const o = obj(v, 'kvlistValue');
  return keyValues(w, o?.values, 'kvlistValue.values', depth);
}

export function resource(w: Walk, v: unknown): Resource {
  const o = obj(v, 'resource');
  if (o === undefined) return EMPTY_RESOURCE;
  return {
    attributes: keyValues(w, o.attributes, 'resource.attributes', 0),
    droppedAttributesCount: droppedAttributes(w, o, 'resource.droppedAttributesCount'),
  };
}

export function scope(w: Walk, v: unknown): InstrumentationScope {
  const o = obj(v, 'scope');
  if (o === undefined) return EMPTY_SCOPE;
  return {
    name: str(w, o.name, 'scope.name'),
    version: str(w, o.version, 'scope.version'),
    attributes: keyValues(w, o.attributes, 'scope.attributes', 0),
    droppedAttributesCount: droppedAttributes(w, o, 'scope.droppedAttributesCount'),
  };
}

/**
 * Decodes an envelope (Resource*, Scope*) with its own problem slot; a problem left in it (a bad
 * resource or scope field) is set on every item below, which `items` lists.
 */
export function envelope<T>(w: Walk, decode: () => T, items: (e: T) => Iterable<readonly MaybeInvalid[]>): T {
  countAttributes(w, 1);
  const outer = w.problem;
  w.problem = undefined;
  const out = decode();
  if (w.problem !== undefined) for (const l of items(out)) markAll(l, w.problem);
  w.problem = outer;
  return out;
}

/** Runs an item decoder with its own problem slot and sets `invalid` from it. */
export function item<T extends MaybeInvalid>(w: Walk, decode: () => T): T {
  countItem(w);
  const outer = w.problem;
  w.problem = undefined;
  const out = decode();
  if (w.problem !== undefined) out.invalid = w.problem;
  w.problem = outer;
  return out;
}
