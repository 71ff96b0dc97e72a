import { TType } from './thrift-compact.js';

/**
 * Checks that bytes are a complete Parquet file from its two ends only: the `PAR1` magic at both
 * ends, a footer (Thrift compact FileMetaData) that parses, a row count equal to the sum of its row
 * groups', and every column chunk inside the file. A 0-byte or truncated object (a put cut short)
 * fails; a reader never has to fetch the whole object to know (see lake-writer.ts).
 */

export const PARQUET_MAGIC = 'PAR1';
/** `PAR1` at the start, then (at the end) a 4-byte footer length and `PAR1`. */
const HEAD = 4;
const TAIL = 8;

export type FooterCheck =
  | { readonly ok: true; readonly rows: number; readonly footerBytes: number }
  | { readonly ok: false; readonly reason: string };

/** What the check needs: the file's size, its first 4 bytes and enough of its end. */
export interface FileEnds {
  readonly size: number;
  readonly head: Uint8Array;
  /** The last `tail.length` bytes of the file. */
  readonly tail: Uint8Array;
}

class ThriftReadError extends Error {}

/** Just enough of a Thrift compact reader to walk FileMetaData, skipping what it does not need. */
class CompactReader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}

  byte(): number {
    if (this.pos >= this.b.length) throw new ThriftReadError('footer ends early');
    return this.b[this.pos++]!;
  }

  /** Unsigned varint as a double (exact below 2^53, enough for sizes and counts). */
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const x = this.byte();
      v += (x & 0x7f) * mul;
      if ((x & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new ThriftReadError('varint too long');
  }

  zigzag(): number {
    const u = this.varint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  skipBytes(n: number): void {
    if (n < 0 || this.pos + n > this.b.length) throw new ThriftReadError('footer ends early');
    this.pos += n;
  }

  listHeader(): { type: number; size: number } {
    const h = this.byte();
    const size = h >> 4 === 15 ? this.varint() : h >> 4;
    return { type: h & 0x0f, size };
  }

  skip(type: number): void {
    switch (type) {
      case TType.BoolTrue:
      case TType.BoolFalse:
        return;
      case TType.Byte:
        this.skipBytes(1);
        return;
      case TType.I16:
      case TType.I32:
      case TType.I64:
        this.varint();
        return;
      case TType.Double:
        this.skipBytes(8);
        return;
      case TType.Binary:
        this.skipBytes(this.varint());
        return;
      case TType.List:
      case TType.Set: {
        const { type: t, size } = this.listHeader();
        // Booleans in a list take one byte each.
        for (let i = 0; i < size; i++) {
          if (t === TType.BoolTrue || t === TType.BoolFalse) this.skipBytes(1);
          else this.skip(t);
        }
        return;
      }
      case TType.Map: {
        const size = this.varint();
        if (size === 0) return;
        const kv = this.byte();
        for (let i = 0; i < size; i++) {
          this.skip(kv >> 4);
          this.skip(kv & 0x0f);
        }
        return;
      }
      case TType.Struct:
        this.struct(() => false);
        return;
      default:
        throw new ThriftReadError(`unknown Thrift type ${type}`);
    }
  }

  /** Walks a struct; `field` reads the fields it knows (returns true) and the rest are skipped. */
  struct(field: (id: number, type: number) => boolean): void {
    let last = 0;
    for (;;) {
      const h = this.byte();
      if (h === 0) return;
      const type = h & 0x0f;
      const delta = h >> 4;
      const id = delta === 0 ? this.zigzag() : last + delta;
      last = id;
      if (!field(id, type)) this.skip(type);
    }
  }

  /** Walks a list of structs, calling `each` per element. */
  structList(type: number, each: () => void): void {
    if (type !== TType.List) throw new ThriftReadError('expected a list');
    const { type: t, size } = this.listHeader();
    if (t !== TType.Struct) throw new ThriftReadError('expected a list of structs');
    for (let i = 0; i < size; i++) each();
  }
}

function isMagic(b: Uint8Array, at: number): boolean {
  return b[at] === 0x50 && b[at + 1] === 0x41 && b[at + 2] === 0x52 && b[at + 3] === 0x31;
}

/** The footer length stated by the file's last 8 bytes, or undefined when they are not Parquet's. */
export function statedFooterLength(tail: Uint8Array): number | undefined {
  if (tail.length < TAIL || !isMagic(tail, tail.length - 4)) return undefined;
  const at = tail.length - TAIL;
  return (tail[at]! | (tail[at + 1]! << 8) | (tail[at + 2]! << 16) | (tail[at + 3]! << 24)) >>> 0;
}

/** Bytes of the end of a file the check needs, given its stated footer length. */
export function tailBytesNeeded(footerLength: number): number {
  return footerLength + TAIL;
}

export function checkParquetFile(f: FileEnds): FooterCheck {
  if (f.size === 0) return { ok: false, reason: 'empty object (0 bytes)' };
  if (f.size < HEAD + TAIL) return { ok: false, reason: `${f.size} bytes: too short for Parquet` };
  if (f.head.length < HEAD || !isMagic(f.head, 0)) return { ok: false, reason: 'no PAR1 magic at the start' };
  const footerLength = statedFooterLength(f.tail);
  if (footerLength === undefined) return { ok: false, reason: 'no PAR1 magic at the end (truncated?)' };
  if (footerLength === 0 || footerLength > f.size - HEAD - TAIL) {
    return { ok: false, reason: `footer length ${footerLength} does not fit a ${f.size}-byte file` };
  }
  if (f.tail.length < footerLength + TAIL) {
    return {
      ok: false,
      reason: `only ${f.tail.length} bytes of the end given, footer needs ${footerLength + TAIL}`,
    };
  }
  const footer = f.tail.subarray(f.tail.length - TAIL - footerLength, f.tail.length - TAIL);
  const dataEnd = f.size - TAIL - footerLength;
  let numRows: number | undefined;
  let groupRows = 0;
  let groups = 0;
  let badChunk: string | undefined;
  try {
    const r = new CompactReader(footer);
    r.struct((id, type) => {
      if (id === 3 && type === TType.I64) {
        numRows = r.zigzag();
        return true;
      }
      if (id !== 4) return false;
      r.structList(type, () => {
        groups++;
        r.struct((gid, gtype) => {
          if (gid === 3 && gtype === TType.I64) {
            groupRows += r.zigzag();
            return true;
          }
          if (gid !== 1) return false;
          r.structList(gtype, () => {
            r.struct((cid, ctype) => {
              if (cid !== 3 || ctype !== TType.Struct) return false;
              // ColumnMetaData: 7 total_compressed_size, 9 data_page_offset, 11 dictionary_page_offset.
              let size = 0;
              let data = -1;
              let dict: number | undefined;
              r.struct((mid, mtype) => {
                if (mtype !== TType.I64) return false;
                if (mid === 7) size = r.zigzag();
                else if (mid === 9) data = r.zigzag();
                else if (mid === 11) dict = r.zigzag();
                else return false;
                return true;
              });
              const start = dict !== undefined && dict < data ? dict : data;
              if (start < HEAD || size < 0 || start + size > dataEnd) {
                badChunk ??= `column chunk at ${start} (+${size} bytes) lies outside the data (ends at ${dataEnd})`;
              }
              return true;
            });
          });
          return true;
        });
      });
      return true;
    });
    if (r.pos !== footer.length) return { ok: false, reason: 'footer has trailing bytes' };
  } catch (e) {
    return { ok: false, reason: `footer does not parse: ${(e as Error).message}` };
  }
  if (numRows === undefined) return { ok: false, reason: 'footer has no row count' };
  if (numRows !== groupRows) {
    return { ok: false, reason: `footer says ${numRows} rows, its ${groups} row groups hold ${groupRows}` };
  }
  if (badChunk) return { ok: false, reason: badChunk };
  return { ok: true, rows: numRows, footerBytes: footerLength };
}
