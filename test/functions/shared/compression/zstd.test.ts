import { describe, expect, it } from 'vitest';
import {
  MAX_ZSTD_FRAMES,
  ZstdTooLargeError,
  zstd,
  zstdFrames,
} from '../../../../functions/shared/compression/zstd.js';

const z = zstd!;
/** The size the first frame of `data` states (undefined: none, or not whole frames). */
const statedSize = (data: Uint8Array) => zstdFrames(data)?.[0]?.contentSize;

describe(`zstd (${zstd?.backend ?? 'missing'})`, () => {
  it('is there: node:zlib from Node 22.15, the WebAssembly build before', () => {
    expect(zstd).toBeDefined();
  });

  it('reads the decompressed size a frame states, and nothing from what is not a frame', () => {
    for (const n of [0, 1, 255, 256, 65_791, 65_792, 1_000_000]) {
      expect(statedSize(z.compress(Buffer.alloc(n, 7), 3)), String(n)).toBe(n);
    }
    expect(statedSize(new Uint8Array([1, 2, 3, 4, 5, 6]))).toBeUndefined();
    expect(statedSize(new Uint8Array(0))).toBeUndefined();
  });

  it('tells whole frames from cut-off ones, which node:zlib would decompress to nothing', () => {
    const random = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
    for (const data of [Buffer.from('span '.repeat(20_000)), random, Buffer.alloc(0)]) {
      const packed = z.compress(data, 3);
      expect(zstdFrames(packed)).toEqual([{ bytes: packed, contentSize: data.length }]);
      // Frames concatenate, and a skippable frame may sit between them.
      const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
      const joined = Buffer.concat([packed, skippable, packed]);
      expect(zstdFrames(joined)?.length).toBe(2);
      // Every frame is read, whichever backend; the bound counts them all.
      const twice = Buffer.concat([data, data]);
      expect(Buffer.compare(z.decompressBounded(joined, twice.length), twice)).toBe(0);
      if (twice.length > 0)
        expect(() => z.decompressBounded(joined, twice.length - 1)).toThrow(ZstdTooLargeError);
      for (const cut of [1, 2, 5, Math.floor(packed.length / 2)]) {
        if (cut >= packed.length) continue;
        const truncated = packed.subarray(0, packed.length - cut);
        expect(zstdFrames(truncated), `cut ${cut}`).toBeUndefined();
        expect(() => z.decompressBounded(truncated, 10_000_000), `cut ${cut}`).toThrow(/truncated/);
      }
      expect(zstdFrames(Buffer.concat([packed, Buffer.from([0])]))).toBeUndefined();
    }
  });

  it('bounds a frame that does not state its size (as streaming encoders write them), and reads past a skippable frame first', () => {
    // By hand (RFC 8878): no content size, a 1 MiB window, then RLE blocks of 128 KiB of 'a' each.
    const frame = (blocks: number) => {
      const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50])];
      for (let i = 0; i < blocks; i++) {
        const header = ((128 * 1024) << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
        parts.push(Buffer.from([header & 0xff, (header >>> 8) & 0xff, header >>> 16, 0x61]));
      }
      return Buffer.concat(parts);
    };
    expect(statedSize(frame(1))).toBeUndefined();
    expect(z.decompressBounded(frame(3), 3 * 128 * 1024)).toEqual(Buffer.alloc(3 * 128 * 1024, 'a'));
    // 32 MiB from 1 KiB: refused as too large, not as broken.
    expect(() => z.decompressBounded(frame(256), 16 * 1024 * 1024)).toThrow(ZstdTooLargeError);
    const skippable = Buffer.from([0x5f, 0x2a, 0x4d, 0x18, 1, 0, 0, 0, 7]);
    expect(z.decompressBounded(Buffer.concat([skippable, frame(1)]), 1 << 20)).toEqual(
      Buffer.alloc(128 * 1024, 'a'),
    );
  });

  it(`refuses more than ${MAX_ZSTD_FRAMES} frames in one body (each costs a decoder set-up)`, () => {
    const tiny = z.compress(Buffer.from('x'), 3);
    const many = (k: number) => Buffer.concat(Array.from({ length: k }, () => tiny));
    expect(z.decompressBounded(many(MAX_ZSTD_FRAMES), 1 << 20).toString()).toBe('x'.repeat(MAX_ZSTD_FRAMES));
    expect(() => z.decompressBounded(many(MAX_ZSTD_FRAMES + 1), 1 << 20)).toThrow(
      /more than 256 zstd frames/,
    );
  });

  it('decompresses within a bound and refuses past it', () => {
    const data = Buffer.from('span '.repeat(20_000));
    const packed = z.compress(data, 3);
    expect(Buffer.compare(z.decompressBounded(packed, data.length), data)).toBe(0);
    expect(() => z.decompressBounded(packed, data.length - 1)).toThrow(ZstdTooLargeError);
    expect(() => z.decompressBounded(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, 1, 2]), 1000)).toThrow();
    expect(() => z.decompressBounded(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, 1, 2]), 1000)).not.toThrow(
      ZstdTooLargeError,
    );
  });
});
