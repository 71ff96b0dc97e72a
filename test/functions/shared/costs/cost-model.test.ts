import { describe, expect, it } from 'vitest';
import {
  ASSUMED,
  breakEven,
  consumerInvocations,
  DEPLOYED,
  EstimateError,
  estimate,
  type MeasuredFigures,
  type PerItemFigures,
  provisionedShards,
  recommendStreamMode,
} from '../../../../functions/shared/costs/cost-model.js';
import { HOURS_PER_MONTH, PRICES, type PriceTable } from '../../../../functions/shared/costs/prices.js';

const SECONDS = HOURS_PER_MONTH * 3600;

/** Round figures so each line can be worked out by hand. */
const figure: PerItemFigures = {
  requestItems: 1000,
  otlpBytesPerItem: 500,
  wireBytesPerItem: 100,
  recordsPerRequest: 1,
  streamBytesPerItem: 100,
  ingestCpuUsPerItem: 10,
  hotWriterCpuUsPerItem: 20,
  lakeWriterCpuUsPerItem: 10,
  clickhouseBytesPerItem: 50,
  parquetBytesPerItem: 40,
};
const measured: MeasuredFigures = {
  date: '2026-12-07',
  machine: 'test',
  signals: { traces: figure, logs: figure, metrics: figure },
};
const spans = (n: number) => ({ traces: n, logs: 0, metrics: 0 });
const line = (e: ReturnType<typeof estimate>, name: string) => e.lines.find((l) => l.component === name)!.usd;

