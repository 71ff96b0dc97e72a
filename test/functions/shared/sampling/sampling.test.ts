import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KinesisStreamRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHotWriterHandler } from '../../../../functions/hot-writer/handler.js';
import {
  MIGRATIONS_TABLE,
  SERVICE_RED_TABLE,
  schemaStatements,
} from '../../../../functions/shared/clickhouse/ddl.js';
import { applyMigrations, MIGRATIONS } from '../../../../functions/shared/clickhouse/migrations.js';
import {
  deferredDatabase,
  SAMPLING_RULES_TABLE,
  setSamplingStatement,
} from '../../../../functions/shared/sampling/clickhouse-trace-sampler.js';
import {
  decideBatch,
  headSampled,
  oneInFromRate,
  SamplingRuleError,
  traceRandomness,
  validateRule,
} from '../../../../functions/shared/sampling/sampling.js';
import { lambdaContext } from '../../../../local/lambda-context.js';
import { openClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { batchOf, envelopeData, kinesisRecord, nsAgo } from '../clickhouse/support.js';

/** mulberry32: a seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const hex = (next: () => number, chars: number) =>
  Array.from({ length: chars }, () => Math.floor(next() * 16).toString(16)).join('');

describe('sampling decisions (pure)', () => {
  it('turns a rate into a whole 1-in-N and refuses rates outside (0, 1]', () => {
    expect(oneInFromRate(0.1)).toBe(10);
    expect(oneInFromRate(1)).toBe(1);
    expect(oneInFromRate(0.3)).toBe(3);
    for (const bad of [0, -0.1, 1.5, Number.NaN, 1e-9])
      expect(() => oneInFromRate(bad)).toThrow(SamplingRuleError);
    expect(() => validateRule({ oneIn: 0, keepErrors: true, slowMs: 0 })).toThrow(/oneIn/);
    expect(() => validateRule({ oneIn: 10, keepErrors: true, slowMs: -1 })).toThrow(/slowMs/);
  });

  it('keeps 1 in N trace ids, the same way every time, random W3C ids and other ids alike', () => {
    const next = rng(7);
    const n = 20_000;
    for (const make of [() => hex(next, 32), () => `trace-${Math.floor(next() * 1e12)}`]) {
      const ids = Array.from({ length: n }, make);
      const kept = ids.filter((id) => headSampled(id, 10)).length;
      // Binomial(20000, 0.1): sd = 42; 4 sd either side.
      expect(Math.abs(kept - n / 10)).toBeLessThan(4 * Math.sqrt(n * 0.1 * 0.9));
      for (const id of ids.slice(0, 100)) expect(headSampled(id, 10)).toBe(headSampled(id, 10));
    }
    // The rightmost 52 bits of a W3C id: all-f is just below 1, all-0 is 0.
    expect(traceRandomness(`${'0'.repeat(19)}${'f'.repeat(13)}`)).toBeCloseTo(1, 12);
    expect(traceRandomness('f'.repeat(19) + '0'.repeat(13))).toBe(0);
  });

  it('weighs head-kept rows N, rows kept for a marked trace 0, defers the rest; no rule keeps all at 1', () => {
    const ids = [
      'a'.repeat(19) + '0'.repeat(13),
      'b'.repeat(19) + 'f'.repeat(13),
      'c'.repeat(19) + 'f'.repeat(13),
    ];
    const batch = batchOf(
      'otel_traces',
      ids.map((id, i) => ({ TraceId: id, SpanId: `s${i}`, Timestamp: nsAgo(1000) })),
    );
    const d = decideBatch(batch, { oneIn: 10, keepErrors: true, slowMs: 0 }, new Set([ids[1]!]), new Set());
    expect(d.kept?.columns.TraceId).toEqual([ids[0], ids[1]]);
    expect(d.kept?.columns.SampleRate).toEqual([10, 0]);
    expect(d.deferred?.columns.TraceId).toEqual([ids[2]]);
    const all = decideBatch(batch, undefined, new Set(), new Set());
    expect(all.kept?.columns.SampleRate).toEqual([1, 1, 1]);
    expect(all.deferred).toBeUndefined();
  });
});

// --- The hot writer with sampling on the embedded engine -------------------------------------------

const context = lambdaContext({
  functionName: 'hot-writer',
  requestId: 'req-1',
  account: '123456789012',
  // A constant remaining time: nothing here depends on the clock.
  remaining: { constantMs: 60_000 },
});

interface GenSpan {
  readonly row: Record<string, unknown>;
  readonly round: number;
  readonly shard: number;
}
interface Workload {
  readonly spans: GenSpan[];
  readonly spansPerTrace: Map<string, number>;
  readonly errorTraces: Set<string>;
  readonly slowTraces: Set<string>;
  readonly errorSpans: number;
  readonly entrySpans: number;
}

const SERVICES = ['frontend', 'cart', 'payments', 'inventory'];

/**
 * Traces of 2-8 spans over several services. Span k of a trace arrives in round k, from its
 * service, on shard (service index mod 2): a trace's spans reach the writer in different
 * invocations and shards, and its error or slow span may come last, after its other spans.
 */
function workload(traces: number, seed: number): Workload {
  const next = rng(seed);
  const spans: GenSpan[] = [];
  const spansPerTrace = new Map<string, number>();
  const errorTraces = new Set<string>();
  const slowTraces = new Set<string>();
  let errorSpans = 0;
  let entrySpans = 0;
  for (let t = 0; t < traces; t++) {
    const traceId = hex(next, 32);
    const n = 2 + Math.floor(next() * 7);
    spansPerTrace.set(traceId, n);
    const errorAt = next() < 0.05 ? Math.floor(next() * n) : -1;
    const slowAt = next() < 0.02 ? Math.floor(next() * n) : -1;
    if (errorAt >= 0) errorTraces.add(traceId);
    if (slowAt >= 0) slowTraces.add(traceId);
    for (let k = 0; k < n; k++) {
      const service = SERVICES[(t + k) % SERVICES.length]!;
      if (k === errorAt) errorSpans++;
      if (k === 0) entrySpans++;
      spans.push({
        round: k,
        shard: SERVICES.indexOf(service) % 2,
        row: {
          TenantId: 'acme',
          Timestamp: nsAgo(60_000 - k * 10, t),
          TraceId: traceId,
          SpanId: hex(next, 16),
          ParentSpanId: k === 0 ? '' : 'parent',
          SpanName: k === 0 ? 'GET /checkout' : `call ${k}`,
          SpanKind: k === 0 ? 'Server' : 'Client',
          ServiceName: service,
          ResourceAttributes: { 'service.name': service, 'host.name': `host-${t % 7}` },
          SpanAttributes: { 'http.route': '/checkout', 'app.user': `user-${Math.floor(next() * 500)}` },
          Duration: k === slowAt ? 1_500_000_000 : 1_000_000 + Math.floor(next() * 50_000_000),
          StatusCode: k === errorAt ? 'Error' : 'Ok',
        },
      });
    }
  }
  return { spans, spansPerTrace, errorTraces, slowTraces, errorSpans, entrySpans };
}

let seqNo = 0;
function record(rows: Record<string, unknown>[], shard: number): KinesisStreamRecord {
  const r = kinesisRecord(envelopeData('acme', 'traces', [batchOf('otel_traces', rows)]), seqNo++);
  return { ...r, eventID: `shardId-00000000000${shard}:${r.kinesis.sequenceNumber}` };
}

/** Round by round, shard by shard: one invocation each, one envelope per service. */
async function run(client: ClickHouseClient, database: string, w: Workload): Promise<void> {
  const handler = createHotWriterHandler({
    clickhouse: async () => client,
    deadLetters: { put: async () => {} },
    writer: { database, hotRetentionDays: 7 },
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'hot-writer', singleMetric: false }),
  });
  const rounds = Math.max(...w.spans.map((s) => s.round)) + 1;
  for (let round = 0; round < rounds; round++) {
    for (const shard of [0, 1]) {
      const byService = new Map<string, Record<string, unknown>[]>();
      for (const s of w.spans) {
        if (s.round !== round || s.shard !== shard) continue;
        const service = String(s.row.ServiceName);
        byService.set(service, [...(byService.get(service) ?? []), s.row]);
      }
      // Envelopes of at most 200 spans, as ingest would pack a few requests.
      const records: KinesisStreamRecord[] = [];
      for (const rows of byService.values()) {
        for (let i = 0; i < rows.length; i += 200) records.push(record(rows.slice(i, i + 200), shard));
      }
      if (records.length === 0) continue;
      const res = await handler({ Records: records }, context);
      expect(res.batchItemFailures).toEqual([]);
    }
  }
}

