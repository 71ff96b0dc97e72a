import { ByteBuffer } from './byte-buffer.js';
import {
  bitWidth,
  writeDictionaryIds,
  writeLevels,
  writePlainBoolean,
  writePlainDouble,
  writePlainInt32,
  writePlainInt64,
  writePlainUint64,
} from './encodings.js';
import { dictionaryWins, type Leaf, NumberLeaf, type StringLeaf } from './leaves.js';
import { Physical } from './parquet-schema.js';
import { CompactWriter } from './thrift-compact.js';
import type { Compress } from './zstd.js';

/**
 * Writes one leaf's column chunk of a row group: an optional dictionary page, then data pages
 * (v1) of about PAGE_BYTES uncompressed each, cut at row boundaries; and returns what the footer
 * needs to describe it.
 */

/**
 * Target uncompressed size of a data page. zstd picks its parameters by input size, and level 1
 * on inputs over 256 KiB packs doubles and timestamps ~30 % worse (measured: 50k PLAIN doubles,
 * 279 KB as one 400 KB input, 197 KB in 160 KB pieces); below that bound, no slower.
 */
export const PAGE_BYTES = 192 * 1024;

const Encoding = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;
const PageType = { DATA_PAGE: 0, DICTIONARY_PAGE: 2 } as const;

export interface Statistics {
  readonly min: Uint8Array;
  readonly max: Uint8Array;
}

export interface ChunkMeta {
  readonly leaf: Leaf;
  readonly encodings: readonly number[];
  readonly numValues: number;
  readonly uncompressedBytes: number;
  readonly compressedBytes: number;
  readonly dataPageOffset: number;
  readonly dictionaryPageOffset?: number;
  readonly statistics?: Statistics;
}

/** Scratch for page bodies, reused across pages and files (its size settles at the largest page). */
const body = new ByteBuffer(PAGE_BYTES * 2);

/** Whether the chunk is dictionary-encoded; a dictionary that does not win becomes PLAIN here. */
function useDictionary(leaf: Leaf): leaf is StringLeaf {
  if (leaf instanceof NumberLeaf || !leaf.dictionary) return false;
  if (dictionaryWins(leaf.dict.size, leaf.dictBytes.pos, leaf.n)) return true;
  leaf.dropDictionary();
  return false;
}

/** Estimated uncompressed bytes of values [va, vb) and level entries [la, lb). */
function estimate(leaf: Leaf, dict: boolean, la: number, lb: number, va: number, vb: number): number {
  const levels = leaf.levels ? (lb - la) / 2 : 0;
  if (leaf instanceof NumberLeaf) return levels + (vb - va) * 8;
  if (dict) return levels + ((vb - va) * bitWidth(leaf.dict.size)) / 8;
  return levels + leaf.offsets[vb]! - leaf.offsets[va]!;
}

function writeValues(leaf: Leaf, dict: boolean, va: number, vb: number): void {
  if (leaf instanceof NumberLeaf) {
    if (leaf.spec.kind === 'uint64') {
      writePlainUint64(body, leaf.values, va, vb, leaf.wide);
      return;
    }
    const write =
      leaf.spec.physical === Physical.INT64
        ? writePlainInt64
        : leaf.spec.physical === Physical.INT32
          ? writePlainInt32
          : leaf.spec.physical === Physical.DOUBLE
            ? writePlainDouble
            : writePlainBoolean;
    write(body, leaf.values, va, vb);
    return;
  }
  if (dict) {
    writeDictionaryIds(body, leaf.ids, va, vb, leaf.dict.size);
    return;
  }
  body.append(leaf.plain.bytes.subarray(leaf.offsets[va]!, leaf.offsets[vb]!));
}

/** Appends a page (header, then the compressed body) to `out`; returns [uncompressed, compressed] bytes. */
function writePage(
  out: ByteBuffer,
  compress: Compress,
  header: (w: CompactWriter) => void,
  type: number,
): [number, number] {
  const raw = body.view();
  const packed = compress(raw);
  const start = out.pos;
  const w = new CompactWriter(out);
  w.begin().i32(1, type).i32(2, raw.length).i32(3, packed.length);
  header(w);
  w.end();
  const headerBytes = out.pos - start;
  out.append(packed);
  return [headerBytes + raw.length, headerBytes + packed.length];
}

/** Unsigned byte-wise comparison (the order of UTF-8 strings in Parquet statistics). */
function compareBytes(a: Uint8Array, af: number, at: number, b: Uint8Array, bf: number, bt: number): number {
  const n = Math.min(at - af, bt - bf);
  for (let i = 0; i < n; i++) {
    const d = a[af + i]! - b[bf + i]!;
    if (d !== 0) return d;
  }
  return at - af - (bt - bf);
}

/** Min and max over the dictionary's entries, or over the PLAIN values. */
function stringStatistics(leaf: StringLeaf): Statistics | undefined {
  const [b, o, count] = leaf.dictionary
    ? [leaf.dictBytes.bytes, leaf.dictOffsets, leaf.dict.size]
    : [leaf.plain.bytes, leaf.offsets, leaf.n];
  if (count === 0) return undefined;
  // Entries are length-prefixed: the string starts 4 bytes in.
  let min = 0;
  let max = 0;
  for (let i = 1; i < count; i++) {
    if (compareBytes(b, o[i]! + 4, o[i + 1]!, b, o[min]! + 4, o[min + 1]!) < 0) min = i;
    if (compareBytes(b, o[i]! + 4, o[i + 1]!, b, o[max]! + 4, o[max + 1]!) > 0) max = i;
  }
  // Copies: the dictionary lives in scratch memory (a Buffer's slice() would be a view).
  return {
    min: new Uint8Array(b.subarray(o[min]! + 4, o[min + 1]!)),
    max: new Uint8Array(b.subarray(o[max]! + 4, o[max + 1]!)),
  };
}

