import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { createIngest, type IngestResponse } from '../../../functions/ingest/ingest.js';
import { applyMigrations } from '../../../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter, type WriteResult } from '../../../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../../../functions/shared/envelope/envelope.js';
import { writeToLake } from '../../../functions/shared/lake/lake-writer.js';
import type { Signal, TableName } from '../../../functions/shared/schema/columns.js';
import type { PutOutcome, StreamRecord, StreamSink } from '../../../functions/shared/stream/stream-sink.js';
import type { TenantDirectory, TenantInfo } from '../../../functions/shared/tenants/directory.js';
import { createEmbeddedClickHouse } from '../../../local/clickhouse-embedded.js';
import { type LakeHarness, queryObjects, startLake } from '../shared/lake/support.js';
import { type Text, toJson, toProtobuf, type Wire, type WireField } from './domain-wire.js';

/**
 * The ingest domain against the storage domain: OTLP item specs -> a request (protobuf or JSON) ->
 * the real `createIngest` (a StreamSink that keeps the records) -> the hot writer into embedded
 * ClickHouse and the lake writer into Parquet on s3rver read back by DuckDB; and, beside it, what
 * each item must read back as (the rules of docs/decisions/0002), worked out here with BigInt.
 */

export type Format = 'protobuf' | 'json';

export const HOUR_NS = 3_600_000_000_000n;
export const DAY_NS = 24n * HOUR_NS;
export const U64_MAX = (1n << 64n) - 1n;
/** Latest time both tiers store (sanitize.ts MAX_STORED_NS): 2^53 µs. */
export const MAX_STORED_NS = 9_007_199_254_740_991_999n;

// ---- item specs ----

export type Num = { readonly asDouble: number } | { readonly asInt: bigint } | undefined;

export interface SpanSpec {
  readonly item: number;
  readonly ids: 'ok' | 'empty-trace' | 'short-span';
  readonly start?: bigint;
  readonly end?: bigint;
  readonly name: Text;
  readonly events: readonly { readonly time?: bigint; readonly name: Text }[];
}

export interface LogSpec {
  readonly item: number;
  readonly time?: bigint;
  readonly observed?: bigint;
  readonly body: Text;
}

interface PointBase {
  readonly item: number;
  readonly start?: bigint;
  readonly time?: bigint;
}

export interface BucketsSpec {
  readonly offset: number;
  readonly counts: readonly bigint[];
}

export type PointSpec =
  | (PointBase & {
      readonly type: 'gauge' | 'sum';
      readonly value: Num;
      readonly exemplars: readonly { readonly time?: bigint; readonly value: Num }[];
    })
  | (PointBase & {
      readonly type: 'histogram';
      readonly count?: bigint;
      readonly sum?: number;
      readonly bucketCounts: readonly bigint[];
      readonly bounds: readonly number[];
      readonly min?: number;
      readonly max?: number;
    })
  | (PointBase & {
      readonly type: 'exponential_histogram';
      readonly count?: bigint;
      readonly sum?: number;
      readonly scale: number;
      readonly zeroCount?: bigint;
      readonly positive?: BucketsSpec;
      readonly negative?: BucketsSpec;
      readonly min?: number;
      readonly max?: number;
      readonly zeroThreshold?: number;
    })
  | (PointBase & {
      readonly type: 'summary';
      readonly count?: bigint;
      readonly sum?: number;
      readonly quantiles: readonly { readonly q: number; readonly v: number }[];
    });

export type Items =
  | { readonly signal: 'traces'; readonly items: readonly SpanSpec[] }
  | { readonly signal: 'logs'; readonly items: readonly LogSpec[] }
  | { readonly signal: 'metrics'; readonly items: readonly PointSpec[] };

// ---- wire messages ----

const text = (t: string): Text => ({ text: t });
const str = (no: number, name: string, v: Text): WireField => ({ no, name, k: 'string', v });
const msg = (no: number, name: string, v: Wire, rep?: true): WireField =>
  rep ? { no, name, k: 'msg', v, rep } : { no, name, k: 'msg', v };
