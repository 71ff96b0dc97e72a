import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteBuffer } from '../../../../functions/shared/parquet/byte-buffer.js';
import { PAGE_BYTES } from '../../../../functions/shared/parquet/column-chunk.js';
import { bitWidth, writeHybrid } from '../../../../functions/shared/parquet/encodings.js';
import { decodeParquet } from '../../../../functions/shared/parquet/parquet-reader.js';
import { encodeParquet } from '../../../../functions/shared/parquet/parquet-writer.js';
import { CompactWriter } from '../../../../functions/shared/parquet/thrift-compact.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';
import { physicalColumns, TABLE_NAMES, type TableName } from '../../../../functions/shared/schema/columns.js';
import { encodeParquetWasm } from '../../../support/parquet-wasm/wasm-writer.js';
import { queryFiles } from '../lake/support.js';
import { sampleRows, sampleTraces } from './sample-rows.js';
import { tempFiles } from './temp-files.js';

/**
 * The hand-written encoder (parquet-writer.ts) against the parquet-wasm writer it replaced
 * (test/support/parquet-wasm/wasm-writer.ts) as the oracle: same schema, same values through DuckDB and decodeParquet.
 */

const file = tempFiles('parquet-encoder-');

const NON_ASCII = ['ünïcödé', '主机-1', '🚀 launch', 'ħttp', 'é'];

/**
 * Rows of `table` with the awkward values a batch can carry: missing values (null, undefined),
 * empty and missing maps and lists, non-ASCII text (astral-plane too) in strings, keys and values.
 */
function awkward(table: TableName, n: number): ColumnBatch {
  const batch = sampleRows(table, n, { seed: 17 });
  for (const c of physicalColumns(table)) {
    const values = batch.columns[c.name]!;
    for (let i = 0; i < n; i++) {
      const pick = (i * 7 + c.name.length) % 11;
      if (
        c.name === 'ServiceName' ||
        c.name === 'TenantId' ||
        c.name === 'Timestamp' ||
        c.name === 'TimeUnix'
      )
        continue;
      if (c.nestedIn) {
        if (pick === 0) values[i] = [];
        else if (pick === 1) values[i] = undefined;
        continue;
      }
      if (c.type === 'map') {
        if (pick === 0) values[i] = {};
        else if (pick === 1) values[i] = null;
        else if (pick === 2) values[i] = { [NON_ASCII[i % 5]!]: NON_ASCII[(i + 1) % 5]!, plain: '' };
        continue;
      }
      if (c.type === 'string' || c.type === 'lowcard') {
        if (pick === 0) values[i] = null;
        else if (pick === 1) values[i] = undefined;
        else if (pick === 2) values[i] = NON_ASCII[i % 5];
        else if (pick === 3) values[i] = '';
        continue;
      }
      if (c.type.startsWith('array_') && pick < 2) values[i] = pick === 0 ? [] : undefined;
    }
  }
  return batch;
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));

