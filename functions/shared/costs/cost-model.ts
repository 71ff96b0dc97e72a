import { HOURS_PER_MONTH, type PriceTable } from './prices.js';

/**
 * The cost model behind `npm run estimate`: monthly volumes x the project's measured per-item
 * figures (bench/per-item.ts -> bench/results/per-item.json) x a dated price table (prices.ts).
 * Pure arithmetic: no I/O, so tests check it on known inputs.
 *
 * What is measured and what is assumed: per-item CPU, bytes on the stream, bytes stored in
 * ClickHouse and Parquet, and envelopes per request come from the benchmark. Waiting times inside
 * an invocation (a Kinesis put, a ClickHouse round trip, an S3 put) cannot be measured on a laptop;
 * they are the `ASSUMED` constants below, named so in the output.
 */

export type Signal = 'traces' | 'logs' | 'metrics';
export const SIGNALS: readonly Signal[] = ['traces', 'logs', 'metrics'];

/** One signal's measured figures, per item (span, log record, metric data point). */
export interface PerItemFigures {
  /** Items per OTLP request in the benchmark. */
  readonly requestItems: number;
  /** OTLP protobuf bytes per item, uncompressed (what hosted vendors bill by the GB). */
  readonly otlpBytesPerItem: number;
  /** Request bytes per item on the wire (gzip). */
  readonly wireBytesPerItem: number;
  /** Kinesis records (envelopes) per request. */
  readonly recordsPerRequest: number;
  readonly streamBytesPerItem: number;
  readonly ingestCpuUsPerItem: number;
  readonly hotWriterCpuUsPerItem: number;
  readonly lakeWriterCpuUsPerItem: number;
  /** ClickHouse compressed bytes per item (system.parts). */
  readonly clickhouseBytesPerItem: number;
  /** Parquet (zstd) bytes per item in the lake. */
  readonly parquetBytesPerItem: number;
}

export interface MeasuredFigures {
  readonly date: string;
  readonly machine: string;
  readonly signals: Readonly<Record<Signal, PerItemFigures>>;
}

/** Waiting times and counts the benchmark cannot measure locally; printed with every estimate. */
export const ASSUMED = {
  /** Wall time of an ingest invocation beyond its CPU: PutRecords and the rate limiter's UpdateItem, in region. */
  ingestWaitMs: 25,
  /** Hot writer: ClickHouse round trips per invocation x round-trip time to ClickHouse Cloud in region. */
  hotWriterRoundTrips: 3,
  clickhouseRoundTripMs: 15,
  /** Lake writer: one S3 put per (tenant, signal, hour) group of a batch. */
  s3PutMs: 40,
  /** Peak over average rate: provisioned shards are sized for the peak. */
  peakFactor: 4,
  /** Shards an on-demand stream starts with (4 MiB/s write capacity). */
  onDemandShards: 4,
  /** Stream consumers reading every record: the hot writer and the lake writer. */
  consumers: 2,
  /** CloudWatch Logs bytes per invocation (EMF metrics and one log line). */
  logBytesPerInvocation: 1500,
  /** Distinct custom metric series the pipeline publishes (per function and dimension). */
  customMetrics: 30,
  /** Rate limiter: write units per ingest request (one UpdateItem per limited dimension). */
  dynamoWritesPerRequest: 2,
  tenants: 1,
  /** Spans per trace, for X-Ray's per-trace price in the comparison. */
  spansPerTrace: 10,
} as const;

/** ESM and function settings of the deployed stacks (lib/stacks/compute-stack.ts). */
export const DEPLOYED = {
  ingestMemoryMb: 1024,
  hotWriterMemoryMb: 1024,
  lakeWriterMemoryMb: 2048,
  compactorMemoryMb: 4096,
  hotBatchRecords: 10_000,
  hotWindowS: 5,
  lakeBatchRecords: 10_000,
  lakeWindowS: 300,
  hotRetentionDays: 7,
  glacierAfterDays: 30,
  lakeRetentionDays: 365,
} as const;

