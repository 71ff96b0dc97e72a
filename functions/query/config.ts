import * as z from 'zod';
import { DEFAULT_HOT_RETENTION_DAYS } from '../shared/clickhouse/ddl.js';
import { clickHouseEnvSchema } from '../shared/clickhouse/secrets-manager-client.js';
import { environment } from '../shared/config/environment.js';
import { DEFAULT_MAX_BYTES_TO_READ, DEFAULT_MAX_ROWS_TO_READ } from '../shared/query/clickhouse-reader.js';
import { DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_QUERY_RATE } from '../shared/query/query-api.js';

/** The query Lambda's environment, validated once, on first use (not at import). */
export const queryConfigSchema = z.intersection(
  clickHouseEnvSchema,
  z
    .object({
      TENANTS_TABLE: z.string().min(1),
      /** Athena workgroup of the lake (from the stateful stack); absent: hot tier only. */
      ATHENA_WORKGROUP: z.string().min(1).optional(),
      GLUE_DATABASE: z.string().min(1).optional(),
      /** The lake bucket (informational: Athena reads it through the Glue tables). */
      LAKE_BUCKET: z.string().min(1).optional(),
      /** HMAC key of page cursors: a Secrets Manager secret (AWS) or the value itself (local). */
      CURSOR_SECRET_ARN: z.string().min(1).optional(),
      CURSOR_SECRET: z.string().min(16, 'at least 16 characters').optional(),
      HOT_RETENTION_DAYS: z.coerce.number().int().positive().default(DEFAULT_HOT_RETENTION_DAYS),
      /** Budget of one request across tiers; API Gateway gives up at 30 s. */
      QUERY_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(29_000).default(25_000),
      /** ClickHouse max_execution_time per statement. */
      CLICKHOUSE_MAX_EXECUTION_SECONDS: z.coerce.number().int().min(1).max(60).default(10),
      /** ClickHouse max_rows_to_read / max_bytes_to_read per statement (a 422 when over). */
      CLICKHOUSE_MAX_ROWS_TO_READ: z.coerce.number().int().min(1).default(DEFAULT_MAX_ROWS_TO_READ),
      CLICKHOUSE_MAX_BYTES_TO_READ: z.coerce.number().int().min(1).default(DEFAULT_MAX_BYTES_TO_READ),
      /** Largest JSON answer; Lambda's synchronous limit is 6 MB. */
      MAX_RESPONSE_BYTES: z.coerce
        .number()
        .int()
        .min(64 * 1024)
        .max(6_000_000)
        .default(DEFAULT_MAX_RESPONSE_BYTES),
      /** The shared rate-limit table (DynamoDB); absent, each instance limits on its own. */
      RATE_LIMIT_TABLE: z.string().min(1).optional(),
      /** Default query rate per tenant; `npm run tenants -- set-query-limit` overrides it per tenant. */
      QUERY_REQUESTS_PER_SECOND: z.coerce.number().positive().default(DEFAULT_QUERY_RATE.requestsPerSecond),
      QUERY_BURST: z.coerce.number().min(1).default(DEFAULT_QUERY_RATE.burst),
      MAX_RANGE_DAYS: z.coerce.number().int().min(1).max(400).default(31),
      DEFAULT_LOOKBACK_MINUTES: z.coerce.number().int().min(1).max(10_080).default(60),
    })
    .refine((e) => e.CURSOR_SECRET_ARN !== undefined || e.CURSOR_SECRET !== undefined, {
      message: 'set CURSOR_SECRET_ARN (AWS) or CURSOR_SECRET (local)',
    })
    .refine((e) => (e.ATHENA_WORKGROUP === undefined) === (e.GLUE_DATABASE === undefined), {
      message: 'set both ATHENA_WORKGROUP and GLUE_DATABASE (the cold tier), or neither',
    }),
);

export type QueryConfig = z.output<typeof queryConfigSchema>;

const env = environment('query', queryConfigSchema);
export const parseQueryConfig = env.parse;
export const queryConfig = env.get;
