import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROW_LIMITS,
  resolveRowLimits,
  rowLimitsSchema,
} from '../../../../functions/shared/rows/limits.js';

describe('row limits', () => {
  it('documents the defaults', () => {
    expect(DEFAULT_ROW_LIMITS).toEqual({
      maxAttributesPerMap: 128,
      maxAttributeKeyBytes: 256,
      maxAttributeValueBytes: 4096,
      maxLogBodyBytes: 65_536,
      maxSpanEvents: 128,
      maxSpanLinks: 128,
      maxNameBytes: 1024,
      maxFutureSkewMs: 3_600_000,
      hotRetentionDays: 7,
    });
  });

  it('overrides only the given limits', () => {
    const limits = resolveRowLimits({ hotRetentionDays: 30, maxLogBodyBytes: 1024 });
    expect(limits).toEqual({ ...DEFAULT_ROW_LIMITS, hotRetentionDays: 30, maxLogBodyBytes: 1024 });
  });

  it('refuses unknown names and non-positive sizes', () => {
    expect(rowLimitsSchema.safeParse({ maxAttributes: 10 }).success).toBe(false);
    expect(rowLimitsSchema.safeParse({ maxAttributeValueBytes: 0 }).success).toBe(false);
    expect(rowLimitsSchema.safeParse({ hotRetentionDays: 1.5 }).success).toBe(false);
  });
});
