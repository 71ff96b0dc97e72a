import { createHash } from 'node:crypto';
import { brotliCompressSync } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClickHouseTelemetryWriter,
  convertEnvelope,
  encodeParts,
  MAX_INSERT_BYTES,
  RowValidationError,
} from '../../../../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { type ColumnBatch, MapJson } from '../../../../functions/shared/rows/batch.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { anyUnits, batchOf, envelopeData, logRow, position } from './support.js';

/**
 * The hot writer unpacks attribute maps as their JSON text (MapJson, made from the envelope's
 * transposed map columns) instead of objects. Held to the object path over the whole domain of
 * keys and values: the text equals JSON.stringify of the object, the insert text is byte for byte
 * the same, and embedded ClickHouse reads back the same maps either way.
 */

const awkward = fc.constantFrom(
  '',
  '__proto__',
  'toJSON',
  'constructor',
  '0',
  '7',
  '01',
  '-1',
  '4294967294',
  '4294967295',
  'a"b',
  'a\\b',
  '\u0000',
  '\u001f',
  '\u007f',
  '\u2028',
  'é',
  '\ud800',
  '\udfff',
  '\ud83d\ude00',
  '18446744073709551615',
  'NaN',
  'Infinity',
);
const ordinary = fc.constantFrom('http.route', 'http.request.method', 'user.id', 'peer', 'GET', '/cart/:id');
const text = fc.oneof({ arbitrary: ordinary, weight: 4 }, { arbitrary: awkward, weight: 2 }, anyUnits);
/** A map of strings, absent (null), or one with a value that is not a string (the model refuses it). */
const attributeMap = fc.oneof(
  { arbitrary: fc.dictionary(text, text, { maxKeys: 6 }), weight: 60 },
  { arbitrary: fc.constant({}), weight: 2 },
  { arbitrary: fc.constant(null), weight: 1 },
  {
    arbitrary: fc.dictionary(text, fc.oneof(fc.double(), fc.constant(null), fc.boolean()), {
      minKeys: 1,
      maxKeys: 2,
    }),
    weight: 1,
  },
);

function logsWithAttributes(maps: readonly unknown[]): ColumnBatch {
  return batchOf(
    'otel_logs',
    maps.map((m, i) => logRow(i, m === undefined ? {} : { LogAttributes: m })),
  );
}

function unpackBoth(batch: ColumnBatch) {
  const data = envelopeData('acme', 'logs', [batch]);
  return { objects: unpackEnvelope(data).batches, texts: unpackEnvelope(data, { mapsAsJson: true }).batches };
}

function insertText(batches: readonly ColumnBatch[]): Buffer | RowValidationError {
  try {
    const rows = convertEnvelope('acme', batches, '0', 'id').rows.get('otel_logs') ?? [];
    return Buffer.concat([...encodeParts(rows, MAX_INSERT_BYTES)].flatMap((p) => [...p.chunks]));
  } catch (err) {
    if (err instanceof RowValidationError) return err;
    throw err;
  }
}

describe('attribute maps unpacked as JSON text', () => {
  it('makes JSON.stringify’s text of the object for every map, and the same insert text, or leaves the object', () => {
    let made = 0;
    let left = 0;
    fc.assert(
      fc.property(fc.array(attributeMap, { minLength: 1, maxLength: 40 }), (maps) => {
        const { objects, texts } = unpackBoth(logsWithAttributes(maps));
        const byObject = objects[0]!.columns.LogAttributes!;
        const byText = texts[0]!.columns.LogAttributes!;
        byText.forEach((v, i) => {
          if (v instanceof MapJson) {
            made++;
            expect(v.json).toBe(JSON.stringify(byObject[i]));
          } else {
            left++;
            expect(v).toEqual(byObject[i]);
          }
        });
        const a = insertText(objects);
        const b = insertText(texts);
        if (a instanceof RowValidationError) expect(b).toBeInstanceOf(RowValidationError);
        else expect(b).toEqual(a);
      }),
      { numRuns: 400 },
    );
    // Both paths were exercised, the text path mostly.
    expect(made).toBeGreaterThan(left);
    expect(left).toBeGreaterThan(0);
  });

  it('takes the text path for ordinary maps', () => {
    const ordinaryMaps = Array.from({ length: 20 }, (_, i) =>
      i % 2 ? { 'http.route': `/cart/${i}`, peer: '10.0.0.1' } : { 'user.id': `u${i}`, 'é"\ud800': 'x\n' },
    );
    const plain = unpackBoth(logsWithAttributes(ordinaryMaps)).texts[0]!.columns.LogAttributes!;
    expect(plain.every((v) => v instanceof MapJson)).toBe(true);
    expect(plain.map((v) => JSON.parse((v as MapJson).json))).toEqual(ordinaryMaps);
  });

  it('gives an envelope whose shapes list keys out of an object’s order the object’s text', () => {
    // packEnvelopes lists a map's keys in the object's order; another writer may not. An object
    // puts array-index keys first, ascending; a shape naming a key twice keeps its first place.
    const maps = {
      k: ['b', '5', '0', 'a'],
      s: [[0, 1, 2], [3, 0, 3], [1]],
      r: [0, 1, 2, 0],
      v: [
        ['x', 'y', null, 'z'],
        ['five', null, '5', 'V'],
        ['zero', null, null, '0'],
        [null, 'A', null, null],
      ],
    };
    const data = craftedLogs(maps, 4);
    const byObject = unpackEnvelope(data).batches[0]!.columns.LogAttributes!;
    const byText = unpackEnvelope(data, { mapsAsJson: true }).batches[0]!.columns.LogAttributes!;
    expect(byObject.map((m) => JSON.stringify(m))).toEqual([
      '{"0":"zero","5":"five","b":"x"}',
      '{"a":"A","b":"y"}',
      '{"5":"5"}',
      '{"0":"0","5":"V","b":"z"}',
    ]);
    expect(byText.map((v) => (v instanceof MapJson ? v.json : JSON.stringify(v)))).toEqual(
      byObject.map((m) => JSON.stringify(m)),
    );
  });
});

