import * as z from 'zod';
import { DEFAULT_HOT_RETENTION_DAYS } from '../shared/clickhouse/ddl.js';
import { clickHouseEnvSchema } from '../shared/clickhouse/secrets-manager-client.js';
import { environment } from '../shared/config/environment.js';

/** The hot writer's environment, validated once, on first use (not at import). */
export const hotWriterConfigSchema = z.intersection(
  clickHouseEnvSchema,
  z.object({
    /** Lake bucket whose `dead-letter/` prefix receives records that can never be written. */
    DEAD_LETTER_BUCKET: z.string().min(1),
    /** Rows older than this are not inserted (the TTL would drop them); the lake keeps them. */
    HOT_RETENTION_DAYS: z.coerce.number().int().positive().default(DEFAULT_HOT_RETENTION_DAYS),
    /** Attempts per ClickHouse insert within one invocation (same dedup token each time). */
    CLICKHOUSE_INSERT_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  }),
);

export type HotWriterConfig = z.output<typeof hotWriterConfigSchema>;

const env = environment('hot-writer', hotWriterConfigSchema);
export const parseHotWriterConfig = env.parse;
export const hotWriterConfig = env.get;