let connection: TestClickHouse;
let client: ClickHouseClient;
const w = workload(3000, 11);
const total = w.spans.length;

async function rows<T>(query: string): Promise<T[]> {
  return (await client.query({ query, format: 'JSONEachRow' })).json<T>();
}

async function bytesPerSpan(database: string, table = 'otel_traces'): Promise<number> {
  await client.command({ query: `OPTIMIZE TABLE \`${database}\`.\`${table}\` FINAL` });
  const [r] = await rows<{ b: string }>(
    `SELECT sum(data_compressed_bytes) AS b FROM system.parts WHERE active AND database = '${database}' AND table = '${table}'`,
  );
  return Number(r?.b ?? 0) / total;
}

beforeAll(async () => {
  connection = await openClickHouse(mkdtempSync(join(tmpdir(), 'ch-sampling-')));
  client = connection.client;
  for (const database of ['sampled', 'unsampled'])
    await applyMigrations(client, { database, hotRetentionDays: 7 });
  // The tenants CLI's statement: 1 in 10, every error trace, every trace with a span of 1 s or more.
  await client.command({
    query: setSamplingStatement('sampled'),
    query_params: { tenant: 'acme', oneIn: oneInFromRate(0.1), keepErrors: true, slowMs: 1000 },
  });
  await run(client, 'sampled', w);
  await run(client, 'unsampled', w);
}, 600_000);

