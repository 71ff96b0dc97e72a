import type { ClickHouseSettings } from '@clickhouse/client';
import { MapJson, stringJson } from '../rows/batch.js';

/**
 * Insert encoding for the hot writer (writer.ts holds the exactly-once protocol): converted rows
 * (insert-rows.ts) as JSONCompactEachRow text in large chunks, cut into inserts of bounded size.
 */

/**
 * Most row text one insert carries (a part may pass it by one row, or by a cell that must stay
 * whole): bounds what an insert costs the writer however much resource attributes repeat across
 * rows; batches of ordinary rows stay one insert.
 */
export const MAX_INSERT_BYTES = 16 * 1024 * 1024;

/**
 * Bytes of the Buffers row text is written into: the first small, each next one twice as large up
 * to CHUNK_BYTES, so a small insert allocates little (a large allocation per invocation costs a
 * garbage collection) and a large one is compressed in few big writes. Each row's line is written
 * into the current one as it is made (`buf.write`): joining lines into one big string first made
 * V8 flatten a rope of thousands of pieces before encoding it, ~3.7 µs per span where writing each
 * line costs ~1.0 (docs/decisions/0004).
 */
const FIRST_CHUNK_BYTES = 16 * 1024;
const CHUNK_BYTES = 1024 * 1024;

/**
 * The insert body's format. The rows are JSONCompactEachRow text that the writer encodes itself,
 * sent as CustomSeparated with the JSON escaping rule and JSONCompactEachRow's delimiters (the same
 * per-value JSON parser on the server): the client takes a raw format as a byte stream, where a
 * JSON format would make it stringify each row object again.
 */
export const JSON_ROWS_FORMAT = 'CustomSeparated';
export const JSON_ROWS_SETTINGS: ClickHouseSettings = {
  format_custom_escaping_rule: 'JSON',
  format_custom_field_delimiter: ',',
  format_custom_row_before_delimiter: '[',
  format_custom_row_after_delimiter: ']\n',
  format_custom_row_between_delimiter: '',
  format_custom_result_before_delimiter: '',
  format_custom_result_after_delimiter: '',
};

/**
 * A value's text at least this long is kept as one Buffer and sent by reference at every row that
 * repeats it: a resource's attribute map costs its bytes once in memory, however many rows carry it.
 */
const SHARED_TEXT_CHARS = 16 * 1024;

/**
 * A value as JSON.stringify writes it: what the client's JSON formats send (NaN as null, an absent
 * value as null), so both encodings store the same. The common cases skip the call.
 */
function jsonText(v: unknown): string {
  if (typeof v === 'string') return stringJson(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (v === undefined) return 'null';
  if (Array.isArray(v) && v.length === 0) return '[]';
  // An attribute map unpacked as its text (MapJson): that text is what JSON.stringify gives.
  if (v instanceof MapJson) return v.json;
  return JSON.stringify(v) ?? 'null';
}

/** One insert's body as it is built: text written into large Buffers, large shared values as is. */
export class BodyWriter {
  readonly chunks: Buffer[] = [];
  /** Characters of row text written (the measure of a part's size). */
  chars = 0;
  bytes = 0;
  private buf = Buffer.alloc(0);
  /** The first byte of `buf` not yet in `chunks`, and the next byte to write. */
  private start = 0;
  private pos = 0;

  text(s: string): void {
    this.chars += s.length;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (this.pos + s.length * 3 > this.buf.length) {
      this.flush();
      if (s.length * 3 > CHUNK_BYTES) {
        this.push(Buffer.from(s));
        return;
      }
      let size = this.buf.length === 0 ? FIRST_CHUNK_BYTES : Math.min(CHUNK_BYTES, this.buf.length * 2);
      while (size < s.length * 3) size *= 2;
      this.buf = Buffer.allocUnsafe(size);
      this.start = 0;
      this.pos = 0;
    }
    this.pos += this.buf.write(s, this.pos);
  }

  shared(b: Buffer, chars: number): void {
    this.flush();
    this.push(b);
    this.chars += chars;
  }

  flush(): void {
    if (this.pos === this.start) return;
    this.push(this.buf.subarray(this.start, this.pos));
    this.start = this.pos;
  }

  private push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
  }
}

