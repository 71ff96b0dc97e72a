import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryObjects } from '../shared/lake/support.js';
import {
  counts,
  DAY_NS,
  Domain,
  expectedCounts,
  type Format,
  HOUR_NS,
  type Items,
  MAX_STORED_NS,
  mismatches,
  type RoundTrip,
  roundTrip,
  U64_MAX,
} from './domain-support.js';

let domain: Domain;
beforeAll(async () => {
  domain = await Domain.start();
});
afterAll(async () => {
  await domain?.close();
});

/** DuckDB's types of the lake columns of `table` for the round trip's tenant. */
async function lakeTypes(r: RoundTrip, table: string): Promise<Record<string, unknown>[]> {
  const tenant = r.outcome.response.stats.tenant;
  return queryObjects(
    domain.lake.store,
    domain.lake.dir,
    `staging/${table}/tenant=${tenant}/`,
    'SELECT typeof("Count") AS "Count", typeof("BucketCounts") AS "BucketCounts" FROM {files} LIMIT 1',
  );
}

const FORMATS: Format[] = ['protobuf', 'json'];
const t = (s: string) => ({ text: s });

describe.each(FORMATS)('named cases, %s', (format) => {
  const now = () => domain.receivedNs;

  it('a gauge point without start_time_unix_nano is stored with StartTimeUnix 0 (the epoch), in both tiers', async () => {
    const items: Items = {
      signal: 'metrics',
      items: [
        { type: 'gauge', item: 1, time: now() - 5n, value: { asDouble: 1.5 }, exemplars: [] },
        { type: 'sum', item: 2, time: now() - 5n, value: { asInt: 7n }, exemplars: [] },
      ],
    };
    const r = await roundTrip(domain, items, format);
    expect(counts(r)).toEqual({ accepted: 2, rejected: 0 });
    expect(mismatches(r)).toEqual({});
  });

  it('a span event at 2^64-1 or 2^63 ns (past 2262) is stored at the span start; one at 2255-06-05 as sent', async () => {
    const items: Items = {
      signal: 'traces',
      items: [
        {
          item: 1,
          ids: 'ok',
          start: now() - 1000n,
          end: now(),
          name: t('s'),
          events: [
            { time: U64_MAX, name: t('max') },
            { time: 1n << 63n, name: t('2^63') },
            { time: 9_007_199_254_740_991_999n, name: t('last storable') },
            { name: t('absent') },
          ],
        },
      ],
    };
    const r = await roundTrip(domain, items, format);
    expect(counts(r)).toEqual({ accepted: 1, rejected: 0 });
    expect(mismatches(r)).toEqual({});
  });

  it('a metric start time of 2^64-1 rejects that point with a reason; its siblings are stored', async () => {
    const items: Items = {
      signal: 'metrics',
      items: [
        { type: 'gauge', item: 1, start: U64_MAX, time: now(), value: { asDouble: 1 }, exemplars: [] },
        { type: 'sum', item: 2, start: (1n << 63n) - 1n, time: now(), value: { asDouble: 1 }, exemplars: [] },
        {
          type: 'gauge',
          item: 3,
          start: now() - HOUR_NS,
          time: now(),
          value: { asDouble: 2 },
          exemplars: [],
        },
      ],
    };
    const r = await roundTrip(domain, items, format);
    expect(counts(r)).toEqual({ accepted: 1, rejected: 2 });
    expect(r.outcome.response.stats.reason).toBe(
      '2 data points rejected: 2 start time after 2255-06-05, beyond what storage holds',
    );
    expect(mismatches(r)).toEqual({});
  });

  it('a span longer than 2^53 ns keeps its exact Duration in both tiers; one ending past 2255-06-05 is rejected', async () => {
    const start = now() - 1000n;
    const items: Items = {
      signal: 'traces',
      items: [
        { item: 1, ids: 'ok', start, end: start + (1n << 53n) + 1n, name: t('a'), events: [] },
        { item: 2, ids: 'ok', start, end: MAX_STORED_NS, name: t('b'), events: [] },
        { item: 3, ids: 'ok', start, end: start + (1n << 53n) - 1n, name: t('c'), events: [] },
        { item: 4, ids: 'ok', start, end: start - 1n, name: t('ends before it starts'), events: [] },
        { item: 5, ids: 'ok', start, end: U64_MAX, name: t('ends after 2262'), events: [] },
      ],
    };
    const r = await roundTrip(domain, items, format);
    expect(counts(r)).toEqual({ accepted: 4, rejected: 1 });
    expect(r.outcome.response.stats.reason).toBe(
      '1 span rejected: 1 end time after 2255-06-05, beyond what storage holds',
    );
    expect(mismatches(r)).toEqual({});
  });

  it('counts, bucket counts and zero counts of 2^53, 2^53+1, 2^63 and 2^64-1 are exact in both tiers (lake: UBIGINT)', async () => {
    const big = [1n << 53n, (1n << 53n) + 1n, 1n << 63n, U64_MAX];
    const items: Items = {
      signal: 'metrics',
      items: [
        ...big.map((c, i) => ({
          type: 'histogram' as const,
          item: 10 + i,
          time: now(),
          count: c,
          sum: 1,
          bucketCounts: [0n, c, 3n],
          bounds: [1, 2],
        })),
        {
          type: 'exponential_histogram',
          item: 20,
          time: now(),
          count: U64_MAX,
          scale: -10,
          zeroCount: (1n << 63n) + 5n,
          positive: { offset: -3, counts: big },
          negative: { offset: 2_147_483_647, counts: [U64_MAX] },
        },
        { type: 'summary', item: 30, time: now(), count: U64_MAX, sum: 5, quantiles: [] },
      ],
    };
    const r = await roundTrip(domain, items, format);
    expect(counts(r)).toEqual({ accepted: 6, rejected: 0 });
    expect(mismatches(r)).toEqual({});
    const [types] = await lakeTypes(r, 'otel_metrics_histogram');
    expect(types).toMatchObject({ Count: 'UBIGINT', BucketCounts: 'UBIGINT[]' });
  });

  it('NaN and ±Infinity in every float field are stored as such in both tiers', async () => {
    const odd = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    const items: Items = {
      signal: 'metrics',
      items: [
        ...odd.map((x, i) => ({
          type: 'gauge' as const,
          item: 1 + i,
          time: now(),
          value: { asDouble: x },
          exemplars: [{ value: { asDouble: x } }, { time: now() - 1n, value: { asInt: -(1n << 63n) } }],
        })),
        ...odd.map((x, i) => ({
          type: 'histogram' as const,
          item: 10 + i,
          time: now(),
          count: 1n,
          sum: x,
          bucketCounts: [1n, 0n, 0n, 0n],
          bounds: odd,
          min: x,
          max: x,
        })),
        ...odd.map((x, i) => ({
          type: 'exponential_histogram' as const,
          item: 20 + i,
          time: now(),
          count: 1n,
          sum: x,
          scale: 0,
          min: x,
          max: x,
          zeroThreshold: x,
        })),
        ...odd.map((x, i) => ({
          type: 'summary' as const,
          item: 30 + i,
          time: now(),
          count: 1n,
          sum: x,
          quantiles: [
            { q: x, v: x },
            { q: 0.5, v: -0 },
          ],
        })),
        { type: 'gauge', item: 40, time: now(), value: { asDouble: Number.MIN_VALUE }, exemplars: [] },
        { type: 'gauge', item: 41, time: now(), value: { asDouble: -Number.MAX_VALUE }, exemplars: [] },
        { type: 'gauge', item: 42, time: now(), value: { asInt: (1n << 63n) - 1n }, exemplars: [] },
      ],
    };
    const r = await roundTrip(domain, items, format);
    expect(counts(r)).toEqual(expectedCounts(r));
    expect(counts(r).rejected).toBe(0);
    expect(mismatches(r)).toEqual({});
  });

  it('absent and zero are told apart where the schema can, and stored as 0 where it cannot', async () => {
    const items: Items = {
      signal: 'metrics',
      items: [
        { type: 'gauge', item: 1, exemplars: [{ value: undefined }], value: undefined },
        {
          type: 'gauge',
          item: 2,
          start: 0n,
          time: 0n,
          value: { asDouble: 0 },
          exemplars: [{ time: 0n, value: { asInt: 0n } }],
        },
        { type: 'histogram', item: 3, bucketCounts: [], bounds: [] },
        { type: 'histogram', item: 4, count: 0n, sum: 0, bucketCounts: [0n], bounds: [], min: 0, max: 0 },
        { type: 'exponential_histogram', item: 5, scale: 0 },
        {
          type: 'exponential_histogram',
          item: 6,
          count: 0n,
          scale: 0,
          zeroCount: 0n,
          positive: { offset: 0, counts: [] },
          negative: { offset: 0, counts: [0n] },
          zeroThreshold: 0,
        },
        { type: 'summary', item: 7, quantiles: [] },
        { type: 'summary', item: 8, count: 0n, sum: 0, quantiles: [{ q: 0, v: 0 }] },
      ],
    };
    const r = await roundTrip(domain, items, format);
    expect(counts(r)).toEqual({ accepted: 8, rejected: 0 });
    expect(mismatches(r)).toEqual({});
  });

  it('rejected items (old, future, bad ids) never take their valid siblings with them', async () => {
    const items: Items = {
      signal: 'traces',
      items: [
        { item: 1, ids: 'ok', start: now() - 8n * DAY_NS, name: t('old'), events: [] },
        { item: 2, ids: 'ok', start: now() + 2n * HOUR_NS, name: t('future'), events: [] },
        { item: 3, ids: 'empty-trace', start: now(), name: t('no trace id'), events: [] },
        { item: 4, ids: 'short-span', start: now(), name: t('4-byte span id'), events: [] },
        { item: 5, ids: 'ok', name: t('no start: receive time'), events: [{ time: 0n, name: t('e') }] },
        { item: 6, ids: 'ok', start: now() - DAY_NS, end: now(), name: t('kept'), events: [] },
      ],
    };
    const r = await roundTrip(domain, items, format);
    expect(counts(r)).toEqual({ accepted: 2, rejected: 4 });
    expect(mismatches(r)).toEqual({});
  });
});

