import * as z from 'zod';
import { environment } from '../shared/config/environment.js';

/**
 * Environment of the lake writer and the compactor, validated once, on first use (not at import).
 * COMPACTION_GRACE_MINUTES must exceed the lake writer ESM's maximum record age plus its function
 * timeout: a staging file younger than that may still be rewritten by a retry of its batch.
 */
export const lakeConfigSchema = z.object({
  /** Bucket of the Parquet lake (staging/, published parts, _published/ manifests). */
  LAKE_BUCKET: z.string().min(1),
  /** Bucket whose `dead-letter/` prefix receives envelopes that can never be written. */
  DEAD_LETTER_BUCKET: z.string().min(1),
  /** Size at which the compactor closes a part. */
  COMPACTION_TARGET_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(128 * 1024 * 1024),
  /** How long after an hour ends (and after a staging file is written) before it is published. */
  COMPACTION_GRACE_MINUTES: z.coerce.number().int().positive().default(90),
});

export type LakeConfig = z.output<typeof lakeConfigSchema>;

const env = environment('lake-writer', lakeConfigSchema);
export const parseLakeConfig = env.parse;
export const lakeConfig = env.get;
