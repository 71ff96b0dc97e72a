import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';

/**
 * zstd for envelopes and Parquet pages, from one of two places:
 * - node:zlib, from Node.js 22.15: Lambda's nodejs22.x. The only one a Lambda bundle carries.
 * - `@bokuweb/zstd-wasm` (the zstd C library as WebAssembly, ~250 KB, no install scripts) on older
 *   Node: local mode and CI on Node 20. Loaded only there; Lambda bundles leave it out
 *   (lib/lambda-bundling.ts).
 * Both write standard frames with the content size, so either reads what the other wrote. On a
 * 30 KB envelope payload the WebAssembly build costs ~1.7× node:zlib's CPU and still beats brotli
 * quality 2 on Node 20 (bench/ingest.ts; docs/decisions/0001-envelope-and-stream.md).
 */
export interface Zstd {
  readonly backend: 'node:zlib' | '@bokuweb/zstd-wasm';
  compress(data: Uint8Array, level: number): Buffer;
  /** A compressing stream (one frame), on node:zlib only: the WebAssembly build has none. */
  readonly compressStream?: (level: number) => Transform;
  decompress(data: Uint8Array): Buffer;
  /**
   * Decompresses at most `maxBytes`, for input from outside (request bodies): throws
   * ZstdTooLargeError past that, without holding more than about `maxBytes` in memory.
   */
  decompressBounded(data: Uint8Array, maxBytes: number): Buffer;
}

/** The output would be over the bound given to `decompressBounded`. */
export class ZstdTooLargeError extends Error {
  override readonly name = 'ZstdTooLargeError';
}

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** A zstd frame header (RFC 8878 §3.1.1.1): where the blocks start, and what it states. */
interface FrameHeader {
  readonly blocksAt: number;
  /** The decompressed size, when the frame states it (streaming encoders do not). */
  readonly contentSize: number | undefined;
  readonly checksum: boolean;
}

function frameHeader(view: DataView, at: number): FrameHeader | undefined {
  const n = view.byteLength;
  if (at + 5 > n || view.getUint32(at, true) !== ZSTD_MAGIC) return undefined;
  const descriptor = view.getUint8(at + 4);
  const singleSegment = (descriptor & 0x20) !== 0;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >>> 6]!;
  const fcsAt = at + 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]!;
  const blocksAt = fcsAt + fcsBytes;
  if (blocksAt > n) return undefined;
  let contentSize: number | undefined;
  if (fcsBytes === 1) contentSize = view.getUint8(fcsAt);
  else if (fcsBytes === 2) contentSize = view.getUint16(fcsAt, true) + 256;
  else if (fcsBytes === 4) contentSize = view.getUint32(fcsAt, true);
  else if (fcsBytes === 8)
    contentSize = view.getUint32(fcsAt + 4, true) * 2 ** 32 + view.getUint32(fcsAt, true);
  return { blocksAt, contentSize, checksum: (descriptor & 0x04) !== 0 };
}

const viewOf = (data: Uint8Array) => new DataView(data.buffer, data.byteOffset, data.byteLength);

/** One zstd frame of a body, and the size its header states. */
export interface ZstdFrame {
  readonly bytes: Uint8Array;
  readonly contentSize: number | undefined;
}

/**
 * The zstd frames of `data` (skippable frames left out), or undefined unless `data` is whole frames
 * end to end (RFC 8878 §3.1: frame headers, block headers and block sizes, checksums, skippable
 * frames); nothing is decompressed. node:zlib's zstdDecompressSync gives back empty output for a
 * truncated frame instead of failing (Node 22.23), which would turn a cut-off request into an
 * empty, acknowledged one.
 */
export function zstdFrames(data: Uint8Array): ZstdFrame[] | undefined {
  const view = viewOf(data);
  const n = data.byteLength;
  const frames: ZstdFrame[] = [];
  let pos = 0;
  if (n === 0) return undefined;
  while (pos < n) {
    if (pos + 4 > n) return undefined;
    const start = pos;
    if ((view.getUint32(pos, true) & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (pos + 8 > n) return undefined;
      pos += 8 + view.getUint32(pos + 4, true);
      continue;
    }
    const header = frameHeader(view, pos);
    if (header === undefined) return undefined;
    pos = header.blocksAt;
    for (;;) {
      if (pos + 3 > n) return undefined;
      const block = data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16);
      const type = (block >>> 1) & 3;
      if (type === 3) return undefined; // reserved
      pos += 3 + (type === 1 ? 1 : block >>> 3); // an RLE block carries one byte, repeated
      if (pos > n) return undefined;
      if ((block & 1) !== 0) break; // the last block
    }
    if (header.checksum) pos += 4;
    if (pos > n) return undefined;
    frames.push({ bytes: data.subarray(start, pos), contentSize: header.contentSize });
  }
  return pos === n ? frames : undefined;
}

/**
 * Frames one body may hold. Encoders write one frame per request; each frame costs a decoder set-up
 * (~19 µs on node:zlib), so a 4 MiB body of 10-byte frames would otherwise buy ~8 s of CPU.
 */
export const MAX_ZSTD_FRAMES = 256;

/**
 * `decompressBounded` from a one-frame decoder that keeps to `left` bytes: frame by frame, since
 * node:zlib's zstdDecompressSync reads only the first frame of its input and silently drops the
 * rest (Node 22.23), as does the WebAssembly build's buffer sizing.
 */
