import { resolve } from 'node:path';
import { z } from 'zod';
import { STREAM_ALERT_WINDOW_SECONDS } from '../functions/shared/alerts/evaluation-path.js';
import { commaList } from '../functions/shared/config/environment.js';
import { CORS_ORIGIN, CORS_ORIGIN_MESSAGE } from '../functions/shared/http/cors.js';
import { FAULT_PLAN_PATTERN } from './fault-hooks.js';

/**
 * Local mode's settings, from the environment, validated once. Every setting has a default, so
 * `npm start` needs none; a bad value stops start-up with a message naming the variable.
 */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

export const localConfigSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(4318),
  DATA_DIR: z.string().min(1).default('.data'),
  LOCAL_TENANT: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes')
    .default('local'),
  LOCAL_API_KEY: z.string().min(8, 'at least 8 characters').default('local-dev-key'),
  /** A real ClickHouse server instead of the embedded engine, e.g. https://host:8443. */
  CLICKHOUSE_URL: z.url().optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z.string().default('default'),
  /**
   * The ClickHouse HTTP interface over the embedded engine, on 127.0.0.1 (local/clickhouse-http.ts):
   * a port (0 picks a free one) or `off`. Not started with CLICKHOUSE_URL.
   */
  CLICKHOUSE_HTTP_PORT: z.union([z.literal('off'), port]).default(8123),
  /** The one user it accepts (basic auth, X-ClickHouse-User/Key, or user/password parameters). */
  CLICKHOUSE_HTTP_USER: z.string().min(1).default('default'),
  CLICKHOUSE_HTTP_PASSWORD: z.string().default(''),
  HOT_RETENTION_DAYS: positiveInt.max(3650).default(7),
  STREAM_SHARDS: positiveInt.max(50).default(2),
  HOT_BATCH_SIZE: positiveInt.max(10_000).default(1000),
  HOT_BATCH_WINDOW_MS: z.coerce.number().int().min(0).max(300_000).default(1000),
  LAKE_BATCH_SIZE: positiveInt.max(10_000).default(10_000),
  LAKE_BATCH_WINDOW_MS: z.coerce.number().int().min(0).max(300_000).default(15_000),
  COMPACTION_INTERVAL_MS: positiveInt.default(10 * 60_000),
  ALERT_INTERVAL_MS: positiveInt.default(60_000),
  /** The stream evaluator's tumbling window (a divisor of a minute); 0: no stream evaluator, the schedule evaluates every rule. */
  ALERT_STREAM_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .refine((n) => n === 0 || (n >= 1 && n <= 60 && 60 % n === 0), 'a divisor of 60 (1..60), or 0 for off')
    .default(STREAM_ALERT_WINDOW_SECONDS),
  /** Folder of alert rule files (YAML/JSON); the repository's alerts/ by default. */
  ALERT_RULES_DIR: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('WARN'),
  /** Limits for tenants without their own; unset keeps the Lambda's defaults (rate-limiter.ts). */
  DEFAULT_ITEMS_PER_SECOND: z.coerce.number().positive().optional(),
  DEFAULT_BURST: z.coerce.number().positive().optional(),
  DEFAULT_BYTES_PER_DAY: z.coerce.number().positive().optional(),
  /**
   * How long a stop (SIGTERM, Ctrl-C) waits, first for requests in flight to be answered, then for
   * the consumers to write what is on the stream; past it they stop where they are (a restart
   * resumes from the checkpoints).
   */
  STOP_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
  /** Tests only: an aimed SIGKILL inside a writer (local/fault-hooks.ts), e.g. `hot-insert:3`. */
  LOCAL_FAULT: z.string().regex(FAULT_PLAN_PATTERN, 'hot-insert|lake-put|lake-object-created:<n>').optional(),
  /** Comma-separated origins whose pages may export from a browser (functions/shared/http/cors.ts). */
  CORS_ALLOWED_ORIGINS: commaList(z.string().regex(CORS_ORIGIN, CORS_ORIGIN_MESSAGE)).default([]),
});

export type LocalConfig = z.infer<typeof localConfigSchema> & {
  readonly dataDir: string;
  /** The environment it was read from: each function reads its own settings there (local/functions.ts). */
  readonly env: Readonly<Record<string, string | undefined>>;
};

export class LocalConfigError extends Error {
  override readonly name = 'LocalConfigError';
}

export function loadLocalConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const parsed = localConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new LocalConfigError(`invalid local-mode settings:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.DATA_DIR), env: { ...env } };
}