describe('strings', () => {
  it('JSON: a lone UTF-16 surrogate (a JS SDK cutting mid-emoji) is stored as U+FFFD, valid siblings as sent', async () => {
    const items: Items = {
      signal: 'traces',
      items: [
        {
          item: 1,
          ids: 'ok',
          start: domain.receivedNs,
          name: t('cut \ud83d'),
          events: [{ name: t('\ude00 low') }],
        },
        { item: 2, ids: 'ok', start: domain.receivedNs, name: t('whole \ud83d\ude00'), events: [] },
      ],
    };
    const logs: Items = {
      signal: 'logs',
      items: [
        { item: 1, time: domain.receivedNs, body: t('body \udbff') },
        { item: 2, time: domain.receivedNs, body: t('fine') },
      ],
    };
    for (const it of [items, logs]) {
      const r = await roundTrip(domain, it, 'json');
      expect(counts(r)).toEqual({ accepted: 2, rejected: 0 });
      expect(mismatches(r)).toEqual({});
    }
  });

  it('protobuf: invalid UTF-8 in a span name or log body rejects that item with a reason; siblings are stored', async () => {
    const bad = { invalidUtf8: Uint8Array.from([0x61, 0xed, 0xa0, 0xbd]) };
    const items: Items = {
      signal: 'traces',
      items: [
        { item: 1, ids: 'ok', start: domain.receivedNs, name: bad, events: [] },
        {
          item: 2,
          ids: 'ok',
          start: domain.receivedNs,
          name: t('ok'),
          events: [{ name: { invalidUtf8: Uint8Array.from([0xff]) } }],
        },
        { item: 3, ids: 'ok', start: domain.receivedNs, name: t('ok'), events: [] },
      ],
    };
    const r = await roundTrip(domain, items, 'protobuf');
    expect(counts(r)).toEqual({ accepted: 1, rejected: 2 });
    expect(r.outcome.response.stats.reason).toMatch(/^2 spans rejected: 2 .*UTF-8/);
    expect(mismatches(r)).toEqual({});
  });
});

