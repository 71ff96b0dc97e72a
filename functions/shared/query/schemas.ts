import * as z from 'zod';
import { LOG_SEVERITIES, LOG_SEVERITY_NUMBERS } from '../otlp/severity.js';

/**
 * The query API's contract: zod schemas of every endpoint's parameters (validated at the edge,
 * 400 naming the parameter) and responses (the OpenAPI description is generated from them, see
 * openapi.ts). Query-string values arrive as strings; numbers are coerced.
 */

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
export const MAX_ATTRIBUTE_FILTERS = 10;

const time = (what: string) =>
  z
    .string()
    .max(64)
    .optional()
    .describe(
      `${what}: RFC 3339 (2026-11-23T07:00:00Z), epoch milliseconds (1795417200000) or relative to now (now, now-15m, now-1h, now-7d).`,
    );

const name = (what: string) => z.string().min(1).max(256).optional().describe(what);

const limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_LIMIT)
  .default(DEFAULT_LIMIT)
  .describe(`Rows per page (1-${MAX_LIMIT}).`);

const cursor = z
  .string()
  .max(4096)
  .optional()
  .describe(
    'Opaque cursor from meta.nextCursor of the previous page; other parameters must be repeated unchanged.',
  );

/** Trace and span ids as stored: 1-64 letters, digits, '-' or '_' (hex in OTLP). */
const TRACE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const traceId = z.string().regex(TRACE_ID, 'expected 1-64 characters [A-Za-z0-9_-] (a hex trace id)');

export const TracePathSchema = z.strictObject({
  traceId: traceId.describe('The trace id (32 hex digits in OTLP).'),
});

export const TraceGetParamsSchema = z.strictObject({
  from: time(
    'Earliest span start to look at (default: the start of the hot retention; earlier reaches the lake)',
  ),
  to: time('Latest span start to look at (default: now)'),
});

export const SPAN_STATUSES = ['ok', 'error', 'unset'] as const;

export const TraceSearchParamsSchema = z.strictObject({
  service: name('Only spans of this service (resource service.name).'),
  operation: name('Only spans with this name.'),
  minDurationMs: z.coerce
    .number()
    .min(0)
    .max(86_400_000)
    .optional()
    .describe('Only spans at least this long (ms).'),
  status: z.enum(SPAN_STATUSES).optional().describe('Only spans with this status.'),
  from: time('Start of the range (default: to minus 1 hour)'),
  to: time('End of the range (default: now)'),
  limit,
  cursor,
});

export { LOG_SEVERITIES as SEVERITIES, LOG_SEVERITY_NUMBERS as SEVERITY_NUMBERS };

export const LogSearchParamsSchema = z.strictObject({
  service: name('Only records of this service.'),
  severity: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(LOG_SEVERITIES))
    .optional()
    .describe('Minimum severity: TRACE, DEBUG, INFO, WARN, ERROR or FATAL (case-insensitive).'),
  q: z.string().min(1).max(256).optional().describe('Case-insensitive text the body must contain.'),
  traceId: traceId.optional().describe('Only records of this trace.'),
  from: time('Start of the range (default: to minus 1 hour)'),
  to: time('End of the range (default: now)'),
  limit,
  cursor,
});

export const METRIC_AGGREGATIONS = ['avg', 'sum', 'min', 'max', 'count', 'p50', 'p90', 'p95', 'p99'] as const;
export type MetricAggregation = (typeof METRIC_AGGREGATIONS)[number];

const STEP = /^\d{1,6}[smhd]$/;

/** `step` of the console's series routes: whole minutes, the finest rollup. */
const seriesStep = z
  .string()
  .regex(STEP, 'expected a duration such as 1m, 5m, 1h, 1d')
  .optional()
  .describe(
    'Bucket width in whole minutes, e.g. 1m, 5m, 1h (default: the smallest of 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d giving at most 300 points, and of whole hours for a range over 12 hours; reported in meta.stepMs). Steps of whole hours read the hourly rollups, others the per-minute ones.',
  );

