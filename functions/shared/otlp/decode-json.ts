import { Buffer } from 'node:buffer';
import type { Signal } from '../schema/columns.js';
import { type DecodeCaps, OtlpDecodeError, tooManyAttributes, tooManyItems } from './decode-error.js';
import { jsonInt64, jsonUint64, uint64OfDecimal } from './int64.js';
import type {
  AnyValue,
  Exemplar,
  ExponentialBuckets,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  InstrumentationScope,
  KeyValue,
  LogRecord,
  MaybeInvalid,
  Metric,
  MetricData,
  NumberDataPoint,
  OtlpRequest,
  Resource,
  ResourceLogs,
  ResourceMetrics,
  ResourceSpans,
  ScopeLogs,
  ScopeMetrics,
  ScopeSpans,
  Span,
  SpanEvent,
  SpanLink,
  SummaryDataPoint,
  Uint64,
} from './model.js';
import { LOG_SEVERITY_NUMBERS } from './severity.js';

/**
 * The JSON decoder. It accepts OTLP/JSON (lowerCamelCase keys, hex ids, integer enums, int64 as
 * strings or numbers) and the protobuf canonical JSON mapping some producers send (snake_case
 * keys also accepted, base64 ids, enum names). The body goes through JSON.parse and the tree is
 * walked by hand: a value of the wrong JSON type where a message or an array belongs fails the
 * request (OtlpDecodeError); a bad scalar, id or enum name marks the enclosing item `invalid`.
 * Unknown fields are ignored; null means "absent", as in the protobuf JSON mapping.
 */

