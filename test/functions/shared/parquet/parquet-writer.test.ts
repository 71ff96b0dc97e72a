import { describe, expect, it } from 'vitest';
import { decodeParquet } from '../../../../functions/shared/parquet/parquet-reader.js';
import { encodeParquet } from '../../../../functions/shared/parquet/parquet-writer.js';
import { type ColumnBatch, rows } from '../../../../functions/shared/rows/batch.js';
import {
  physicalColumns,
  type ScalarType,
  TABLE_NAMES,
  type TableName,
} from '../../../../functions/shared/schema/columns.js';
import { queryFiles } from '../lake/support.js';
import { sampleRows } from './sample-rows.js';
import { tempFiles } from './temp-files.js';

const file = tempFiles('parquet-test-');

function traces(): ColumnBatch {
  return {
    table: 'otel_traces',
    rowCount: 2,
    columns: {
      TenantId: ['acme', 'acme'],
      Timestamp: ['1795428000123456789', '1795428001000000000'],
      TraceId: ['0af7651916cd43dd8448eb211c80319c', '4bf92f3577b34da6a3ce929d0e0e4736'],
      SpanId: ['b7ad6b7169203331', '00f067aa0ba902b7'],
      ParentSpanId: ['', 'b7ad6b7169203331'],
      TraceState: ['', 'rojo=00f067aa0ba902b7'],
      SpanName: ['GET /cart', 'SELECT ünïcödé'],
      SpanKind: ['Server', 'Client'],
      ServiceName: ['web', 'api'],
      ResourceAttributes: [{ 'service.name': 'web', 'host.name': 'a' }, { 'service.name': 'api' }],
      ScopeName: ['http', 'pg'],
      ScopeVersion: ['1.0', '2.0'],
      SpanAttributes: [{ 'http.route': '/cart' }, {}],
      Duration: [1234567, 89],
      StatusCode: ['Unset', 'Error'],
      StatusMessage: ['', 'boom'],
      'Events.Timestamp': [['1795428000123999999'], []],
      'Events.Name': [['exception'], []],
      'Events.Attributes': [[{ 'exception.type': 'TypeError' }], []],
      'Links.TraceId': [[], ['0af7651916cd43dd8448eb211c80319c', '4bf92f3577b34da6a3ce929d0e0e4736']],
      'Links.SpanId': [[], ['b7ad6b7169203331', '00f067aa0ba902b7']],
      'Links.TraceState': [[], ['', 'x=1']],
      'Links.Attributes': [[], [{ a: '1' }, {}]],
    },
  };
}

