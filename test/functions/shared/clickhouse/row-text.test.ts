import type { ClickHouseClient } from '@clickhouse/client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClickHouseTelemetryWriter,
  convertEnvelope,
  encodeParts,
  RowValidationError,
} from '../../../../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { type ColumnBatch, MapJson } from '../../../../functions/shared/rows/batch.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { anyUnits, batchOf, envelopeData, logRow, nsAgo, position } from './support.js';

/**
 * The insert text (RowText joins each line from its cells' texts) and the conversion (a value equal
 * to the one above it is converted once per run), over values that repeat the row above by
 * reference or by value, as a decoded envelope's dictionary columns do. Oracles: JSON.stringify for
 * the text, and embedded ClickHouse for what is stored.
 */

const scalar = fc.oneof(
  anyUnits,
  fc.constantFrom(
    '',
    'a"b',
    'a\\b',
    '\u0000',
    '\u2028',
    'é',
    '\ud800',
    '\ud83d\ude00',
    '18446744073709551615',
  ),
  fc.double(),
  fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.MIN_VALUE, 2 ** 53 + 2),
  fc.integer(),
  fc.boolean(),
  fc.constantFrom(undefined, null),
);
/** A cell and the value JSON.stringify must be given to write the same text. */
interface Cell {
  readonly value: unknown;
  readonly reference: unknown;
}
const plain = (v: unknown): Cell => ({ value: v, reference: v });
const cell: fc.Arbitrary<Cell> = fc.oneof(
  { arbitrary: scalar.map(plain), weight: 6 },
  { arbitrary: fc.array(fc.oneof(fc.double(), anyUnits), { maxLength: 3 }).map(plain), weight: 1 },
  { arbitrary: fc.constant(plain(Object.freeze([]))), weight: 1 },
  { arbitrary: fc.dictionary(anyUnits, anyUnits, { maxKeys: 4 }).map(plain), weight: 1 },
  {
    // An attribute map unpacked as its text.
    arbitrary: fc.dictionary(anyUnits, anyUnits, { maxKeys: 4 }).map((m) => ({
      value: new MapJson(JSON.stringify(m)),
      reference: m,
    })),
    weight: 1,
  },
  {
    // A value past SHARED_TEXT_CHARS (16 Ki characters), sent as a shared Buffer.
    arbitrary: fc.constantFrom('x', 'é', '"').map((c) => plain(c.repeat(17 * 1024))),
    weight: 1,
  },
);

/**
 * Rows of `width` cells where each cell is, at random, the same object as the one above it, an
 * equal copy of it, or a new value: the runs a decoded envelope's columns have.
 */
function rowsOf(width: number): fc.Arbitrary<Cell[][]> {
  return fc
    .array(
      fc.tuple(
        fc.array(cell, { minLength: width, maxLength: width }),
        fc.array(fc.nat(3), { minLength: width, maxLength: width }),
      ),
      {
        maxLength: 40,
      },
    )
    .map((draws) => {
      const rows: Cell[][] = [];
      for (const [cells, repeat] of draws) {
        const above = rows[rows.length - 1];
        rows.push(
          cells.map((c, i) => {
            const up = above?.[i];
            if (!up || repeat[i]! === 0) return c;
            if (repeat[i]! === 1) return up;
            // An equal value that is not the same object (a string of the same characters).
            return typeof up.value === 'string' ? { ...up, value: `${up.value} `.slice(0, -1) } : up;
          }),
        );
      }
      return rows;
    });
}

const textOf = (rows: readonly (readonly unknown[])[], maxBytes: number) =>
  Buffer.concat([...encodeParts(rows, maxBytes)].flatMap((p) => [...p.chunks])).toString('utf8');
const expected = (rows: readonly Cell[][]) =>
  rows.map((r) => `${JSON.stringify(r.map((c) => c.reference))}\n`).join('');

describe('RowText', () => {
  it('writes each row as JSON.stringify does, whether its cells repeat the row above or not', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }).chain((w) => rowsOf(w)),
        fc.constantFrom(64, 4096, 1 << 24),
        (rows, maxBytes) => {
          // Text is UTF-8 of the JS string, so compare decoded text only for well-formed strings.
          const text = textOf(
            rows.map((r) => r.map((c) => c.value)),
            maxBytes,
          );
          expect(text).toBe(Buffer.from(expected(rows)).toString('utf8'));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes rows of differing widths as JSON.stringify does', () => {
    fc.assert(
      fc.property(fc.array(fc.array(scalar, { maxLength: 6 }), { maxLength: 20 }), (rows) => {
        expect(textOf(rows, 1 << 24)).toBe(
          Buffer.from(rows.map((r) => `${JSON.stringify(r)}\n`).join('')).toString('utf8'),
        );
      }),
      { numRuns: 200 },
    );
  });
});