type Json = { readonly [key: string]: unknown };
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Walk {
  readonly maxDepth: number;
  /** The first problem in the item being decoded (see decode-protobuf.ts). */
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

function countItem(w: Walk): void {
  if (++w.items > w.maxItems) throw tooManyItems(w.maxItems);
}

function countAttributes(w: Walk, n: number): void {
  w.attributes += n;
  if (w.attributes > w.maxAttributes) throw tooManyAttributes(w.maxAttributes);
}

const EMPTY: readonly unknown[] = [];
const EMPTY_RESOURCE: Resource = { attributes: [], droppedAttributesCount: 0 };
const EMPTY_SCOPE: InstrumentationScope = {
  name: '',
  version: '',
  attributes: [],
  droppedAttributesCount: 0,
};
const NO_STATUS: Span['status'] = { code: 0, message: '' };
const NO_BUCKETS: ExponentialBuckets = { offset: 0, bucketCounts: [] };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of an OTLP/JSON body; OtlpDecodeError when it is not valid UTF-8. */
export function jsonText(body: Uint8Array): string {
  try {
    return utf8.decode(body);
  } catch (cause) {
    throw new OtlpDecodeError('request body is not valid UTF-8', { cause });
  }
}

/** Decodes the text of an OTLP/JSON body (jsonText). */
export function decodeJson(signal: Signal, text: string, maxDepth: number, caps?: DecodeCaps): OtlpRequest {
  let root: unknown;
  try {
    // Lone surrogates can only come from \u escapes (the text is valid UTF-8): only then revive.
    // (`includes` first: a plain search costs ~1/30 of the regex over a body without escapes.)
    root =
      text.includes('\\u') && SURROGATE_ESCAPE.test(text)
        ? JSON.parse(text, wellFormedStrings)
        : JSON.parse(text);
  } catch (cause) {
    throw new OtlpDecodeError(`malformed JSON: ${(cause as Error).message}`, { cause });
  }
  const o = obj(root, 'the request body');
  if (o === undefined) throw new OtlpDecodeError('the request body must be a JSON object');
  const w: Walk = {
    maxDepth,
    problem: undefined,
    items: 0,
    attributes: 0,
    maxItems: caps?.maxItems ?? Number.POSITIVE_INFINITY,
    maxAttributes: caps?.maxAttributes ?? Number.POSITIVE_INFINITY,
    lists: listCounts(),
    nullLists: listCounts(),
  };
  listsRead = w;
  const decoded = walkRequest(signal, o, w);
  checkLists(text, w);
  return decoded;
}

/** The Walk of the decode under way (decoding is synchronous): `list` counts into its lists. */
let listsRead: Walk | undefined;

function walkRequest(signal: Signal, o: Json, w: Walk): OtlpRequest {
  switch (signal) {
    case 'traces':
      return {
        signal,
        request: {
          resourceSpans: list(
            one(o.resourceSpans, o.resource_spans, 'resourceSpans', 'resource_spans'),
            'resourceSpans',
            (v) => resourceSpans(w, v),
          ),
        },
      };
    case 'logs':
      return {
        signal,
        request: {
          resourceLogs: list(
            one(o.resourceLogs, o.resource_logs, 'resourceLogs', 'resource_logs'),
            'resourceLogs',
            (v) => resourceLogs(w, v),
          ),
        },
      };
    case 'metrics':
      return {
        signal,
        request: {
          resourceMetrics: list(
            one(o.resourceMetrics, o.resource_metrics, 'resourceMetrics', 'resource_metrics'),
            'resourceMetrics',
            (v) => resourceMetrics(w, v),
          ),
        },
      };
  }
}

// ---- what JSON.parse does not say ----

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A JS SDK that cuts a string mid-emoji sends half a surrogate pair (`"\ud83d"`), which no UTF-8
 * store can hold. It becomes U+FFFD, as in Go's encoding/json (the Collector) and TextEncoder.
 */
function wellFormedStrings(_key: string, v: unknown): unknown {
  return typeof v === 'string' ? v.replace(LONE_SURROGATE, '\ufffd') : v;
}

/** Lists of items (and of events, links, exemplars), by each spelling: a duplicated key would drop a list. */
const LIST_KEYS: ReadonlyMap<string, string> = new Map(
  [
    ['resourceSpans', 'resource_spans'],
    ['scopeSpans', 'scope_spans'],
    ['spans', 'spans'],
    ['events', 'events'],
    ['links', 'links'],
    ['resourceLogs', 'resource_logs'],
    ['scopeLogs', 'scope_logs'],
    ['logRecords', 'log_records'],
    ['resourceMetrics', 'resource_metrics'],
    ['scopeMetrics', 'scope_metrics'],
    ['metrics', 'metrics'],
    ['dataPoints', 'data_points'],
    ['exemplars', 'exemplars'],
  ].flatMap(([camel, snake]) => [
    [camel as string, camel as string],
    [snake as string, camel as string],
  ]),
);

/** Lists read per LIST_KEYS name (camelCase), all present from the start: one object shape. */
type ListCounts = Record<string, number>;
// quantileValues goes through `list` too (not checked: no list of items lies under it).
const LIST_NAMES = [...new Set(LIST_KEYS.values()), 'quantileValues'];
function listCounts(): ListCounts {
  const counts: ListCounts = {};
  for (const name of LIST_NAMES) counts[name] = 0;
  return counts;
}

/** 1 at the char codes that come before the final s of a list key (spaNs, evenTs, linKs, loGs…). */
const LIST_PENULTIMATE = new Uint8Array(128);
for (const k of LIST_KEYS.keys()) LIST_PENULTIMATE[k.charCodeAt(k.length - 2)] = 1;

const LIST_FIRST_CHARS: ReadonlySet<number> = new Set([...LIST_KEYS.keys()].map((k) => k.charCodeAt(0)));

/**
 * JSON.parse keeps the last of duplicated keys: `"spans"` twice in one object would drop the first
 * list without a word (the Collector's decoder appends both). The walk counts the lists it read
 * (`Walk.lists`, by `list`); the text is searched for the list keys, and more of a key in the text
 * than read means it came twice: 400, naming it. Only list keys are checked: a check of every key
 * (colons outside strings against the keys of the parsed tree) measured ~40 % of the JSON decode; a
 * duplicated scalar field is last-wins, as in JSON.parse and Go's encoding/json.
 *
 * The search is for `[` (a few per item; a search for the `s":` every list key ends with stops at
 * every `attributes":` too, and costs ~7x more): a list key is the key just before it (blanks
 * allowed after the colon, not before). A duplicate whose kept value is an array is caught so;
 * one whose kept value is null (`"spans":[…],"spans":null`) has no `[` to count, so when the walk
 * met a null list (exporters never write one) the text is searched for the keys themselves.
 */
function checkLists(text: string, w: Walk): void {
  let nulls = false;
  for (const name in w.nullLists) if (w.nullLists[name]! > 0) nulls = true;
  const inText = nulls ? listKeysInText(text) : arrayListsInText(text);
  for (const [camel, n] of inText) {
    if (n > (w.lists[camel] ?? 0) + (w.nullLists[camel] ?? 0))
      throw new OtlpDecodeError(`duplicate key ${JSON.stringify(camel)} in one JSON object`);
  }
}

/** The list key whose closing quote is at `close`, if it is one (see checkLists), by camelCase name. */
function listKeyEndingAt(text: string, close: number): string | undefined {
  // Most keys here are `attributes` and other non-lists: one look at the letters before the quote.
  if (text.charCodeAt(close - 1) !== 0x73 || LIST_PENULTIMATE[text.charCodeAt(close - 2)] !== 1) return;
  const open = text.lastIndexOf('"', close - 1);
  // A list key is short and starts with one of a few letters; an escaped quote before it means
  // the match is inside a string.
  if (
    close - open > 17 ||
    !LIST_FIRST_CHARS.has(text.charCodeAt(open + 1)) ||
    text.charCodeAt(open - 1) === 92
  )
    return;
  return LIST_KEYS.get(text.slice(open + 1, close));
}

/** List keys whose value is an array, counted in the text by name. */
function arrayListsInText(text: string): Map<string, number> {
  const inText = new Map<string, number>();
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) {
    let j = i - 1;
    let c = text.charCodeAt(j);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(--j);
    // `":[`: the quote before the colon ends a key (a quote inside a string is escaped, and then
    // `s` is not before it).
    if (c !== 0x3a || text.charCodeAt(j - 1) !== 0x22) continue;
    const camel = listKeyEndingAt(text, j - 1);
    if (camel !== undefined) inText.set(camel, (inText.get(camel) ?? 0) + 1);
  }
  return inText;
}