/** A version-2 envelope of one otel_logs batch whose LogAttributes column is `maps` as given. */
function craftedLogs(maps: unknown, n: number): Buffer {
  const payload = brotliCompressSync(
    Buffer.from(
      JSON.stringify({ batches: [{ table: 'otel_logs', rowCount: n, columns: { LogAttributes: maps } }] }),
    ),
  );
  const header = Buffer.from(
    JSON.stringify({
      v: 2,
      tenant: 'acme',
      signal: 'logs',
      counts: { otel_logs: n },
      sha256: createHash('sha256').update(payload).digest('hex'),
    }),
  );
  const head = Buffer.alloc(8);
  head.write('OT', 0, 'latin1');
  head.writeUInt8(2, 2);
  head.writeUInt8(2, 3); // brotli
  head.writeUInt32BE(header.length, 4);
  return Buffer.concat([head, header, payload]);
}

describe('attribute maps unpacked as JSON text, read back from embedded ClickHouse', () => {
  let connection: TestClickHouse;
  let client: ClickHouseClient;
  beforeAll(async () => {
    connection = await openMigratedClickHouse('ch-map-json-');
    client = connection.client;
  });
  afterAll(async () => {
    await connection.close();
  });

  it('stores the same maps as the object path', async () => {
    // Maps of strings only (the other kind is refused either way, above), awkward ones included,
    // well-formed as the receiver makes every string (ClickHouse refuses a lone surrogate's escape).
    const wellFormed = fc.oneof(
      { arbitrary: ordinary, weight: 4 },
      { arbitrary: awkward.filter((s) => Buffer.from(s).toString() === s), weight: 2 },
      fc.string({ unit: 'binary' }),
    );
    const maps = fc.sample(fc.dictionary(wellFormed, wellFormed, { maxKeys: 6 }), { numRuns: 120, seed: 21 });
    const { objects, texts } = unpackBoth(logsWithAttributes(maps));
    const made = texts[0]!.columns.LogAttributes!.filter((v) => v instanceof MapJson).length;
    expect(made).toBeGreaterThan(maps.length / 2);
    const writer = new ClickHouseTelemetryWriter(client);
    const result = await writer.write([
      { position: position(1), tenant: 'objects', id: 'e1', batches: objects },
      { position: position(2), tenant: 'texts', id: 'e1', batches: texts },
    ]);
    expect(result.error).toBeUndefined();
    expect(result.rejected).toEqual([]);
    expect(result.stats.rowsInserted).toBe(2 * maps.length);
    const read = async (tenant: string) => {
      const rs = await client.query({
        query: `SELECT Body, LogAttributes FROM otel_logs WHERE TenantId = {t:String} ORDER BY Body`,
        query_params: { t: tenant },
        format: 'JSONEachRow',
      });
      return rs.json<{ Body: string; LogAttributes: Record<string, string> }>();
    };
    const stored = await read('texts');
    expect(stored).toHaveLength(maps.length);
    expect(stored).toEqual(await read('objects'));
    // The client's own JSON encoding (the writer's reference format) takes the text back to objects.
    const reference = new ClickHouseTelemetryWriter(client, { format: 'JSONEachRow' });
    const again = await reference.write([
      { position: position(3), tenant: 'reference', id: 'e1', batches: texts },
    ]);
    expect(again.stats.rowsInserted).toBe(maps.length);
    expect(await read('reference')).toEqual(stored);
  });
});
