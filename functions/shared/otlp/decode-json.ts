import { Buffer, isAscii } from 'node:buffer';
import type { Signal } from '../schema/columns.js';
import { type DecodeCaps, OtlpDecodeError } from './decode-error.js';
import { type Json, type ListCounts, list, obj, one, startWalk, type Walk } from './json/common.js';
import { resourceLogs } from './json/logs.js';
import { resourceMetrics } from './json/metrics.js';
import { resourceSpans } from './json/traces.js';
import type { OtlpRequest } from './model.js';

/**
 * The JSON decoder. It accepts OTLP/JSON (lowerCamelCase keys, hex ids, integer enums, int64 as
 * strings or numbers) and the protobuf canonical JSON mapping some producers send (snake_case
 * keys also accepted, base64 ids, enum names). The body goes through JSON.parse and the tree is
 * walked by hand: a value of the wrong JSON type where a message or an array belongs fails the
 * request (OtlpDecodeError); a bad scalar, id or enum name marks the enclosing item `invalid`.
 * Unknown fields are ignored; null means "absent", as in the protobuf JSON mapping.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of an OTLP/JSON body; OtlpDecodeError when it is not valid UTF-8. */
export function jsonText(body: Uint8Array): string {
  // ASCII (what exporters nearly always send: JSON escapes the rest) is its own Latin-1 and valid
  // UTF-8 without a BOM to strip: one SIMD check and a byte copy.
  if (isAscii(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
  try {
    return utf8.decode(body);
  } catch (cause) {
    throw new OtlpDecodeError('request body is not valid UTF-8', { cause });
  }
}

/** Decodes the text of an OTLP/JSON body (jsonText). */
export function decodeJson(signal: Signal, text: string, maxDepth: number, caps?: DecodeCaps): OtlpRequest {
  let root: unknown;
  // Lone surrogates and escaped list keys can only come from \u escapes (the text is valid UTF-8):
  // only then revive, or look for such keys. (A plain search costs ~1/30 of the regex.)
  const escapes = text.includes('\\u');
  try {
    root = escapes && SURROGATE_ESCAPE.test(text) ? JSON.parse(text, wellFormedStrings) : JSON.parse(text);
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
  startWalk(w);
  const decoded = walkRequest(signal, o, w);
  checkLists(text, w, escapes);
  return decoded;
}

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

/** The checked list names (camelCase), and each list key's spellings by length with its name's index. */
const CHECKED_NAMES = [...new Set(LIST_KEYS.values())];
const KEYS_BY_LENGTH: (readonly { readonly key: string; readonly name: number }[] | undefined)[] = [];
for (const [key, camel] of LIST_KEYS) {
  const same = KEYS_BY_LENGTH[key.length] ?? [];
  KEYS_BY_LENGTH[key.length] = [...same, { key, name: CHECKED_NAMES.indexOf(camel) }];
}

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
 * allowed around the colon). A duplicate whose kept value is an array is caught so; one whose kept
 * value is null (`"spans":[…],"spans":null`) has no `[` to count, so when the walk met a null list
 * (exporters never write one) the text is searched for every colon instead. A key spelled with
 * escapes (`"sp\u0061ns"`, which JSON.parse reads as `spans`) is not in the text as such: when the
 * text has a `\u` at all, the strings holding one are looked at too (escapedListKeys).
 */
function checkLists(text: string, w: Walk, escapes: boolean): void {
  let nulls = false;
  for (const name in w.nullLists) if (w.nullLists[name]! > 0) nulls = true;
  const inText = new Int32Array(CHECKED_NAMES.length);
  if (nulls) listKeysInText(text, inText);
  else arrayListsInText(text, inText);
  if (escapes) escapedListKeys(text, inText, !nulls);
  for (let k = 0; k < CHECKED_NAMES.length; k++) {
    const camel = CHECKED_NAMES[k]!;
    if (inText[k]! > (w.lists[camel] ?? 0) + (w.nullLists[camel] ?? 0))
      throw new OtlpDecodeError(`duplicate key ${JSON.stringify(camel)} in one JSON object`);
  }
}

const isBlank = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The index in CHECKED_NAMES of the list key whose closing quote is at `close`, if it is one (see
 * checkLists), else -1. Compared in place (no slice, no Map): a span has two or three of them.
 */
function listKeyEndingAt(text: string, close: number): number {
  // Most keys here are `attributes` and other non-lists: one look at the letters before the quote.
  if (text.charCodeAt(close - 1) !== 0x73 || LIST_PENULTIMATE[text.charCodeAt(close - 2)] !== 1) return -1;
  const open = text.lastIndexOf('"', close - 1);
  const candidates = KEYS_BY_LENGTH[close - open - 1];
  // An escaped quote before the key means the match is inside a string.
  if (candidates === undefined || text.charCodeAt(open - 1) === 92) return -1;
  for (const c of candidates) if (text.startsWith(c.key, open + 1)) return c.name;
  return -1;
}

/** The list key (CHECKED_NAMES index) before the colon at `colon`, blanks allowed between, or -1. */
function listKeyBeforeColon(text: string, colon: number): number {
  let q = colon - 1;
  while (isBlank(text.charCodeAt(q))) q--;
  // The quote before the colon ends a key (a quote inside a string is escaped, and then `s` is
  // not before it).
  return text.charCodeAt(q) === 0x22 ? listKeyEndingAt(text, q) : -1;
}

/** List keys whose value is an array, counted into `inText` by CHECKED_NAMES index. */
function arrayListsInText(text: string, inText: Int32Array): void {
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) {
    let j = i - 1;
    while (isBlank(text.charCodeAt(j))) j--;
    if (text.charCodeAt(j) !== 0x3a) continue;
    const k = listKeyBeforeColon(text, j);
    if (k >= 0) inText[k]!++;
  }
}

/** List keys whatever their value, counted into `inText`: every colon, the key before it. */
function listKeysInText(text: string, inText: Int32Array): void {
  for (let i = text.indexOf(':'); i !== -1; i = text.indexOf(':', i + 1)) {
    const k = listKeyBeforeColon(text, i);
    if (k >= 0) inText[k]!++;
  }
}

/**
 * List keys written with `\u` escapes, counted into `inText` (only those whose value is an array
 * when `arraysOnly`). The text is valid JSON (JSON.parse took it), so every backslash is in a
 * string; each string holding a `\u` is read whole once, and if a colon follows it, it is a key.
 */
function escapedListKeys(text: string, inText: Int32Array, arraysOnly: boolean): void {
  for (let at = text.indexOf('\\u'); at !== -1; ) {
    // The string's opening quote: the last quote before `at` with an even run of backslashes before it.
    let open = text.lastIndexOf('"', at);
    for (;;) {
      let b = open - 1;
      while (text.charCodeAt(b) === 92) b--;
      if ((open - 1 - b) % 2 === 0) break;
      open = text.lastIndexOf('"', b);
    }
    // Its closing quote: skip escapes (starting mid-escape only skips a plain character).
    let close = at;
    for (let c = text.charCodeAt(close); c !== 0x22 && close < text.length; c = text.charCodeAt(close))
      close += c === 92 ? 2 : 1;
    let j = close + 1;
    while (isBlank(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === 0x3a) {
      const name = LIST_KEYS.get(JSON.parse(text.slice(open, close + 1)) as string);
      if (name !== undefined) {
        j++;
        while (isBlank(text.charCodeAt(j))) j++;
        if (!arraysOnly || text.charCodeAt(j) === 0x5b) inText[CHECKED_NAMES.indexOf(name)]!++;
      }
    }
    at = text.indexOf('\\u', close + 1);
  }
}
