import { createHash, type Hash } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync, gzipSync } from 'node:zlib';
import { zstd, zstdMissing } from '../compression/zstd.js';
import { type ColumnBatch, MapJson, NEEDS_ESCAPE, stringJson } from '../rows/batch.js';
import { isTableName, type Signal, TABLES, type TableName } from '../schema/columns.js';

/**
 * The unit on the stream: rows of one tenant and one signal, compressed, at most one Kinesis record.
 *
 * Layout (all integers big-endian):
 *   0  2 bytes  magic "OT"
 *   2  1 byte   format version (2; readers also accept 1)
 *   3  1 byte   codec of the payload (1 gzip, 2 brotli, 3 zstd)
 *   4  4 bytes  header length H
 *   8  H bytes  header, UTF-8 JSON (EnvelopeHeader)
 *   8+H         payload: the codec's compression of UTF-8 JSON `{"batches": [...]}`
 * The header is not compressed so a consumer can route or dead-letter a record without inflating it;
 * `sha256` covers the compressed payload, so corruption is caught before decompression.
 *
 * Payload of version 1: each batch is a ColumnBatch as is (every column a plain array).
 * Version 2 (written now): each column is one of (see encodeColumn)
 *   - `[v0, v1, ...]`  plain, as in version 1;
 *   - `{"d": [...distinct], "i": [index per row]}`  dictionary; without `i` every row is `d[0]`;
 *   - `{"k": [keys], "s": [[key index, ...] per shape], "r": [shape per row], "v": [column per key]}`
 *     an attribute map column transposed: one value column per key (null where a row lacks the
 *     key), each itself encoded; `r` is left out when every row has shape 0.
 * Rows repeat a lot (a resource's attributes on every span, a route on many), so this JSON is about
 * a quarter of version 1's, and the compressor, which costs time per input byte, has that much less
 * to do. Decoding gives back the same values (rows of one dictionary entry share one object).
 */

export const ENVELOPE_VERSION = 2;
const READABLE_VERSIONS: ReadonlySet<number> = new Set([1, 2]);
/** Kinesis' record limit (data + partition key); we stay a little under it. */
export const MAX_ENVELOPE_BYTES = 1024 * 1024 - 1024;

export type EnvelopeCodec = 'gzip' | 'brotli' | 'zstd';
const CODEC_IDS: Record<EnvelopeCodec, number> = { gzip: 1, brotli: 2, zstd: 3 };

/**
 * The codec packEnvelopes uses unless told: zstd level 1 (node:zlib's on Lambda, zstd-wasm on Node
 * 20), brotli only in a process without either. Measured on the version-2 payload of traces
 * (bench/ingest.ts): zstd 80.5 B/span at ~1.0 µs/span (node:zlib) or ~1.5-1.7 (wasm), brotli quality 2
 * 79.7 B at ~2.2 µs (docs/decisions/0001-envelope-and-stream.md).
 */
export const DEFAULT_CODEC: EnvelopeCodec = zstd ? 'zstd' : 'brotli';
const ZSTD_LEVEL = 1;

export interface EnvelopeHeader {
  readonly v: number;
  readonly tenant: string;
  readonly signal: Signal;
  /** Rows per table in this envelope. */
  readonly counts: Partial<Record<TableName, number>>;
  /** Hex SHA-256 of the compressed payload. */
  readonly sha256: string;
  /**
   * Content id (`<request content id>-<ordinal>`, see requestContentId): the same for a
   * byte-identical resend of the request, so the writers store each id once. Absent in envelopes
   * written before it existed: readers use positionEnvelopeId instead.
   */
  readonly id?: string;
  /**
   * Set when some rows had no time of their own and carry this receive time (nanoseconds), which a
   * resend does not share: the hot writer tells those rows apart when it looks for this envelope's
   * earlier copy (ADR 0004).
   */
  readonly receivedAtNs?: string;
  /**
   * What the request as a whole cost, on its first envelope only (ordinal 0): the hot writer
   * meters it into the usage table (functions/shared/usage), keyed by this envelope's id so a
   * resend or redelivery counts once. Absent on other envelopes and on envelopes written before it.
   */
  readonly usage?: RequestUsage;
}

/**
 * A request's usage, as the receiver saw it. No receive time: a byte-identical resend must give
 * byte-identical envelopes; the day is the record's arrival on the stream, which consumers read.
 */
export interface RequestUsage {
  /** Items stored / rejected in partial_success. */
  readonly accepted: number;
  readonly rejected: number;
  /** The body as received (compressed or not), and decompressed. */
  readonly wireBytes: number;
  readonly decodedBytes: number;
}

const USAGE_FIELDS = ['accepted', 'rejected', 'wireBytes', 'decodedBytes'] as const;