/** List keys whatever their value, counted in the text by name: keys ending in `s":`. */
function listKeysInText(text: string): Map<string, number> {
  const inText = new Map<string, number>();
  for (let i = text.indexOf('s":'); i !== -1; i = text.indexOf('s":', i + 3)) {
    const camel = listKeyEndingAt(text, i + 1);
    if (camel !== undefined) inText.set(camel, (inText.get(camel) ?? 0) + 1);
  }
  return inText;
}

/**
 * A field given by its lowerCamelCase (`a`) or snake_case (`b`) name; both at once is refused (one
 * would be lost). The callers read both by name, so each load stays a monomorphic property load.
 */
function one(a: unknown, b: unknown, camel: string, snake: string): unknown {
  // A null stays null (not undefined): `list` counts a list key that is present, even as null.
  if (a === undefined || a === null) return b === undefined ? a : b;
  if (b !== undefined && b !== null)
    throw new OtlpDecodeError(`both "${camel}" and "${snake}" in one JSON object`);
  return a;
}

// ---- JSON types ----

function obj(v: unknown, what: string): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new OtlpDecodeError(`${what} must be a JSON object`);
  return v as Json;
}

function arr(v: unknown, what: string): readonly unknown[] {
  if (v === undefined || v === null) return EMPTY;
  if (!Array.isArray(v)) throw new OtlpDecodeError(`${what} must be a JSON array`);
  return v;
}

