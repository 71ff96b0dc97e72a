import * as z from 'zod';
import { CHANNEL_TYPES } from '../shared/alerts/rules.js';
import { environment } from '../shared/config/environment.js';

/** A notifier's environment, validated once, on first use (not at import). */
export const notifierConfigSchema = z.object({
  /** Which channel type this deployment of the notifier delivers to. */
  NOTIFIER_CHANNEL: z.enum(CHANNEL_TYPES),
  /** Attempts per channel inside one invocation (then Lambda's retries, then the DLQ). */
  NOTIFIER_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(4),
  NOTIFIER_BASE_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(500),
  NOTIFIER_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
});

export type NotifierConfig = z.output<typeof notifierConfigSchema>;

const env = environment('notifier', notifierConfigSchema);
export const parseNotifierConfig = env.parse;
export const notifierConfig = env.get;