function isRequestUsage(u: unknown): u is RequestUsage {
  if (typeof u !== 'object' || u === null) return false;
  const r = u as Record<string, unknown>;
  return USAGE_FIELDS.every((f) => Number.isSafeInteger(r[f]) && (r[f] as number) >= 0);
}

export interface PackedEnvelope {
  readonly data: Uint8Array;
  readonly header: EnvelopeHeader;
  readonly rowCount: number;
}

export interface UnpackedEnvelope {
  readonly header: EnvelopeHeader;
  readonly batches: ColumnBatch[];
}

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
}

export interface PackOptions {
  /** Largest envelope in bytes. @default MAX_ENVELOPE_BYTES */
  readonly maxBytes?: number;
  /** @default DEFAULT_CODEC: zstd (brotli in a process without zstd) */
  readonly codec?: EnvelopeCodec;
}

/**
 * Brotli quality 2: on the version-2 payload, 2.7% more bytes than quality 4 for less than half
 * its CPU (79.7 vs 77.6 B/span, ~2 vs ~4.6 µs/span); quality 1 is faster again but 13% larger
 * (docs/decisions/0001-envelope-and-stream.md).
 */
const BROTLI_QUALITY = 2;

function compress(codec: EnvelopeCodec, raw: Uint8Array): Buffer {
  if (codec === 'gzip') return gzipSync(raw, { level: 6 });
  if (codec === 'zstd') {
    if (!zstd) throw new EnvelopeError(`cannot write a zstd envelope: ${zstdMissing}`);
    return zstd.compress(raw, ZSTD_LEVEL);
  }
  return brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
}

function decompress(codecId: number, payload: Uint8Array): Buffer {
  if (codecId === CODEC_IDS.gzip) return gunzipSync(payload);
  if (codecId === CODEC_IDS.brotli) return brotliDecompressSync(payload);
  if (codecId === CODEC_IDS.zstd) {
    if (!zstd) throw new EnvelopeError(`cannot read a zstd envelope: ${zstdMissing}`);
    return zstd.decompress(payload);
  }
  throw new EnvelopeError(`unknown envelope codec ${codecId}`);
}

/** The uncompressed payload of an envelope of the current version (benchmarks compare codecs on it). */
export function encodePayload(batches: readonly ColumnBatch[]): Uint8Array {
  const json = JSON.stringify({ batches: batches.map(encodeBatch) });
  // ASCII (nearly always: as many UTF-8 bytes as characters) is its own Latin-1: a plain copy,
  // half TextEncoder's CPU on a 30 KB payload. Otherwise TextEncoder: ~40% less CPU than
  // Buffer.from(s, 'utf8') on these mostly-ASCII strings (Node 22).
  return Buffer.byteLength(json, 'utf8') === json.length ? Buffer.from(json, 'latin1') : utf8.encode(json);
}

const utf8 = new TextEncoder();

/** An envelope and the uncompressed payload it was made from (rowsContentId hashes that). */
interface EncodedEnvelope extends PackedEnvelope {
  readonly raw: Uint8Array;
}

