import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowAt } from '../../../functions/shared/rows/batch.js';
import { resolveRowLimits } from '../../../functions/shared/rows/limits.js';
import { registerKey } from '../../../functions/shared/tenants/dynamo-tenant-directory.js';
import { fixture, fixtureNames } from '../../support/fixtures.js';
import { type Pipeline, type ReadEnvelope, rowCounts, startPipeline, TENANTS_TABLE } from './pipeline.js';

/**
 * Every fixture in ../shared/fixtures posted over HTTP as received (JSON or protobuf) and gzipped.
 * Each fixture posts with its own tenant's key, so the rows it produced can be told apart in the
 * stream. Fixture timestamps are from 2018 and 2024: the hot-retention bound is widened so the
 * items are kept rather than rejected as too old.
 */

type Signal = 'traces' | 'logs' | 'metrics';

/** Rows each valid fixture must produce, per table (counted from the fixture files). */
const VALID: Record<string, Record<string, number>> = {
  'otlp/trace.json': { otel_traces: 1 },
  'otlp/logs.json': { otel_logs: 1 },
  'otlp/metrics.json': {
    otel_metrics_gauge: 1,
    otel_metrics_sum: 1,
    otel_metrics_histogram: 1,
    otel_metrics_exponential_histogram: 1,
  },
  'otlp2parquet/trace.json': { otel_traces: 2 },
  'otlp2parquet/trace.pb': { otel_traces: 2 },
  'otlp2parquet/traces.pb': { otel_traces: 19 },
  'otlp2parquet/log.json': { otel_logs: 1 },
  'otlp2parquet/logs.pb': { otel_logs: 81 },
  'otlp2parquet/metrics_gauge.json': { otel_metrics_gauge: 3 },
  'otlp2parquet/metrics_gauge.pb': { otel_metrics_gauge: 3 },
  'otlp2parquet/metrics_sum.json': { otel_metrics_sum: 4 },
  'otlp2parquet/metrics_sum.pb': { otel_metrics_sum: 4 },
  'otlp2parquet/metrics_histogram.json': { otel_metrics_histogram: 3 },
  'otlp2parquet/metrics_histogram.pb': { otel_metrics_histogram: 3 },
  'otlp2parquet/metrics_exponential_histogram.json': { otel_metrics_exponential_histogram: 2 },
  'otlp2parquet/metrics_exponential_histogram.pb': { otel_metrics_exponential_histogram: 2 },
  'otlp2parquet/metrics_summary.json': { otel_metrics_summary: 2 },
  'otlp2parquet/metrics_summary.pb': { otel_metrics_summary: 2 },
  'otlp2parquet/metrics_mixed.json': {
    otel_metrics_gauge: 1,
    otel_metrics_sum: 1,
    otel_metrics_histogram: 1,
  },
  'otlp2parquet/metrics_mixed.pb': { otel_metrics_gauge: 1, otel_metrics_sum: 1, otel_metrics_histogram: 1 },
};

/** What each invalid fixture must get: a 400, or a 200 whose partial_success rejects its one item. */
const INVALID: Record<
  string,
  { status: 400; message: RegExp } | { status: 200; rejected: number; message: RegExp }
> = {
  'otlp2parquet/invalid/malformed.json': { status: 400, message: /malformed JSON/ },
  'otlp2parquet/invalid/log_invalid_severity.json': { status: 200, rejected: 1, message: /severity/ },
  'otlp2parquet/invalid/metrics_invalid_temporality.json': {
    status: 200,
    rejected: 1,
    message: /temporality/,
  },
  'otlp2parquet/invalid/trace_invalid_base64.json': { status: 200, rejected: 1, message: /traceId/ },
  'otlp2parquet/invalid/trace_invalid_kind.json': { status: 200, rejected: 1, message: /span kind/ },
  'otlp2parquet/invalid/trace_mixed_encoding.json': { status: 200, rejected: 1, message: /traceId/ },
};

const REJECTED_FIELD: Record<Signal, string> = {
  traces: 'rejectedSpans',
  logs: 'rejectedLogRecords',
  metrics: 'rejectedDataPoints',
};

function signalOf(path: string): Signal {
  const name = path.split('/').pop()!;
  if (name.startsWith('trace')) return 'traces';
  if (name.startsWith('log')) return 'logs';
  return 'metrics';
}

const contentTypeOf = (path: string) =>
  path.endsWith('.pb') ? 'application/x-protobuf' : 'application/json';
