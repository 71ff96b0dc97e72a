// zod/mini keeps the ingest bundle small (docs/decisions/0001-envelope-and-stream.md).
import * as z from 'zod/mini';

/**
 * Row-level limits: the one place they and their defaults are defined (see
 * docs/decisions/0002-sanitation-and-redaction.md). Byte limits count UTF-8 bytes; cuts never split
 * a code point. Exceeding a cap truncates (counted, not rejected); only the time bounds reject.
 */
export interface RowLimits {
  /** Distinct keys kept per attribute map (the first ones in request order). */
  readonly maxAttributesPerMap: number;
  readonly maxAttributeKeyBytes: number;
  readonly maxAttributeValueBytes: number;
  readonly maxLogBodyBytes: number;
  readonly maxSpanEvents: number;
  readonly maxSpanLinks: number;
  /** Span, event, metric and scope names/versions, metric unit, severity text, log event name. */
  readonly maxNameBytes: number;
  /** Items stamped further than this ahead of the receive time are rejected. */
  readonly maxFutureSkewMs: number;
  /** Items older than this (before the receive time) are rejected: the hot tier would drop them. */
  readonly hotRetentionDays: number;
}

export const DEFAULT_ROW_LIMITS: RowLimits = Object.freeze({
  maxAttributesPerMap: 128,
  maxAttributeKeyBytes: 256,
  maxAttributeValueBytes: 4096,
  maxLogBodyBytes: 65_536,
  maxSpanEvents: 128,
  maxSpanLinks: 128,
  maxNameBytes: 1024,
  maxFutureSkewMs: 60 * 60 * 1000,
  hotRetentionDays: 7,
});

const count = z.int().check(z.positive());
const countOrZero = z.int().check(z.nonnegative());

/** Overrides, e.g. parsed from an env JSON by the ingest config; absent fields keep the defaults. */
export const rowLimitsSchema = z.partial(
  z.strictObject({
    maxAttributesPerMap: count,
    maxAttributeKeyBytes: count,
    maxAttributeValueBytes: count,
    maxLogBodyBytes: count,
    maxSpanEvents: countOrZero,
    maxSpanLinks: countOrZero,
    maxNameBytes: count,
    maxFutureSkewMs: countOrZero,
    hotRetentionDays: count,
  }),
);

export type RowLimitsOverrides = z.infer<typeof rowLimitsSchema>;

export function resolveRowLimits(overrides?: RowLimitsOverrides): RowLimits {
  if (!overrides) return DEFAULT_ROW_LIMITS;
  const parsed = rowLimitsSchema.parse(overrides);
  const merged: { -readonly [K in keyof RowLimits]: number } = { ...DEFAULT_ROW_LIMITS };
  for (const key of Object.keys(parsed) as (keyof RowLimits)[]) {
    const v = parsed[key];
    if (v !== undefined) merged[key] = v;
  }
  return Object.freeze(merged);
}