/**
 * Writes rows as JSONCompactEachRow lines. A value equal to the one above it in its column is not
 * encoded again: rows of one resource share its attribute map object (and service name, scope…),
 * so 1,000 rows under 250 KB of resource attributes stringify them once, not 1,000 times, and a
 * large one is held once (SHARED_TEXT_CHARS).
 */
export class RowText {
  private readonly last: unknown[];
  private readonly lastText: string[];
  private readonly lastBuffer: (Buffer | undefined)[];
  /**
   * Each cell's text as the line holds it (the first with its '[', the last with its ']\n'),
   * joined with ',' into one flat string per row: `s += text` made two cons strings per cell that
   * `buf.write` then flattened into a third copy, most of the writer's garbage (~1.9 of ~3.3 KB
   * per span; docs/decisions/0004).
   */
  private readonly parts: string[];
  /** Columns whose current value is held as a shared Buffer (SHARED_TEXT_CHARS). */
  private sharedColumns = 0;
  private mixedWidths = false;

  constructor(width: number) {
    this.last = new Array<unknown>(width).fill(RowText);
    this.lastText = new Array<string>(width).fill('');
    this.lastBuffer = new Array<Buffer | undefined>(width).fill(undefined);
    this.parts = new Array<string>(width).fill('');
  }

  write(row: readonly unknown[], out: BodyWriter): void {
    const n = row.length;
    const parts = this.parts;
    // Rows of another width than the first (no table has them) are concatenated from then on.
    if (n !== parts.length) {
      this.mixedWidths = true;
      // A cell past the first row's width has no value above it.
      while (this.last.length < n) {
        this.last.push(RowText);
        this.lastText.push('');
        this.lastBuffer.push(undefined);
      }
    }
    for (let i = 0; i < n; i++) {
      const v = row[i];
      if (v === this.last[i]) continue;
      const text = jsonText(v);
      this.last[i] = v;
      this.lastText[i] = text;
      const shared = text.length >= SHARED_TEXT_CHARS ? Buffer.from(text) : undefined;
      this.sharedColumns += (shared ? 1 : 0) - (this.lastBuffer[i] ? 1 : 0);
      this.lastBuffer[i] = shared;
      if (!this.mixedWidths)
        parts[i] = i === 0 ? (n === 1 ? `[${text}]\n` : `[${text}`) : i === n - 1 ? `${text}]\n` : text;
    }
    if (this.sharedColumns === 0 && !this.mixedWidths) {
      out.text(n === 0 ? '[]\n' : parts.join(','));
      return;
    }
    // A large shared value is sent by reference: the text around it is written apart.
    let s = '[';
    for (let i = 0; i < n; i++) {
      if (i > 0) s += ',';
      const shared = this.lastBuffer[i];
      if (shared) {
        out.text(s);
        out.shared(shared, this.lastText[i]!.length);
        s = '';
      } else s += this.lastText[i]!;
    }
    out.text(`${s}]\n`);
  }
}

/** One insert: rows [start, end) as JSONCompactEachRow text in chunks (a shared chunk may repeat). */
export interface InsertPart {
  readonly start: number;
  readonly end: number;
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
}

/**
 * `rows` as consecutive inserts of about `maxBytes` of text each, encoded one part at a time (the
 * caller holds one part, never the whole batch's text). A part is cut only where `mayCutBefore`
 * allows, once it holds `maxBytes`. The cuts depend only on the rows, so a retry of the same rows
 * is cut the same way and each part's dedup token matches.
 */
export function* encodeParts(
  rows: readonly (readonly unknown[])[],
  maxBytes: number,
  mayCutBefore: (row: number) => boolean = () => true,
): Generator<InsertPart> {
  const text = new RowText(rows[0]?.length ?? 0);
  let start = 0;
  do {
    const out = new BodyWriter();
    let end = start;
    for (; end < rows.length; end++) {
      if (end > start && out.chars >= maxBytes && mayCutBefore(end)) break;
      text.write(rows[end]!, out);
    }
    out.flush();
    yield { start, end, chunks: out.chunks, bytes: out.bytes };
    start = end;
  } while (start < rows.length);
}
