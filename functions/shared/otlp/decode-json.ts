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
  startWalk(w);
  const decoded = walkRequest(signal, o, w);
  checkLists(text, w);
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