const opt = <T>(v: T | undefined, f: (v: T) => WireField): WireField[] => (v === undefined ? [] : [f(v)]);

function keyValue(no: number, name: string, key: string, value: Text): WireField {
  return msg(no, name, [str(1, 'key', text(key)), msg(2, 'value', [str(1, 'stringValue', value)])], true);
}

const itemAttr = (no: number, name: string, item: number) => keyValue(no, name, 'item', text(`${item}`));

const hexOf = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

function span(s: SpanSpec): Wire {
  return [
    ...(s.ids === 'empty-trace'
      ? []
      : [{ no: 1, name: 'traceId', k: 'id', v: hexOf(s.item + 1, 16) } as const]),
    { no: 2, name: 'spanId', k: 'id', v: hexOf(s.item + 1, s.ids === 'short-span' ? 4 : 8) },
    str(5, 'name', s.name),
    { no: 6, name: 'kind', k: 'int', v: 2n },
    ...opt(s.start, (v) => ({ no: 7, name: 'startTimeUnixNano', k: 'fixed64', v })),
    ...opt(s.end, (v) => ({ no: 8, name: 'endTimeUnixNano', k: 'fixed64', v })),
    itemAttr(9, 'attributes', s.item),
    ...s.events.map((e) =>
      msg(
        11,
        'events',
        [...opt(e.time, (v) => ({ no: 1, name: 'timeUnixNano', k: 'fixed64', v })), str(2, 'name', e.name)],
        true,
      ),
    ),
  ];
}

function logRecord(l: LogSpec): Wire {
  return [
    ...opt(l.time, (v) => ({ no: 1, name: 'timeUnixNano', k: 'fixed64', v })),
    ...opt(l.observed, (v) => ({ no: 11, name: 'observedTimeUnixNano', k: 'fixed64', v })),
    { no: 2, name: 'severityNumber', k: 'int', v: 9n },
    msg(5, 'body', [str(1, 'stringValue', l.body)]),
    itemAttr(6, 'attributes', l.item),
  ];
}

function num(v: Num, doubleNo: number, intNo: number): WireField[] {
  if (v === undefined) return [];
  return 'asDouble' in v
    ? [{ no: doubleNo, name: 'asDouble', k: 'double', v: v.asDouble }]
    : [{ no: intNo, name: 'asInt', k: 'sfixed64', v: v.asInt }];
}

function times(p: PointBase): WireField[] {
  return [
    ...opt(p.start, (v) => ({ no: 2, name: 'startTimeUnixNano', k: 'fixed64', v })),
    ...opt(p.time, (v) => ({ no: 3, name: 'timeUnixNano', k: 'fixed64', v })),
  ];
}

const dbl = (no: number, name: string) => (v: number) => ({ no, name, k: 'double', v }) as const;
const f64 = (no: number, name: string) => (v: bigint) => ({ no, name, k: 'fixed64', v }) as const;

function buckets(no: number, name: string, b: BucketsSpec | undefined): WireField[] {
  if (b === undefined) return [];
  return [
    msg(no, name, [
      { no: 1, name: 'offset', k: 'sint32', v: BigInt(b.offset) },
      { no: 2, name: 'bucketCounts', k: 'packedUint64', v: b.counts },
    ]),
  ];
}