describe('encodeParquet', () => {
  it('writes trace rows that DuckDB reads back with maps, nested events and links, and timestamps', async () => {
    const path = await file('traces.parquet', encodeParquet('otel_traces', [traces()]));

    const got = await queryFiles(
      [path],
      `SELECT ServiceName, epoch_us(Timestamp)::VARCHAR AS us, SpanName, TraceState,
              SpanAttributes['http.route'] AS route, ResourceAttributes['host.name'] AS host,
              Duration, len(Events) AS events, Events[1].Name AS event, epoch_us(Events[1].Timestamp)::VARCHAR AS event_us,
              Events[1].Attributes['exception.type'] AS etype, len(Links) AS links, Links[2].TraceState AS link_state,
              Links[1].Attributes['a'] AS link_attr
       FROM {files}`,
    );

    // Sorted by ServiceName: api before web.
    expect(got).toEqual([
      {
        ServiceName: 'api',
        us: '1795428001000000',
        SpanName: 'SELECT ünïcödé',
        TraceState: 'rojo=00f067aa0ba902b7',
        route: null,
        host: null,
        Duration: '89',
        events: '0',
        event: null,
        event_us: null,
        etype: null,
        links: '2',
        link_state: 'x=1',
        link_attr: '1',
      },
      {
        ServiceName: 'web',
        us: '1795428000123456',
        SpanName: 'GET /cart',
        TraceState: '',
        route: '/cart',
        host: 'a',
        Duration: '1234567',
        events: '1',
        event: 'exception',
        event_us: '1795428000123999',
        etype: 'TypeError',
        links: '0',
        link_state: null,
        link_attr: null,
      },
    ]);
  });

  it('keeps NaN, infinities, booleans, arrays and exemplars of metrics', async () => {
    const sum: ColumnBatch = sampleRows('otel_metrics_sum', 3);
    sum.columns.Value = ['NaN', 'Infinity', 1.5];
    sum.columns.IsMonotonic = [true, false, true];
    const hist = sampleRows('otel_metrics_histogram', 2);
    hist.columns.BucketCounts = [[1, 2, 3], []];
    hist.columns.ExplicitBounds = [[0.5, 10], []];
    const sumPath = await file('sum.parquet', encodeParquet('otel_metrics_sum', [sum]));
    const histPath = await file('hist.parquet', encodeParquet('otel_metrics_histogram', [hist]));

    const sums = await queryFiles(
      [sumPath],
      `SELECT Value::VARCHAR AS v, IsMonotonic AS m, len(Exemplars) AS ex FROM {files} ORDER BY m, Value`,
    );
    const hists = await queryFiles(
      [histPath],
      'SELECT BucketCounts AS b, ExplicitBounds AS e FROM {files} ORDER BY len(BucketCounts) DESC',
    );

    expect(sums.map((r) => r.v).sort()).toEqual(['1.5', 'inf', 'nan']);
    expect(sums.map((r) => r.m).sort()).toEqual([false, true, true]);
    expect(hists).toEqual([
      { b: ['1', '2', '3'], e: [0.5, 10] },
      { b: [], e: [] },
    ]);
  });

  it('keeps uint64 values past 2^53 and 2^63 exact (UBIGINT), with unsigned statistics, and reads them back', async () => {
    const hist = sampleRows('otel_metrics_histogram', 4);
    hist.columns.Count = ['18446744073709551615', 5, '9223372036854775808', 9007199254740991];
    hist.columns.BucketCounts = [['18446744073709551615', 0], [], ['9007199254740993'], [1]];
    const bytes = encodeParquet('otel_metrics_histogram', [hist]);
    const path = await file('wide.parquet', bytes);

    const read = await queryFiles(
      [path],
      `SELECT typeof(Count) AS t, Count::VARCHAR AS c, list_transform(BucketCounts, x -> x::VARCHAR) AS b
       FROM {files} ORDER BY Count`,
    );
    const stats = await queryFiles(
      [path],
      `SELECT stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata('${path}')
       WHERE path_in_schema = 'Count'`,
    );
    // The statistics must be unsigned, or a reader skipping by them would drop this row.
    const top = await queryFiles(
      [path],
      'SELECT count(*)::INTEGER AS n FROM {files} WHERE Count > 9223372036854775807',
    );

    expect(read).toEqual([
      { t: 'UBIGINT', c: '5', b: [] },
      { t: 'UBIGINT', c: '9007199254740991', b: ['1'] },
      { t: 'UBIGINT', c: '9223372036854775808', b: ['9007199254740993'] },
      { t: 'UBIGINT', c: '18446744073709551615', b: ['18446744073709551615', '0'] },
    ]);
    expect(stats).toEqual([{ lo: '5', hi: '18446744073709551615' }]);
    expect(top).toEqual([{ n: 2 }]);
    const back = decodeParquet('otel_metrics_histogram', bytes);
    expect([...back.columns.Count!].sort()).toEqual(
      [5, 9007199254740991, '18446744073709551615', '9223372036854775808'].sort(),
    );
  });

  it('sorts rows by ServiceName then time, in row groups whose statistics let readers skip', async () => {
    const batch = sampleRows('otel_traces', 3000, { seed: 3 });
    const path = await file(
      'sorted.parquet',
      encodeParquet('otel_traces', [batch], { maxRowGroupRows: 500 }),
    );

    const order = await queryFiles(
      [path],
      `SELECT count(*) AS unsorted FROM (
         SELECT ServiceName, Timestamp, lag(ServiceName) OVER () AS ps, lag(Timestamp) OVER () AS pt FROM {files})
       WHERE ps > ServiceName OR (ps = ServiceName AND pt > Timestamp)`,
    );
    const groups = await queryFiles(
      [path],
      `SELECT row_group_id AS g, stats_min_value AS lo, stats_max_value AS hi
       FROM parquet_metadata('${path}') WHERE path_in_schema = 'ServiceName' ORDER BY row_group_id`,
    );

    expect(order).toEqual([{ unsorted: '0' }]);
    expect(groups).toHaveLength(6);
    // Each service spans few row groups: min/max ranges only touch at their ends.
    for (let i = 1; i < groups.length; i++)
      expect(String(groups[i]!.lo) >= String(groups[i - 1]!.hi)).toBe(true);
    const distinct = await queryFiles([path], 'SELECT count(DISTINCT ServiceName) AS n FROM {files}');
    expect(distinct).toEqual([{ n: '6' }]);
  });
});