describe('OTLP/JSON that JSON.parse would silently shorten', () => {
  const body = (s: string) => Buffer.from(s, 'utf8');
  const span = (id: string) =>
    `{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"${id}","name":"n","startTimeUnixNano":"${domain.receivedNs}"}`;

  it.each([
    [
      'spans twice in one scope',
      () =>
        `{"resourceSpans":[{"scopeSpans":[{"spans":[${span('eee19b7ec3c1b174')}],"spans":[${span('eee19b7ec3c1b175')}]}]}]}`,
      'duplicate key "spans" in one JSON object',
    ],
    [
      'events twice in one span',
      () =>
        `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","events":[{"name":"a"}],"name":"n","events":[{"name":"b"}]}]}]}]}`,
      'duplicate key "events" in one JSON object',
    ],
    [
      'scopeSpans and scope_spans in one resource',
      () =>
        `{"resourceSpans":[{"scopeSpans":[{"spans":[${span('eee19b7ec3c1b174')}]}],"scope_spans":[{"spans":[${span('eee19b7ec3c1b175')}]}]}]}`,
      'both "scopeSpans" and "scope_spans" in one JSON object',
    ],
    [
      'resourceSpans twice',
      () => `{"resourceSpans":[{"scopeSpans":[{"spans":[${span('eee19b7ec3c1b174')}]}]}],"resourceSpans":[]}`,
      'duplicate key "resourceSpans" in one JSON object',
    ],
    [
      'resourceSpans and resource_spans',
      () =>
        `{"resourceSpans":[{"scopeSpans":[{"spans":[${span('eee19b7ec3c1b174')}]}]}],"resource_spans":[{"scope_spans":[{"spans":[${span('eee19b7ec3c1b175')}]}]}]}`,
      'both "resourceSpans" and "resource_spans" in one JSON object',
    ],
    [
      'startTimeUnixNano and start_time_unix_nano',
      () =>
        `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"1","start_time_unix_nano":"2"}]}]}]}`,
      'both "startTimeUnixNano" and "start_time_unix_nano" in one JSON object',
    ],
  ])('%s: 400 naming the key, nothing stored', async (_name, make, message) => {
    const tenant = domain.newTenant();
    const out = await domain.ingest(tenant, 'traces', 'json', body(make()));
    expect(out.response.status).toBe(400);
    expect(JSON.parse(Buffer.from(out.response.body).toString('utf8'))).toMatchObject({ message });
    expect(out.records).toEqual([]);
  });

  it('a metric with two data fields (gauge and sum) is refused rather than half read', async () => {
    const tenant = domain.newTenant();
    const json = `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asDouble":1}]},"sum":{"dataPoints":[{"asDouble":2}]}}]}]}]}`;
    const out = await domain.ingest(tenant, 'metrics', 'json', body(json));
    expect(out.response.status).toBe(400);
    expect(out.records).toEqual([]);
  });

  it('a point with both asInt and asDouble (a oneof) is rejected with a reason; its sibling is stored', async () => {
    const tenant = domain.newTenant();
    const t0 = domain.receivedNs.toString();
    const json = `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"timeUnixNano":"${t0}","asInt":"1","asDouble":2},{"timeUnixNano":"${t0}","asDouble":3}]}}]}]}]}`;
    const out = await domain.ingest(tenant, 'metrics', 'json', body(json));
    expect(out.response.status).toBe(200);
    expect(out.response.stats).toMatchObject({
      accepted: 1,
      rejected: 1,
      reason: '1 data point rejected: 1 both asInt and asDouble are set',
    });
  });

  it('a duplicated scalar field takes the last value (as JSON.parse and Go do): the item is stored once', async () => {
    const tenant = domain.newTenant();
    const t0 = domain.receivedNs.toString();
    const json = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"a","name":"b","startTimeUnixNano":"${t0}"}]}]}]}`;
    const out = await domain.ingest(tenant, 'traces', 'json', body(json));
    expect(out.response.status).toBe(200);
    expect(out.response.stats).toMatchObject({ accepted: 1, rejected: 0 });
  });

  it('a list key given as null is an empty list, not a duplicate', async () => {
    const tenant = domain.newTenant();
    const json = `{"resourceSpans":[{"scopeSpans":null},{"scope_spans":[{"spans":null}]},{"scopeSpans":[{"spans":[${span('eee19b7ec3c1b174')}]}]}]}`;
    const out = await domain.ingest(tenant, 'traces', 'json', body(json));
    expect(out.response.status).toBe(200);
    expect(out.response.stats).toMatchObject({ accepted: 1, rejected: 0 });
  });

  it('list keys inside strings ("spans": as text) do not count as keys', async () => {
    const tenant = domain.newTenant();
    const json = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"a\\\\\\"spans\\":[] \\"events\\": c\\\\","startTimeUnixNano":"${domain.receivedNs}"}]}]}]}`;
    const out = await domain.ingest(tenant, 'traces', 'json', body(json));
    expect(out.response.status).toBe(200);
    expect(out.response.stats.accepted).toBe(1);
  });
});