function metric(p: PointSpec): Wire {
  let data: WireField;
  switch (p.type) {
    case 'gauge':
    case 'sum': {
      const point = [
        itemAttr(7, 'attributes', p.item),
        ...times(p),
        ...num(p.value, 4, 6),
        ...p.exemplars.map((e) =>
          msg(
            5,
            'exemplars',
            [
              ...opt(e.time, (v) => ({ no: 2, name: 'timeUnixNano', k: 'fixed64', v }) as const),
              ...num(e.value, 3, 6),
            ],
            true,
          ),
        ),
      ];
      data =
        p.type === 'gauge'
          ? msg(5, 'gauge', [msg(1, 'dataPoints', point, true)])
          : msg(7, 'sum', [
              msg(1, 'dataPoints', point, true),
              { no: 2, name: 'aggregationTemporality', k: 'int', v: 2n },
              { no: 3, name: 'isMonotonic', k: 'bool', v: true },
            ]);
      break;
    }
    case 'histogram':
      data = msg(9, 'histogram', [
        msg(
          1,
          'dataPoints',
          [
            itemAttr(9, 'attributes', p.item),
            ...times(p),
            ...opt(p.count, f64(4, 'count')),
            ...opt(p.sum, dbl(5, 'sum')),
            ...(p.bucketCounts.length > 0
              ? [{ no: 6, name: 'bucketCounts', k: 'packedFixed64', v: p.bucketCounts } as const]
              : []),
            ...(p.bounds.length > 0
              ? [{ no: 7, name: 'explicitBounds', k: 'packedDouble', v: p.bounds } as const]
              : []),
            ...opt(p.min, dbl(11, 'min')),
            ...opt(p.max, dbl(12, 'max')),
          ],
          true,
        ),
        { no: 2, name: 'aggregationTemporality', k: 'int', v: 1n },
      ]);
      break;
    case 'exponential_histogram':
      data = msg(10, 'exponentialHistogram', [
        msg(
          1,
          'dataPoints',
          [
            itemAttr(1, 'attributes', p.item),
            ...times(p),
            ...opt(p.count, f64(4, 'count')),
            ...opt(p.sum, dbl(5, 'sum')),
            { no: 6, name: 'scale', k: 'sint32', v: BigInt(p.scale) },
            ...opt(p.zeroCount, f64(7, 'zeroCount')),
            ...buckets(8, 'positive', p.positive),
            ...buckets(9, 'negative', p.negative),
            ...opt(p.min, dbl(12, 'min')),
            ...opt(p.max, dbl(13, 'max')),
            ...opt(p.zeroThreshold, dbl(14, 'zeroThreshold')),
          ],
          true,
        ),
        { no: 2, name: 'aggregationTemporality', k: 'int', v: 2n },
      ]);
      break;
    case 'summary':
      data = msg(11, 'summary', [
        msg(
          1,
          'dataPoints',
          [
            itemAttr(7, 'attributes', p.item),
            ...times(p),
            ...opt(p.count, f64(4, 'count')),
            ...opt(p.sum, dbl(5, 'sum')),
            ...p.quantiles.map((q) =>
              msg(6, 'quantileValues', [dbl(1, 'quantile')(q.q), dbl(2, 'value')(q.v)], true),
            ),
          ],
          true,
        ),
      ]);
      break;
  }
  return [str(1, 'name', text(`m${p.item}`)), data];
}

const RESOURCE = msg(1, 'resource', [keyValue(1, 'attributes', 'service.name', text('svc'))]);
const SCOPE = msg(1, 'scope', [str(1, 'name', text('scope'))]);

export function requestWire(items: Items): Wire {
  switch (items.signal) {
    case 'traces':
      return [
        msg(
          1,
          'resourceSpans',
          [
            RESOURCE,
            msg(2, 'scopeSpans', [SCOPE, ...items.items.map((s) => msg(2, 'spans', span(s), true))], true),
          ],
          true,
        ),
      ];
    case 'logs':
      return [
        msg(
          1,
          'resourceLogs',
          [
            RESOURCE,
            msg(
              2,
              'scopeLogs',
              [SCOPE, ...items.items.map((l) => msg(2, 'logRecords', logRecord(l), true))],
              true,
            ),
          ],
          true,
        ),
      ];
    case 'metrics':
      return [
        msg(
          1,
          'resourceMetrics',
          [
            RESOURCE,
            msg(
              2,
              'scopeMetrics',
              [SCOPE, ...items.items.map((p) => msg(2, 'metrics', metric(p), true))],
              true,
            ),
          ],
          true,
        ),
      ];
  }
}

