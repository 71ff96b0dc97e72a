import { z } from 'zod';
import { clickHouseEnvSchema } from '../shared/clickhouse/secrets-manager-client.js';

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
  }),
);

export type AlertEvaluatorConfig = z.output<typeof alertEvaluatorConfigSchema>;

export class AlertEvaluatorConfigError extends Error {
  override readonly name = 'AlertEvaluatorConfigError';
}

export function parseAlertEvaluatorConfig(env: Record<string, string | undefined>): AlertEvaluatorConfig {
  const parsed = alertEvaluatorConfigSchema.safeParse(env);
  if (!parsed.success) {
    throw new AlertEvaluatorConfigError(
      `invalid alert-evaluator environment:\n${z.prettifyError(parsed.error)}`,
      {
        cause: parsed.error,
      },
    );
  }
  return parsed.data;
}

let cached: AlertEvaluatorConfig | undefined;

export function alertEvaluatorConfig(): AlertEvaluatorConfig {
  cached ??= parseAlertEvaluatorConfig(process.env);
  return cached;
}
