import { createHash } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync, gzipSync } from 'node:zlib';
import type { ColumnBatch } from '../rows/batch.js';
import { isTableName, type Signal, type TableName } from '../schema/columns.js';

/**
 * The unit on the stream: rows of one tenant and one signal, compressed, at most one Kinesis record.
 *
 * Layout (all integers big-endian):
 *   0  2 bytes  magic "OT"
 *   2  1 byte   format version (1)
 *   3  1 byte   codec of the payload (1 gzip, 2 brotli)
 *   4  4 bytes  header length H
 *   8  H bytes  header, UTF-8 JSON (EnvelopeHeader)
 *   8+H         payload: the codec's compression of UTF-8 JSON `{"batches": ColumnBatch[]}`
 * The header is not compressed so a consumer can route or dead-letter a record without inflating it;
 * `sha256` covers the compressed payload, so corruption is caught before decompression.
 */

export const ENVELOPE_VERSION = 1;
/** Kinesis' record limit (data + partition key); we stay a little under it. */
export const MAX_ENVELOPE_BYTES = 1024 * 1024 - 1024;

export type EnvelopeCodec = 'gzip' | 'brotli';
const CODEC_IDS: Record<EnvelopeCodec, number> = { gzip: 1, brotli: 2 };

export interface EnvelopeHeader {
  readonly v: number;
  readonly tenant: string;
  readonly signal: Signal;
  /** Rows per table in this envelope. */
  readonly counts: Partial<Record<TableName, number>>;
  /** Hex SHA-256 of the compressed payload. */
  readonly sha256: string;
}

export interface PackedEnvelope {
  readonly data: Uint8Array;
  readonly header: EnvelopeHeader;
  readonly rowCount: number;
}

export interface UnpackedEnvelope {
  readonly header: EnvelopeHeader;
  readonly batches: ColumnBatch[];
}

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
}

export interface PackOptions {
  /** Largest envelope in bytes. @default MAX_ENVELOPE_BYTES */
  readonly maxBytes?: number;
  /** @default 'brotli' */
  readonly codec?: EnvelopeCodec;
}

function compress(codec: EnvelopeCodec, raw: Buffer): Buffer {
  if (codec === 'gzip') return gzipSync(raw, { level: 6 });
  return brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 5,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
}

function decompress(codecId: number, payload: Uint8Array): Buffer {
  if (codecId === CODEC_IDS.gzip) return gunzipSync(payload);
  if (codecId === CODEC_IDS.brotli) return brotliDecompressSync(payload);
  throw new EnvelopeError(`unknown envelope codec ${codecId}`);
}

