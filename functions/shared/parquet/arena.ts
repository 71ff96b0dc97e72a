/**
 * Scratch memory for the Arrow buffers of one encode, handed to the next encode instead of freed.
 *
 * Why: an encode allocates about 1-2 KB of typed arrays per row (UTF-8 bytes, offsets, numbers)
 * that live only until the Arrow IPC copy. V8 counts them as external memory and answers every
 * ~64 MB of it with a full mark-compact of the whole heap, which holds the decoded input batches:
 * measured, that GC cost a quarter of the encode. Reusing a few large chunks keeps external
 * allocation flat across encodes.
 */
export interface Allocator {
  /** Uninitialised bytes. */
  bytes(length: number): Buffer;
  /** Zero-filled. */
  int32(length: number): Int32Array;
  /** Zero-filled. */
  uint32(length: number): Uint32Array;
  /** Zero-filled. */
  float64(length: number): Float64Array;
  /** Zero-filled. */
  uint8(length: number): Uint8Array;
}

/** Plain allocations, for callers that keep the Arrow data (see toArrowTable). */
export const heapAllocator: Allocator = {
  bytes: (n) => Buffer.allocUnsafe(n),
  int32: (n) => new Int32Array(n),
  uint32: (n) => new Uint32Array(n),
  float64: (n) => new Float64Array(n),
  uint8: (n) => new Uint8Array(n),
};

/** Bump allocation over reusable chunks; everything handed out is invalid after `reset()`. */
export class Arena implements Allocator {
  private readonly chunks: ArrayBuffer[] = [];
  private chunk = 0;
  private offset = 0;

  constructor(
    private readonly chunkBytes = 16 * 1024 * 1024,
    /** Chunks beyond this total are dropped on reset (a one-off huge file should not pin RAM). */
    private readonly maxRetainedBytes = 256 * 1024 * 1024,
  ) {}

  private take(byteLength: number): [ArrayBuffer, number] {
    const size = Math.ceil(byteLength / 8) * 8;
    while (this.chunk < this.chunks.length) {
      const buf = this.chunks[this.chunk]!;
      if (this.offset + size <= buf.byteLength) {
        const at = this.offset;
        this.offset += size;
        return [buf, at];
      }
      this.chunk++;
      this.offset = 0;
    }
    const buf = new ArrayBuffer(Math.max(this.chunkBytes, size));
    this.chunks.push(buf);
    this.chunk = this.chunks.length - 1;
    this.offset = size;
    return [buf, 0];
  }

  bytes(length: number): Buffer {
    const [buf, at] = this.take(length);
    return Buffer.from(buf, at, length);
  }

  int32(length: number): Int32Array {
    const [buf, at] = this.take(length * 4);
    return new Int32Array(buf, at, length).fill(0);
  }

  uint32(length: number): Uint32Array {
    const [buf, at] = this.take(length * 4);
    return new Uint32Array(buf, at, length).fill(0);
  }

  float64(length: number): Float64Array {
    const [buf, at] = this.take(length * 8);
    return new Float64Array(buf, at, length).fill(0);
  }

  uint8(length: number): Uint8Array {
    const [buf, at] = this.take(length);
    return new Uint8Array(buf, at, length).fill(0);
  }

  /** Makes all chunks free again, keeping at most `maxRetainedBytes` of them. */
  reset(): void {
    let kept = 0;
    let keep = 0;
    while (keep < this.chunks.length && kept + this.chunks[keep]!.byteLength <= this.maxRetainedBytes) {
      kept += this.chunks[keep]!.byteLength;
      keep++;
    }
    this.chunks.length = keep;
    this.chunk = 0;
    this.offset = 0;
  }
}