function list<T>(v: unknown, what: string, item: (v: unknown) => T): T[] {
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

function str(w: Walk, v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  w.problem ??= `${what} must be a string`;
  return '';
}

const DIGITS = /^\d+$/;

function uint32(w: Walk, v: unknown, what: string): number {
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

function int32(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff ? n : undefined;
}

function sint32(w: Walk, v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  const n = int32(v);
  if (n !== undefined) return n;
  w.problem ??= `${what} must be a 32-bit integer`;
  return 0;
}

function enumValue(w: Walk, v: unknown, names: ReadonlyMap<string, number>, what: string): number {
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

function time(w: Walk, v: unknown, what: string): string {
  if (v === undefined || v === null) return '0';
  const s = jsonUint64(v);
  if (s !== undefined) return s;
  w.problem ??= `${what} must be an unsigned 64-bit integer`;
  return '0';
}

/** A uint64 count as a Uint64 (model.ts); a JSON number past 2^53 is taken as the double it became. */
function count(w: Walk, v: unknown, what: string): Uint64 {
  if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) return v;
  if (v === undefined || v === null) return 0;
  const s = jsonUint64(v);
  if (s !== undefined) return uint64OfDecimal(s);
  w.problem ??= `${what} must be an unsigned 64-bit integer`;
  return 0;
}

function int64Number(w: Walk, v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  const s = jsonInt64(v);
  if (s !== undefined) return Number(s);
  w.problem ??= `${what} must be a 64-bit integer`;
  return 0;
}

/** A double: a JSON number, or a string ("NaN", "Infinity", "-Infinity", or a decimal). */
function double(w: Walk, v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (v === undefined || v === null) return 0;
  const n = optDouble(w, v, what);
  return n ?? 0;
}

function optDouble(w: Walk, v: unknown, what: string): number | undefined {
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

function bool(w: Walk, v: unknown, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === undefined || v === null) return false;
  w.problem ??= `${what} must be a boolean`;
  return false;
}

function numbers<T>(
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

const HEX = /^[0-9a-fA-F]*$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * A trace or span id of `size` bytes: hex (OTLP/JSON) or base64 (the canonical mapping); the
 * lengths never overlap (32/16 hex characters, 24/12 base64 characters, 22/11 unpadded).
 */
function id(w: Walk, v: unknown, size: number, what: string): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v === 'string') {
    if (v.length === size * 2) {
      if (HEX.test(v)) return v.toLowerCase();
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

// ---- common messages ----

function keyValues(w: Walk, v: unknown, what: string, depth: number): KeyValue[] {
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

function anyValue(w: Walk, v: unknown, depth: number): AnyValue | undefined {
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

function resource(w: Walk, v: unknown): Resource {
  const o = obj(v, 'resource');
  if (o === undefined) return EMPTY_RESOURCE;
  return {
    attributes: keyValues(w, o.attributes, 'resource.attributes', 0),
    droppedAttributesCount: uint32(
      w,
      one(
        o.droppedAttributesCount,
        o.dropped_attributes_count,
        'droppedAttributesCount',
        'dropped_attributes_count',
      ),
      'resource.droppedAttributesCount',
    ),
  };
}

function scope(w: Walk, v: unknown): InstrumentationScope {
  const o = obj(v, 'scope');
  if (o === undefined) return EMPTY_SCOPE;
  return {
    name: str(w, o.name, 'scope.name'),
    version: str(w, o.version, 'scope.version'),
    attributes: keyValues(w, o.attributes, 'scope.attributes', 0),
    droppedAttributesCount: uint32(
      w,
      one(
        o.droppedAttributesCount,
        o.dropped_attributes_count,
        'droppedAttributesCount',
        'dropped_attributes_count',
      ),
      'scope.droppedAttributesCount',
    ),
  };
}

function markAll(items: readonly MaybeInvalid[], reason: string): void {
  for (const item of items) item.invalid ??= reason;
}

/**
 * Decodes an envelope (Resource*, Scope*) with its own problem slot; a problem left in it (a bad
 * resource or scope field) is set on every item below, which `items` lists.
 */
function envelope<T>(w: Walk, decode: () => T, items: (e: T) => Iterable<readonly MaybeInvalid[]>): T {
  countAttributes(w, 1);
  const outer = w.problem;
  w.problem = undefined;
  const out = decode();
  if (w.problem !== undefined) for (const l of items(out)) markAll(l, w.problem);
  w.problem = outer;
  return out;
}

/** Runs an item decoder with its own problem slot and sets `invalid` from it. */
function item<T extends MaybeInvalid>(w: Walk, decode: () => T): T {
  countItem(w);
  const outer = w.problem;
  w.problem = undefined;
  const out = decode();
  if (w.problem !== undefined) out.invalid = w.problem;
  w.problem = outer;
  return out;
}

// ---- traces ----

function resourceSpans(w: Walk, v: unknown): ResourceSpans {
  const o = obj(v, 'an element of resourceSpans') ?? {};
  return envelope(
    w,
    (): ResourceSpans => ({
      resource: resource(w, o.resource),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      scopeSpans: list(one(o.scopeSpans, o.scope_spans, 'scopeSpans', 'scope_spans'), 'scopeSpans', (x) =>
        scopeSpans(w, x),
      ),
    }),
    (r) => r.scopeSpans.map((s) => s.spans),
  );
}

function scopeSpans(w: Walk, v: unknown): ScopeSpans {
  const o = obj(v, 'an element of scopeSpans') ?? {};
  return envelope(
    w,
    (): ScopeSpans => ({
      scope: scope(w, o.scope),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      spans: list(o.spans, 'spans', (x) => span(w, x)),
    }),
    (s) => [s.spans],
  );
}

const SPAN_KINDS = new Map([
  ['SPAN_KIND_UNSPECIFIED', 0],
  ['SPAN_KIND_INTERNAL', 1],
  ['SPAN_KIND_SERVER', 2],
  ['SPAN_KIND_CLIENT', 3],
  ['SPAN_KIND_PRODUCER', 4],
  ['SPAN_KIND_CONSUMER', 5],
]);

const STATUS_CODES = new Map([
  ['STATUS_CODE_UNSET', 0],
  ['STATUS_CODE_OK', 1],
  ['STATUS_CODE_ERROR', 2],
]);

function span(w: Walk, v: unknown): Span {
  const o = obj(v, 'an element of spans') ?? {};
  return item(
    w,
    (): Mutable<Span> => ({
      traceId: id(w, one(o.traceId, o.trace_id, 'traceId', 'trace_id'), 16, 'traceId'),
      spanId: id(w, one(o.spanId, o.span_id, 'spanId', 'span_id'), 8, 'spanId'),
      traceState: str(w, one(o.traceState, o.trace_state, 'traceState', 'trace_state'), 'traceState'),
      parentSpanId: id(
        w,
        one(o.parentSpanId, o.parent_span_id, 'parentSpanId', 'parent_span_id'),
        8,
        'parentSpanId',
      ),
      flags: uint32(w, o.flags, 'flags'),
      name: str(w, o.name, 'name'),
      kind: enumValue(w, o.kind, SPAN_KINDS, 'span kind'),
      startTimeUnixNano: time(
        w,
        one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
        'startTimeUnixNano',
      ),
      endTimeUnixNano: time(
        w,
        one(o.endTimeUnixNano, o.end_time_unix_nano, 'endTimeUnixNano', 'end_time_unix_nano'),
        'endTimeUnixNano',
      ),
      attributes: keyValues(w, o.attributes, 'attributes', 0),
      droppedAttributesCount: uint32(
        w,
        one(
          o.droppedAttributesCount,
          o.dropped_attributes_count,
          'droppedAttributesCount',
          'dropped_attributes_count',
        ),
        'droppedAttributesCount',
      ),
      events: list(o.events, 'events', (x) => spanEvent(w, x)),
      droppedEventsCount: uint32(
        w,
        one(o.droppedEventsCount, o.dropped_events_count, 'droppedEventsCount', 'dropped_events_count'),
        'droppedEventsCount',
      ),
      links: list(o.links, 'links', (x) => spanLink(w, x)),
      droppedLinksCount: uint32(
        w,
        one(o.droppedLinksCount, o.dropped_links_count, 'droppedLinksCount', 'dropped_links_count'),
        'droppedLinksCount',
      ),
      status: spanStatus(w, o.status),
    }),
  );
}

function spanEvent(w: Walk, v: unknown): SpanEvent {
  countAttributes(w, 1);
  const o = obj(v, 'an element of events') ?? {};
  return {
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'events.timeUnixNano',
    ),
    name: str(w, o.name, 'events.name'),
    attributes: keyValues(w, o.attributes, 'events.attributes', 0),
    droppedAttributesCount: uint32(
      w,
      one(
        o.droppedAttributesCount,
        o.dropped_attributes_count,
        'droppedAttributesCount',
        'dropped_attributes_count',
      ),
      'events.droppedAttributesCount',
    ),
  };
}

function spanLink(w: Walk, v: unknown): SpanLink {
  countAttributes(w, 1);
  const o = obj(v, 'an element of links') ?? {};
  return {
    traceId: id(w, one(o.traceId, o.trace_id, 'traceId', 'trace_id'), 16, 'links.traceId'),
    spanId: id(w, one(o.spanId, o.span_id, 'spanId', 'span_id'), 8, 'links.spanId'),
    traceState: str(w, one(o.traceState, o.trace_state, 'traceState', 'trace_state'), 'links.traceState'),
    attributes: keyValues(w, o.attributes, 'links.attributes', 0),
    droppedAttributesCount: uint32(
      w,
      one(
        o.droppedAttributesCount,
        o.dropped_attributes_count,
        'droppedAttributesCount',
        'dropped_attributes_count',
      ),
      'links.droppedAttributesCount',
    ),
    flags: uint32(w, o.flags, 'links.flags'),
  };
}

function spanStatus(w: Walk, v: unknown): Span['status'] {
  const o = obj(v, 'status');
  if (o === undefined) return NO_STATUS;
  return {
    code: enumValue(w, o.code, STATUS_CODES, 'status code'),
    message: str(w, o.message, 'status.message'),
  };
}

// ---- logs ----

function resourceLogs(w: Walk, v: unknown): ResourceLogs {
  const o = obj(v, 'an element of resourceLogs') ?? {};
  return envelope(
    w,
    (): ResourceLogs => ({
      resource: resource(w, o.resource),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      scopeLogs: list(one(o.scopeLogs, o.scope_logs, 'scopeLogs', 'scope_logs'), 'scopeLogs', (x) =>
        scopeLogs(w, x),
      ),
    }),
    (r) => r.scopeLogs.map((s) => s.logRecords),
  );
}

function scopeLogs(w: Walk, v: unknown): ScopeLogs {
  const o = obj(v, 'an element of scopeLogs') ?? {};
  return envelope(
    w,
    (): ScopeLogs => ({
      scope: scope(w, o.scope),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      logRecords: list(one(o.logRecords, o.log_records, 'logRecords', 'log_records'), 'logRecords', (x) =>
        logRecord(w, x),
      ),
    }),
    (s) => [s.logRecords],
  );
}

const SEVERITIES = new Map<string, number>([['SEVERITY_NUMBER_UNSPECIFIED', 0]]);
for (const [level, first] of Object.entries(LOG_SEVERITY_NUMBERS)) {
  SEVERITIES.set(`SEVERITY_NUMBER_${level}`, first);
  for (let k = 2; k <= 4; k++) SEVERITIES.set(`SEVERITY_NUMBER_${level}${k}`, first + k - 1);
}

function logRecord(w: Walk, v: unknown): LogRecord {
  const o = obj(v, 'an element of logRecords') ?? {};
  return item(
    w,
    (): Mutable<LogRecord> => ({
      timeUnixNano: time(
        w,
        one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
        'timeUnixNano',
      ),
      observedTimeUnixNano: time(
        w,
        one(
          o.observedTimeUnixNano,
          o.observed_time_unix_nano,
          'observedTimeUnixNano',
          'observed_time_unix_nano',
        ),
        'observedTimeUnixNano',
      ),
      severityNumber: enumValue(
        w,
        one(o.severityNumber, o.severity_number, 'severityNumber', 'severity_number'),
        SEVERITIES,
        'severity number',
      ),
      severityText: str(
        w,
        one(o.severityText, o.severity_text, 'severityText', 'severity_text'),
        'severityText',
      ),
      body: anyValue(w, o.body, 0),
      attributes: keyValues(w, o.attributes, 'attributes', 0),
      droppedAttributesCount: uint32(
        w,
        one(
          o.droppedAttributesCount,
          o.dropped_attributes_count,
          'droppedAttributesCount',
          'dropped_attributes_count',
        ),
        'droppedAttributesCount',
      ),
      flags: uint32(w, o.flags, 'flags'),
      traceId: id(w, one(o.traceId, o.trace_id, 'traceId', 'trace_id'), 16, 'traceId'),
      spanId: id(w, one(o.spanId, o.span_id, 'spanId', 'span_id'), 8, 'spanId'),
      eventName: str(w, one(o.eventName, o.event_name, 'eventName', 'event_name'), 'eventName'),
    }),
  );
}

// ---- metrics ----

function resourceMetrics(w: Walk, v: unknown): ResourceMetrics {
  const o = obj(v, 'an element of resourceMetrics') ?? {};
  return envelope(
    w,
    (): ResourceMetrics => ({
      resource: resource(w, o.resource),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      scopeMetrics: list(
        one(o.scopeMetrics, o.scope_metrics, 'scopeMetrics', 'scope_metrics'),
        'scopeMetrics',
        (x) => scopeMetrics(w, x),
      ),
    }),
    (r) => r.scopeMetrics.flatMap((s) => s.metrics.map(pointsOf)),
  );
}

function scopeMetrics(w: Walk, v: unknown): ScopeMetrics {
  const o = obj(v, 'an element of scopeMetrics') ?? {};
  return envelope(
    w,
    (): ScopeMetrics => ({
      scope: scope(w, o.scope),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      metrics: list(o.metrics, 'metrics', (x) => metric(w, x)),
    }),
    (s) => s.metrics.map(pointsOf),
  );
}

function pointsOf(m: Metric): readonly MaybeInvalid[] {
  return m.data?.dataPoints ?? [];
}

const TEMPORALITIES = new Map([
  ['AGGREGATION_TEMPORALITY_UNSPECIFIED', 0],
  ['AGGREGATION_TEMPORALITY_DELTA', 1],
  ['AGGREGATION_TEMPORALITY_CUMULATIVE', 2],
]);

function metric(w: Walk, v: unknown): Metric {
  const o = obj(v, 'an element of metrics') ?? {};
  // A problem at metric level (name, temporality…) belongs to each of its data points.
  return envelope(
    w,
    (): Metric => ({
      name: str(w, o.name, 'metric name'),
      description: str(w, o.description, 'metric description'),
      unit: str(w, o.unit, 'metric unit'),
      metadata: keyValues(w, o.metadata, 'metadata', 0),
      data: metricData(w, o),
    }),
    (m) => [pointsOf(m)],
  );
}

const present = (v: unknown): number => (v === undefined || v === null ? 0 : 1);

function metricData(w: Walk, o: Json): MetricData | undefined {
  // A oneof: two of them would leave one's points unread. Named loads: each stays monomorphic.
  const fields =
    present(o.gauge) +
    present(o.sum) +
    present(o.histogram) +
    present(o.exponentialHistogram) +
    present(o.exponential_histogram) +
    present(o.summary);
  if (fields > 1) throw new OtlpDecodeError(`metric ${JSON.stringify(o.name)} has more than one data field`);
  const gauge = obj(o.gauge, 'gauge');
  if (gauge !== undefined) {
    return { type: 'gauge', dataPoints: points(w, gauge, numberDataPoint) };
  }
  const sum = obj(o.sum, 'sum');
  if (sum !== undefined) {
    return {
      type: 'sum',
      dataPoints: points(w, sum, numberDataPoint),
      aggregationTemporality: temporality(w, sum),
      isMonotonic: bool(
        w,
        one(sum.isMonotonic, sum.is_monotonic, 'isMonotonic', 'is_monotonic'),
        'isMonotonic',
      ),
    };
  }
  const histogram = obj(o.histogram, 'histogram');
  if (histogram !== undefined) {
    return {
      type: 'histogram',
      dataPoints: points(w, histogram, histogramDataPoint),
      aggregationTemporality: temporality(w, histogram),
    };
  }
  const expo = obj(
    one(o.exponentialHistogram, o.exponential_histogram, 'exponentialHistogram', 'exponential_histogram'),
    'exponentialHistogram',
  );
  if (expo !== undefined) {
    return {
      type: 'exponential_histogram',
      dataPoints: points(w, expo, exponentialHistogramDataPoint),
      aggregationTemporality: temporality(w, expo),
    };
  }
  const summary = obj(o.summary, 'summary');
  if (summary !== undefined) {
    return { type: 'summary', dataPoints: points(w, summary, summaryDataPoint) };
  }
  return undefined;
}

function temporality(w: Walk, o: Json): number {
  return enumValue(
    w,
    one(
      o.aggregationTemporality,
      o.aggregation_temporality,
      'aggregationTemporality',
      'aggregation_temporality',
    ),
    TEMPORALITIES,
    'aggregation temporality',
  );
}

function points<T extends MaybeInvalid>(w: Walk, o: Json, point: (w: Walk, p: Json) => T): T[] {
  return list(one(o.dataPoints, o.data_points, 'dataPoints', 'data_points'), 'dataPoints', (x) =>
    item(w, () => point(w, obj(x, 'an element of dataPoints') ?? {})),
  );
}

function numberDataPoint(w: Walk, o: Json): NumberDataPoint {
  const asInt = one(o.asInt, o.as_int, 'asInt', 'as_int');
  const asDouble = one(o.asDouble, o.as_double, 'asDouble', 'as_double');
  // The value is a oneof: with both, one would be dropped unsaid.
  if (asInt != null && asDouble != null) w.problem ??= 'both asInt and asDouble are set';
  return {
    attributes: keyValues(w, o.attributes, 'attributes', 0),
    startTimeUnixNano: time(
      w,
      one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
      'startTimeUnixNano',
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'timeUnixNano',
    ),
    flags: uint32(w, o.flags, 'flags'),
    exemplars: list(o.exemplars, 'exemplars', (x) => exemplar(w, x)),
    value:
      asDouble !== undefined && asDouble !== null
        ? double(w, asDouble, 'asDouble')
        : asInt !== undefined && asInt !== null
          ? int64Number(w, asInt, 'asInt')
          : 0,
  };
}

function histogramDataPoint(w: Walk, o: Json): HistogramDataPoint {
  return {
    attributes: keyValues(w, o.attributes, 'attributes', 0),
    startTimeUnixNano: time(
      w,
      one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
      'startTimeUnixNano',
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'timeUnixNano',
    ),
    flags: uint32(w, o.flags, 'flags'),
    exemplars: list(o.exemplars, 'exemplars', (x) => exemplar(w, x)),
    count: count(w, o.count, 'count'),
    sum: optDouble(w, o.sum, 'sum'),
    bucketCounts: numbers(
      w,
      one(o.bucketCounts, o.bucket_counts, 'bucketCounts', 'bucket_counts'),
      'bucketCounts',
      count,
    ),
    explicitBounds: numbers(
      w,
      one(o.explicitBounds, o.explicit_bounds, 'explicitBounds', 'explicit_bounds'),
      'explicitBounds',
      double,
    ),
    min: optDouble(w, o.min, 'min'),
    max: optDouble(w, o.max, 'max'),
  };
}

function exponentialHistogramDataPoint(w: Walk, o: Json): ExponentialHistogramDataPoint {
  return {
    attributes: keyValues(w, o.attributes, 'attributes', 0),
    startTimeUnixNano: time(
      w,
      one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
      'startTimeUnixNano',
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'timeUnixNano',
    ),
    flags: uint32(w, o.flags, 'flags'),
    exemplars: list(o.exemplars, 'exemplars', (x) => exemplar(w, x)),
    count: count(w, o.count, 'count'),
    sum: optDouble(w, o.sum, 'sum'),
    scale: sint32(w, o.scale, 'scale'),
    zeroCount: count(w, one(o.zeroCount, o.zero_count, 'zeroCount', 'zero_count'), 'zeroCount'),
    positive: buckets(w, o.positive, 'positive'),
    negative: buckets(w, o.negative, 'negative'),
    min: optDouble(w, o.min, 'min'),
    max: optDouble(w, o.max, 'max'),
    zeroThreshold: double(
      w,
      one(o.zeroThreshold, o.zero_threshold, 'zeroThreshold', 'zero_threshold'),
      'zeroThreshold',
    ),
  };
}

function buckets(w: Walk, v: unknown, what: string): ExponentialBuckets {
  const o = obj(v, what);
  if (o === undefined) return NO_BUCKETS;
  return {
    offset: sint32(w, o.offset, `${what}.offset`),
    bucketCounts: numbers(
      w,
      one(o.bucketCounts, o.bucket_counts, 'bucketCounts', 'bucket_counts'),
      `${what}.bucketCounts`,
      count,
    ),
  };
}

function summaryDataPoint(w: Walk, o: Json): SummaryDataPoint {
  return {
    attributes: keyValues(w, o.attributes, 'attributes', 0),
    startTimeUnixNano: time(
      w,
      one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
      'startTimeUnixNano',
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'timeUnixNano',
    ),
    count: count(w, o.count, 'count'),
    sum: double(w, o.sum, 'sum'),
    quantileValues: list(
      one(o.quantileValues, o.quantile_values, 'quantileValues', 'quantile_values'),
      'quantileValues',
      (x) => {
        countAttributes(w, 1);
        const q = obj(x, 'an element of quantileValues') ?? {};
        return { quantile: double(w, q.quantile, 'quantile'), value: double(w, q.value, 'value') };
      },
    ),
    flags: uint32(w, o.flags, 'flags'),
  };
}

function exemplar(w: Walk, v: unknown): Exemplar {
  countAttributes(w, 1);
  const o = obj(v, 'an element of exemplars') ?? {};
  const asInt = one(o.asInt, o.as_int, 'asInt', 'as_int');
  const asDouble = one(o.asDouble, o.as_double, 'asDouble', 'as_double');
  // The value is a oneof: with both, one would be dropped unsaid.
  if (asInt != null && asDouble != null) w.problem ??= 'both asInt and asDouble are set';
  return {
    filteredAttributes: keyValues(
      w,
      one(o.filteredAttributes, o.filtered_attributes, 'filteredAttributes', 'filtered_attributes'),
      'filteredAttributes',
      0,
    ),
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'exemplars.timeUnixNano',
    ),
    value:
      asDouble !== undefined && asDouble !== null
        ? double(w, asDouble, 'exemplars.asDouble')
        : asInt !== undefined && asInt !== null
          ? int64Number(w, asInt, 'exemplars.asInt')
          : 0,
    spanId: id(w, one(o.spanId, o.span_id, 'spanId', 'span_id'), 8, 'exemplars.spanId'),
    traceId: id(w, one(o.traceId, o.trace_id, 'traceId', 'trace_id'), 16, 'exemplars.traceId'),
  };
}
