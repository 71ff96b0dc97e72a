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
}

// @types/node 20 lacks zstd: the shape of what node:zlib has from 22.15.
interface ZlibWithZstd {
  zstdCompressSync(
    data: Uint8Array,
    options: { params: Record<number, number>; pledgedSrcSize?: number },
  ): Buffer;
  zstdDecompressSync(data: Uint8Array): Buffer;
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
  };
}

const asBuffer = (a: Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function wasm(): Promise<Zstd | string> {
  try {
    const z = await import('@bokuweb/zstd-wasm');
    await z.init();
    return {
      backend: '@bokuweb/zstd-wasm',
      compress: (data, level) => asBuffer(z.compress(data, level)),
      decompress: (data) => asBuffer(z.decompress(data)),
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