describe('encodeParquet against the parquet-wasm writer', () => {
  it.each(TABLE_NAMES)('writes %s with the same Parquet schema', async (table) => {
    const ours = await file(`schema-${table}.parquet`, encodeParquet(table, [sampleRows(table, 20)]));
    const theirs = await file(
      `schema-${table}-wasm.parquet`,
      encodeParquetWasm(table, [sampleRows(table, 20)]),
    );
    const schema = (path: string) =>
      queryFiles(
        [path],
        `SELECT name, type, repetition_type, num_children, converted_type, logical_type
         FROM parquet_schema('${path}') OFFSET 1`, // the root's name is the writer's own
      );

    const [a, b] = await Promise.all([schema(ours), schema(theirs)]);

    expect(a.length).toBeGreaterThan(10);
    // Ours annotates uint64 columns INTEGER(64, unsigned) / UINT_64 (values of 2^63 and more read
    // back as themselves); the Arrow writer left them plain INT64. Otherwise the same.
    const unsigned = a.filter((r) => r.converted_type === 'UINT_64');
    expect(unsigned.map((r) => r.name)).toEqual(
      physicalColumns(table)
        .filter((c) => c.type === 'uint64' || c.type === 'array_uint64')
        .map((c) => (c.type === 'array_uint64' ? 'element' : c.name)),
    );
    expect(unsigned.every((r) => r.type === 'INT64' && String(r.logical_type).includes('isSigned=0'))).toBe(
      true,
    );
    expect(
      a.map((r) => (r.converted_type === 'UINT_64' ? { ...r, converted_type: null, logical_type: null } : r)),
    ).toEqual(b);
  });

  it.each(TABLE_NAMES)(
    'reads back %s (missing values, empty maps and lists, non-ASCII, many row groups) as the old files do',
    async (table) => {
      const batch = awkward(table, 700);
      const ours = encodeParquet(table, [batch], { maxRowGroupRows: 97 });
      const theirs = encodeParquetWasm(table, [batch], { maxRowGroupRows: 97 });
      const [a, b] = [
        await file(`rt-${table}.parquet`, ours),
        await file(`rt-${table}-wasm.parquet`, theirs),
      ];

      const viaDuck = await queryFiles([a], 'SELECT * FROM {files}');
      const viaDuckOld = await queryFiles([b], 'SELECT * FROM {files}');
      const groups = await queryFiles(
        [a],
        `SELECT count(*) AS n FROM parquet_metadata('${a}') WHERE column_id = 0`,
      );

      expect(viaDuck).toHaveLength(700);
      expect(json(viaDuck)).toBe(json(viaDuckOld));
      expect(groups).toEqual([{ n: '8' }]);
      expect(decodeParquet(table, ours)).toEqual(decodeParquet(table, theirs));
    },
  );

  it.each(TABLE_NAMES)(
    'writes %s columns whose dictionary cannot win as PLAIN, with the same values and exact statistics',
    async (table) => {
      // A distinct string per row in every top-level string column and map (values past the
      // dictionary probe, so maps drop theirs mid-chunk, flat columns as soon as they cannot win).
      const rows = 6000;
      const batch = sampleRows(table, rows, { seed: 23 });
      for (const c of physicalColumns(table)) {
        if (c.nestedIn || c.name === 'ServiceName' || c.name === 'TenantId') continue;
        const values = batch.columns[c.name]!;
        for (let i = 0; i < rows; i++) {
          const unique = `${NON_ASCII[i % 5]}-${c.name}-${i}`;
          if (c.type === 'string' || c.type === 'lowcard') values[i] = unique;
          else if (c.type === 'map') values[i] = { [`k${i % 3}`]: unique, same: 'x' };
        }
      }
      const ours = encodeParquet(table, [batch], { maxRowGroupRows: 2500 });
      const theirs = encodeParquetWasm(table, [batch], { maxRowGroupRows: 2500 });
      const [a, b] = [
        await file(`plain-${table}.parquet`, ours),
        await file(`plain-${table}-wasm.parquet`, theirs),
      ];

      const encodings = await queryFiles(
        [a],
        `SELECT path_in_schema AS col, bool_or(contains(encodings, 'RLE_DICTIONARY')) AS dict
         FROM parquet_metadata('${a}')
         WHERE path_in_schema IN ('ScopeName', 'ServiceName', 'ResourceAttributes, entries, value')
         GROUP BY 1 ORDER BY 1`,
      );
      const stats = await queryFiles(
        [a],
        `WITH s AS (
           SELECT row_group_id AS g, stats_min_value AS lo, stats_max_value AS hi
           FROM parquet_metadata('${a}') WHERE path_in_schema = 'ScopeName'),
         r AS (
           SELECT file_row_number // 2500 AS g, min(ScopeName) AS lo, max(ScopeName) AS hi
           FROM read_parquet('${a}', file_row_number = true) GROUP BY 1)
         SELECT count(*) AS groups, count(*) FILTER (WHERE s.lo = r.lo AND s.hi = r.hi) AS exact
         FROM s JOIN r USING (g)`,
      );

      expect(encodings).toEqual([
        { col: 'ResourceAttributes, entries, value', dict: false },
        { col: 'ScopeName', dict: false },
        { col: 'ServiceName', dict: true },
      ]);
      expect(stats).toEqual([{ groups: '3', exact: '3' }]);
      expect(json(await queryFiles([a], 'SELECT * FROM {files}'))).toBe(
        json(await queryFiles([b], 'SELECT * FROM {files}')),
      );
      expect(decodeParquet(table, ours)).toEqual(decodeParquet(table, theirs));
    },
  );

  it('splits large column chunks into pages of about PAGE_BYTES and reads every value back', async () => {
    // 40k random 32-character trace ids are ~1.4 MB of PLAIN values: more than one page.
    const batch = sampleTraces(40_000, { seed: 8 });
    const ours = encodeParquet('otel_traces', [batch]);
    const path = await file('pages.parquet', ours);

    const [chunk] = await queryFiles(
      [path],
      `SELECT total_uncompressed_size AS size FROM parquet_metadata('${path}') WHERE path_in_schema = 'TraceId'`,
    );
    const ids = await queryFiles(
      [path],
      'SELECT count(DISTINCT TraceId) AS n, min(length(TraceId)) AS len FROM {files}',
    );

    expect(Number(chunk!.size)).toBeGreaterThan(PAGE_BYTES);
    expect(ids).toEqual([{ n: '40000', len: '32' }]);
    expect(decodeParquet('otel_traces', ours)).toEqual(
      decodeParquet('otel_traces', encodeParquetWasm('otel_traces', [batch])),
    );
  });

  it('writes a file of no rows that readers open with the full schema', async () => {
    const ours = encodeParquet('otel_traces', []);
    const path = await file('empty.parquet', ours);

    const count = await queryFiles([path], 'SELECT count(*) AS n FROM {files}');
    const columns = await queryFiles([path], 'DESCRIBE SELECT * FROM {files}');
    const back = decodeParquet('otel_traces', ours);

    expect(count).toEqual([{ n: '0' }]);
    expect(columns.map((c) => c.column_name)).toContain('ResourceAttributes');
    expect(back.rowCount).toBe(0);
    expect(back.columns['Events.Name']).toEqual([]);
  });

  it('gives each row group exact min/max statistics of its time and service', async () => {
    const path = await file(
      'stats.parquet',
      encodeParquet('otel_traces', [sampleTraces(1000, { seed: 6 })], { maxRowGroupRows: 128 }),
    );

    const check = await queryFiles(
      [path],
      `WITH s AS (
         SELECT row_group_id AS g, path_in_schema AS col, stats_min_value AS lo, stats_max_value AS hi,
                stats_null_count AS nulls
         FROM parquet_metadata('${path}') WHERE path_in_schema IN ('Timestamp', 'ServiceName')),
       r AS (
         SELECT file_row_number // 128 AS g, min(Timestamp) AS tlo, max(Timestamp) AS thi,
                min(ServiceName) AS slo, max(ServiceName) AS shi
         FROM read_parquet('${path}', file_row_number = true) GROUP BY 1)
       SELECT count(*) AS stats,
              count(*) FILTER (WHERE col = 'Timestamp' AND lo = tlo::VARCHAR AND hi = thi::VARCHAR) AS time_exact,
              count(*) FILTER (WHERE col = 'ServiceName' AND lo = slo AND hi = shi) AS service_exact,
              count(*) FILTER (WHERE nulls = 0) AS no_nulls
       FROM s JOIN r USING (g)`,
    );

    expect(check).toEqual([{ stats: '16', time_exact: '8', service_exact: '8', no_nulls: '16' }]);
  });
});

