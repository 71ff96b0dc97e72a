import * as z from 'zod/mini';
import { DAILY_QUOTAS } from './quotas.js';

/**
 * The detail of a quota warning event (quota-events.ts), for its readers (the local bus, a
 * notifier). Apart from quota-events.ts so the ingest, which only writes the event, does not carry
 * the validator in its bundle (it imports the type alone).
 */
export const QuotaWarningDetailSchema = z.object({
  schemaVersion: z.literal(1),
  tenant: z.string(),
  quota: z.enum(DAILY_QUOTAS),
  limit: z.number(),
  used: z.number(),
  /** The share at which the warning goes (0.8). */
  fraction: z.number(),
  /** UTC day, `YYYY-MM-DD`. */
  day: z.string(),
  resetsAt: z.string(),
  summary: z.string(),
});
export type QuotaWarningDetail = z.infer<typeof QuotaWarningDetailSchema>;
