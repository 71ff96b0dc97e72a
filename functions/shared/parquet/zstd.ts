import { zstd, zstdMissing } from '../compression/zstd.js';

/**
 * ZSTD compression of Parquet pages (node:zlib's, or zstd-wasm on Node < 22.15: see
 * compression/zstd.ts). Level 1, as parquet-wasm wrote (measured in bench/parquet.ts: level 3 is
 * slower and no smaller on these pages, dominated by random hex ids).
 */

export type Compress = (data: Uint8Array) => Uint8Array;

export const ZSTD_LEVEL = 1;

/** Which implementation this process compresses with. */
export const zstdBackend: string = zstd?.backend ?? 'none';

// Without zstd, fail at the first file, not at import, so the rest of a function still loads and
// says what it needs.
export const zstdCompress: Compress = compressWith(zstd);

function compressWith(z: typeof zstd): Compress {
  if (z) return (data) => z.compress(data, ZSTD_LEVEL);
  return () => {
    throw new Error(`Parquet needs zstd: ${zstdMissing}`);
  };
}