export function encodeRequest(items: Items, format: Format): Uint8Array {
  const wire = requestWire(items);
  return format === 'json' ? toJson(wire) : toProtobuf(wire);
}

// ---- what must be stored ----

/** A stored row, engine-neutral: uint64 and times as exact decimal strings, doubles as numbers. */
export type Row = Record<string, unknown>;

export type Expected =
  | { readonly item: number; readonly row: Row }
  | { readonly item: number; readonly rejected: string };

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The stored string, or undefined when the item must be rejected (invalid UTF-8 in protobuf). */
function storedText(t: Text): string | undefined {
  return 'text' in t ? t.text.replace(LONE_SURROGATE, '\ufffd') : undefined;
}

function numValue(v: Num): number {
  if (v === undefined) return 0;
  return 'asDouble' in v ? v.asDouble : Number(v.asInt);
}

export class Rules {
  constructor(readonly receivedNs: bigint) {}

  /** The reason an item stamped `t` is rejected, or undefined. */
  private bound(t: bigint): string | undefined {
    if (t > this.receivedNs + HOUR_NS) return 'future';
    if (t < this.receivedNs - 7n * DAY_NS) return 'old';
    return undefined;
  }

  expected(items: Items): Expected[] {
    switch (items.signal) {
      case 'traces':
        return items.items.map((s) => this.span(s));
      case 'logs':
        return items.items.map((l) => this.log(l));
      case 'metrics':
        return items.items.map((p) => this.point(p));
    }
  }

  private span(s: SpanSpec): Expected {
    const item = s.item;
    if (s.ids !== 'ok') return { item, rejected: 'id' };
    const name = storedText(s.name);
    const evNames = s.events.map((e) => storedText(e.name));
    if (name === undefined || evNames.includes(undefined)) return { item, rejected: 'utf8' };
    const start = s.start === undefined || s.start === 0n ? this.receivedNs : s.start;
    const why = this.bound(start);
    if (why) return { item, rejected: why };
    const end = s.end ?? 0n;
    if (end > MAX_STORED_NS) return { item, rejected: 'end' };
    return {
      item,
      row: {
        Timestamp: start.toString(),
        Duration: (end > start ? end - start : 0n).toString(),
        SpanName: name,
        'Events.Timestamp': s.events.map((e) =>
          (e.time === undefined || e.time === 0n || e.time > MAX_STORED_NS ? start : e.time).toString(),
        ),
        'Events.Name': evNames,
      },
    };
  }

  private log(l: LogSpec): Expected {
    const item = l.item;
    const body = storedText(l.body);
    if (body === undefined) return { item, rejected: 'utf8' };
    const t =
      l.time !== undefined && l.time !== 0n
        ? l.time
        : l.observed !== undefined && l.observed !== 0n
          ? l.observed
          : this.receivedNs;
    const why = this.bound(t);
    if (why) return { item, rejected: why };
    return { item, row: { Timestamp: t.toString(), Body: body } };
  }

