import { constants, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { isZlibOutputTooLarge, ZstdTooLargeError, zstd, zstdMissing } from '../shared/compression/zstd.js';

/**
 * Request body codings the receiver reads. OTLP/HTTP requires gzip; the Collector's `otlphttp`
 * exporter can also send zstd (about gzip's size for less CPU at both ends) and deflate (or zlib),
 * so those are read too. Every coding is inflated with a hard cap on its output, so a decompression bomb costs
 * at most the cap in memory and answers 413.
 */
export type ContentEncoding = 'none' | 'gzip' | 'zstd' | 'deflate';

export const SUPPORTED_ENCODINGS_TEXT = 'gzip, zstd, deflate (or zlib) or none';

const CODINGS: Readonly<Record<string, ContentEncoding>> = {
  gzip: 'gzip',
  'x-gzip': 'gzip',
  zstd: 'zstd',
  deflate: 'deflate',
  // The Collector's `compression: zlib` names the same zlib format in its header.
  zlib: 'deflate',
};

/** One coding ('none' when absent or identity); undefined for others or for several stacked. */
export function parseContentEncoding(value: string | undefined): ContentEncoding | undefined {
  const codings = (value ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return 'none';
  if (codings.length !== 1) return undefined;
  const coding = Object.hasOwn(CODINGS, codings[0]!) ? CODINGS[codings[0]!] : undefined;
  // A process without zstd (Node < 22.15 without the WebAssembly build) cannot read it: 415.
  return coding === 'zstd' && !zstd ? undefined : coding;
}

export type Decompressed = { ok: true; body: Uint8Array } | { ok: false; tooLarge: boolean; reason: string };

/** zlib's smallest output chunk; below it the 16 KiB default is as good. */
const MIN_INFLATE_CHUNK = 64 * 1024;

type Inflate = (
  body: Uint8Array,
  options: { maxOutputLength: number; info: true },
) => { buffer: Buffer; engine: { bytesWritten: number } };

function inflateWhole(inflate: unknown, body: Uint8Array, cap: number) {
  // @types/node does not type the `info: true` overload's result.
  return (inflate as Inflate)(body, { maxOutputLength: cap, info: true });
}

function isTooLarge(err: unknown): boolean {
  return err instanceof ZstdTooLargeError || isZlibOutputTooLarge(err);
}

/**
 * The body decoded from `encoding`, at most `cap` bytes of it. For gzip the output chunk is sized
 * from the trailer's ISIZE (the inflated size mod 2^32, as the client claims it), for zstd from the
 * frame header: zlib then fills one buffer instead of concatenating small chunks into a second copy
 * of the whole body. A false claim only costs that copy again (too small) or an allocation up to
 * the cap.
 */
export function decompressBounded(encoding: ContentEncoding, body: Uint8Array, cap: number): Decompressed {
  if (encoding === 'none') {
    return body.byteLength > cap
      ? { ok: false, tooLarge: true, reason: `request body is over ${cap} bytes` }
      : { ok: true, body };
  }
  try {
    return { ok: true, body: decode(encoding, body, cap) };
  } catch (err) {
    if (isTooLarge(err))
      return { ok: false, tooLarge: true, reason: `decompressed body is over ${cap} bytes` };
    return { ok: false, tooLarge: false, reason: `body is not valid ${encoding}: ${(err as Error).message}` };
  }
}

function decode(encoding: Exclude<ContentEncoding, 'none'>, body: Uint8Array, cap: number): Uint8Array {
  switch (encoding) {
    case 'gzip': {
      const claimed =
        body.byteLength >= 18
          ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32LE(body.byteLength - 4)
          : 0;
      // +1: a chunk the output fills exactly would make zlib ask for one more (and concatenate).
      const chunkSize = Math.max(MIN_INFLATE_CHUNK, Math.min(cap, claimed) + 1);
      return gunzipSync(body, { maxOutputLength: cap, chunkSize });
    }
    case 'zstd':
      if (!zstd) throw new Error(zstdMissing ?? 'zstd is not available'); // parseContentEncoding said 415
      return zstd.decompressBounded(body, cap);
    case 'deflate': {
      // RFC 9110's deflate is the zlib format; some clients send the raw deflate stream instead.
      let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
      try {
        inflated = inflateWhole(inflateSync, body, cap);
      } catch (err) {
        if ((err as { errno?: unknown }).errno !== constants.Z_DATA_ERROR) throw err;
        try {
          inflated = inflateWhole(inflateRawSync, body, cap);
        } catch (rawErr) {
          // Not raw either: the zlib reading's reason is the one that says what is wrong.
          throw isTooLarge(rawErr) ? rawErr : err;
        }
      }
      // zlib stops at the end of the first stream: anything after it would be dropped unseen.
      if (inflated.engine.bytesWritten !== body.byteLength)
        throw new Error(
          `${body.byteLength - inflated.engine.bytesWritten} bytes after the end of the stream`,
        );
      return inflated.buffer;
    }
  }
}