/** Picks, per row, from a few values, so a column has runs of one value (and its copies). */
function runsOf<T>(values: readonly T[], picks: readonly number[]): T[] {
  return picks.map((p) => values[p % values.length]!);
}

describe('conversion of runs of equal values', () => {
  it('converts and refuses each row as it would alone', () => {
    const severity = fc.constantFrom<unknown>(9, 0, 255, 256, -1, 1.5, '9', null);
    const body = fc.constantFrom<unknown>('a', '', null, undefined, 7);
    const attrs = fc.constantFrom<unknown>({}, { k: 'v' }, null, { k: 1 }, [], 'x');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(severity, body, attrs, fc.boolean()), { minLength: 1, maxLength: 12 }),
        (draws) => {
          // A row repeats the one above by reference when asked (a dictionary column's rows).
          const rows = draws.map(([s, b, a], i) => {
            const up = draws[i - 1];
            return logRow(i, {
              SeverityNumber: s,
              Body: b,
              LogAttributes: draws[i]![3] && up ? up[2] : a,
            });
          });
          const convert = (batch: ColumnBatch) => {
            try {
              return convertEnvelope('acme', [batch], '0', 'id').rows.get('otel_logs') ?? [];
            } catch (err) {
              if (err instanceof RowValidationError) return 'refused';
              throw err;
            }
          };
          const whole = convert(batchOf('otel_logs', rows));
          const alone = rows.map((r) => convert(batchOf('otel_logs', [r])));
          if (alone.includes('refused')) expect(whole).toBe('refused');
          else expect(whole).toEqual(alone.flat());
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('runs of equal values, read back from embedded ClickHouse', () => {
  let connection: TestClickHouse;
  let client: ClickHouseClient;
  beforeAll(async () => {
    connection = await openMigratedClickHouse('ch-row-text-');
    client = connection.client;
  });
  afterAll(async () => {
    await connection.close();
  });

  it('stores every row’s values, each run of one value included', async () => {
    const picks = fc.sample(fc.array(fc.nat(), { minLength: 5, maxLength: 5 }), { numRuns: 200, seed: 7 });
    const resource = { 'service.name': 'checkout', 'host.name': 'é"\\\u0001' };
    const bodies = runsOf(
      ['', 'same', 'é"\n', 'x'.repeat(300)],
      picks.map((p) => p[0]! >> 2),
    );
    const severities = runsOf(
      [0, 9, 255],
      picks.map((p) => p[1]! >> 3),
    );
    const attrs = runsOf<Record<string, string>>(
      [{}, { k: 'v' }, { 'a"': '\u2028' }],
      picks.map((p) => p[2]! >> 3),
    );
    const rows = picks.map((_, i) =>
      logRow(i, {
        Timestamp: nsAgo(60_000, i),
        Body: bodies[i],
        SeverityNumber: severities[i],
        LogAttributes: attrs[i],
        // One object on every row, as a dictionary column decodes it.
        ResourceAttributes: resource,
        ServiceName: i < 100 ? 'checkout' : 'cart',
      }),
    );
    const { header, batches } = unpackEnvelope(envelopeData('acme', 'logs', [batchOf('otel_logs', rows)]), {
      mapsAsJson: true,
    });
    const result = await new ClickHouseTelemetryWriter(client).write([
      { position: position(1), tenant: header.tenant, id: header.id, batches },
    ]);
    expect(result.error).toBeUndefined();
    expect(result.stats.rowsInserted).toBe(rows.length);
    const rs = await client.query({
      query:
        'SELECT Body, SeverityNumber, LogAttributes, ResourceAttributes, ServiceName FROM otel_logs ORDER BY Timestamp',
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual(
      rows.map((r) => ({
        Body: r.Body,
        SeverityNumber: r.SeverityNumber,
        LogAttributes: r.LogAttributes,
        ResourceAttributes: resource,
        ServiceName: r.ServiceName,
      })),
    );
  });
});