/** Reference decoder of the RLE/bit-packed hybrid, as the Parquet spec describes it. */
function decodeHybrid(bytes: Uint8Array, width: number, count: number): number[] {
  const out: number[] = [];
  let p = 0;
  while (out.length < count) {
    let header = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[p++]!;
      header += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    if (header % 2 === 0) {
      let v = 0;
      for (let i = 0; i < (width + 7) >> 3; i++) v += bytes[p++]! * 2 ** (8 * i);
      for (let i = 0; i < header / 2; i++) out.push(v);
    } else {
      const values = ((header - 1) / 2) * 8;
      let bit = p * 8;
      for (let i = 0; i < values; i++) {
        let v = 0;
        for (let k = 0; k < width; k++, bit++) v |= ((bytes[bit >> 3]! >> (bit & 7)) & 1) << k;
        out.push(v);
      }
      p += ((header - 1) / 2) * width;
    }
  }
  return out.slice(0, count);
}

describe('writeHybrid', () => {
  it('encodes any run structure so the spec decoder gets the values back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.tuple(fc.nat(1 << 20), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 60 }),
        (width, runs) => {
          const values = runs.flatMap(([v, n]) => new Array<number>(n).fill(v % (1 << width)));
          const out = new ByteBuffer(16);
          writeHybrid(out, values, 0, values.length, width);
          expect(decodeHybrid(out.view(), width, values.length)).toEqual(values);
        },
      ),
    );
  });

  it('needs one bit for levels 0..1 and five for 31 dictionary entries', () => {
    expect([bitWidth(1), bitWidth(2), bitWidth(30)]).toEqual([1, 2, 5]);
  });
});

describe('CompactWriter', () => {
  it('writes short and long field deltas, zigzag integers and nested structs as the protocol does', () => {
    const out = new ByteBuffer(16);
    // { 1: i32 -1, 20: i64 300, 21: struct { 1: true } }
    new CompactWriter(out).begin().i32(1, -1).i64(20, 300).struct(21).bool(1, true).end().end();

    expect([...out.view()]).toEqual([0x15, 0x01, 0x06, 0x28, 0xd8, 0x04, 0x1c, 0x11, 0x00, 0x00]);
  });
});