const tenantOf = (path: string, gzip: boolean) =>
  `fx-${path.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}${gzip ? '-gz' : ''}`.slice(0, 63);
const keyOf = (tenant: string) => `key-${tenant}`;

describe('every shared fixture over HTTP', () => {
  let pipeline: Pipeline;
  let envelopes: ReadEnvelope[] = [];

  beforeAll(async () => {
    pipeline = await startPipeline({
      ports: (defaults) => ({
        ...defaults,
        flatten: { limits: resolveRowLimits({ hotRetentionDays: 36_500 }) },
      }),
    });
    for (const path of [...Object.keys(VALID), ...Object.keys(INVALID)]) {
      for (const gzip of [false, true]) {
        const tenantId = tenantOf(path, gzip);
        await registerKey(pipeline.dynamo, TENANTS_TABLE, { tenantId, key: keyOf(tenantId) });
      }
    }
  });
  afterAll(async () => {
    await pipeline.close();
  });

  async function post(path: string, gzip: boolean) {
    const raw = fixture(path);
    const tenantId = tenantOf(path, gzip);
    const res = await fetch(`${pipeline.url}/v1/${signalOf(path)}`, {
      method: 'POST',
      headers: {
        'content-type': contentTypeOf(path),
        authorization: `Bearer ${keyOf(tenantId)}`,
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      },
      body: gzip ? gzipSync(raw) : raw,
    });
    return { res, body: Buffer.from(await res.arrayBuffer()), tenantId };
  }

  it('covers every fixture file there is', () => {
    const files = [
      ...fixtureNames('otlp').map((n) => `otlp/${n}`),
      ...fixtureNames('otlp2parquet').map((n) => `otlp2parquet/${n}`),
      ...fixtureNames('otlp2parquet/invalid').map((n) => `otlp2parquet/invalid/${n}`),
    ].filter((f) => /\.(json|pb)$/.test(f));
    expect([...Object.keys(VALID), ...Object.keys(INVALID)].sort()).toEqual(files.sort());
  });

  const cases = Object.keys(VALID).flatMap((path) => [
    { path, gzip: false },
    { path, gzip: true },
  ]);

  it.each(cases)(
    '$path (gzip: $gzip) is accepted whole, answered in its own format',
    async ({ path, gzip }) => {
      const { res, body, tenantId } = await post(path, gzip);

      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(contentTypeOf(path));
      // Full success: the empty Export*ServiceResponse.
      expect(body.toString('utf8')).toBe(path.endsWith('.pb') ? '' : '{}');
      envelopes = await pipeline.readEnvelopes();
      const mine = envelopes.filter((e) => e.envelope.header.tenant === tenantId);
      expect(rowCounts(mine)).toEqual(VALID[path]);
      for (const e of mine) {
        expect(e.partitionKey.startsWith(`${tenantId}:`)).toBe(true);
        for (const b of e.envelope.batches) {
          for (let i = 0; i < b.rowCount; i++) {
            const row = rowAt(b, i);
            expect(row.TenantId).toBe(tenantId);
            expect(e.partitionKey).toBe(`${tenantId}:${row.ServiceName}`);
          }
        }
      }
    },
  );

  const invalidCases = Object.keys(INVALID).flatMap((path) => [
    { path, gzip: false },
    { path, gzip: true },
  ]);

  it.each(invalidCases)('invalid $path (gzip: $gzip) is refused as documented', async ({ path, gzip }) => {
    const expected = INVALID[path]!;
    const { res, body, tenantId } = await post(path, gzip);

    expect(res.status).toBe(expected.status);
    expect(res.headers.get('content-type')).toBe('application/json');
    const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    if (expected.status === 400) {
      // google.rpc.Status: INVALID_ARGUMENT with the decoder's reason.
      expect(json.code).toBe(3);
      expect(json.message).toMatch(expected.message);
    } else {
      const partial = json.partialSuccess as Record<string, unknown>;
      expect(partial[REJECTED_FIELD[signalOf(path)]]).toBe(expected.rejected);
      expect(partial.errorMessage).toMatch(expected.message);
    }
    envelopes = await pipeline.readEnvelopes();
    const mine = envelopes.filter((e) => e.envelope.header.tenant === tenantId);
    if (expected.status === 400) expect(mine).toEqual([]);
    else {
      // No rows, but the request is metered: one envelope with its usage only.
      expect(mine.map((e) => [e.envelope.batches, e.envelope.header.usage?.rejected])).toEqual([
        [[], expected.rejected],
      ]);
    }
  });
});
