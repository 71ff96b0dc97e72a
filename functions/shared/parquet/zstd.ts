import { nativeZstd } from '../compression/native-zstd.js';

/**
 * ZSTD compression of Parquet pages. Node >= 22.15 (the Lambda runtime, nodejs22.x) has
 * `zlib.zstdCompressSync`; older Node (20: local mode, CI) gets `@bokuweb/zstd-wasm`, the zstd C
 * library compiled to WebAssembly (~250 KB, no install scripts), loaded only there. Level 1, as
 * parquet-wasm wrote (measured in bench/parquet.ts: level 3 is slower and no smaller on these
 * pages, dominated by random hex ids).
 */

export type Compress = (data: Uint8Array) => Uint8Array;

export const ZSTD_LEVEL = 1;

/** 'node:zlib' or '@bokuweb/zstd-wasm': which implementation this process compresses with. */
export const zstdBackend: 'node:zlib' | '@bokuweb/zstd-wasm' = nativeZstd
  ? 'node:zlib'
  : '@bokuweb/zstd-wasm';

async function load(): Promise<Compress> {
  if (nativeZstd) {
    const native = nativeZstd;
    return (data) => native.compress(data, ZSTD_LEVEL);
  }
  let wasm: typeof import('@bokuweb/zstd-wasm');
  try {
    wasm = await import('@bokuweb/zstd-wasm');
    await wasm.init();
  } catch (cause) {
    // Lambda bundles leave the package out (their runtime has zstd): fail at the first file, not at
    // import, so the rest of a function still loads on an older runtime and says what it needs.
    const reason = `Parquet needs zstd: Node.js 22.15+ or the @bokuweb/zstd-wasm package (${(cause as Error).message})`;
    return () => {
      throw new Error(reason);
    };
  }
  return (data) => wasm.compress(data, ZSTD_LEVEL);
}

export const zstdCompress: Compress = await load();