function encodeOne(
  tenant: string,
  signal: Signal,
  batches: ColumnBatch[],
  codec: EnvelopeCodec,
): PackedEnvelope {
  const payload = compress(codec, Buffer.from(JSON.stringify({ batches }), 'utf8'));
  const counts: Partial<Record<TableName, number>> = {};
  let rowCount = 0;
  for (const b of batches) {
    counts[b.table] = (counts[b.table] ?? 0) + b.rowCount;
    rowCount += b.rowCount;
  }
  const header: EnvelopeHeader = {
    v: ENVELOPE_VERSION,
    tenant,
    signal,
    counts,
    sha256: createHash('sha256').update(payload).digest('hex'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const data = Buffer.allocUnsafe(8 + headerBytes.length + payload.length);
  data.write('OT', 0, 'latin1');
  data.writeUInt8(ENVELOPE_VERSION, 2);
  data.writeUInt8(CODEC_IDS[codec], 3);
  data.writeUInt32BE(headerBytes.length, 4);
  headerBytes.copy(data, 8);
  payload.copy(data, 8 + headerBytes.length);
  return { data, header, rowCount };
}

function sliceBatch(b: ColumnBatch, from: number, to: number): ColumnBatch {
  const columns: Record<string, unknown[]> = {};
  for (const [name, values] of Object.entries(b.columns)) columns[name] = values.slice(from, to);
  return { table: b.table, rowCount: to - from, columns };
}

/** Splits rows in two halves (by row count across batches). */
function halve(batches: ColumnBatch[]): [ColumnBatch[], ColumnBatch[]] {
  const total = batches.reduce((n, b) => n + b.rowCount, 0);
  let left = Math.ceil(total / 2);
  const a: ColumnBatch[] = [];
  const z: ColumnBatch[] = [];
  for (const b of batches) {
    if (left >= b.rowCount) {
      a.push(b);
      left -= b.rowCount;
    } else if (left > 0) {
      a.push(sliceBatch(b, 0, left));
      z.push(sliceBatch(b, left, b.rowCount));
      left = 0;
    } else {
      z.push(b);
    }
  }
  return [a, z];
}

/**
 * Packs rows into as few envelopes as fit `maxBytes` each: encode, and halve what does not fit.
 * Empty batches are dropped; no rows means no envelopes.
 */
export function packEnvelopes(
  tenant: string,
  signal: Signal,
  batches: readonly ColumnBatch[],
  options: PackOptions = {},
): PackedEnvelope[] {
  const maxBytes = options.maxBytes ?? MAX_ENVELOPE_BYTES;
  const codec = options.codec ?? 'brotli';
  const out: PackedEnvelope[] = [];
  const pending: ColumnBatch[][] = [batches.filter((b) => b.rowCount > 0)];
  while (pending.length > 0) {
    const group = pending.pop()!;
    if (group.length === 0) continue;
    const env = encodeOne(tenant, signal, group, codec);
    if (env.data.length <= maxBytes) {
      out.push(env);
      continue;
    }
    if (env.rowCount <= 1) {
      throw new EnvelopeError(
        `one row encodes to ${env.data.length} bytes, over the ${maxBytes}-byte envelope limit`,
      );
    }
    const [a, z] = halve(group);
    pending.push(z, a);
  }
  return out;
}

/** Reads an envelope's header without touching its payload. */
export function readEnvelopeHeader(data: Uint8Array): EnvelopeHeader {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 8 || buf.toString('latin1', 0, 2) !== 'OT')
    throw new EnvelopeError('not an envelope (bad magic)');
  const version = buf.readUInt8(2);
  if (version !== ENVELOPE_VERSION) throw new EnvelopeError(`unsupported envelope version ${version}`);
  const headerLength = buf.readUInt32BE(4);
  if (8 + headerLength > buf.length) throw new EnvelopeError('truncated envelope header');
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + headerLength));
  } catch (cause) {
    throw new EnvelopeError('envelope header is not JSON', { cause });
  }
  const h = header as Partial<EnvelopeHeader> | null;
  if (
    !h ||
    typeof h.tenant !== 'string' ||
    (h.signal !== 'traces' && h.signal !== 'logs' && h.signal !== 'metrics') ||
    typeof h.sha256 !== 'string' ||
    typeof h.counts !== 'object'
  ) {
    throw new EnvelopeError('envelope header lacks tenant, signal, counts or sha256');
  }
  return h as EnvelopeHeader;
}

/** Verifies and inflates an envelope; throws EnvelopeError for anything not written by packEnvelopes. */
export function unpackEnvelope(data: Uint8Array): UnpackedEnvelope {
  const header = readEnvelopeHeader(data);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const payload = buf.subarray(8 + buf.readUInt32BE(4));
  if (createHash('sha256').update(payload).digest('hex') !== header.sha256) {
    throw new EnvelopeError('envelope payload does not match its sha256');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decompress(buf.readUInt8(3), payload).toString('utf8'));
  } catch (cause) {
    if (cause instanceof EnvelopeError) throw cause;
    throw new EnvelopeError('envelope payload does not inflate to JSON', { cause });
  }
  const batches = (parsed as { batches?: unknown }).batches;
  if (!Array.isArray(batches)) throw new EnvelopeError('envelope payload has no batches');
  for (const b of batches as ColumnBatch[]) {
    if (!b || !isTableName(b.table) || typeof b.rowCount !== 'number' || typeof b.columns !== 'object') {
      throw new EnvelopeError('envelope batch is malformed');
    }
    for (const values of Object.values(b.columns)) {
      if (!Array.isArray(values) || values.length !== b.rowCount) {
        throw new EnvelopeError(`envelope batch for ${b.table} has a column of the wrong length`);
      }
    }
  }
  return { header, batches: batches as ColumnBatch[] };
}