export type StreamMode = 'on-demand' | 'provisioned';

export interface EstimateInput {
  readonly itemsPerMonth: Readonly<Record<Signal, number>>;
  readonly streamMode: StreamMode;
  /** A key of `prices.clickhouse.tiers`. */
  readonly clickhouseTier: string;
  /** Fraction of the ingest and stream-consumer invocations traced by X-Ray (0..1). */
  readonly xraySampling: number;
  /** Provisioned shards; default: sized for the peak (see `provisionedShards`). */
  readonly shards?: number;
}

export interface CostLine {
  readonly component: string;
  readonly part: 'aws' | 'clickhouse';
  readonly usd: number;
  readonly detail: string;
}

export interface Estimate {
  readonly lines: readonly CostLine[];
  readonly awsUsd: number;
  readonly clickhouseUsd: number;
  readonly totalUsd: number;
  readonly items: number;
  /** USD per million items (all signals together). */
  readonly awsPerMillion: number;
  readonly totalPerMillion: number;
  readonly shards: number;
  readonly invocations: Readonly<Record<'ingest' | 'hotWriter' | 'lakeWriter', number>>;
}

export class EstimateError extends Error {
  override readonly name = 'EstimateError';
}

const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
const GB = 1024 ** 3;
const MIB = 1024 ** 2;

/** Invocations of a stream consumer: one per shard per window that holds a record, or per full batch. */
export function consumerInvocations(records: number, shards: number, windowS: number, batch: number): number {
  if (records <= 0) return 0;
  const windows = shards * (SECONDS_PER_MONTH / windowS);
  const perWindow = records / windows;
  // A window with no record invokes nothing: Poisson arrivals, P(at least one) = 1 - e^-λ.
  const byWindow = windows * (1 - Math.exp(-perWindow));
  return Math.max(byWindow, records / batch);
}

/** Shards a provisioned stream needs at the peak: write MiB/s, write records/s, and read MiB/s (2 per shard, shared by the consumers). */
export function provisionedShards(records: number, bytes: number, peakFactor = ASSUMED.peakFactor): number {
  const peakBytesPerS = (bytes / SECONDS_PER_MONTH) * peakFactor;
  const peakRecordsPerS = (records / SECONDS_PER_MONTH) * peakFactor;
  return Math.max(
    1,
    Math.ceil(peakBytesPerS / MIB),
    Math.ceil(peakRecordsPerS / 1000),
    Math.ceil((peakBytesPerS * ASSUMED.consumers) / (2 * MIB)),
  );
}

