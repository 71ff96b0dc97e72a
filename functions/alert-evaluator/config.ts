import * as z from 'zod';
import { clickHouseEnvSchema } from '../shared/clickhouse/secrets-manager-client.js';
import { environment } from '../shared/config/environment.js';

/** The alert evaluator's environment, validated once, on first use (not at import). */
export const alertEvaluatorConfigSchema = z.intersection(
  clickHouseEnvSchema,
  z.object({
    /** Directory of rule files shipped in the bundle (relative to the working directory, /var/task). */
    ALERT_RULES_DIR: z.string().min(1).default('alerts'),
    /** DynamoDB table of per-series alert state (pk/sk strings, TTL on expiresAt). */
    ALERT_STATE_TABLE: z.string().min(1),
    /** The custom EventBridge bus notifiers subscribe to. */
    ALERT_BUS_NAME: z.string().min(1),
    /** Base URL of the query API, for the link to the data in every event. */
    QUERY_API_URL: z.url(),
    /** Rules evaluated at once. */
    ALERT_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(4),
    /** Rules, channels and silences from the alerts API; absent, rule files only. */
    ALERT_CONFIG_TABLE: z.string().min(1).optional(),
    /** Where state changes are recorded (GET /v1/alerts/history); absent, not recorded. */
    ALERT_HISTORY_TABLE: z.string().min(1).optional(),
    /** How long one read of the API's rules serves evaluations (ms). */
    ALERT_RULES_TTL_MS: z.coerce.number().int().min(0).max(300_000).default(30_000),
    /** Base URL of the console, for the links to the data in events and history. */
    CONSOLE_BASE_URL: z.url().optional(),
    /**
     * The stream evaluator's tumbling window, when one is deployed: then this evaluator skips the
     * stream-owned rules and sweeps their series on silent shards. 0: it evaluates every rule.
     */
    ALERT_STREAM_WINDOW_SECONDS: z.coerce.number().int().min(0).max(60).default(0),
  }),
);

export type AlertEvaluatorConfig = z.output<typeof alertEvaluatorConfigSchema>;

const env = environment('alert-evaluator', alertEvaluatorConfigSchema);
export const parseAlertEvaluatorConfig = env.parse;
export const alertEvaluatorConfig = env.get;
