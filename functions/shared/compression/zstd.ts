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

/**
 * The decompressed size a zstd frame header states (RFC 8878 §3.1.1.1), or undefined when the
 * frame does not state it (streaming encoders) or `data` does not start with a frame header.
 */
export function zstdFrameContentSize(data: Uint8Array): number | undefined {
  if (data.byteLength < 5) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) return undefined;
  const descriptor = data[4]!;
  const fcsFlag = descriptor >>> 6;
  const singleSegment = (descriptor & 0x20) !== 0;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]!;
  if (at + fcsBytes > data.byteLength) return undefined;
  switch (fcsBytes) {
    case 1:
      return data[at]!;
    case 2:
      return view.getUint16(at, true) + 256;
    case 4:
      return view.getUint32(at, true);
    default:
      return view.getUint32(at + 4, true) * 2 ** 32 + view.getUint32(at, true);
  }
}

const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/**
 * The zstd frames of `data` (skippable frames left out), or undefined unless `data` is whole frames
 * end to end (RFC 8878 §3.1: frame headers, block headers and block sizes, checksums, skippable
 * frames); nothing is decompressed. node:zlib's zstdDecompressSync gives back empty output for a
 * truncated frame instead of failing (Node 22.23), which would turn a cut-off request into an
 * empty, acknowledged one.
 */
export function zstdFrames(data: Uint8Array): Uint8Array[] | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = data.byteLength;
  const frames: Uint8Array[] = [];
  let pos = 0;
  if (n === 0) return undefined;
  while (pos < n) {
    if (pos + 4 > n) return undefined;
    const start = pos;
    const magic = view.getUint32(pos, true);
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (pos + 8 > n) return undefined;
      pos += 8 + view.getUint32(pos + 4, true);
      continue;
    }
    if (magic !== ZSTD_MAGIC || pos + 5 > n) return undefined;
    const descriptor = data[pos + 4]!;
    const singleSegment = (descriptor & 0x20) !== 0;
    const checksum = (descriptor & 0x04) !== 0;
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >>> 6]!;
    pos += 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]! + fcsBytes;
    for (;;) {
      if (pos + 3 > n) return undefined;
      const header = data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16);
      const last = (header & 1) !== 0;
      const type = (header >>> 1) & 3;
      const size = header >>> 3;
      if (type === 3) return undefined; // reserved
      pos += 3 + (type === 1 ? 1 : size); // an RLE block carries one byte, repeated `size` times
      if (pos > n) return undefined;
      if (last) break;
    }
    if (checksum) pos += 4;
    if (pos > n) return undefined;
    frames.push(data.subarray(start, pos));
  }
  return pos === n ? frames : undefined;
}

/**
 * `decompressBounded` from a one-frame decoder that keeps to `left` bytes: frame by frame, since
 * node:zlib's zstdDecompressSync reads only the first frame of its input and silently drops the
 * rest (Node 22.23), as does the WebAssembly build's buffer sizing.
 */
/**
 * Frames one body may hold. Encoders write one frame per request; each frame costs a decoder set-up
 * (~19 µs on node:zlib), so a 4 MiB body of 10-byte frames would otherwise buy ~8 s of CPU.
 */
export const MAX_ZSTD_FRAMES = 256;

function framewise(
  decodeFrame: (frame: Uint8Array, left: number) => Uint8Array,
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
      const stated = zstdFrameContentSize(frame);
      if (stated !== undefined && stated > left) throw tooLarge();
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

/** zlib's smallest useful output chunk for a bounded decompression. */
const MIN_CHUNK = 64 * 1024;

// @types/node 20 lacks zstd: the shape of what node:zlib has from 22.15.
interface ZlibWithZstd {
  zstdCompressSync(
    data: Uint8Array,
    options: { params: Record<number, number>; pledgedSrcSize?: number },
  ): Buffer;
  zstdDecompressSync(data: Uint8Array, options?: { maxOutputLength?: number; chunkSize?: number }): Buffer;
  constants: { ZSTD_c_compressionLevel: number };
}

function native(): Zstd | undefined {
  const z = zlib as unknown as Partial<ZlibWithZstd>;
  if (typeof z.zstdCompressSync !== 'function' || typeof z.zstdDecompressSync !== 'function')
    return undefined;
  const { zstdCompressSync, zstdDecompressSync } = z as ZlibWithZstd;
  const levelParam = (zlib.constants as unknown as ZlibWithZstd['constants']).ZSTD_c_compressionLevel;
  return {
    backend: 'node:zlib',
    compress: (data, level) =>
      zstdCompressSync(data, { params: { [levelParam]: level }, pledgedSrcSize: data.byteLength }),
    decompress: (data) => zstdDecompressSync(data),
    decompressBounded: framewise((frame, left) => {
      // One output chunk of the stated size (+1: a full chunk makes zlib ask for another), so the
      // result is not a concatenation of small chunks; the bound holds whatever the header says.
      const stated = zstdFrameContentSize(frame) ?? 0;
      const chunkSize = Math.max(MIN_CHUNK, Math.min(left, stated) + 1);
      try {
        return zstdDecompressSync(frame, { maxOutputLength: Math.max(1, left), chunkSize });
      } catch (err) {
        if (err instanceof RangeError || (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE')
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
          return z.decompress(frame, { defaultHeapSize: left });
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