export const MetricParamsSchema = z.strictObject({
  name: z.string().min(1).max(256).describe('Metric name (required).'),
  service: name('Only data points of this service.'),
  agg: z
    .enum(METRIC_AGGREGATIONS)
    .default('avg')
    .describe(
      'Aggregation per step: avg, sum, min, max or count (histograms and summaries aggregate their Sum and Count: avg = Sum/Count); p50, p90, p95 or p99 for histogram metrics, estimated from the summed bucket counts with linear interpolation inside the bucket (other metric types give no series).',
    ),
  groupBy: z
    .string()
    .regex(/^(service|attr\..{1,256})$/, 'expected service or attr.<key>')
    .default('service')
    .describe(
      'service (one series per service and metric type) or attr.<key> (one per value of that data-point attribute; points without it are left out). Each series carries its value in `group`.',
    ),
  step: z
    .string()
    .regex(STEP, 'expected a duration such as 30s, 5m, 1h, 1d')
    .optional()
    .describe('Bucket width, e.g. 30s, 5m, 1h (default: chosen to give about 120 points).'),
  from: time('Start of the range (default: to minus 1 hour)'),
  to: time('End of the range (default: now)'),
});

export const ServicesParamsSchema = z.strictObject({
  from: time('Start of the range, rounded down to the minute (default: to minus 1 hour)'),
  to: time('End of the range, rounded up to the minute (default: now)'),
});

export const ServiceSeriesParamsSchema = z.strictObject({
  service: name('Only this service.'),
  step: seriesStep,
  from: time('Start of the range, rounded down to the step (default: to minus 1 hour)'),
  to: time('End of the range, rounded up to the step (default: now)'),
});

export const ServicePathSchema = z.strictObject({
  service: z.string().min(1).max(256).describe('The service (resource service.name).'),
});

export const ServiceMapParamsSchema = ServicesParamsSchema;

export const LogHistogramParamsSchema = z.strictObject({
  service: LogSearchParamsSchema.shape.service,
  severity: LogSearchParamsSchema.shape.severity,
  q: LogSearchParamsSchema.shape.q,
  traceId: LogSearchParamsSchema.shape.traceId,
  step: seriesStep,
  from: time('Start of the range, rounded down to the step (default: to minus 1 hour)'),
  to: time('End of the range, rounded up to the step (default: now)'),
});

export const MetricNamesParamsSchema = z.strictObject({
  q: z.string().min(1).max(256).optional().describe('Case-insensitive text the name must contain.'),
  from: time('Start of the range (default: to minus 1 hour)'),
  to: time('End of the range (default: now)'),
});

// ---- responses

export const TierStatsSchema = z.object({
  tier: z.enum(['hot', 'cold']).describe('hot: ClickHouse; cold: the Parquet lake (Athena in AWS).'),
  engine: z.enum(['clickhouse', 'athena', 'clickhouse-parquet']),
  from: z.string().describe('The part of the range this tier answered (RFC 3339).'),
  to: z.string(),
  queries: z.number().int(),
  bytesScanned: z.number().optional().describe('Athena: bytes scanned (what Athena bills).'),
  elapsedMs: z.number(),
});

export const MetaSchema = z.object({
  from: z.string().describe('Resolved start of the range (RFC 3339).'),
  to: z.string().describe('Resolved end of the range (RFC 3339).'),
  tiers: z.array(TierStatsSchema).describe('The tiers that answered.'),
  nextCursor: z.string().nullable().describe('Cursor of the next page, null on the last one.'),
  stepMs: z.number().int().optional().describe('Series routes: the bucket width used (ms).'),
});

const attributes = z.record(z.string(), z.string());

