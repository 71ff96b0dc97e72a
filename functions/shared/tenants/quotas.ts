/**
 * Daily quotas per tenant: the one place that names them, gives their defaults and words their
 * answers. A quota counts per UTC day and resets at midnight UTC, unlike the per-second rate limit
 * (rate-limiter.ts), which refills continuously. Both limiters (in-process and DynamoDB) count the
 * quotas through this module; see docs/decisions/0003.
 */

export const DAY_MS = 86_400_000;

/** The daily quotas: items (spans, log records, metric data points) and decompressed request bytes. */
export const DAILY_QUOTAS = ['items', 'bytes'] as const;
export type DailyQuota = (typeof DAILY_QUOTAS)[number];

/** The TenantLimits field holding each quota. */
export const QUOTA_FIELDS = { items: 'itemsPerDay', bytes: 'bytesPerDay' } as const satisfies Record<
  DailyQuota,
  string
>;

/**
 * Quotas for tenants without their own: no item quota (the rate limit bounds items), 50 GB of
 * decompressed requests a day (~100 million typical spans).
 */
export const DEFAULT_DAILY_QUOTAS: Readonly<{ itemsPerDay?: number; bytesPerDay: number }> = Object.freeze({
  bytesPerDay: 50_000_000_000,
});

/** Share of a quota at which a warning event goes on the alert bus (once per tenant, quota and day). */
export const QUOTA_WARNING_FRACTION = 0.8;

/** Words for a quota in messages. */
const UNITS: Record<DailyQuota, string> = { items: 'item', bytes: 'byte' };

export function utcDay(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS);
}

/** `YYYY-MM-DD` of a UTC day number. */
export function utcDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** When the day's quotas reset: the next midnight UTC, as an ISO timestamp. */
export function quotaResetAt(nowMs: number): string {
  return new Date((utcDay(nowMs) + 1) * DAY_MS).toISOString();
}

export function secondsToNextUtcDay(nowMs: number): number {
  return Math.max(1, Math.ceil(((utcDay(nowMs) + 1) * DAY_MS - nowMs) / 1000));
}

/** `daily item quota of 1000000 exceeded for tenant acme; resets at 2026-12-08T00:00:00.000Z` */
export function quotaExceededReason(
  quota: DailyQuota,
  limit: number,
  tenantId: string,
  nowMs: number,
): string {
  return `daily ${UNITS[quota]} quota of ${limit} exceeded for tenant ${tenantId}; resets at ${quotaResetAt(nowMs)}`;
}

export function quotaTooLargeReason(
  quota: DailyQuota,
  amount: number,
  limit: number,
  tenantId: string,
): string {
  return `request of ${amount} ${UNITS[quota]}s is larger than tenant ${tenantId}'s daily ${UNITS[quota]} quota of ${limit}`;
}

/** A quota crossed QUOTA_WARNING_FRACTION with this request. */
export interface QuotaWarning {
  readonly quota: DailyQuota;
  readonly limit: number;
  /** Counted today, this request included. */
  readonly used: number;
  /** `YYYY-MM-DD` (UTC). */
  readonly day: string;
}

/** The warning when `before` → `before + amount` crosses the warning share of `limit`, else undefined. */
export function crossedWarning(
  quota: DailyQuota,
  limit: number,
  before: number,
  amount: number,
  nowMs: number,
): QuotaWarning | undefined {
  const threshold = limit * QUOTA_WARNING_FRACTION;
  const after = before + amount;
  if (before >= threshold || after < threshold) return undefined;
  return { quota, limit, used: after, day: utcDate(utcDay(nowMs)) };
}