afterAll(async () => {
  await connection?.close();
});

describe('hot-writer sampling at 10% with errors and slow traces kept (embedded ClickHouse)', () => {
  it('keeps whole traces: every kept trace has all its spans, once, across shards and invocations', async () => {
    const kept = await rows<{ TraceId: string; n: string; distinct: string }>(
      `SELECT TraceId, count() AS n, uniqExact(SpanId) AS distinct FROM sampled.otel_traces GROUP BY TraceId`,
    );
    expect(kept.length).toBeGreaterThan(0);
    for (const t of kept) {
      expect(Number(t.n), t.TraceId).toBe(w.spansPerTrace.get(t.TraceId));
      expect(Number(t.distinct), t.TraceId).toBe(Number(t.n));
    }
  });

  it('keeps every error trace and every slow trace, and otherwise only head-sampled ones', async () => {
    const kept = new Set(
      (await rows<{ TraceId: string }>(`SELECT DISTINCT TraceId FROM sampled.otel_traces`)).map(
        (r) => r.TraceId,
      ),
    );
    for (const id of w.errorTraces) expect(kept.has(id), `error trace ${id}`).toBe(true);
    for (const id of w.slowTraces) expect(kept.has(id), `slow trace ${id}`).toBe(true);
    for (const id of kept) {
      expect(headSampled(id, 10) || w.errorTraces.has(id) || w.slowTraces.has(id), id).toBe(true);
    }
    for (const id of w.spansPerTrace.keys()) if (headSampled(id, 10)) expect(kept.has(id), id).toBe(true);
  });

  it('re-weighted counts match the true counts within 4 standard deviations; errors are counted exactly too', async () => {
    // sum(SampleRate) = sum over head-kept traces of 10 x spans: variance (N-1) x sum(spans^2).
    const sd = Math.sqrt(9 * [...w.spansPerTrace.values()].reduce((s, n) => s + n * n, 0));
    const [r] = await rows<{ est: string; errEst: string; errExact: string; kept: string }>(
      `SELECT sum(SampleRate) AS est, sumIf(SampleRate, StatusCode = 'Error') AS errEst,
         countIf(StatusCode = 'Error') AS errExact, count() AS kept FROM sampled.otel_traces`,
    );
    expect(Math.abs(Number(r!.est) - total)).toBeLessThan(4 * sd);
    expect(Number(r!.errExact)).toBe(w.errorSpans);
    // One error span per error trace: Binomial(errors, 0.1) x 10.
    expect(Math.abs(Number(r!.errEst) - w.errorSpans)).toBeLessThan(4 * Math.sqrt(9 * w.errorSpans) + 1);
    expect(Number(r!.kept)).toBeLessThan(total * 0.3);
    console.log(
      `sampling 1 in 10: ${r!.kept} of ${total} spans kept; sum(SampleRate) ${r!.est} (true ${total}, sd ${sd.toFixed(0)})`,
    );
  });

  it('weights the RED rollup: its requests are the re-weighted entry spans', async () => {
    const [red] = await rows<{ n: string }>(`SELECT sum(Requests) AS n FROM sampled.${SERVICE_RED_TABLE}`);
    const [raw] = await rows<{ n: string }>(
      `SELECT sum(SampleRate) AS n FROM sampled.otel_traces WHERE SpanKind = 'Server' OR ParentSpanId = ''`,
    );
    expect(Number(red?.n)).toBe(Number(raw?.n));
    const [all] = await rows<{ n: string }>(`SELECT sum(Requests) AS n FROM unsampled.${SERVICE_RED_TABLE}`);
    expect(Number(all?.n)).toBe(w.entrySpans);
  });

  it('the unsampled tenant keeps every span at weight 1', async () => {
    const [r] = await rows<{ n: string; w: string }>(
      `SELECT count() AS n, sum(SampleRate) AS w FROM unsampled.otel_traces`,
    );
    expect(Number(r?.n)).toBe(total);
    expect(Number(r?.w)).toBe(total);
  });

  it('reports the hot tier bytes per span, sampled vs unsampled (system.parts)', async () => {
    const sampled = await bytesPerSpan('sampled');
    const unsampled = await bytesPerSpan('unsampled');
    const deferred = await bytesPerSpan(deferredDatabase('sampled'));
    console.log(
      `hot tier bytes per span (of all ${total} spans received): unsampled ${unsampled.toFixed(1)}, sampled 1 in 10 with errors and slow kept ${sampled.toFixed(1)} (${((100 * sampled) / unsampled).toFixed(0)}%), plus deferred spans ${deferred.toFixed(1)} held for 1 day`,
    );
    expect(sampled).toBeLessThan(unsampled * 0.4);
    expect(
      Number((await rows<{ n: string }>(`SELECT count() AS n FROM sampled.${SAMPLING_RULES_TABLE}`))[0]?.n),
    ).toBe(1);
  });
});

