import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { zstd } from '../../../../functions/shared/compression/zstd.js';
import {
  DEFAULT_CODEC,
  EnvelopeError,
  MAX_ENVELOPE_BYTES,
  packEnvelopes,
  positionEnvelopeId,
  readEnvelopeHeader,
  requestContentId,
  unpackEnvelope,
} from '../../../../functions/shared/envelope/envelope.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';

function logsBatch(n: number, bodyOf: (i: number) => string = (i) => `log line ${i}`): ColumnBatch {
  return {
    table: 'otel_logs',
    rowCount: n,
    columns: {
      TenantId: Array.from({ length: n }, () => 'acme'),
      Timestamp: Array.from({ length: n }, (_, i) => `${1_700_000_000_000_000_000n + BigInt(i)}`),
      ServiceName: Array.from({ length: n }, () => 'checkout'),
      Body: Array.from({ length: n }, (_, i) => bodyOf(i)),
      LogAttributes: Array.from({ length: n }, (_, i) => ({ 'http.route': `/cart/${i % 7}` })),
    },
  };
}

describe('envelope', () => {
  it('round-trips rows, header counts and tenant', () => {
    const [env, ...rest] = packEnvelopes('acme', 'logs', [logsBatch(3)]);
    expect(rest).toHaveLength(0);
    const out = unpackEnvelope(env!.data);
    expect(out.header).toMatchObject({ tenant: 'acme', signal: 'logs', counts: { otel_logs: 3 } });
    expect(out.batches).toEqual([logsBatch(3)]);
    expect(readEnvelopeHeader(env!.data)).toEqual(out.header);
  });

  it('round-trips text beyond ASCII (Latin-1, CJK, emoji, a lone surrogate) in values and keys', () => {
    const texts = ['café', 'ÿ', '日本語', '😀 ok', 'cut \ud83d', '\udc00', 'a"b\\c\n\u0000'];
    const batch = logsBatch(texts.length, (i) => texts[i]!);
    const rows = { ...batch, columns: { ...batch.columns, LogAttributes: texts.map((t) => ({ [t]: t })) } };
    const out = unpackEnvelope(packEnvelopes('acme', 'logs', [rows])[0]!.data);
    expect(out.batches).toEqual([rows]);
    // ASCII-only text reads back alike too (the payload then skips the UTF-8 encoder).
    expect(unpackEnvelope(packEnvelopes('acme', 'logs', [logsBatch(5)])[0]!.data).batches).toEqual([
      logsBatch(5),
    ]);
  });

  it('is deterministic: the same rows give byte-identical envelopes', () => {
    const a = packEnvelopes('acme', 'logs', [logsBatch(50)]);
    const b = packEnvelopes('acme', 'logs', [logsBatch(50)]);
    expect(Buffer.compare(Buffer.from(a[0]!.data), Buffer.from(b[0]!.data))).toBe(0);
  });

  it('splits rows that do not fit one record, losing none', () => {
    // Incompressible bodies: ~2.3 MB of base64 rows (~1.7 MB compressed) must become several envelopes under the limit.
    const batch = logsBatch(2500, () => randomBytes(700).toString('base64'));
    const envs = packEnvelopes('acme', 'logs', [batch]);
    expect(envs.length).toBeGreaterThanOrEqual(2);
    for (const e of envs) expect(e.data.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
    const bodies = envs.flatMap((e) =>
      unpackEnvelope(e.data).batches.flatMap((b) => b.columns.Body as string[]),
    );
    expect(bodies).toEqual(batch.columns.Body);
  });

  it('rejects a single row larger than the limit with a reason', () => {
    expect(() =>
      packEnvelopes('acme', 'logs', [logsBatch(1, () => randomBytes(4096).toString('hex'))], {
        maxBytes: 2048,
      }),
    ).toThrow(/over the 2048-byte envelope limit/);
  });

  it('packs nothing for no rows', () => {
    expect(packEnvelopes('acme', 'logs', [logsBatch(0)])).toEqual([]);
  });

  it('reads gzip envelopes as well as brotli ones', () => {
    for (const codec of ['gzip', 'brotli'] as const) {
      const [env] = packEnvelopes('acme', 'logs', [logsBatch(5)], { codec });
      expect(env!.data[3], codec).toBe(codec === 'gzip' ? 1 : 2);
      expect(unpackEnvelope(env!.data).batches[0]!.rowCount).toBe(5);
    }
  });

  // node:zlib's zstd on Node 22.15+ (Lambda), zstd-wasm on Node 20 (local mode, CI).
  it(`packs with zstd by default on Node ${process.version} (${zstd?.backend})`, () => {
    expect(DEFAULT_CODEC).toBe('zstd');
    const [env] = packEnvelopes('acme', 'logs', [logsBatch(50)]);
    expect(env!.data[3]).toBe(3);
    expect(unpackEnvelope(env!.data).batches).toEqual([logsBatch(50)]);
  });

  it('reads a zstd envelope whichever zstd build compressed it', async () => {
    // The payload recompressed by zstd-wasm: what a Node-20 local mode writes, read here by this
    // runtime's zstd (node:zlib on Node 22), and the other way round through packEnvelopes.
    const wasm = await import('@bokuweb/zstd-wasm');
    await wasm.init();
    const [env] = packEnvelopes('acme', 'logs', [logsBatch(20)]);
    const headerLength = Buffer.from(env!.data).readUInt32BE(4);
    const payload = wasm.compress(wasm.decompress(Buffer.from(env!.data).subarray(8 + headerLength)), 1);
    const header = Buffer.from(
      JSON.stringify({ ...env!.header, sha256: createHash('sha256').update(payload).digest('hex') }),
    );
    const rewritten = Buffer.alloc(8 + header.length + payload.length);
    Buffer.from(env!.data).copy(rewritten, 0, 0, 4);
    rewritten.writeUInt32BE(header.length, 4);
    header.copy(rewritten, 8);
    rewritten.set(payload, 8 + header.length);
    expect(unpackEnvelope(rewritten).batches).toEqual([logsBatch(20)]);
  });

  it('names what is wrong with a corrupt envelope', () => {
    const [env] = packEnvelopes('acme', 'logs', [logsBatch(5)]);
    const flipped = Buffer.from(env!.data);
    flipped[flipped.length - 3]! ^= 0xff;
    expect(() => unpackEnvelope(flipped)).toThrow(/does not match its sha256/);
    expect(() => unpackEnvelope(Buffer.from('hello world'))).toThrow(/bad magic/);
    expect(() => unpackEnvelope(Buffer.from(env!.data).subarray(0, 12))).toThrow(EnvelopeError);
  });

  it('never throws anything but EnvelopeError on arbitrary bytes', () => {
    const [env] = packEnvelopes('acme', 'logs', [logsBatch(5)]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(), (noise, at) => {
        const bytes = Buffer.from(env!.data);
        const mutated = Buffer.concat([bytes.subarray(0, at % bytes.length), noise]);
        try {
          unpackEnvelope(mutated);
        } catch (e) {
          expect(e).toBeInstanceOf(EnvelopeError);
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe('envelope content ids', () => {
  /** Logs where `filled` rows carry the receive time (they had none), as flatten writes them. */
  function withReceiveTime(n: number, receivedAtNs: string, filled: (i: number) => boolean): ColumnBatch {
    const b = logsBatch(n, (i) => `line ${i} ${createHash('sha256').update(String(i)).digest('hex')}`);
    const times = b.columns.Timestamp!.map((t, i) => (filled(i) ? receivedAtNs : t));
    return { ...b, columns: { ...b.columns, Timestamp: times } };
  }
  const identity = (receivedAtNs: string) => ({ request: 'ab'.repeat(16), firstOrdinal: 3, receivedAtNs });
  const shape = (envs: ReturnType<typeof packEnvelopes>) =>
    envs.map((e) => ({ id: e.header.id, rows: e.rowCount }));

  it('names envelope k of a call <request>-<firstOrdinal + k>, and carries the receive time only when used', () => {
    const envs = packEnvelopes(
      'acme',
      'logs',
      [withReceiveTime(400, '1800000000000000000', (i) => i === 7)],
      {
        maxBytes: 8 * 1024,
      },
      identity('1800000000000000000'),
    );

    expect(envs.length).toBeGreaterThan(2);
    expect(envs.map((e) => e.header.id)).toEqual(envs.map((_, k) => `${'ab'.repeat(16)}-${3 + k}`));
    const headers = envs.map((e) => readEnvelopeHeader(e.data));
    expect(headers.filter((h) => h.receivedAtNs === '1800000000000000000')).toHaveLength(1);
    expect(headers.filter((h) => h.receivedAtNs === undefined)).toHaveLength(envs.length - 1);
  });

  it('splits a request alike whatever its receive time (rows without a time carry it)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 600 }),
        fc.integer({ min: 2 * 1024, max: 32 * 1024 }),
        fc.integer({ min: 1, max: 5 }),
        fc.bigInt({ min: 1_600_000_000_000_000_000n, max: 1_999_999_999_999_999_999n }),
        fc.bigInt({ min: 1_600_000_000_000_000_000n, max: 1_999_999_999_999_999_999n }),
        (n, maxBytes, every, a, b) => {
          const filled = (i: number) => i % every === 0;
          const packA = packEnvelopes(
            'acme',
            'logs',
            [withReceiveTime(n, String(a), filled)],
            { maxBytes },
            identity(String(a)),
          );
          const packB = packEnvelopes(
            'acme',
            'logs',
            [withReceiveTime(n, String(b), filled)],
            { maxBytes },
            identity(String(b)),
          );
          expect(shape(packB)).toEqual(shape(packA));
          for (const e of [...packA, ...packB]) expect(e.data.length).toBeLessThanOrEqual(maxBytes);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('splits alike at the exact size limit, where the receive time digits change the compressed size', () => {
    const batchAt = (t: string) => [withReceiveTime(300, t, (i) => i % 3 === 0)];
    const a = '1765000000123456789';
    const [whole] = packEnvelopes('acme', 'logs', batchAt(a), {}, identity(a));
    const others = Array.from({ length: 30 }, (_, k) =>
      String(1_765_000_000_000_000_000n + BigInt(k) * 987_654_321_123n),
    );
    // The boundary is real: some other receive time compresses to another size.
    const sizes = others.map(
      (t) => packEnvelopes('acme', 'logs', batchAt(t), {}, identity(t))[0]!.data.length,
    );
    expect(sizes.some((n) => n !== whole!.data.length)).toBe(true);

    for (const maxBytes of [whole!.data.length - 1, whole!.data.length, whole!.data.length + 1]) {
      const expected = shape(packEnvelopes('acme', 'logs', batchAt(a), { maxBytes }, identity(a)));
      for (const t of others) {
        expect(shape(packEnvelopes('acme', 'logs', batchAt(t), { maxBytes }, identity(t)))).toEqual(expected);
      }
    }
  });

  it('hashes everything that identifies a request as sent, and nothing else', () => {
    const body = new TextEncoder().encode('{"resourceSpans":[]}');
    const id = requestContentId('acme', 'traces', 'json', 'none', body);

    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(requestContentId('acme', 'traces', 'json', 'none', body.slice())).toBe(id);
    for (const other of [
      requestContentId('globex', 'traces', 'json', 'none', body),
      requestContentId('acme', 'logs', 'json', 'none', body),
      requestContentId('acme', 'traces', 'protobuf', 'none', body),
      requestContentId('acme', 'traces', 'json', 'gzip', body),
      requestContentId('acme', 'traces', 'json', 'none', new TextEncoder().encode('{"resourceSpans": []}')),
    ]) {
      expect(other).not.toBe(id);
    }
  });

  it('falls back to the stream position for envelopes written before ids', () => {
    const [env] = packEnvelopes('acme', 'logs', [logsBatch(2)]);

    expect(readEnvelopeHeader(env!.data).id).toBeUndefined();
    expect(positionEnvelopeId('shardId-000000000001', '4959')).toBe('pos:shardId-000000000001:4959');
  });
});