function encodeOne(
  tenant: string,
  signal: Signal,
  batches: ColumnBatch[],
  codec: EnvelopeCodec,
  id?: string,
  receivedAtNs?: string,
  usage?: RequestUsage,
): EncodedEnvelope {
  const raw = encodePayload(batches);
  const payload = compress(codec, raw);
  const counts: Partial<Record<TableName, number>> = {};
  let rowCount = 0;
  for (const b of batches) {
    counts[b.table] = (counts[b.table] ?? 0) + b.rowCount;
    rowCount += b.rowCount;
  }
  const header: EnvelopeHeader = {
    v: ENVELOPE_VERSION,
    tenant,
    signal,
    counts,
    sha256: createHash('sha256').update(payload).digest('hex'),
    ...(id !== undefined && { id }),
    ...(receivedAtNs !== undefined && { receivedAtNs }),
    ...(usage !== undefined && { usage }),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const data = Buffer.allocUnsafe(8 + headerBytes.length + payload.length);
  data.write('OT', 0, 'latin1');
  data.writeUInt8(ENVELOPE_VERSION, 2);
  data.writeUInt8(CODEC_IDS[codec], 3);
  data.writeUInt32BE(headerBytes.length, 4);
  headerBytes.copy(data, 8);
  payload.copy(data, 8 + headerBytes.length);
  return { data, header, rowCount, raw };
}

// ---- version 2 column encodings ----

type EncodedColumn = unknown[] | DictColumn | MapsColumn;
interface DictColumn {
  d: unknown[];
  i?: number[];
}
interface MapsColumn {
  k: string[];
  s: number[][];
  r?: number[];
  v: EncodedColumn[];
}
interface EncodedBatch {
  table: string;
  rowCount: number;
  columns: Record<string, EncodedColumn>;
}

/** More distinct keys than this in one map column: sparse maps, kept plain (bounds the null columns). */
const MAX_MAP_KEYS = 256;

function encodeBatch(b: ColumnBatch): EncodedBatch {
  const columns: Record<string, EncodedColumn> = {};
  for (const name in b.columns) columns[name] = encodeColumn(b.columns[name]!, b.rowCount);
  return { table: b.table, rowCount: b.rowCount, columns };
}

/**
 * A dictionary when at most half the rows are distinct (by value for strings and numbers, by
 * reference for objects: flatten shares one map per resource and scope), else attribute maps
 * transposed, else the plain array.
 */
function encodeColumn(values: readonly unknown[], n: number): EncodedColumn {
  if (n === 0) return [];
  // Nested columns (an array per row) are built fresh for every row: nothing to share.
  if (Array.isArray(values[0])) return values as unknown[];
  // Ids, timestamps and per-item maps are distinct from the first rows on: skip the dictionary.
  const limit = n >= 2 * PROBE_ROWS && allDistinct(values, PROBE_ROWS) ? 0 : Math.max(1, n >>> 1);
  const seen = new Map<unknown, number>();
  const distinct: unknown[] = [];
  // Made at the second distinct value, as zeros: every row before it is entry 0. Packed and of its
  // final size (see packedNulls): a push per row grew it several times, garbage for every column.
  let index: number[] | undefined;
  // Runs of one value (a batch's tenant, service, resource and scope; an attribute every row has
  // alike) skip the Map: a lookup costs ~40 ns on this VM, a compare with the last value ~1.
  let last: unknown = seen;
  let lastIndex = 0;
  let i = 0;
  for (; i < n; i++) {
    const v = values[i];
    if (v !== last) {
      let j = seen.get(v);
      if (j === undefined) {
        j = distinct.length;
        if (j >= limit) break;
        seen.set(v, j);
        distinct.push(v);
        if (j === 1) index = packedZeros(n);
      }
      last = v;
      lastIndex = j;
    }
    if (index !== undefined) index[i] = lastIndex;
  }
  if (i === n) return index === undefined ? { d: distinct } : { d: distinct, i: index };
  return encodeMaps(values, n) ?? (values as unknown[]);
}

/** Rows looked at before building a dictionary for a column. */
const PROBE_ROWS = 32;

/**
 * Value -> the number of the probe that last saw it. Shared by every probe and cleared only when
 * large: Set#clear reallocates the table (on every column's probes of a traces request: 0.138 µs
 * per span against 0.082 this way, Node 22).
 */
const probed = new Map<unknown, number>();
let probeNumber = 0;

function allDistinct(values: readonly unknown[], count: number): boolean {
  if (probed.size > 4096) probed.clear();
  const probe = ++probeNumber;
  for (let i = 0; i < count; i++) {
    const v = values[i];
    if (probed.get(v) === probe) return false;
    probed.set(v, probe);
  }
  return true;
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Attribute maps as one column per key, or undefined when the column is not maps or too sparse. */
function encodeMaps(values: readonly unknown[], n: number): MapsColumn | undefined {
  if (!isPlainRecord(values[0])) return undefined;
  const keyIndex = new Map<string, number>();
  const keys: string[] = [];
  const cols: unknown[][] = [];
  const shapeIndex = new Map<string, number>();
  const shapes: number[][] = [];
  const rowShape = packedZeros(n);
  // Consecutive rows mostly have the same keys in the same order (one instrumentation): compare
  // with the previous row's keys (interned property names, so a pointer compare) before hashing.
  let lastKeys: string[] = [];
  let lastShape = -1;
  let lastIndexes: number[] = [];
  for (let i = 0; i < n; i++) {
    const row = values[i];
    if (!isPlainRecord(row)) return undefined;
    // The previous row's keys again (nearly always): its values go straight into their columns,
    // without the two arrays Object.keys and Object.values would make for every row.
    if (lastShape >= 0 && valuesInShape(row, lastKeys, lastIndexes, cols, i)) {
      rowShape[i] = lastShape;
      continue;
    }
    const rowKeys = Object.keys(row);
    if (lastShape < 0 || !sameKeys(rowKeys, lastKeys)) {
      const indexes: number[] = [];
      for (let j = 0; j < rowKeys.length; j++) {
        const key = rowKeys[j]!;
        let k = keyIndex.get(key);
        if (k === undefined) {
          k = keys.length;
          if (k >= MAX_MAP_KEYS) return undefined;
          keyIndex.set(key, k);
          keys.push(key);
          cols.push(packedNulls(n));
        }
        indexes.push(k);
      }
      const signature = indexes.join(',');
      let s = shapeIndex.get(signature);
      if (s === undefined) {
        s = shapes.length;
        shapeIndex.set(signature, s);
        shapes.push(indexes);
      }
      lastKeys = rowKeys;
      lastShape = s;
      lastIndexes = indexes;
    }
    const rowValues = Object.values(row);
    for (let j = 0; j < rowValues.length; j++) cols[lastIndexes[j]!]![i] = rowValues[j];
    rowShape[i] = lastShape;
  }
  const v = cols.map((c) => encodeColumn(c, n));
  return shapes.length === 1 ? { k: keys, s: shapes, v } : { k: keys, s: shapes, r: rowShape, v };
}

/**
 * `n` nulls in a packed array. JSON.stringify walks a packed array on its fast path; one from
 * `new Array(n)` stays holey even once filled and takes the slow path, a lookup per element (a
 * transposed attribute-map column stringified ~5x slower so; Node 20). Every array the payload
 * holds is built packed for that reason. A copy of a template (one per length in a row): a slice of
 * a packed array is packed, and a memory copy instead of a push per row for every key.
 */
function packedNulls(n: number): null[] {
  if (nullsTemplate.length !== n) {
    nullsTemplate = [];
    for (let i = 0; i < n; i++) nullsTemplate.push(null);
  }
  return nullsTemplate.slice();
}
let nullsTemplate: null[] = [];

/** `n` zeros in a packed array of small integers, copied from a template as packedNulls. */
function packedZeros(n: number): number[] {
  if (zerosTemplate.length !== n) {
    zerosTemplate = [];
    for (let i = 0; i < n; i++) zerosTemplate.push(0);
  }
  return zerosTemplate.slice();
}
let zerosTemplate: number[] = [];

/**
 * Writes row `i`'s values into `cols` when `row` has exactly `keys`, in that order, and says
 * whether it had. A key read off the for-in is checked against `keys` before any value is written:
 * a row of other keys writes nothing. (for-in, as Object.keys, lists own keys in property order; a
 * row here is a plain object of Object.prototype, which has no enumerable key of its own.)
 */
function valuesInShape(
  row: Record<string, unknown>,
  keys: readonly string[],
  indexes: readonly number[],
  cols: unknown[][],
  i: number,
): boolean {
  let j = 0;
  for (const key in row) {
    if (j === keys.length || key !== keys[j]) return false;
    j++;
  }
  if (j !== keys.length) return false;
  j = 0;
  for (const key in row) cols[indexes[j++]!]![i] = row[key];
  return true;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return false;
  return true;
}

function malformed(what: string): EnvelopeError {
  return new EnvelopeError(`envelope column ${what} is malformed`);
}

function indexArray(x: unknown, n: number, bound: number, what: string): number[] {
  if (!Array.isArray(x) || x.length !== n) throw malformed(what);
  for (const j of x) if (!Number.isInteger(j) || j < 0 || j >= bound) throw malformed(what);
  return x as number[];
}

function decodeColumn(enc: unknown, n: number, what: string, mapsAsJson = false): unknown[] {
  if (Array.isArray(enc)) {
    if (enc.length !== n) throw malformed(what);
    return enc;
  }
  if (!isPlainRecord(enc)) throw malformed(what);
  if (Array.isArray(enc.d)) {
    const d = enc.d;
    if (enc.i === undefined) {
      if (d.length !== 1) throw malformed(what);
      return new Array<unknown>(n).fill(d[0]);
    }
    const index = indexArray(enc.i, n, d.length, what);
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = d[index[i]!];
    return out;
  }
  const { k: keys, s: shapes, v } = enc;
  if (!Array.isArray(keys) || !Array.isArray(shapes) || !Array.isArray(v) || v.length !== keys.length)
    throw malformed(what);
  for (const key of keys) if (typeof key !== 'string') throw malformed(what);
  for (const shape of shapes) indexArray(shape, (shape as unknown[])?.length ?? -1, keys.length, what);
  const rowShape = enc.r === undefined ? undefined : indexArray(enc.r, n, shapes.length, what);
  if (rowShape === undefined && shapes.length !== 1 && n > 0) throw malformed(what);
  const cols = v.map((c, j) => decodeColumn(c, n, `${what}[${keys[j] as string}]`));
  const objectAt = (i: number): Record<string, unknown> => {
    const shape = shapes[rowShape === undefined ? 0 : rowShape[i]!] as number[];
    const row: Record<string, unknown> = {};
    for (const k of shape) {
      const key = keys[k] as string;
      const value = cols[k]![i];
      // A plain assignment of '__proto__' would set the prototype instead of an own key.
      if (key === '__proto__')
        Object.defineProperty(row, key, { value, enumerable: true, writable: true, configurable: true });
      else row[key] = value;
    }
    return row;
  };
  if (mapsAsJson) {
    const map = { keys: keys as string[], shapes: shapes as number[][], rowShape, encoded: v, cols };
    const json = mapJsonColumn(map, n, objectAt);
    if (json) return json;
  }
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = objectAt(i);
  return out;
}

/** A transposed map column, its structure checked: keys, shapes, shape per row, value columns. */
interface TransposedMaps {
  readonly keys: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly rowShape: readonly number[] | undefined;
  /** Each key's value column as encoded (a dictionary's distinct values are escaped once). */
  readonly encoded: readonly unknown[];
  /** Each key's value column decoded. */
  readonly cols: readonly unknown[][];
}

/** A key an object orders before the others (an array index): JSON.stringify would move it first. */
const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;
const MAX_ARRAY_INDEX = 2 ** 32 - 2;

/** Where a key's text stands in a map's (mapJsonColumn): its index into the key texts. */
const FIRST = 0;
const NEXT = 1;
const AFTER_OPEN = 2;

/**
 * Each row's map as MapJson: the text JSON.stringify gives the object decodeColumn would build,
 * made from the value columns without the objects (each key escaped once, a dictionary's values
 * once). A row keeps its object (`objectAt`) where the text could differ: a key that is an array
 * index (an object orders those first), a shape naming a key twice. Undefined, for the object path,
 * when a key is listed twice or a row's value is not a string (the writer refuses such rows by the
 * column model, as it does their objects).
 */
function mapJsonColumn(
  map: TransposedMaps,
  n: number,
  objectAt: (i: number) => Record<string, unknown>,
): (MapJson | Record<string, unknown>)[] | undefined {
  const { keys, shapes, rowShape, encoded, cols } = map;
  if (new Set(keys).size !== keys.length) return undefined;
  // Each key's text, made once (not per row) for where it stands: [FIRST] opening the map, [NEXT]
  // after a value, [AFTER_OPEN] after a plain value whose closing quote it carries (a concatenation
  // less per value); `keyQuote` with the opening quote of a plain value that follows.
  const keyJson = keys.map((k) => `${stringJson(k)}:`);
  const keyText = [keyJson, keyJson.map((k) => `,${k}`), keyJson.map((k) => `",${k}`)];
  const keyQuote = keyText.map((texts) => texts.map((k) => `${k}"`));
  const plainColumn = encoded.map((e) => !(isPlainRecord(e) && Array.isArray(e.d)));
  const inOrder = shapes.map(
    (shape) =>
      new Set(shape).size === shape.length &&
      shape.every((k) => !(ARRAY_INDEX.test(keys[k]!) && Number(keys[k]) <= MAX_ARRAY_INDEX)),
  );
  // Per key, the text of each row's value (made on first use: a key no shape holds costs nothing).
  const valueJson: ((string | undefined)[] | undefined)[] = new Array(keys.length).fill(undefined);
  const out = new Array<MapJson | Record<string, unknown>>(n);
  for (let i = 0; i < n; i++) {
    const s = rowShape === undefined ? 0 : rowShape[i]!;
    const shape = shapes[s]!;
    if (!inOrder[s]) {
      out[i] = objectAt(i);
      continue;
    }
    let json = '{';
    let at = FIRST;
    for (let j = 0; j < shape.length; j++) {
      const k = shape[j]!;
      if (plainColumn[k]) {
        // A plain column's string, quoted here: no text per value made apart.
        const x = cols[k]![i];
        if (typeof x !== 'string') return undefined;
        if (NEEDS_ESCAPE.test(x)) {
          json += keyText[at]![k]!;
          json += JSON.stringify(x);
          at = NEXT;
        } else {
          json += keyQuote[at]![k]!;
          json += x;
          at = AFTER_OPEN;
        }
        continue;
      }
      let texts = valueJson[k];
      if (texts === undefined) {
        texts = valueTexts(encoded[k] as { d: unknown[]; i?: number[] }, n); // not plain: a dictionary
        valueJson[k] = texts;
      }
      const text = texts[i];
      if (text === undefined) return undefined;
      json += keyText[at]![k]!;
      json += text;
      at = NEXT;
    }
    json += at === AFTER_OPEN ? '"}' : '}';
    // MapJson flattens it: held until the insert is encoded, a chain of ~20 pieces per row would
    // be promoted and walked by the GC and by every row text that repeats it.
    out[i] = new MapJson(json);
  }
  return out;
}

/**
 * JSON text of each row's value in a dictionary-encoded key column (each distinct value escaped
 * once), undefined where it is not a string (a row without the key has null there; a row with it
 * and no string makes the caller give up).
 */
function valueTexts(encoded: { d: unknown[]; i?: number[] }, n: number): (string | undefined)[] {
  const out = new Array<string | undefined>(n);
  const texts = encoded.d.map((x) => (typeof x === 'string' ? stringJson(x) : undefined));
  if (encoded.i === undefined) return out.fill(texts[0]);
  const index = encoded.i; // checked by decodeColumn
  for (let i = 0; i < n; i++) out[i] = texts[index[i]!];
  return out;
}

function sliceBatch(b: ColumnBatch, from: number, to: number): ColumnBatch {
  const columns: Record<string, unknown[]> = {};
  for (const [name, values] of Object.entries(b.columns)) columns[name] = values.slice(from, to);
  return { table: b.table, rowCount: to - from, columns };
}

/** Splits rows in two halves (by row count across batches). */
function halve(batches: ColumnBatch[]): [ColumnBatch[], ColumnBatch[]] {
  const total = batches.reduce((n, b) => n + b.rowCount, 0);
  let left = Math.ceil(total / 2);
  const a: ColumnBatch[] = [];
  const z: ColumnBatch[] = [];
  for (const b of batches) {
    if (left >= b.rowCount) {
      a.push(b);
      left -= b.rowCount;
    } else if (left > 0) {
      a.push(sliceBatch(b, 0, left));
      z.push(sliceBatch(b, left, b.rowCount));
      left = 0;
    } else {
      z.push(b);
    }
  }
  return [a, z];
}

/** How packEnvelopes names its envelopes (see requestContentId). */
export interface EnvelopeIdentity {
  /** The request's content id. */
  readonly request: string;
  /** Ordinal of the first envelope of this call (a request is packed per service, in order). */
  readonly firstOrdinal: number;
  /** The receive time that filled absent item times (flatten's `receivedAtNs`). */
  readonly receivedAtNs: string;
  /**
   * False when no row carries the receive time (flatten's `timesFilled` is 0, as for nearly every
   * request): packing then skips looking for it in every time column. @default true
   */
  readonly timesFilled?: boolean;
  /** The request's usage: put on the envelope of ordinal 0. */
  readonly usage?: RequestUsage;
  /**
   * Given (rowsContent), the uncompressed payload of each envelope is fed to it as the envelope is
   * kept, in ordinal order, with the receive time's stand-in where rows carry it (see
   * rowsContentId); `request` is then a placeholder of the id's length, replaced by nameEnvelopes.
   */
  readonly content?: Hash;
}

/**
 * A request's content id: sha256 of what identifies it as sent (tenant, signal, wire format,
 * content encoding and the body as received, compressed or not), truncated to 128 bits, hex.
 * A byte-identical resend (the client's response was lost) gets the same id, so do its envelopes.
 */
export function requestContentId(
  tenant: string,
  signal: Signal,
  contentType: string,
  contentEncoding: string,
  body: Uint8Array,
): string {
  return createHash('sha256')
    .update(`${tenant}\u0000${signal}\u0000${contentType}\u0000${contentEncoding}\u0000`)
    .update(body)
    .digest('hex')
    .slice(0, 32);
}

/** The length of a request content id (hex): what packEnvelopes is given before rowsContentId is known. */
export const REQUEST_ID_PLACEHOLDER = '0'.repeat(32);

/**
 * The hash a request's rows content id is made in (EnvelopeIdentity.content): what identifies the
 * request as sent (as requestContentId) and what it cost (usage: its sizes and rejected items), then
 * packEnvelopes feeds it every envelope's uncompressed payload. For an uncompressed body that is
 * several times less to hash than the body (OTLP/JSON ~1,100 bytes a span, protobuf ~520, the
 * payload ~230), and it keeps what content ids promise: the payload is a deterministic function of
 * the body (the receive time, which a resend does not share, hashed as its stand-in), so a
 * byte-identical resend gets the same id; a request storing other rows, or of another size or
 * rejection count, gets another. Two bodies that differ only in what is not stored (JSON spacing or
 * key order, a value redaction masks) and are of one size are one content: the second is a resend.
 * The leading NUL keeps these inputs apart from requestContentId's.
 */
export function rowsContent(
  tenant: string,
  signal: Signal,
  contentType: string,
  contentEncoding: string,
  usage: RequestUsage,
): Hash {
  return createHash('sha256').update(
    `\u0000rows\u0000${tenant}\u0000${signal}\u0000${contentType}\u0000${contentEncoding}\u0000${usage.accepted}\u0000${usage.rejected}\u0000${usage.wireBytes}\u0000${usage.decodedBytes}\u0000`,
  );
}

/** The content id of a rowsContent hash once every envelope of the request is packed. */
export function rowsContentId(content: Hash): string {
  return content.digest('hex').slice(0, 32);
}

/**
 * Envelopes packed under REQUEST_ID_PLACEHOLDER renamed `<request>-<ordinal>`: the placeholder's
 * bytes in the header are overwritten in place (the id is as long, so nothing else moves; the
 * header is not serialized again). `"id":"` can only be the key in the header JSON: a quote inside
 * a string value is escaped.
 */
export function nameEnvelopes(envelopes: readonly PackedEnvelope[], request: string): PackedEnvelope[] {
  if (!/^[0-9a-f]{32}$/.test(request)) throw new EnvelopeError('a request id is 32 hex digits');
  return envelopes.map((e) => {
    const id = e.header.id;
    const data = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    const at = id?.startsWith(`${REQUEST_ID_PLACEHOLDER}-`) ? data.indexOf(PLACEHOLDER_KEY, 8, 'latin1') : -1;
    if (at < 0 || at + PLACEHOLDER_KEY.length > 8 + data.readUInt32BE(4))
      throw new EnvelopeError('only an envelope packed under the placeholder id can be named');
    data.write(request, at + 6, 'latin1');
    return {
      data: e.data,
      header: { ...e.header, id: request + id!.slice(request.length) },
      rowCount: e.rowCount,
    };
  });
}
const PLACEHOLDER_KEY = `"id":"${REQUEST_ID_PLACEHOLDER}-`;

/** The id of an envelope without one in its header (written before ids existed): its stream position. */
export function positionEnvelopeId(shardId: string, sequenceNumber: string): string {
  return `pos:${shardId}:${sequenceNumber}`;
}

/**
 * Room kept under `maxBytes` (at most a sixteenth of it) when a split is decided on the stand-in
 * encoding (below): the real envelope differs from it only in the digits of one time value.
 */
const SIZING_SLACK_BYTES = 4096;

/**
 * Rows whose time is the receive time get a stand-in of the same length, for sizing only: a
 * resend is received at another time, and its split must not differ (the ordinals would name
 * other rows). Returns undefined when no row of the batches carries the receive time.
 */
function sizingBatches(batches: readonly ColumnBatch[], receivedAtNs: string): ColumnBatch[] | undefined {
  let any = false;
  const standIn = '0'.repeat(receivedAtNs.length); // the same length: the JSON is as long
  const out = batches.map((b) => {
    const name = TABLES[b.table].timeColumn;
    const times = b.columns[name];
    if (!times?.includes(receivedAtNs)) return b;
    any = true;
    return { ...b, columns: { ...b.columns, [name]: times.map((t) => (t === receivedAtNs ? standIn : t)) } };
  });
  return any ? out : undefined;
}

function hasFilledTime(batches: readonly ColumnBatch[], receivedAtNs: string): boolean {
  return batches.some((b) => b.columns[TABLES[b.table].timeColumn]?.includes(receivedAtNs));
}

/**
 * Packs rows into as few envelopes as fit `maxBytes` each: encode, and halve what does not fit.
 * Empty batches are dropped; no rows means no envelopes. With `identity`, envelope k of this call
 * gets the id `<request>-<firstOrdinal + k>`; the split depends only on the rows, never on the
 * receive time (rows carrying it are sized with a stand-in), so identical requests split alike.
 */
export function packEnvelopes(
  tenant: string,
  signal: Signal,
  batches: readonly ColumnBatch[],
  options: PackOptions = {},
  identity?: EnvelopeIdentity,
): PackedEnvelope[] {
  const maxBytes = options.maxBytes ?? MAX_ENVELOPE_BYTES;
  const codec = options.codec ?? DEFAULT_CODEC;
  const out: PackedEnvelope[] = [];
  const real = batches.filter((b) => b.rowCount > 0);
  const sizing =
    identity && identity.timesFilled !== false ? sizingBatches(real, identity.receivedAtNs) : undefined;
  const standIn = identity && '0'.repeat(identity.receivedAtNs.length);
  const sizingLimit = maxBytes - Math.min(SIZING_SLACK_BYTES, maxBytes >> 4);
  const keep = (env: EncodedEnvelope, contentRaw: Uint8Array) => {
    out.push({ data: env.data, header: env.header, rowCount: env.rowCount });
    if (identity?.content) {
      // Length-prefixed: where one payload ends is part of the content.
      lengthPrefix.writeUInt32BE(contentRaw.length, 0);
      identity.content.update(lengthPrefix).update(contentRaw);
    }
  };
  // Real and stand-in groups are halved alike, so they stay parallel.
  const pending: [ColumnBatch[], ColumnBatch[] | undefined][] = [[real, sizing]];
  while (pending.length > 0) {
    const [group, sizingGroup] = pending.pop()!;
    if (group.length === 0) continue;
    const ordinal = identity && identity.firstOrdinal + out.length;
    const id = identity && `${identity.request}-${ordinal}`;
    const filled = sizingGroup !== undefined && hasFilledTime(group, identity!.receivedAtNs);
    const usage = ordinal === 0 ? identity?.usage : undefined;
    const env = encodeOne(
      tenant,
      signal,
      group,
      codec,
      id,
      filled ? identity!.receivedAtNs : undefined,
      usage,
    );
    const sized = filled ? encodeOne(tenant, signal, sizingGroup, codec, id, standIn) : env;
    const fits = filled
      ? sized.data.length <= sizingLimit && env.data.length <= maxBytes
      : env.data.length <= maxBytes;
    if (fits || (env.rowCount <= 1 && env.data.length <= maxBytes)) {
      keep(env, sized.raw);
      continue;
    }
    if (env.rowCount <= 1) {
      throw new EnvelopeError(
        `one row encodes to ${env.data.length} bytes, over the ${maxBytes}-byte envelope limit`,
      );
    }
    const [a, z] = halve(group);
    const [sa, sz] = sizingGroup ? halve(sizingGroup) : [undefined, undefined];
    pending.push([z, sz], [a, sa]);
  }
  return out;
}

/**
 * The envelope of a request none of whose items could be stored (all rejected): no batches, only
 * the request's usage, under the id its first envelope would have had (`<request>-0`), so the
 * writers meter it once like any first envelope, whatever the resends and redeliveries.
 */
export function packUsageEnvelope(
  tenant: string,
  signal: Signal,
  request: string,
  usage: RequestUsage,
  options: PackOptions = {},
): PackedEnvelope {
  return encodeOne(tenant, signal, [], options.codec ?? DEFAULT_CODEC, `${request}-0`, undefined, usage);
}

const lengthPrefix = Buffer.alloc(4);

/** Reads an envelope's header without touching its payload. */
export function readEnvelopeHeader(data: Uint8Array): EnvelopeHeader {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 8 || buf.toString('latin1', 0, 2) !== 'OT')
    throw new EnvelopeError('not an envelope (bad magic)');
  const version = buf.readUInt8(2);
  if (!READABLE_VERSIONS.has(version)) throw new EnvelopeError(`unsupported envelope version ${version}`);
  const headerLength = buf.readUInt32BE(4);
  if (8 + headerLength > buf.length) throw new EnvelopeError('truncated envelope header');
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + headerLength));
  } catch (cause) {
    throw new EnvelopeError('envelope header is not JSON', { cause });
  }
  const h = header as Partial<EnvelopeHeader> | null;
  if (
    !h ||
    typeof h.tenant !== 'string' ||
    (h.signal !== 'traces' && h.signal !== 'logs' && h.signal !== 'metrics') ||
    typeof h.sha256 !== 'string' ||
    typeof h.counts !== 'object' ||
    (h.id !== undefined && typeof h.id !== 'string') ||
    (h.receivedAtNs !== undefined &&
      (typeof h.receivedAtNs !== 'string' || !/^\d{1,20}$/.test(h.receivedAtNs))) ||
    (h.usage !== undefined && !isRequestUsage(h.usage))
  ) {
    throw new EnvelopeError('envelope header lacks tenant, signal, counts or sha256');
  }
  return h as EnvelopeHeader;
}