/** Min and max of a uint64 leaf holding values past 2^53, in unsigned order, as PLAIN INT64 bytes. */
function wideStatistics(leaf: NumberLeaf): Statistics | undefined {
  if (leaf.n === 0) return undefined;
  const v = leaf.values;
  const at = (i: number): bigint => {
    const x = v[i]!;
    return x >= 0 ? BigInt(x) : leaf.wide[-x - 1]!;
  };
  let min = at(0);
  let max = min;
  for (let i = 1; i < leaf.n; i++) {
    const x = at(i);
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const enc = (x: bigint): Uint8Array => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, x, true);
    return b;
  };
  return { min: enc(min), max: enc(max) };
}

function numberStatistics(leaf: NumberLeaf): Statistics | undefined {
  if (leaf.wide.length > 0) return wideStatistics(leaf);
  const v = leaf.values;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < leaf.n; i++) {
    const x = v[i]!;
    // NaN never compares: readers ignore NaN bounds, so they are left out.
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (min > max) return undefined;
  const enc = (x: number): Uint8Array => {
    const b = new ByteBuffer(8);
    const one = new Float64Array([x]);
    switch (leaf.spec.physical) {
      case Physical.INT64:
        writePlainInt64(b, one, 0, 1);
        break;
      case Physical.INT32:
        writePlainInt32(b, one, 0, 1);
        break;
      case Physical.DOUBLE:
        writePlainDouble(b, one, 0, 1);
        break;
      default:
        b.byte(x !== 0 ? 1 : 0);
    }
    return b.toBytes();
  };
  // The spec's rule for zeros: a min of 0 is written -0, a max of 0 is written +0.
  const isDouble = leaf.spec.physical === Physical.DOUBLE;
  return { min: enc(isDouble && min === 0 ? -0 : min), max: enc(isDouble && max === 0 ? 0 : max) };
}

/** Writes the chunk of `leaf` at the end of `out` (the file so far). */
export function writeChunk(
  out: ByteBuffer,
  leaf: Leaf,
  compress: Compress,
  withStatistics: boolean,
): ChunkMeta {
  const dict = useDictionary(leaf);
  let uncompressed = 0;
  let compressed = 0;
  let dictionaryPageOffset: number | undefined;
  if (dict) {
    dictionaryPageOffset = out.pos;
    body.reset();
    body.append(leaf.dictBytes.view());
    const size = leaf.dict.size;
    const [u, c] = writePage(
      out,
      compress,
      (w) => w.struct(7).i32(1, size).i32(2, Encoding.PLAIN).end(),
      PageType.DICTIONARY_PAGE,
    );
    uncompressed += u;
    compressed += c;
  }
  const dataPageOffset = out.pos;
  const levels = leaf.levels;
  const m = leaf.marks;
  // The end of the chunk as a last boundary.
  const ends = [levels ? levels.n : leaf.n, leaf.n];
  const marks = m.length > 0 ? [...m, ...ends] : [0, 0, ...ends];
  const count = marks.length / 2;
  const at = (i: number, k: number) => marks[i * 2 + k]!;
  let i = 0;
  while (i < count - 1) {
    let j = i + 1;
    while (
      j < count - 1 &&
      estimate(leaf, dict, at(i, 0), at(j + 1, 0), at(i, 1), at(j + 1, 1)) <= PAGE_BYTES
    )
      j++;
    const [la, va] = [at(i, 0), at(i, 1)];
    const [lb, vb] = [at(j, 0), at(j, 1)];
    body.reset();
    if (levels) {
      if (levels.maxRep > 0) writeLevels(body, levels.rep, la, lb, levels.maxRep);
      if (levels.maxDef > 0) writeLevels(body, levels.def, la, lb, levels.maxDef);
    }
    writeValues(leaf, dict, va, vb);
    const numValues = levels ? lb - la : vb - va;
    const [u, c] = writePage(
      out,
      compress,
      (w) =>
        w
          .struct(5)
          .i32(1, numValues)
          .i32(2, dict ? Encoding.RLE_DICTIONARY : Encoding.PLAIN)
          .i32(3, Encoding.RLE)
          .i32(4, Encoding.RLE)
          .end(),
      PageType.DATA_PAGE,
    );
    uncompressed += u;
    compressed += c;
    i = j;
  }
  let statistics: Statistics | undefined;
  if (withStatistics)
    statistics = leaf instanceof NumberLeaf ? numberStatistics(leaf) : stringStatistics(leaf);
  return {
    leaf,
    encodings: dict
      ? [Encoding.PLAIN, Encoding.RLE, Encoding.RLE_DICTIONARY]
      : [Encoding.PLAIN, Encoding.RLE],
    numValues: levels ? levels.n : leaf.n,
    uncompressedBytes: uncompressed,
    compressedBytes: compressed,
    dataPageOffset,
    ...(dictionaryPageOffset !== undefined && { dictionaryPageOffset }),
    ...(statistics && { statistics }),
  };
}