  private point(p: PointSpec): Expected {
    const item = p.item;
    const time = p.time === undefined || p.time === 0n ? this.receivedNs : p.time;
    const why = this.bound(time);
    if (why) return { item, rejected: why };
    const start = p.start ?? 0n;
    if (start > MAX_STORED_NS) return { item, rejected: 'start' };
    const base: Row = { StartTimeUnix: start.toString(), TimeUnix: time.toString() };
    const u = (v: bigint | undefined) => (v ?? 0n).toString();
    switch (p.type) {
      case 'gauge':
      case 'sum':
        return {
          item,
          row: {
            ...base,
            Value: numValue(p.value),
            'Exemplars.TimeUnix': p.exemplars.map((e) =>
              (e.time === undefined || e.time === 0n || e.time > MAX_STORED_NS ? time : e.time).toString(),
            ),
            'Exemplars.Value': p.exemplars.map((e) => numValue(e.value)),
          },
        };
      case 'histogram':
        return {
          item,
          row: {
            ...base,
            Count: u(p.count),
            Sum: p.sum ?? 0,
            BucketCounts: p.bucketCounts.map((c) => c.toString()),
            ExplicitBounds: [...p.bounds],
            Min: p.min ?? 0,
            Max: p.max ?? 0,
          },
        };
      case 'exponential_histogram':
        return {
          item,
          row: {
            ...base,
            Count: u(p.count),
            Sum: p.sum ?? 0,
            Scale: p.scale,
            ZeroCount: u(p.zeroCount),
            PositiveOffset: p.positive?.offset ?? 0,
            PositiveBucketCounts: (p.positive?.counts ?? []).map((c) => c.toString()),
            NegativeOffset: p.negative?.offset ?? 0,
            NegativeBucketCounts: (p.negative?.counts ?? []).map((c) => c.toString()),
            Min: p.min ?? 0,
            Max: p.max ?? 0,
          },
        };
      case 'summary':
        return {
          item,
          row: {
            ...base,
            Count: u(p.count),
            Sum: p.sum ?? 0,
            'ValueAtQuantiles.Quantile': p.quantiles.map((q) => q.q),
            'ValueAtQuantiles.Value': p.quantiles.map((q) => q.v),
          },
        };
    }
  }
}

/** The lake keeps microseconds (ADR 0005): an expected row's times as the lake stores them. */
export function inMicros(row: Row): Row {
  const out: Row = {};
  const micros = (ns: string) => ((BigInt(ns) / 1000n) * 1000n).toString();
  for (const [k, v] of Object.entries(row)) {
    const isTime = k === 'Timestamp' || k.endsWith('TimeUnix') || k === 'Events.Timestamp';
    out[k] = !isTime ? v : Array.isArray(v) ? v.map((x: string) => micros(x)) : micros(v as string);
  }
  return out;
}

// ---- the pipeline ----

class KeepingStreamSink implements StreamSink {
  readonly records: StreamRecord[] = [];
  async put(records: readonly StreamRecord[]): Promise<PutOutcome> {
    this.records.push(...records);
    const bytes = records.reduce((n, r) => n + r.data.byteLength, 0);
    return { kind: 'durable', records: records.length, bytes, attempts: 1 };
  }
}

/** Every API key is its tenant's id: each run writes under a tenant of its own. */
const keyIsTenant: TenantDirectory = {
  async resolve(apiKey: string): Promise<TenantInfo> {
    return { tenantId: apiKey, keyId: apiKey };
  },
};

export interface IngestOutcome {
  readonly response: IngestResponse;
  readonly records: readonly StreamRecord[];
}

/** Columns read back per table, as SQL for each engine: exact text, or JSON numbers for doubles. */
interface ColumnRead {
  readonly name: string;
  readonly ch: string;
  readonly duck: string;
}

const ts = (c: string): ColumnRead => ({
  name: c,
  ch: `toString(toUnixTimestamp64Nano(${q(c)}))`,
  duck: `(epoch_us(${dq(c)}) * 1000)::VARCHAR`,
});
const u64 = (c: string): ColumnRead => ({ name: c, ch: `toString(${q(c)})`, duck: `${dq(c)}::VARCHAR` });
const plain = (c: string): ColumnRead => ({ name: c, ch: q(c), duck: dq(c) });
const u64s = (c: string): ColumnRead => ({
  name: c,
  ch: `arrayMap(x -> toString(x), ${q(c)})`,
  duck: `list_transform(${dq(c)}, x -> x::VARCHAR)`,
});
const nestedTs = (parent: string, f: string): ColumnRead => ({
  name: `${parent}.${f}`,
  ch: `arrayMap(x -> toString(toUnixTimestamp64Nano(x)), ${q(`${parent}.${f}`)})`,
  duck: `list_transform(${dq(parent)}, e -> (epoch_us(e.${f}) * 1000)::VARCHAR)`,
});
const nested = (parent: string, f: string): ColumnRead => ({
  name: `${parent}.${f}`,
  ch: q(`${parent}.${f}`),
  duck: `list_transform(${dq(parent)}, e -> e.${f})`,
});