export const SpanSchema = z.object({
  traceId: z.string(),
  spanId: z.string(),
  parentSpanId: z.string().describe("'' for a root span."),
  traceState: z.string(),
  name: z.string(),
  kind: z.string().describe('OTLP enum name, e.g. SPAN_KIND_SERVER.'),
  serviceName: z.string(),
  startTimeUnixNano: z.string().describe('Nanoseconds since the epoch (decimal string).'),
  startTime: z.string(),
  durationNanos: z.string(),
  durationMs: z.number(),
  status: z.object({
    code: z.string().describe('OTLP enum name, e.g. STATUS_CODE_ERROR.'),
    message: z.string(),
  }),
  attributes,
  resourceAttributes: attributes,
  scope: z.object({ name: z.string(), version: z.string() }),
  events: z.array(z.object({ timeUnixNano: z.string(), name: z.string(), attributes })),
  links: z.array(z.object({ traceId: z.string(), spanId: z.string(), traceState: z.string(), attributes })),
});

export const TraceResponseSchema = z.object({
  data: z.object({ traceId: z.string(), spans: z.array(SpanSchema) }),
  meta: MetaSchema,
});

export const TraceSummarySchema = z.object({
  traceId: z.string(),
  startTimeUnixNano: z.string().describe('Start of the earliest matching span.'),
  startTime: z.string(),
  serviceName: z.string().describe('Service of the earliest matching span.'),
  operation: z.string().describe('Name of the earliest matching span.'),
  durationMs: z.number().describe('Duration of the longest matching span.'),
  spanCount: z.number().int().describe('Matching spans.'),
  errorCount: z.number().int().describe('Matching spans with status error.'),
});

export const TraceSearchResponseSchema = z.object({ data: z.array(TraceSummarySchema), meta: MetaSchema });

export const LogRecordSchema = z.object({
  timeUnixNano: z.string(),
  time: z.string(),
  serviceName: z.string(),
  severityText: z.string(),
  severityNumber: z.number().int(),
  body: z.string(),
  traceId: z.string(),
  spanId: z.string(),
  attributes,
  resourceAttributes: attributes,
});

export const LogSearchResponseSchema = z.object({ data: z.array(LogRecordSchema), meta: MetaSchema });

export const MetricResponseSchema = z.object({
  data: z.object({
    name: z.string(),
    agg: z.enum(METRIC_AGGREGATIONS),
    stepSeconds: z.number(),
    series: z.array(
      z.object({
        group: z.string().describe('The series value of groupBy: the service, or the attribute value.'),
        serviceName: z.string().describe("The service (groupBy=service); '' when grouped by an attribute."),
        metricType: z.enum(['gauge', 'sum', 'histogram', 'exponential_histogram', 'summary']),
        points: z.array(
          z.object({
            timeUnixMs: z.number().describe('Start of the step bucket.'),
            time: z.string(),
            value: z.number().nullable(),
          }),
        ),
      }),
    ),
  }),
  meta: MetaSchema,
});

export const ServiceSchema = z.object({
  serviceName: z.string(),
  requests: z.number().describe('Entry spans (server/consumer kind, or roots) in the range.'),
  requestRate: z.number().describe('Requests per second over the range.'),
  errors: z.number(),
  errorRatio: z.number().describe('errors / requests (0 without requests).'),
  latencyMs: z
    .object({ p50: z.number(), p95: z.number(), p99: z.number() })
    .nullable()
    .describe('Entry-span latency quantiles (t-digest estimates).'),
});

export const ServicesResponseSchema = z.object({ data: z.array(ServiceSchema), meta: MetaSchema });

const ms = z.number().nullable().describe('Milliseconds (t-digest estimate); null without requests.');
const red = {
  requests: z.number().describe('Entry spans (server/consumer kind, or roots).'),
  errors: z.number(),
  rate: z.number().describe('Requests per second.'),
  errorRatio: z.number().describe('errors / requests (0 without requests).'),
};