export interface UnpackOptions {
  /**
   * Attribute maps of transposed map columns as MapJson (their JSON text), not objects: what the
   * hot writer's insert needs, at less CPU (docs/decisions/0004). @default false
   */
  readonly mapsAsJson?: boolean;
}

/** Verifies and inflates an envelope; throws EnvelopeError for anything not written by packEnvelopes. */
export function unpackEnvelope(data: Uint8Array, options: UnpackOptions = {}): UnpackedEnvelope {
  const header = readEnvelopeHeader(data);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const payload = buf.subarray(8 + buf.readUInt32BE(4));
  if (createHash('sha256').update(payload).digest('hex') !== header.sha256) {
    throw new EnvelopeError('envelope payload does not match its sha256');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decompress(buf.readUInt8(3), payload).toString('utf8'));
  } catch (cause) {
    if (cause instanceof EnvelopeError) throw cause;
    throw new EnvelopeError('envelope payload does not inflate to JSON', { cause });
  }
  const batches = (parsed as { batches?: unknown } | null)?.batches;
  if (!Array.isArray(batches)) throw new EnvelopeError('envelope payload has no batches');
  const version = buf.readUInt8(2);
  const out: ColumnBatch[] = [];
  try {
    for (const b of batches as unknown[]) out.push(decodeBatch(b, version, options.mapsAsJson === true));
  } catch (cause) {
    // Deeply nested garbage can overflow the stack: still the envelope's fault.
    if (cause instanceof EnvelopeError) throw cause;
    throw new EnvelopeError('envelope payload is malformed', { cause });
  }
  return { header, batches: out };
}

function decodeBatch(b: unknown, version: number, mapsAsJson: boolean): ColumnBatch {
  if (
    !isPlainRecord(b) ||
    typeof b.table !== 'string' ||
    !isTableName(b.table) ||
    !Number.isInteger(b.rowCount) ||
    (b.rowCount as number) < 0 ||
    !isPlainRecord(b.columns)
  ) {
    throw new EnvelopeError('envelope batch is malformed');
  }
  const n = b.rowCount as number;
  const columns: Record<string, unknown[]> = {};
  for (const [name, enc] of Object.entries(b.columns)) {
    if (version === 1 && !Array.isArray(enc)) throw malformed(`${b.table}.${name}`);
    columns[name] = decodeColumn(enc, n, `${b.table}.${name}`, mapsAsJson);
  }
  return { table: b.table, rowCount: n, columns };
}