function framewise(
  decodeFrame: (frame: ZstdFrame, left: number) => Uint8Array,
): (data: Uint8Array, maxBytes: number) => Buffer {
  return (data, maxBytes) => {
    const frames = zstdFrames(data);
    if (frames === undefined) throw new Error('zstd data is truncated or not zstd frames');
    if (frames.length > MAX_ZSTD_FRAMES) throw new Error(`more than ${MAX_ZSTD_FRAMES} zstd frames`);
    const tooLarge = () => new ZstdTooLargeError(`zstd output is over ${maxBytes} bytes`);
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const frame of frames) {
      const left = maxBytes - total;
      if (frame.contentSize !== undefined && frame.contentSize > left) throw tooLarge();
      let out: Uint8Array;
      try {
        out = decodeFrame(frame, left);
      } catch (err) {
        if (err instanceof ZstdTooLargeError) throw tooLarge();
        throw err;
      }
      total += out.byteLength;
      if (total > maxBytes) throw tooLarge();
      parts.push(out);
    }
    if (parts.length === 1) {
      const only = parts[0]!;
      return Buffer.isBuffer(only) ? only : Buffer.from(only.buffer, only.byteOffset, only.byteLength);
    }
    return Buffer.concat(parts);
  };
}

/** Whether a node:zlib error says the output went over `maxOutputLength`. */
export function isZlibOutputTooLarge(err: unknown): boolean {
  return err instanceof RangeError || (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE';
}

/** zlib's smallest useful output chunk for a bounded decompression. */
const MIN_CHUNK = 64 * 1024;

// @types/node 20 lacks zstd: the shape of what node:zlib has from 22.15.
interface ZlibWithZstd {
  zstdCompressSync(
    data: Uint8Array,
    options: { params: Record<number, number>; pledgedSrcSize?: number },
  ): Buffer;
  zstdDecompressSync(data: Uint8Array, options?: { maxOutputLength?: number; chunkSize?: number }): Buffer;
  createZstdCompress(options: { params: Record<number, number> }): Transform;
  constants: { ZSTD_c_compressionLevel: number };
}

function native(): Zstd | undefined {
  const z = zlib as unknown as Partial<ZlibWithZstd>;
  if (typeof z.zstdCompressSync !== 'function' || typeof z.zstdDecompressSync !== 'function')
    return undefined;
  const { zstdCompressSync, zstdDecompressSync, createZstdCompress } = z as ZlibWithZstd;
  const levelParam = (zlib.constants as unknown as ZlibWithZstd['constants']).ZSTD_c_compressionLevel;
  return {
    backend: 'node:zlib',
    compress: (data, level) =>
      zstdCompressSync(data, { params: { [levelParam]: level }, pledgedSrcSize: data.byteLength }),
    compressStream: (level) => createZstdCompress({ params: { [levelParam]: level } }),
    decompress: (data) => zstdDecompressSync(data),
    decompressBounded: framewise((frame, left) => {
      // One output chunk of the stated size (+1: a full chunk makes zlib ask for another), so the
      // result is not a concatenation of small chunks; the bound holds whatever the header says.
      const chunkSize = Math.max(MIN_CHUNK, Math.min(left, frame.contentSize ?? 0) + 1);
      try {
        return zstdDecompressSync(frame.bytes, { maxOutputLength: Math.max(1, left), chunkSize });
      } catch (err) {
        if (isZlibOutputTooLarge(err))
          throw new ZstdTooLargeError('zstd output is over the bound', { cause: err });
        throw err;
      }
    }),
  };
}

/** ZSTD_error_dstSize_tooSmall (70), as the package reports it: "… with code -70". */
const DST_SIZE_TOO_SMALL = /code -70$/;

const asBuffer = (a: Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function wasm(): Promise<Zstd | string> {
  try {
    const z = await import('@bokuweb/zstd-wasm');
    await z.init();
    return {
      backend: '@bokuweb/zstd-wasm',
      compress: (data, level) => asBuffer(z.compress(data, level)),
      decompress: (data) => asBuffer(z.decompress(data)),
      // The package decompresses into a buffer of the frame's stated size, or of `defaultHeapSize`
      // when it states none; more output than that fails with dstSize_tooSmall.
      decompressBounded: framewise((frame, left) => {
        try {
          return z.decompress(frame.bytes, { defaultHeapSize: left });
        } catch (err) {
          if (DST_SIZE_TOO_SMALL.test(String((err as Error).message)))
            throw new ZstdTooLargeError('zstd output is over the bound', { cause: err });
          throw err;
        }
      }),
    };
  } catch (cause) {
    return `zstd needs Node.js 22.15 or later, or the @bokuweb/zstd-wasm package (this is ${process.version}: ${(cause as Error).message})`;
  }
}

const loaded: Zstd | string = native() ?? (await wasm());

/** This process's zstd, or undefined when it has none (then `zstdMissing` says why). */
export const zstd: Zstd | undefined = typeof loaded === 'string' ? undefined : loaded;

/** Why `zstd` is undefined, for the error of whatever needed it. */
export const zstdMissing: string | undefined = typeof loaded === 'string' ? loaded : undefined;
