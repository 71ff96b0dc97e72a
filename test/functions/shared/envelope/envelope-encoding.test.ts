import { createHash } from 'node:crypto';
import { brotliCompressSync, constants } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EnvelopeError,
  packEnvelopes,
  readEnvelopeHeader,
  unpackEnvelope,
} from '../../../../functions/shared/envelope/envelope.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';

/** An envelope as version 1 wrote it (plain column arrays, brotli quality 5), built byte by byte. */
function versionOneEnvelope(tenant: string, batches: ColumnBatch[]): Buffer {
  const payload = brotliCompressSync(Buffer.from(JSON.stringify({ batches }), 'utf8'), {
    params: { [constants.BROTLI_PARAM_QUALITY]: 5 },
  });
  const counts: Record<string, number> = {};
  for (const b of batches) counts[b.table] = (counts[b.table] ?? 0) + b.rowCount;
  const header = Buffer.from(
    JSON.stringify({
      v: 1,
      tenant,
      signal: 'logs',
      counts,
      sha256: createHash('sha256').update(payload).digest('hex'),
    }),
  );
  const head = Buffer.alloc(8);
  head.write('OT', 0, 'latin1');
  head.writeUInt8(1, 2);
  head.writeUInt8(2, 3);
  head.writeUInt32BE(header.length, 4);
  return Buffer.concat([head, header, payload]);
}

/** Rows shaped like flatten's: one resource map shared by reference, attribute maps of a few shapes. */
function spanLikeLogs(n: number): ColumnBatch {
  const resource = { 'service.name': 'checkout', 'host.name': 'ip-10-0-0-17', 'cloud.region': 'eu-west-1' };
  return {
    table: 'otel_logs',
    rowCount: n,
    columns: {
      TenantId: Array.from({ length: n }, () => 'acme'),
      Timestamp: Array.from({ length: n }, (_, i) => `${1_700_000_000_000_000_000n + BigInt(i * 7919)}`),
      SeverityNumber: Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 13 : 9)),
      Body: Array.from({ length: n }, (_, i) => `request ${i} served in ${(i * 37) % 1000} ms`),
      ResourceAttributes: Array.from({ length: n }, () => resource),
      LogAttributes: Array.from({ length: n }, (_, i): Record<string, string> => {
        if (i % 3 === 0) return { 'http.route': `/cart/${i % 7}`, 'http.method': 'GET' };
        if (i % 3 === 1) return { 'http.method': 'POST', 'http.route': `/orders/${i % 11}`, error: 'true' };
        return {};
      }),
      'Events.Name': Array.from({ length: n }, (_, i) => (i % 4 === 0 ? ['exception'] : [])),
    },
  };
}