function q(c: string): string {
  return `\`${c}\``;
}

function dq(c: string): string {
  return `"${c}"`;
}

const METRIC_TIMES = [ts('StartTimeUnix'), ts('TimeUnix')];

const READS: Record<TableName, ColumnRead[]> = {
  otel_traces: [
    ts('Timestamp'),
    u64('Duration'),
    plain('SpanName'),
    nestedTs('Events', 'Timestamp'),
    nested('Events', 'Name'),
  ],
  otel_logs: [ts('Timestamp'), plain('Body')],
  otel_metrics_gauge: [
    ...METRIC_TIMES,
    plain('Value'),
    nestedTs('Exemplars', 'TimeUnix'),
    nested('Exemplars', 'Value'),
  ],
  otel_metrics_sum: [
    ...METRIC_TIMES,
    plain('Value'),
    nestedTs('Exemplars', 'TimeUnix'),
    nested('Exemplars', 'Value'),
  ],
  otel_metrics_histogram: [
    ...METRIC_TIMES,
    u64('Count'),
    plain('Sum'),
    u64s('BucketCounts'),
    plain('ExplicitBounds'),
    plain('Min'),
    plain('Max'),
  ],
  otel_metrics_exponential_histogram: [
    ...METRIC_TIMES,
    u64('Count'),
    plain('Sum'),
    plain('Scale'),
    u64('ZeroCount'),
    plain('PositiveOffset'),
    u64s('PositiveBucketCounts'),
    plain('NegativeOffset'),
    u64s('NegativeBucketCounts'),
    plain('Min'),
    plain('Max'),
  ],
  otel_metrics_summary: [
    ...METRIC_TIMES,
    u64('Count'),
    plain('Sum'),
    nested('ValueAtQuantiles', 'Quantile'),
    nested('ValueAtQuantiles', 'Value'),
  ],
};

const ITEM_ATTR: Record<Signal, string> = {
  traces: 'SpanAttributes',
  logs: 'LogAttributes',
  metrics: 'Attributes',
};

export const TABLE_OF: Record<PointSpec['type'], TableName> = {
  gauge: 'otel_metrics_gauge',
  sum: 'otel_metrics_sum',
  histogram: 'otel_metrics_histogram',
  exponential_histogram: 'otel_metrics_exponential_histogram',
  summary: 'otel_metrics_summary',
};

/** JSON numbers back to doubles: ClickHouse and DuckDB write non-finite values as words. */
function revive(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revive);
  if (v === 'nan' || v === 'NaN') return Number.NaN;
  if (v === 'inf' || v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-inf' || v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return v;
}

export class Domain {
  private runs = 0;

  private constructor(
    readonly ch: ClickHouseClient,
    readonly lake: LakeHarness,
    readonly receivedNs: bigint,
  ) {}

  static async start(): Promise<Domain> {
    const ch = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-domain-')) });
    await applyMigrations(ch, { hotRetentionDays: 7 });
    const lake = await startLake();
    // Real time (the tables' TTL counts from it), not on a millisecond: sub-ms digits are exercised.
    return new Domain(ch, lake, BigInt(Date.now()) * 1_000_000n + 123_457n);
  }

  async close(): Promise<void> {
    await this.ch.close();
    await this.lake.close();
  }

  get rules(): Rules {
    return new Rules(this.receivedNs);
  }

  newTenant(): string {
    return `t${++this.runs}`;
  }