export function estimate(input: EstimateInput, measured: MeasuredFigures, prices: PriceTable): Estimate {
  const tier = prices.clickhouse.tiers[input.clickhouseTier];
  if (!tier) {
    throw new EstimateError(
      `unknown ClickHouse tier ${JSON.stringify(input.clickhouseTier)}; one of: ${Object.keys(prices.clickhouse.tiers).join(', ')}`,
    );
  }
  if (!(input.xraySampling >= 0 && input.xraySampling <= 1)) {
    throw new EstimateError(`--xray-sampling must be 0..1, got: ${input.xraySampling}`);
  }
  let requests = 0;
  let apiRequests = 0;
  let records = 0;
  let streamBytes = 0;
  let onDemandBilledBytes = 0;
  let putUnits = 0;
  let ingestCpuS = 0;
  let hotCpuS = 0;
  let lakeCpuS = 0;
  let clickhouseBytes = 0;
  let parquetBytes = 0;
  let items = 0;
  let signalsWithData = 0;
  for (const signal of SIGNALS) {
    const n = input.itemsPerMonth[signal];
    if (!(n >= 0) || !Number.isFinite(n))
      throw new EstimateError(`${signal} per month must be >= 0, got: ${n}`);
    if (n === 0) continue;
    const f = measured.signals[signal];
    signalsWithData++;
    items += n;
    const req = n / f.requestItems;
    requests += req;
    apiRequests +=
      req * Math.max(1, Math.ceil((f.wireBytesPerItem * f.requestItems) / prices.apiGateway.meteringBytes));
    const rec = req * f.recordsPerRequest;
    records += rec;
    const bytes = n * f.streamBytesPerItem;
    streamBytes += bytes;
    const recordBytes = bytes / rec;
    const rounding = prices.kinesis.onDemandRecordRoundingBytes;
    onDemandBilledBytes += rec * Math.ceil(recordBytes / rounding) * rounding;
    putUnits += rec * Math.ceil(recordBytes / prices.kinesis.putUnitBytes);
    ingestCpuS += (n * f.ingestCpuUsPerItem) / 1e6;
    hotCpuS += (n * f.hotWriterCpuUsPerItem) / 1e6;
    lakeCpuS += (n * f.lakeWriterCpuUsPerItem) / 1e6;
    clickhouseBytes += n * f.clickhouseBytesPerItem;
    parquetBytes += n * f.parquetBytesPerItem;
  }

  const shards =
    input.streamMode === 'on-demand'
      ? Math.max(ASSUMED.onDemandShards, provisionedShards(records, streamBytes))
      : (input.shards ?? provisionedShards(records, streamBytes));
  const hotInv = consumerInvocations(records, shards, DEPLOYED.hotWindowS, DEPLOYED.hotBatchRecords);
  const lakeInv = consumerInvocations(records, shards, DEPLOYED.lakeWindowS, DEPLOYED.lakeBatchRecords);
  // One staging file per (tenant, signal, hour) group of a lake batch; the compactor reads each and writes one per group and hour.
  const lakeFiles =
    lakeInv * Math.min(signalsWithData * ASSUMED.tenants, Math.max(1, records / Math.max(lakeInv, 1)));
  const compactedFiles = items > 0 ? HOURS_PER_MONTH * signalsWithData * ASSUMED.tenants : 0;

  const lambda = prices.lambda;
  const gbS = (seconds: number, mb: number) => seconds * (mb / 1024);
  const lambdaUsd = (inv: number, seconds: number, mb: number) =>
    (inv / 1e6) * lambda.perMillionRequests + gbS(seconds, mb) * lambda.armGbSecond;
  const ingestS = ingestCpuS + (requests * ASSUMED.ingestWaitMs) / 1000;
  const hotS = hotCpuS + (hotInv * ASSUMED.hotWriterRoundTrips * ASSUMED.clickhouseRoundTripMs) / 1000;
  const lakeS = lakeCpuS + (lakeFiles * ASSUMED.s3PutMs) / 1000;
  // The compactor decodes and re-encodes every row once: the lake writer's CPU again, plus its gets and puts.
  const compactS = lakeCpuS + ((lakeFiles + compactedFiles) * ASSUMED.s3PutMs) / 1000;

  const lines: CostLine[] = [];
  const add = (component: string, part: CostLine['part'], usd: number, detail: string) =>
    lines.push({ component, part, usd, detail });
  const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3));

  add(
    'API Gateway HTTP API',
    'aws',
    (apiRequests / 1e6) * prices.apiGateway.httpPerMillionRequests,
    `${fmt(apiRequests)} requests`,
  );
  add(
    'Lambda ingest',
    'aws',
    lambdaUsd(requests, ingestS, DEPLOYED.ingestMemoryMb),
    `${fmt(requests)} invocations, ${fmt(gbS(ingestS, DEPLOYED.ingestMemoryMb))} GB-s`,
  );
  add(
    'DynamoDB (keys, rate limits)',
    'aws',
    ((requests * ASSUMED.dynamoWritesPerRequest) / 1e6) * prices.dynamodb.perMillionWriteUnits,
    `${fmt(requests * ASSUMED.dynamoWritesPerRequest)} write units`,
  );
  const k = prices.kinesis;
  if (input.streamMode === 'on-demand') {
    add('Kinesis stream-hours', 'aws', HOURS_PER_MONTH * k.onDemandStreamHour, 'on-demand, 730 h');
    add(
      'Kinesis data in/out',
      'aws',
      (onDemandBilledBytes / GB) * k.onDemandIngestPerGb +
        ((streamBytes * ASSUMED.consumers) / GB) * k.onDemandRetrievalPerGb,
      `${fmt(streamBytes / GB)} GB in (${fmt(onDemandBilledBytes / GB)} billed), read by ${ASSUMED.consumers} consumers`,
    );
  } else {
    add(
      'Kinesis shard-hours',
      'aws',
      shards * HOURS_PER_MONTH * k.shardHour,
      `provisioned, ${shards} shard(s)`,
    );
    add(
      'Kinesis PUT units',
      'aws',
      (putUnits / 1e6) * k.perMillionPutUnits,
      `${fmt(putUnits)} PUT payload units`,
    );
  }
  add(
    'Lambda hot writer',
    'aws',
    lambdaUsd(hotInv, hotS, DEPLOYED.hotWriterMemoryMb),
    `${fmt(hotInv)} invocations, ${fmt(gbS(hotS, DEPLOYED.hotWriterMemoryMb))} GB-s`,
  );
  add(
    'Lambda lake writer + compactor',
    'aws',
    lambdaUsd(lakeInv, lakeS, DEPLOYED.lakeWriterMemoryMb) +
      lambdaUsd(HOURS_PER_MONTH, compactS, DEPLOYED.compactorMemoryMb),
    `${fmt(lakeInv)} + ${HOURS_PER_MONTH} invocations`,
  );
  const s3 = prices.s3;
  const warmMonths = DEPLOYED.glacierAfterDays / 30;
  const archiveMonths = (DEPLOYED.lakeRetentionDays - DEPLOYED.glacierAfterDays) / 30;
  add(
    'S3 requests',
    'aws',
    ((lakeFiles + compactedFiles) / 1000) * s3.perThousandPuts + (lakeFiles / 1000) * s3.perThousandGets,
    `${fmt(lakeFiles + compactedFiles)} puts`,
  );
  add(
    'S3 storage (steady state)',
    'aws',
    (parquetBytes / GB) * (warmMonths * s3.standardGbMonth + archiveMonths * s3.glacierIrGbMonth),
    `${fmt(parquetBytes / GB)} GB/month; ${DEPLOYED.glacierAfterDays} d Standard, then Glacier IR to ${DEPLOYED.lakeRetentionDays} d`,
  );
  const invocations = requests + hotInv + lakeInv + HOURS_PER_MONTH;
  add(
    'CloudWatch logs + metrics',
    'aws',
    ((invocations * ASSUMED.logBytesPerInvocation) / GB) * prices.cloudwatch.logsIngestPerGb +
      ASSUMED.customMetrics * prices.cloudwatch.customMetricMonth,
    `${fmt((invocations * ASSUMED.logBytesPerInvocation) / GB)} GB of logs, ${ASSUMED.customMetrics} metrics`,
  );
  const traced = (requests + hotInv + lakeInv) * input.xraySampling;
  add(
    'X-Ray',
    'aws',
    (traced / 1e6) * prices.xray.perMillionTracesRecorded,
    `${fmt(traced)} traces (${input.xraySampling * 100}% of invocations)`,
  );
  add(
    'ClickHouse Cloud compute',
    'clickhouse',
    tier.units * tier.perUnitHour * HOURS_PER_MONTH,
    tier.description,
  );
  const hotGb = (clickhouseBytes / GB) * (DEPLOYED.hotRetentionDays / 30);
  add(
    'ClickHouse Cloud storage',
    'clickhouse',
    input.clickhouseTier === 'none' ? 0 : (hotGb / 1024) * prices.clickhouse.storagePerTbMonth,
    `${fmt(hotGb)} GB held (${DEPLOYED.hotRetentionDays} d)`,
  );

  const awsUsd = lines.filter((l) => l.part === 'aws').reduce((s, l) => s + l.usd, 0);
  const clickhouseUsd = lines.filter((l) => l.part === 'clickhouse').reduce((s, l) => s + l.usd, 0);
  const perMillion = (usd: number) => (items > 0 ? usd / (items / 1e6) : 0);
  return {
    lines,
    awsUsd,
    clickhouseUsd,
    totalUsd: awsUsd + clickhouseUsd,
    items,
    awsPerMillion: perMillion(awsUsd),
    totalPerMillion: perMillion(awsUsd + clickhouseUsd),
    shards,
    invocations: { ingest: requests, hotWriter: hotInv, lakeWriter: lakeInv },
  };
}