describe('envelope payload encodings (version 2)', () => {
  it('gives back every value, and the key order of every attribute map', () => {
    const batch = spanLikeLogs(300);
    const [env] = packEnvelopes('acme', 'logs', [batch]);
    const [out] = unpackEnvelope(env!.data).batches;
    expect(out).toEqual(batch);
    const maps = out!.columns.LogAttributes as Record<string, string>[];
    expect(Object.keys(maps[1]!)).toEqual(['http.method', 'http.route', 'error']);
    expect(Object.keys(maps[0]!)).toEqual(['http.route', 'http.method']);
  });

  it('keeps a "__proto__" attribute key as an ordinary key', () => {
    const evil: Record<string, string> = {};
    Object.defineProperty(evil, '__proto__', {
      value: 'x',
      enumerable: true,
      writable: true,
      configurable: true,
    });
    const batch: ColumnBatch = {
      table: 'otel_logs',
      rowCount: 4,
      columns: { LogAttributes: [evil, { a: '1' }, evil, { a: '2' }] },
    };
    const [out] = unpackEnvelope(packEnvelopes('acme', 'logs', [batch])[0]!.data).batches;
    const first = (out!.columns.LogAttributes as Record<string, string>[])[0]!;
    expect(Object.hasOwn(first, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(first)).toBe(Object.prototype);
  });

  it('puts fewer bytes on the stream than version 1 for the same rows', () => {
    const batch = spanLikeLogs(1000);
    // Brotli on both sides (version 1 at its quality 5), so the payload encoding is what differs.
    const [v2] = packEnvelopes('acme', 'logs', [batch], { codec: 'brotli' });
    const v1 = versionOneEnvelope('acme', [batch]);
    expect(v2!.data.byteLength).toBeLessThan(v1.byteLength);
  });

  it('still reads envelopes written in version 1', () => {
    const batch = spanLikeLogs(20);
    const data = versionOneEnvelope('acme', [batch]);
    expect(readEnvelopeHeader(data).v).toBe(1);
    expect(unpackEnvelope(data).batches).toEqual([batch]);
  });

  it('rejects a version-1 envelope whose column is not a plain array', () => {
    const data = versionOneEnvelope('acme', [
      { table: 'otel_logs', rowCount: 2, columns: { Body: { d: ['x'] } as unknown as unknown[] } },
    ]);
    expect(() => unpackEnvelope(data)).toThrow(EnvelopeError);
  });

  it('round-trips arbitrary columns of strings, numbers and attribute maps', () => {
    const value = fc.oneof(fc.constantFrom('', 'a', 'b', 'NaN'), fc.string(), fc.integer(), fc.boolean());
    const map = fc.dictionary(fc.constantFrom('k1', 'k2', 'k3', 'x.y', 'a b'), fc.string({ maxLength: 4 }));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(value, { minLength: 1, maxLength: 4 }),
        map,
        (n, pool, m) => {
          const scalar = Array.from({ length: n }, (_, i) => pool[i % pool.length]);
          const maps = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? m : { ...m, extra: String(i) }));
          const batch: ColumnBatch = {
            table: 'otel_logs',
            rowCount: n,
            columns: { Body: scalar, LogAttributes: maps },
          };
          const [out] = unpackEnvelope(packEnvelopes('acme', 'logs', [batch])[0]!.data).batches;
          expect(out).toEqual(batch);
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });
  it('gives back attribute maps whose keys come in any order, subset or superset of the row before', () => {
    // Keys of every kind a map can hold: integer-like ones (listed first by JS), one that is not an
    // identifier, and "__proto__" as an own key.
    const keyPool = ['a', 'b', 'c', '0', '7', 'x.y', '__proto__', 'toString'];
    const row = fc.array(fc.tuple(fc.constantFrom(...keyPool), fc.string({ maxLength: 3 })), {
      maxLength: 6,
    });
    const build = (entries: [string, string][]): Record<string, string> => {
      const m: Record<string, string> = {};
      for (const [k, v] of entries)
        Object.defineProperty(m, k, { value: v, enumerable: true, writable: true, configurable: true });
      return m;
    };
    fc.assert(
      fc.property(
        fc.array(row, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat({ max: 11 }), { minLength: 1, maxLength: 80 }),
        (shapes, picks) => {
          // Rows repeat a few shapes (as one instrumentation's maps do) in runs and alternations.
          const maps = picks.map((p) => build(shapes[p % shapes.length]!));
          const batch: ColumnBatch = {
            table: 'otel_logs',
            rowCount: maps.length,
            columns: { LogAttributes: maps },
          };
          const [out] = unpackEnvelope(packEnvelopes('acme', 'logs', [batch])[0]!.data).batches;
          const got = out!.columns.LogAttributes as Record<string, string>[];
          expect(got.length).toBe(maps.length);
          for (let i = 0; i < maps.length; i++) {
            expect(Object.entries(got[i]!)).toEqual(Object.entries(maps[i]!));
            expect(Object.getPrototypeOf(got[i]!)).toBe(Object.prototype);
          }
        },
      ),
      { numRuns: 300, seed: 16 },
    );
  });
});