  async ingest(tenant: string, signal: Signal, format: Format, body: Uint8Array): Promise<IngestOutcome> {
    const sink = new KeepingStreamSink();
    const ingest = createIngest({
      tenants: keyIsTenant,
      stream: sink,
      now: () => Number(this.receivedNs / 1_000_000n),
      nowNs: () => this.receivedNs.toString(),
    });
    const response = await ingest({
      signal,
      headers: {
        'content-type': format === 'json' ? 'application/json' : 'application/x-protobuf',
        authorization: `Bearer ${tenant}`,
      },
      body,
      remainingMs: 30_000,
    });
    return { response, records: sink.records };
  }

  /** Both writers; throws unless every envelope is written by both. */
  async store(records: readonly StreamRecord[]): Promise<{ hot: WriteResult }> {
    const seq0 = 49_000_000_000_000_000_000n + BigInt(this.runs) * 1000n;
    const positioned = records.map((r, i) => {
      const envelope = unpackEnvelope(r.data);
      return {
        shardId: 'shardId-000000000000',
        sequenceNumber: (seq0 + BigInt(i)).toString(),
        envelope,
      };
    });
    const writer = new ClickHouseTelemetryWriter(this.ch, {
      now: () => Number(this.receivedNs / 1_000_000n),
      attempts: 1,
    });
    const hot = await writer.write(
      positioned.map((p) => ({
        position: { stream: 'telemetry', shardId: p.shardId, sequenceNumber: p.sequenceNumber },
        tenant: p.envelope.header.tenant,
        batches: p.envelope.batches,
      })),
    );
    if (hot.rejected.length > 0 || hot.pending.length > 0 || hot.error) {
      throw new Error(
        `hot writer did not store everything: ${JSON.stringify(hot.rejected)} ${String(hot.error?.cause ?? hot.error ?? '')}`,
      );
    }
    await writeToLake(this.lake.store, positioned);
    return { hot };
  }

  /** Rows of `table` for `tenant` by item number, from ClickHouse. */
  async hotRows(tenant: string, table: TableName): Promise<Map<number, Row>> {
    const reads = READS[table];
    const signal = table === 'otel_traces' ? 'traces' : table === 'otel_logs' ? 'logs' : 'metrics';
    const rs = await this.ch.query({
      query: `SELECT toInt64(${ITEM_ATTR[signal]}['item']) AS item, ${reads.map((r) => `${r.ch} AS ${q(r.name)}`).join(', ')}
              FROM ${table} WHERE TenantId = {tenant:String}`,
      query_params: { tenant },
      format: 'JSONEachRow',
      clickhouse_settings: {
        output_format_json_quote_64bit_integers: 0,
        output_format_json_quote_denormals: 1,
      },
    });
    const out = new Map<number, Row>();
    for (const r of await rs.json<Row>()) {
      const row: Row = {};
      for (const c of reads) row[c.name] = revive(r[c.name]);
      out.set(Number(r.item), row);
    }
    return out;
  }

  /** Rows of `table` for `tenant` by item number, from the lake's Parquet through DuckDB. */
  async lakeRows(tenant: string, table: TableName): Promise<Map<number, Row>> {
    const reads = READS[table];
    const signal = table === 'otel_traces' ? 'traces' : table === 'otel_logs' ? 'logs' : 'metrics';
    const rows = await queryObjects(
      this.lake.store,
      this.lake.dir,
      `staging/${table}/tenant=${tenant}/`,
      `SELECT ${ITEM_ATTR[signal]}['item']::BIGINT AS item, ${reads.map((r) => `${r.duck} AS ${dq(r.name)}`).join(', ')} FROM {files}`,
    );
    const out = new Map<number, Row>();
    for (const r of rows) {
      const row: Row = {};
      for (const c of reads) row[c.name] = revive(r[c.name]);
      out.set(Number(r.item), row);
    }
    return out;
  }
}