describe('cost model arithmetic on known inputs', () => {
  const base = { itemsPerMonth: spans(1e9), clickhouseTier: 'basic', xraySampling: 0 } as const;

  it('API Gateway, ingest Lambda and DynamoDB follow the request count (1e9 spans / 1000 per request)', () => {
    const e = estimate({ ...base, streamMode: 'on-demand' }, measured, PRICES);
    expect(e.invocations.ingest).toBe(1e6);
    expect(line(e, 'API Gateway HTTP API')).toBeCloseTo(1.0, 9);
    // 1e6 x $0.20/M + (1e9 x 10 µs + 1e6 x 25 ms) x 1 GB x price
    const gbS = 1e9 * 10e-6 + 1e6 * (ASSUMED.ingestWaitMs / 1000);
    expect(line(e, 'Lambda ingest')).toBeCloseTo(0.2 + gbS * PRICES.lambda.armGbSecond, 9);
    expect(line(e, 'DynamoDB (keys, rate limits)')).toBeCloseTo(2 * 0.625, 9);
  });

  it('on-demand Kinesis: 730 stream-hours, records rounded up to 1 KB, read once per consumer', () => {
    const e = estimate({ ...base, streamMode: 'on-demand' }, measured, PRICES);
    expect(line(e, 'Kinesis stream-hours')).toBeCloseTo(730 * 0.04, 9);
    // 1e6 records of 100 KB each (1000 items x 100 B): 100,000 B rounds up to 98 KiB
    const billed = 1e6 * Math.ceil(100_000 / 1024) * 1024;
    const read = 1e9 * 100 * 2;
    expect(line(e, 'Kinesis data in/out')).toBeCloseTo(
      (billed / 1024 ** 3) * 0.08 + (read / 1024 ** 3) * 0.04,
      9,
    );
  });

  it('provisioned Kinesis: shards for 4x the average rate, PUT units of 25 KB', () => {
    const e = estimate({ ...base, streamMode: 'provisioned' }, measured, PRICES);
    // 1e11 B/month = 38 KB/s average, 152 KB/s peak: one shard
    expect(e.shards).toBe(1);
    expect(line(e, 'Kinesis shard-hours')).toBeCloseTo(730 * 0.015, 9);
    expect(line(e, 'Kinesis PUT units')).toBeCloseTo((1e6 * Math.ceil(100_000 / 25_600) * 0.014) / 1e6, 9);
    expect(estimate({ ...base, streamMode: 'provisioned', shards: 3 }, measured, PRICES).shards).toBe(3);
  });

  it('provisioned shards follow the binding limit: bytes in, records in, or bytes read by two consumers', () => {
    // 1 MiB/s average at peak factor 4 -> 4 MiB/s in, 8 MiB/s read at 2 MiB/s per shard: 4 shards
    expect(provisionedShards(1, 1024 ** 2 * SECONDS)).toBe(4);
    // 1000 records/s average -> 4000/s at the peak: 4 shards, whatever the bytes
    expect(provisionedShards(1000 * SECONDS, 1)).toBe(4);
    expect(provisionedShards(0, 0)).toBe(1);
  });

  it('stream consumers are invoked per shard and window while records arrive, or per full batch', () => {
    // Far more records than windows: every window invokes, unless full batches are more
    expect(consumerInvocations(1e12, 1, 5, 10_000)).toBeCloseTo(1e8, 0);
    expect(consumerInvocations(1e9, 1, 5, 10_000)).toBeCloseTo(SECONDS / 5, 0);
    // Sparse records: about one invocation per record
    expect(consumerInvocations(100, 4, 5, 10_000)).toBeCloseTo(100, 0);
    expect(consumerInvocations(0, 4, 5, 10_000)).toBe(0);
  });

  it('X-Ray bills the traced share of ingest and consumer invocations', () => {
    const off = estimate({ ...base, streamMode: 'provisioned' }, measured, PRICES);
    const on = estimate({ ...base, streamMode: 'provisioned', xraySampling: 0.5 }, measured, PRICES);
    const inv = off.invocations.ingest + off.invocations.hotWriter + off.invocations.lakeWriter;
    expect(line(off, 'X-Ray')).toBe(0);
    expect(line(on, 'X-Ray')).toBeCloseTo(((inv * 0.5) / 1e6) * 5, 9);
    expect(on.awsUsd - off.awsUsd).toBeCloseTo(line(on, 'X-Ray'), 9);
  });

  it('storage: ClickHouse holds 7 days, the lake 30 days in Standard then Glacier IR to 365 days', () => {
    const e = estimate({ ...base, streamMode: 'provisioned' }, measured, PRICES);
    const chGb = (1e9 * 50) / 1024 ** 3;
    expect(line(e, 'ClickHouse Cloud storage')).toBeCloseTo(((chGb * 7) / 30 / 1024) * 25.3, 9);
    const lakeGb = (1e9 * 40) / 1024 ** 3;
    expect(line(e, 'S3 storage (steady state)')).toBeCloseTo(lakeGb * (1 * 0.023 + (335 / 30) * 0.004), 9);
    expect(line(e, 'ClickHouse Cloud compute')).toBeCloseTo(0.2181 * 730, 9);
    expect(DEPLOYED.hotRetentionDays).toBe(7);
  });

  it('totals are the sums of their lines; per million divides by all items', () => {
    const e = estimate(
      { ...base, itemsPerMonth: { traces: 1e9, logs: 2e9, metrics: 1e9 }, streamMode: 'on-demand' },
      measured,
      PRICES,
    );
    const sum = e.lines.reduce((s, l) => s + l.usd, 0);
    expect(e.totalUsd).toBeCloseTo(sum, 9);
    expect(e.items).toBe(4e9);
    expect(e.awsPerMillion).toBeCloseTo(e.awsUsd / 4000, 9);
  });

  it('recommends the cheaper stream mode and finds where two options cross', () => {
    // A price table where on-demand has no stream-hour fee: it wins at low volume, loses at high.
    const cheapHours: PriceTable = { ...PRICES, kinesis: { ...PRICES.kinesis, onDemandStreamHour: 0 } };
    const low = { ...base, itemsPerMonth: spans(1e7) };
    expect(recommendStreamMode(low, measured, cheapHours)).toBe('on-demand');
    expect(recommendStreamMode({ ...base, itemsPerMonth: spans(1e11) }, measured, cheapHours)).toBe(
      'provisioned',
    );
    const at = breakEven(
      { ...low, streamMode: 'on-demand' },
      { streamMode: 'provisioned' },
      { streamMode: 'on-demand' },
      measured,
      cheapHours,
    )!;
    const cost = (n: number, streamMode: 'on-demand' | 'provisioned') =>
      estimate({ ...base, itemsPerMonth: spans(n), streamMode }, measured, cheapHours).awsUsd;
    expect(cost(at * 0.98, 'provisioned')).toBeGreaterThan(cost(at * 0.98, 'on-demand'));
    expect(cost(at * 1.02, 'provisioned')).toBeLessThan(cost(at * 1.02, 'on-demand'));
  });

  it('refuses an unknown ClickHouse tier, a sampling rate out of 0..1 and negative volumes', () => {
    const ok = { ...base, streamMode: 'on-demand' } as const;
    expect(() => estimate({ ...ok, clickhouseTier: 'huge' }, measured, PRICES)).toThrow(EstimateError);
    expect(() => estimate({ ...ok, xraySampling: 1.5 }, measured, PRICES)).toThrow(/0\.\.1/);
    expect(() => estimate({ ...ok, itemsPerMonth: spans(-1) }, measured, PRICES)).toThrow(/>= 0/);
  });
});