describe("encodeParquet with the lake writer's inputs", () => {
  it('merges envelope-sized batches into one file sorted by service then time, every row kept', () => {
    const all = sampleRows('otel_traces', 900, { seed: 5 });
    const parts = [0, 300, 600].map((from) => {
      const columns: Record<string, unknown[]> = {};
      for (const [name, values] of Object.entries(all.columns))
        columns[name] = values.slice(from, from + 300);
      // As unpacked from an envelope: JSON, not the flattener's objects.
      return JSON.parse(JSON.stringify({ table: 'otel_traces', rowCount: 300, columns })) as ColumnBatch;
    });

    const back = decodeParquet('otel_traces', encodeParquet('otel_traces', parts));

    const got = [...rows(back)];
    const keys = got.map((r) => `${r.ServiceName}|${r.Timestamp}`);
    expect(keys).toEqual([...keys].sort());
    expect(got.map((r) => normalise('otel_traces', r)).sort()).toEqual(
      [...rows(all)].map((r) => normalise('otel_traces', r)).sort(),
    );
  });

  it('orders rows of one microsecond by their nanoseconds, then by arrival', () => {
    const batch = sampleRows('otel_traces', 4, { seed: 9 });
    batch.columns.ServiceName = ['svc', 'svc', 'svc', 'svc'];
    batch.columns.Timestamp = [
      '1795428000000001900',
      '1795428000000001100',
      '1795428000000001900',
      '1795428000000000999',
    ];
    batch.columns.SpanId = ['a', 'b', 'c', 'd'];

    const back = decodeParquet('otel_traces', encodeParquet('otel_traces', [batch]));

    expect(back.columns.SpanId).toEqual(['d', 'b', 'a', 'c']);
  });

  it('keeps non-ASCII text and rows that repeat the previous row exactly', () => {
    const batch = sampleRows('otel_traces', 6, { seed: 13 });
    batch.columns.ServiceName = ['ü-svc', 'ü-svc', 'ü-svc', 'plain', 'plain', 'plain'];
    batch.columns.ScopeName = [
      '@opentelemetry/instrumentation-ħttp',
      '@opentelemetry/instrumentation-ħttp',
      'x',
      'é',
      '',
      '',
    ];
    const same = { 'service.name': 'ü-svc', 'host.name': '主机-1', emoji: '🚀 launch' };
    batch.columns.ResourceAttributes = [
      same,
      { ...same },
      { ...same, 'host.name': 'h2' },
      {},
      {},
      { a: 'b' },
    ];
    batch.columns.Timestamp = batch.columns.Timestamp!.map((_, i) => `179542800000000${i}000`);

    const back = decodeParquet('otel_traces', encodeParquet('otel_traces', [batch]));

    expect(back.columns.ServiceName).toEqual(['plain', 'plain', 'plain', 'ü-svc', 'ü-svc', 'ü-svc']);
    expect(back.columns.ScopeName).toEqual([
      'é',
      '',
      '',
      '@opentelemetry/instrumentation-ħttp',
      '@opentelemetry/instrumentation-ħttp',
      'x',
    ]);
    expect(back.columns.ResourceAttributes).toEqual([
      {},
      {},
      { a: 'b' },
      same,
      same,
      { ...same, 'host.name': 'h2' },
    ]);
  });

  it('writes the same bytes for the same rows, however many files were encoded before', () => {
    const batch = sampleRows('otel_traces', 2000, { seed: 21 });
    const first = encodeParquet('otel_traces', [batch]);
    encodeParquet('otel_logs', [sampleRows('otel_logs', 3000)]);
    encodeParquet('otel_metrics_histogram', [sampleRows('otel_metrics_histogram', 500)]);

    const again = encodeParquet('otel_traces', [batch]);

    expect(Buffer.from(again).equals(Buffer.from(first))).toBe(true);
  });

  it('keeps time statistics per page, so readers can skip by time within a service', async () => {
    const path = await file(
      'stats.parquet',
      encodeParquet('otel_traces', [sampleRows('otel_traces', 1000, { seed: 4 })]),
    );

    const stats = await queryFiles(
      [path],
      `SELECT path_in_schema AS col, stats_min_value IS NOT NULL AS has_min
       FROM parquet_metadata('${path}') WHERE path_in_schema IN ('Timestamp', 'ServiceName', 'Duration') ORDER BY col`,
    );

    expect(stats).toEqual([
      { col: 'Duration', has_min: true },
      { col: 'ServiceName', has_min: true },
      { col: 'Timestamp', has_min: true },
    ]);
  });
});

/** A row as the model would hold it after a Parquet round trip (µs timestamps, numeric floats). */
function normalise(table: TableName, row: Record<string, unknown>): string {
  const types = new Map(physicalColumns(table).map((c) => [c.name, c]));
  const fix = (type: ScalarType, v: unknown): unknown => {
    if (type === 'timestamp_ns') return `${String(v).slice(0, -3)}000`;
    if (type === 'float64') return String(Number(v));
    return v;
  };
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(row)) {
    const c = types.get(name)!;
    out[name] = c.nestedIn ? (v as unknown[]).map((x) => fix(c.type, x)) : fix(c.type, v);
  }
  return JSON.stringify(out);
}

describe('decodeParquet', () => {
  it.each(TABLE_NAMES)('reads back every row of %s as the model holds it', (table) => {
    const batch = sampleRows(table, 40, { seed: 11 });

    const back = decodeParquet(table, encodeParquet(table, [batch]));

    expect(back.rowCount).toBe(40);
    const want = [...rows(batch)].map((r) => normalise(table, r)).sort();
    const got = [...rows(back)].map((r) => normalise(table, r)).sort();
    expect(got).toEqual(want);
  });
});