/** The stream mode with the lower estimate for these volumes (the recommendation `npm run estimate` prints). */
export function recommendStreamMode(
  input: Omit<EstimateInput, 'streamMode'>,
  measured: MeasuredFigures,
  prices: PriceTable,
): StreamMode {
  const od = estimate({ ...input, streamMode: 'on-demand' }, measured, prices).awsUsd;
  const pr = estimate({ ...input, streamMode: 'provisioned' }, measured, prices).awsUsd;
  return pr < od ? 'provisioned' : 'on-demand';
}

/**
 * The monthly span volume (other signals scaled alike) above which `a` costs less than `b` in
 * AWS's part, by bisection between 1e6 and 1e13; undefined when the order never changes there.
 */
export function breakEven(
  base: EstimateInput,
  a: Partial<EstimateInput>,
  b: Partial<EstimateInput>,
  measured: MeasuredFigures,
  prices: PriceTable,
): number | undefined {
  const diff = (scale: number) => {
    const items = Object.fromEntries(SIGNALS.map((s) => [s, base.itemsPerMonth[s] * scale])) as Record<
      Signal,
      number
    >;
    const at = { ...base, itemsPerMonth: items };
    return (
      estimate({ ...at, ...a }, measured, prices).awsUsd - estimate({ ...at, ...b }, measured, prices).awsUsd
    );
  };
  const spans = base.itemsPerMonth.traces || 1;
  let lo = 1e6 / spans;
  let hi = 1e13 / spans;
  const dLo = diff(lo);
  const dHi = diff(hi);
  if (Math.sign(dLo) === Math.sign(dHi)) return undefined;
  for (let i = 0; i < 200 && hi / lo > 1.001; i++) {
    const mid = Math.sqrt(lo * hi);
    if (Math.sign(diff(mid)) === Math.sign(dLo)) lo = mid;
    else hi = mid;
  }
  return Math.sqrt(lo * hi) * spans;
}

/** Hosted alternatives at the same span volume (list prices per item; hosts, seats and retention add-ons left out). */
export function alternatives(spansPerMonth: number, f: PerItemFigures, prices: PriceTable) {
  const gb = (spansPerMonth * f.otlpBytesPerItem) / GB;
  const p = prices.alternatives;
  return [
    {
      name: 'Datadog APM (ingested + 100% indexed, 15 d)',
      usd: gb * p.datadogIngestedPerGb + (spansPerMonth / 1e6) * p.datadogIndexedPerMillion,
    },
    { name: 'Grafana Cloud Traces', usd: gb * p.grafanaTracesPerGb },
    {
      name: `AWS X-Ray (${ASSUMED.spansPerTrace} spans/trace)`,
      usd: (spansPerMonth / ASSUMED.spansPerTrace / 1e6) * prices.xray.perMillionTracesRecorded,
    },
    { name: 'CloudWatch Transaction Search', usd: gb * p.cloudwatchSpansPerGb },
  ];
}
