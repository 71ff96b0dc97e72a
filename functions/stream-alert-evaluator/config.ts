import * as z from 'zod';
import { environment } from '../shared/config/environment.js';

/** The stream alert evaluator's environment, validated once, on first use (not at import). */
export const streamAlertEvaluatorConfigSchema = z.object({
  /** Directory of rule files shipped in the bundle (relative to the working directory, /var/task). */
  ALERT_RULES_DIR: z.string().min(1).default('alerts'),
  /** The alert state table; it also holds the stream's slices and shard activity (own pk prefixes). */
  ALERT_STATE_TABLE: z.string().min(1),
  /** The custom EventBridge bus notifiers subscribe to. */
  ALERT_BUS_NAME: z.string().min(1),
  /** Base URL of the query API, for the link to the data in every event. */
  QUERY_API_URL: z.url(),
  /** Rules, channels and silences from the alerts API; absent, rule files only. */
  ALERT_CONFIG_TABLE: z.string().min(1).optional(),
  /** Where state changes are recorded (GET /v1/alerts/history); absent, not recorded. */
  ALERT_HISTORY_TABLE: z.string().min(1).optional(),
  /** How long one read of the API's rules serves decisions (ms). */
  ALERT_RULES_TTL_MS: z.coerce.number().int().min(0).max(300_000).default(30_000),
  /** Base URL of the console, for the links to the data in events and history. */
  CONSOLE_BASE_URL: z.url().optional(),
  /** Rules decided at once in a final window invocation. */
  ALERT_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(8),
});

export type StreamAlertEvaluatorConfig = z.output<typeof streamAlertEvaluatorConfigSchema>;

const env = environment('stream-alert-evaluator', streamAlertEvaluatorConfigSchema);
export const parseStreamAlertEvaluatorConfig = env.parse;
export const streamAlertEvaluatorConfig = env.get;
