/**
 * The price table the cost model (cost-model.ts) multiplies by: list prices in USD, us-east-1,
 * on-demand, no free tier, no discounts. Every figure names its source page. Prices change: the
 * date says when the table was written (from the pages' published list prices, not fetched live by
 * the build); `npm run estimate -- --prices <file.json>` takes a corrected copy (same shape)
 * without a code change.
 */

export interface PriceTable {
  /** When the figures were read off the sources (YYYY-MM-DD). */
  readonly asOf: string;
  readonly region: string;
  readonly lambda: {
    /** Per GB-second, arm64, first pricing tier. */
    readonly armGbSecond: number;
    readonly perMillionRequests: number;
  };
  readonly kinesis: {
    /** On-demand (standard) mode: per stream-hour, per GB written, per GB read by a shared-throughput consumer. */
    readonly onDemandStreamHour: number;
    readonly onDemandIngestPerGb: number;
    readonly onDemandRetrievalPerGb: number;
    /** On-demand bills each record rounded up to this many bytes. */
    readonly onDemandRecordRoundingBytes: number;
    /** Provisioned mode: per shard-hour and per million PUT payload units (25 KB each). */
    readonly shardHour: number;
    readonly perMillionPutUnits: number;
    readonly putUnitBytes: number;
  };
  readonly s3: {
    readonly standardGbMonth: number;
    readonly glacierIrGbMonth: number;
    readonly perThousandPuts: number;
    readonly perThousandGets: number;
  };
  readonly dynamodb: { readonly perMillionWriteUnits: number; readonly perMillionReadUnits: number };
  readonly apiGateway: {
    /** HTTP API, first 300 M requests a month; each 512 KB of a request counts as one request. */
    readonly httpPerMillionRequests: number;
    readonly meteringBytes: number;
  };
  readonly athena: { readonly perTbScanned: number };
  readonly xray: { readonly perMillionTracesRecorded: number };
  readonly cloudwatch: { readonly logsIngestPerGb: number; readonly customMetricMonth: number };
  /** ClickHouse Cloud (AWS us-east-1): compute per unit-hour (one unit = 8 GiB RAM, 2 vCPU) and storage. */
  readonly clickhouse: {
    readonly tiers: Readonly<Record<string, ClickHouseTier>>;
    readonly storagePerTbMonth: number;
  };
  /** Hosted alternatives the README compares with (per-item prices only; seats and hosts left out). */
  readonly alternatives: {
    /** Datadog APM: ingested spans per GB beyond the per-host allotment, indexed spans per million (15-day retention). */
    readonly datadogIngestedPerGb: number;
    readonly datadogIndexedPerMillion: number;
    /** Grafana Cloud Traces (Pro): per GB ingested. */
    readonly grafanaTracesPerGb: number;
    /** CloudWatch Logs standard ingestion per GB (what spans cost through CloudWatch Transaction Search). */
    readonly cloudwatchSpansPerGb: number;
  };
  readonly sources: Readonly<Record<string, string>>;
}

export interface ClickHouseTier {
  readonly description: string;
  /** Compute units (8 GiB each) kept running all month. */
  readonly units: number;
  readonly perUnitHour: number;
}

export const HOURS_PER_MONTH = 730;

export const PRICES: PriceTable = {
  asOf: '2026-12-07',
  region: 'us-east-1',
  lambda: { armGbSecond: 0.0000133334, perMillionRequests: 0.2 },
  kinesis: {
    onDemandStreamHour: 0.04,
    onDemandIngestPerGb: 0.08,
    onDemandRetrievalPerGb: 0.04,
    onDemandRecordRoundingBytes: 1024,
    shardHour: 0.015,
    perMillionPutUnits: 0.014,
    putUnitBytes: 25 * 1024,
  },
  s3: { standardGbMonth: 0.023, glacierIrGbMonth: 0.004, perThousandPuts: 0.005, perThousandGets: 0.0004 },
  dynamodb: { perMillionWriteUnits: 0.625, perMillionReadUnits: 0.125 },
  apiGateway: { httpPerMillionRequests: 1.0, meteringBytes: 512 * 1024 },
  athena: { perTbScanned: 5 },
  xray: { perMillionTracesRecorded: 5 },
  cloudwatch: { logsIngestPerGb: 0.5, customMetricMonth: 0.3 },
  clickhouse: {
    tiers: {
      basic: { description: 'Basic, 1 unit (8 GiB) always on', units: 1, perUnitHour: 0.2181 },
      scale: { description: 'Scale, 2 replicas x 8 GiB always on', units: 2, perUnitHour: 0.2985 },
      none: { description: 'no ClickHouse Cloud (your own server; not counted)', units: 0, perUnitHour: 0 },
    },
    storagePerTbMonth: 25.3,
  },
  alternatives: {
    datadogIngestedPerGb: 0.1,
    datadogIndexedPerMillion: 1.7,
    grafanaTracesPerGb: 0.5,
    cloudwatchSpansPerGb: 0.5,
  },
  sources: {
    lambda: 'https://aws.amazon.com/lambda/pricing/',
    kinesis: 'https://aws.amazon.com/kinesis/data-streams/pricing/',
    s3: 'https://aws.amazon.com/s3/pricing/',
    dynamodb: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    apiGateway: 'https://aws.amazon.com/api-gateway/pricing/',
    athena: 'https://aws.amazon.com/athena/pricing/',
    xray: 'https://aws.amazon.com/xray/pricing/',
    cloudwatch: 'https://aws.amazon.com/cloudwatch/pricing/',
    clickhouse: 'https://clickhouse.com/pricing',
    datadog: 'https://www.datadoghq.com/pricing/?product=apm--continuous-profiler',
    grafana: 'https://grafana.com/pricing/',
  },
};
