import * as z from 'zod';
import { environment } from '../shared/config/environment.js';
import { DEFAULT_QUERY_RATE } from '../shared/query/query-api.js';

/** The alerts API Lambda's environment, validated once, on first use (not at import). */
export const alertsApiConfigSchema = z.object({
  TENANTS_TABLE: z.string().min(1),
  /** Rules, channels (references to their secrets) and silences; pk/sk strings. */
  ALERT_CONFIG_TABLE: z.string().min(1),
  /** State changes; pk/sk strings, TTL on expiresAt. */
  ALERT_HISTORY_TABLE: z.string().min(1),
  /** The evaluator's per-series state (read for GET /v1/alerts/state). */
  ALERT_STATE_TABLE: z.string().min(1),
  /** Rule files shipped in the bundle, read to list them and to refuse writes to their ids. */
  ALERT_RULES_DIR: z.string().min(1).default('alerts'),
  /** Name prefix of the channel secrets this API creates (the notifiers may read it). */
  ALERT_SECRET_PREFIX: z.string().min(1),
  /** The shared rate-limit table; absent, each instance limits on its own. */
  RATE_LIMIT_TABLE: z.string().min(1).optional(),
  QUERY_REQUESTS_PER_SECOND: z.coerce.number().positive().default(DEFAULT_QUERY_RATE.requestsPerSecond),
  QUERY_BURST: z.coerce.number().min(1).default(DEFAULT_QUERY_RATE.burst),
});

export type AlertsApiConfig = z.output<typeof alertsApiConfigSchema>;

const env = environment('alerts-api', alertsApiConfigSchema);
export const parseAlertsApiConfig = env.parse;
export const alertsApiConfig = env.get;