export const ServiceSeriesResponseSchema = z.object({
  data: z.array(
    z.object({
      service: z.string(),
      points: z.array(
        z.object({
          t: z
            .number()
            .describe('Start of the step bucket (epoch ms); every bucket of the range is present.'),
          ...red,
          p50Ms: ms,
          p95Ms: ms,
          p99Ms: ms,
        }),
      ),
    }),
  ),
  meta: MetaSchema,
});

export const ServiceOperationsResponseSchema = z.object({
  data: z.array(z.object({ operation: z.string(), ...red, p50Ms: ms, p95Ms: ms, p99Ms: ms })),
  meta: MetaSchema,
});

export const ServiceMapResponseSchema = z.object({
  data: z.object({
    nodes: z.array(z.object({ service: z.string(), ...red })),
    edges: z.array(
      z.object({
        parent: z.string(),
        child: z.string(),
        calls: z
          .number()
          .describe(
            "Spans of child whose parent span is of parent and starts within the child's clock hour, widened by 5 minutes before it and 1 minute after it.",
          ),
        errors: z.number(),
        rate: z.number().describe('Calls per second.'),
        errorRatio: z.number(),
        p50Ms: ms.describe("The child spans' duration (ms)."),
        p95Ms: ms,
        p99Ms: ms,
      }),
    ),
  }),
  meta: MetaSchema,
});

export const LogHistogramResponseSchema = z.object({
  data: z.array(
    z.object({
      t: z.number().describe('Start of the step bucket (epoch ms); every bucket of the range is present.'),
      counts: z.object(
        Object.fromEntries(LOG_SEVERITIES.map((s) => [s, z.number().int()])) as Record<
          (typeof LOG_SEVERITIES)[number],
          z.ZodNumber
        >,
      ),
    }),
  ),
  meta: MetaSchema,
});

export const MetricNamesResponseSchema = z.object({
  data: z.array(
    z.object({
      name: z.string(),
      type: z.enum(['gauge', 'sum', 'histogram', 'exponential_histogram', 'summary']),
      unit: z.string(),
      description: z.string(),
      services: z.array(z.string()).describe('Services that sent it in the range (at most 100).'),
    }),
  ),
  meta: MetaSchema,
});

export const UsageParamsSchema = z.strictObject({
  from: time('First UTC day of the range, the day holding this time (default: to minus 7 days)'),
  to: time('Last UTC day of the range, the day holding this time (default: now)'),
});

export const UsageDaySchema = z.object({
  day: z.string().describe('UTC day, YYYY-MM-DD.'),
  signal: z.enum(['traces', 'logs', 'metrics']),
  requests: z.number().describe('Requests stored (a resend of the same bytes counts once).'),
  itemsAccepted: z.number().describe('Spans, log records or metric data points stored.'),
  itemsRejected: z.number().describe('Items rejected in partial_success.'),
  wireBytes: z.number().describe('Request bodies as received (compressed or not).'),
  decodedBytes: z.number().describe('Request bodies decompressed: what the daily byte quota counts.'),
  storedBytesEstimate: z
    .number()
    .describe(
      'Estimated ClickHouse bytes on disk for these items: compressed bytes per row of the signal tables (all tenants) times itemsAccepted.',
    ),
});

export const UsageResponseSchema = z.object({
  data: z.array(UsageDaySchema),
  meta: z.object({ from: z.string(), to: z.string() }),
});

export const ErrorResponseSchema = z.object({
  error: z
    .string()
    .describe(
      'bad_request, unauthorized, forbidden (key without the query scope), not_found, rate_limited (429, see Retry-After), query_too_large and response_too_large (422: narrow the range), timeout, unavailable, internal',
    ),
  message: z.string(),
  parameter: z.string().optional().describe('The offending parameter (400 only).'),
});

export type Meta = z.infer<typeof MetaSchema>;
export type TierStatsOut = z.infer<typeof TierStatsSchema>;