/** Tables an item set writes to. */
export function tablesOf(items: Items): TableName[] {
  if (items.signal === 'traces') return ['otel_traces'];
  if (items.signal === 'logs') return ['otel_logs'];
  return [...new Set(items.items.map((p) => TABLE_OF[p.type]))];
}

export function tableOfItem(items: Items, item: number): TableName {
  if (items.signal === 'traces') return 'otel_traces';
  if (items.signal === 'logs') return 'otel_logs';
  const p = items.items.find((x) => x.item === item);
  if (!p) throw new Error(`no item ${item}`);
  return TABLE_OF[p.type];
}

/** Doubles equal as stored values: NaN equals NaN; -0 equals 0 (JSON cannot carry -0). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b));
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return a === b;
}

/** The columns of `actual` that differ from `expected`, for a readable failure. */
export function differences(expected: Row, actual: Row | undefined): string[] {
  if (!actual) return ['row missing'];
  const out: string[] = [];
  for (const [k, v] of Object.entries(expected)) {
    if (!sameValue(v, actual[k])) out.push(`${k}: expected ${show(v)}, got ${show(actual[k])}`);
  }
  return out;
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
}

export interface RoundTrip {
  readonly outcome: IngestOutcome;
  readonly expected: readonly Expected[];
  /** Per item: differences from the expected row in ClickHouse and in the lake (empty: exact). */
  readonly hot: Map<number, string[]>;
  readonly lake: Map<number, string[]>;
  /** Items stored that should have been rejected, per engine. */
  readonly unexpected: { hot: number[]; lake: number[] };
}

/** Sends `items` in `format` through ingest and both writers and compares what each engine holds. */
export async function roundTrip(domain: Domain, items: Items, format: Format): Promise<RoundTrip> {
  const tenant = domain.newTenant();
  const outcome = await domain.ingest(tenant, items.signal, format, encodeRequest(items, format));
  const expected = domain.rules.expected(items);
  if (outcome.response.status === 200 && outcome.records.length > 0) await domain.store(outcome.records);
  const hot = new Map<number, string[]>();
  const lake = new Map<number, string[]>();
  const unexpected = { hot: [] as number[], lake: [] as number[] };
  const hotRows = new Map<number, Row>();
  const lakeRows = new Map<number, Row>();
  for (const table of tablesOf(items)) {
    for (const [k, v] of await domain.hotRows(tenant, table)) hotRows.set(k, v);
    for (const [k, v] of await domain.lakeRows(tenant, table)) lakeRows.set(k, v);
  }
  for (const e of expected) {
    if ('rejected' in e) {
      if (hotRows.has(e.item)) unexpected.hot.push(e.item);
      if (lakeRows.has(e.item)) unexpected.lake.push(e.item);
      continue;
    }
    hot.set(e.item, differences(e.row, hotRows.get(e.item)));
    lake.set(e.item, differences(inMicros(e.row), lakeRows.get(e.item)));
  }
  return { outcome, expected, hot, lake, unexpected };
}

/** Item numbers with a difference in either engine, with what differs: `{}` when every row is exact. */
export function mismatches(r: RoundTrip): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [engine, m] of [
    ['hot', r.hot],
    ['lake', r.lake],
  ] as const) {
    for (const [item, d] of m) if (d.length > 0) out[`${engine} item ${item}`] = d;
  }
  for (const item of r.unexpected.hot) out[`hot item ${item}`] = ['stored, but should be rejected'];
  for (const item of r.unexpected.lake) out[`lake item ${item}`] = ['stored, but should be rejected'];
  return out;
}

export function counts(r: RoundTrip): { accepted: number; rejected: number } {
  return { accepted: r.outcome.response.stats.accepted, rejected: r.outcome.response.stats.rejected };
}

export function expectedCounts(r: RoundTrip): { accepted: number; rejected: number } {
  const rejected = r.expected.filter((e) => 'rejected' in e).length;
  return { accepted: r.expected.length - rejected, rejected };
}
