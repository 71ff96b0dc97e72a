import * as zlib from 'node:zlib';

/**
 * zstd from node:zlib, present from Node.js 22.15 (Lambda's nodejs22.x) and absent on Node 20 (local
 * mode, CI); undefined there. The one place that feature-detects it (@types/node 20 lacks it too),
 * for the envelopes (brotli without it) and the Parquet writer (zstd-wasm without it).
 */
export interface NativeZstd {
  compress(data: Uint8Array, level: number): Buffer;
  decompress(data: Uint8Array): Buffer;
}

interface ZlibWithZstd {
  zstdCompressSync(
    data: Uint8Array,
    options: { params: Record<number, number>; pledgedSrcSize?: number },
  ): Buffer;
  zstdDecompressSync(data: Uint8Array): Buffer;
  constants: { ZSTD_c_compressionLevel: number };
}

function detect(): NativeZstd | undefined {
  const z = zlib as unknown as Partial<ZlibWithZstd>;
  if (typeof z.zstdCompressSync !== 'function' || typeof z.zstdDecompressSync !== 'function')
    return undefined;
  const { zstdCompressSync, zstdDecompressSync } = z as ZlibWithZstd;
  const levelParam = (zlib.constants as unknown as ZlibWithZstd['constants']).ZSTD_c_compressionLevel;
  return {
    compress: (data, level) =>
      zstdCompressSync(data, { params: { [levelParam]: level }, pledgedSrcSize: data.byteLength }),
    decompress: (data) => zstdDecompressSync(data),
  };
}

export const nativeZstd: NativeZstd | undefined = detect();
