import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatForContentType, parseContentEncoding } from '../../../functions/ingest/ingest.js';
import { groupByService, partitionKey } from '../../../functions/ingest/partition.js';
import type { ColumnBatch } from '../../../functions/shared/rows/batch.js';

function batch(services: readonly string[], table: ColumnBatch['table'] = 'otel_traces'): ColumnBatch {
  return {
    table,
    rowCount: services.length,
    columns: { ServiceName: [...services], SpanName: services.map((s, i) => `${s}#${i}`) },
  };
}

describe('groupByService', () => {
  it('keeps every row once, each service in its own group, rows in request order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.constantFrom('cart', 'checkout', 'payments', ''), { maxLength: 30 }), {
          maxLength: 5,
        }),
        (batchesServices) => {
          const batches = batchesServices.map((s) => batch(s));
          const groups = groupByService(batches);

          const expected = new Map<string, string[]>();
          for (const b of batches)
            b.columns.SpanName!.forEach((name, i) => {
              const service = b.columns.ServiceName![i] as string;
              expected.set(service, [...(expected.get(service) ?? []), name as string]);
            });
          expect([...groups.keys()]).toEqual([...expected.keys()]);
          for (const [service, list] of groups) {
            expect(list.flatMap((b) => b.columns.SpanName)).toEqual(expected.get(service));
            for (const b of list) expect(b.columns.ServiceName!.every((s) => s === service)).toBe(true);
          }
        },
      ),
    );
  });

  it('passes a single-service batch on without copying it', () => {
    const b = batch(['cart', 'cart']);
    expect(groupByService([b]).get('cart')![0]).toBe(b);
  });
});

describe('partitionKey', () => {
  it('is tenant:service, and stays within 256 characters and stable for long names', () => {
    expect(partitionKey('acme', 'checkout')).toBe('acme:checkout');
    const long = 'x'.repeat(400);
    const key = partitionKey('acme', long);
    expect(key.length).toBeLessThanOrEqual(256);
    expect(key.startsWith('acme:')).toBe(true);
    expect(partitionKey('acme', long)).toBe(key);
    expect(partitionKey('acme', `${long}y`)).not.toBe(key);
  });
});

describe('content negotiation', () => {
  it('accepts the two OTLP media types with parameters, in any case', () => {
    expect(formatForContentType('application/x-protobuf')).toBe('protobuf');
    expect(formatForContentType('Application/JSON; charset=utf-8')).toBe('json');
    expect(formatForContentType('application/protobuf')).toBeUndefined();
    expect(formatForContentType('text/plain')).toBeUndefined();
    expect(formatForContentType(undefined)).toBeUndefined();
  });

  it('accepts one of gzip, zstd and deflate, identity or nothing as Content-Encoding, and nothing else', () => {
    expect(parseContentEncoding(undefined)).toBe('none');
    expect(parseContentEncoding('identity')).toBe('none');
    expect(parseContentEncoding('GZIP')).toBe('gzip');
    expect(parseContentEncoding('x-gzip')).toBe('gzip');
    expect(parseContentEncoding('gzip, identity')).toBe('gzip');
    expect(parseContentEncoding('zstd')).toBe('zstd');
    expect(parseContentEncoding('Deflate')).toBe('deflate');
    expect(parseContentEncoding('zlib')).toBe('deflate');
    expect(parseContentEncoding('br')).toBeUndefined();
    expect(parseContentEncoding('gzip, gzip')).toBeUndefined();
    expect(parseContentEncoding('gzip, zstd')).toBeUndefined();
    expect(parseContentEncoding('constructor')).toBeUndefined();
  });
});