describe('migration 4 on a hot tier created before it', () => {
  it('gives old spans weight 1, re-creates the RED view weighted, and adds the sampling tables', async () => {
    const db = 'before_sampling';
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    // Version 1-3's tables and views as they were: no SampleRate, the RED view counting rows.
    for (const statement of schemaStatements({ database: db })) {
      await client.command({
        query: statement
          .replace(/,\n\s*`SampleRate` UInt32 DEFAULT 1 CODEC\(ZSTD\(1\)\)/, '')
          .replace('sum(SampleRate) AS Requests', 'count() AS Requests')
          .replace('sumIf(SampleRate, StatusCode IN', 'countIf(StatusCode IN')
          .replace(' AND SampleRate > 0', ''),
      });
    }
    await client.command({
      query: `CREATE TABLE ${db}.${MIGRATIONS_TABLE} (version UInt32, name String, checksum String, applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version`,
    });
    await client.insert({
      table: `${db}.${MIGRATIONS_TABLE}`,
      values: [1, 2, 3].map((version) => ({ version, name: `v${version}`, checksum: '' })),
      format: 'JSONEachRow',
    });
    const cols = await rows<{ n: string }>(
      `SELECT count() AS n FROM system.columns WHERE database = '${db}' AND table = 'otel_traces' AND name = 'SampleRate'`,
    );
    expect(Number(cols[0]?.n)).toBe(0);
    await client.command({
      query: `INSERT INTO ${db}.otel_traces (TenantId, Timestamp, TraceId, SpanId, SpanKind, ServiceName) VALUES ('acme', now64(9), 't-old', 's-old', 'Server', 'cart')`,
    });

    const result = await applyMigrations(client, { database: db, hotRetentionDays: 7 });

    // 4, then the later ones (the minute rollups, 5, weighted from the start).
    expect(result.applied).toEqual(MIGRATIONS.map((m) => m.version).filter((v) => v > 3));
    expect(await rows(`SELECT SpanId, SampleRate FROM ${db}.otel_traces`)).toEqual([
      { SpanId: 's-old', SampleRate: 1 },
    ]);
    // A sampled span after the migration: the rollup counts it 10 times; a weight-0 one not at all.
    await client.command({
      query: `INSERT INTO ${db}.otel_traces (TenantId, Timestamp, TraceId, SpanId, SpanKind, ServiceName, SampleRate) VALUES
        ('acme', now64(9), 't-new', 's-new', 'Server', 'cart', 10), ('acme', now64(9), 't-err', 's-err', 'Server', 'cart', 0)`,
    });
    const [red] = await rows<{ n: string }>(`SELECT sum(Requests) AS n FROM ${db}.${SERVICE_RED_TABLE}`);
    expect(Number(red?.n)).toBe(1 + 10);
    for (const table of [SAMPLING_RULES_TABLE, 'otel_sampling_keep']) {
      expect(Number((await rows<{ n: string }>(`SELECT count() AS n FROM ${db}.${table}`))[0]?.n)).toBe(0);
    }
    expect(
      Number(
        (await rows<{ n: string }>(`SELECT count() AS n FROM ${deferredDatabase(db)}.otel_traces`))[0]?.n,
      ),
    ).toBe(0);
    expect((await applyMigrations(client, { database: db, hotRetentionDays: 7 })).applied).toEqual([]);
  });
});
