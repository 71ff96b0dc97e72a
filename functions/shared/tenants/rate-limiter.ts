import type { TenantLimits } from './directory.js';
import {
  crossedWarning,
  type DailyQuota,
  DEFAULT_DAILY_QUOTAS,
  type QuotaWarning,
  quotaExceededReason,
  quotaTooLargeReason,
  secondsToNextUtcDay,
  utcDay,
} from './quotas.js';

export { secondsToNextUtcDay, utcDay } from './quotas.js';

/**
 * Per-tenant ingest limits: items per second with a burst, and bytes per UTC day. The ingest
 * handler calls `take` with what a request holds (its item count from a cheap pre-scan, and its
 * decompressed size) before decoding it, and answers 429 with `Retry-After: retryAfterSeconds`
 * when over, or 413 when the request alone is larger than the burst or the daily quota (it could
 * never pass, so retrying it would be pointless). See docs/decisions/0003.
 */
export type RateDecision =
  | {
      readonly allowed: true;
      /** Daily quotas this request took past their warning share (QUOTA_WARNING_FRACTION). */
      readonly warnings?: readonly QuotaWarning[];
    }
  | {
      readonly allowed: false;
      readonly retryAfterSeconds: number;
      /** Names the limit, for the response body. */
      readonly reason: string;
      /** The request alone is over the limit: 413, not 429. */
      readonly tooLarge?: boolean;
    };

/** What a request costs. */
export interface RateUsage {
  /** Spans, log records or metric data points. */
  readonly items: number;
  /** Decompressed body bytes (the OTLP content, whatever the compression). */
  readonly bytes: number;
}

export interface RateLimiter {
  take(tenantId: string, usage: RateUsage, limits?: TenantLimits): Promise<RateDecision>;
}

/** A tenant with `itemsPerSecond` but no `burst` may send this many seconds' worth at once. */
export const DEFAULT_BURST_SECONDS = 10;

/**
 * Limits for tenants without their own: on by default, so one runaway exporter cannot flood the
 * stream and the hot tier. The burst holds the largest request the receiver accepts
 * (DEFAULT_REQUEST_CAPS.maxItems in functions/ingest/config.ts), so a default tenant never gets a
 * 413 for a request within the caps. 50 GB a day is ~100 million typical spans.
 */
export const DEFAULT_TENANT_LIMITS: Readonly<
  Required<Pick<TenantLimits, 'itemsPerSecond' | 'burst' | 'bytesPerDay'>> & Pick<TenantLimits, 'itemsPerDay'>
> = Object.freeze({
  itemsPerSecond: 10_000,
  burst: 100_000,
  ...DEFAULT_DAILY_QUOTAS,
});

/** Answer to a tenant whose limit is zero or negative (blocked): come back in a minute. */
const BLOCKED_RETRY_SECONDS = 60;

export const ALLOWED: RateDecision = { allowed: true };

export interface EffectiveLimit {
  /** Items per second; zero or less means the tenant is blocked. Undefined: no item limit. */
  readonly rate?: number;
  /** Bucket size: `burst`, else `rate × DEFAULT_BURST_SECONDS`, at least 1. */
  readonly capacity?: number;
  /** Decompressed bytes per UTC day. Undefined: no byte quota. */
  readonly bytesPerDay?: number;
  /** Items per UTC day. Undefined: no item quota. */
  readonly itemsPerDay?: number;
}

/**
 * The limits that apply, per dimension: the tenant's own, else the deployment's `fallback`
 * (DEFAULT_TENANT_LIMITS unless configured otherwise); `unlimited` on the tenant lifts both.
 * A tenant's own rate brings its own burst (or 10 s of that rate), not the fallback's burst.
 */
export function effectiveLimit(
  limits: TenantLimits | undefined,
  fallback: TenantLimits | undefined,
): EffectiveLimit | undefined {
  if (limits?.unlimited === true) return undefined;
  const own = limits?.itemsPerSecond !== undefined;
  const rate = own ? limits?.itemsPerSecond : fallback?.itemsPerSecond;
  const burst = limits?.burst ?? (own ? undefined : fallback?.burst);
  const bytesPerDay = limits?.bytesPerDay ?? fallback?.bytesPerDay;
  const itemsPerDay = limits?.itemsPerDay ?? fallback?.itemsPerDay;
  const hasRate = rate !== undefined && !Number.isNaN(rate);
  const hasBytes = bytesPerDay !== undefined && !Number.isNaN(bytesPerDay);
  const hasItems = itemsPerDay !== undefined && !Number.isNaN(itemsPerDay);
  if (!hasRate && !hasBytes && !hasItems) return undefined;
  return {
    ...(hasRate && { rate, capacity: Math.max(1, burst ?? rate * DEFAULT_BURST_SECONDS) }),
    ...(hasBytes && { bytesPerDay }),
    ...(hasItems && { itemsPerDay }),
  };
}

/** Answer to a tenant whose limit is zero or negative. */
export function blocked(tenantId: string): RateDecision {
  return {
    allowed: false,
    retryAfterSeconds: BLOCKED_RETRY_SECONDS,
    reason: `tenant ${tenantId} is blocked (its rate limit is 0)`,
  };
}

export function overBurst(tenantId: string, items: number, capacity: number): RateDecision {
  return {
    allowed: false,
    tooLarge: true,
    retryAfterSeconds: 0,
    reason: `request of ${items} items is larger than tenant ${tenantId}'s burst of ${capacity} items: split it into smaller requests`,
  };
}

export function overRate(tenantId: string, limit: EffectiveLimit, retryAfterSeconds: number): RateDecision {
  return {
    allowed: false,
    retryAfterSeconds,
    reason: `rate limit of ${limit.rate} items/s (burst ${limit.capacity}) exceeded for tenant ${tenantId}`,
  };
}

/** Over a daily quota: 429 until midnight UTC, when it resets. */
export function overDailyQuota(
  quota: DailyQuota,
  tenantId: string,
  limit: number,
  nowMs: number,
): RateDecision {
  return {
    allowed: false,
    retryAfterSeconds: secondsToNextUtcDay(nowMs),
    reason: quotaExceededReason(quota, limit, tenantId, nowMs),
  };
}

/** A request larger than a whole daily quota: 413 (it could never pass). */
export function dailyQuotaTooLarge(
  quota: DailyQuota,
  tenantId: string,
  amount: number,
  limit: number,
): RateDecision {
  return {
    allowed: false,
    tooLarge: true,
    retryAfterSeconds: 0,
    reason: quotaTooLargeReason(quota, amount, limit, tenantId),
  };
}

/** The first daily quota a request alone is larger than, as a 413 decision. */
export function dailyQuotaTooLargeFor(
  tenantId: string,
  usage: RateUsage,
  limit: EffectiveLimit,
): RateDecision | undefined {
  if (limit.itemsPerDay !== undefined && usage.items > limit.itemsPerDay)
    return dailyQuotaTooLarge('items', tenantId, usage.items, limit.itemsPerDay);
  if (limit.bytesPerDay !== undefined && usage.bytes > limit.bytesPerDay)
    return dailyQuotaTooLarge('bytes', tenantId, usage.bytes, limit.bytesPerDay);
  return undefined;
}

/** ALLOWED, with the warnings when there are any. */
export function allowedWith(warnings: readonly QuotaWarning[]): RateDecision {
  return warnings.length === 0 ? ALLOWED : { allowed: true, warnings };
}

export interface TokenBucketRateLimiterOptions {
  /** Limits for tenants that have none. @default DEFAULT_TENANT_LIMITS; `{}` for none */
  readonly defaultLimits?: TenantLimits;
  /**
   * The share of each tenant's rate and daily bytes this instance enforces (e.g. 1/4 when it stands
   * in for a shared limiter across an assumed 4 instances). The burst is not divided, so a request
   * within the caps still fits. @default 1
   */
  readonly share?: number;
  /** Most tenants tracked; the least recently seen are forgotten (their bucket refills). @default 10_000 */
  readonly maxTenants?: number;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  day: number;
  bytes: number;
  items: number;
}

/**
 * A token bucket and a daily byte counter per tenant in this process' memory: no I/O, but each
 * Lambda instance holds its own, so across N warm instances a tenant can get up to N × its limit
 * (see the ADR).
 *
 * The bucket holds up to `burst` tokens and refills at `itemsPerSecond`; a request takes one token
 * per item and passes only if all its tokens are there (and its bytes fit the day's quota): a
 * request never passes whole on a partly empty bucket. A request larger than the whole bucket or
 * the whole daily quota is refused as too large.
 */
export class TokenBucketRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly defaultLimits: TenantLimits | undefined;
  private readonly share: number;
  private readonly maxTenants: number;
  private readonly now: () => number;

  constructor(options: TokenBucketRateLimiterOptions = {}) {
    this.defaultLimits = options.defaultLimits ?? DEFAULT_TENANT_LIMITS;
    this.share = options.share ?? 1;
    this.maxTenants = Math.max(1, options.maxTenants ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  take(tenantId: string, usage: RateUsage, limits?: TenantLimits): Promise<RateDecision> {
    return Promise.resolve(this.takeSync(tenantId, usage, limits));
  }

  takeSync(tenantId: string, usage: RateUsage, limits?: TenantLimits): RateDecision {
    const effective = effectiveLimit(limits, this.defaultLimits);
    if (effective === undefined || (usage.items <= 0 && usage.bytes <= 0)) return ALLOWED;
    const { capacity, bytesPerDay, itemsPerDay } = effective;
    const rate = effective.rate === undefined ? undefined : effective.rate * this.share;
    if (rate !== undefined && rate <= 0) return blocked(tenantId);
    if (capacity !== undefined && usage.items > capacity) return overBurst(tenantId, usage.items, capacity);
    const tooLarge = dailyQuotaTooLargeFor(tenantId, usage, effective);
    if (tooLarge !== undefined) return tooLarge;
    const byteQuota = bytesPerDay === undefined ? undefined : bytesPerDay * this.share;
    const itemQuota = itemsPerDay === undefined ? undefined : itemsPerDay * this.share;

    const now = this.now();
    const day = utcDay(now);
    let bucket = this.buckets.get(tenantId);
    if (bucket === undefined) {
      bucket = { tokens: capacity ?? 0, updatedAt: now, day, bytes: 0, items: 0 };
    } else {
      this.buckets.delete(tenantId); // re-inserted below as the most recently seen
      if (rate !== undefined && capacity !== undefined) {
        const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
        // min(): a lowered burst applies at once.
        bucket.tokens = Math.min(capacity, bucket.tokens + elapsedSeconds * rate);
      }
      bucket.updatedAt = now;
      if (bucket.day !== day) {
        bucket.day = day;
        bucket.bytes = 0;
        bucket.items = 0;
      }
    }
    this.buckets.set(tenantId, bucket);
    this.evict();

    if (rate !== undefined && capacity !== undefined && bucket.tokens < usage.items) {
      const wait = Math.max(1, Math.ceil((usage.items - bucket.tokens) / rate));
      return overRate(tenantId, { rate, capacity }, wait);
    }
    if (itemQuota !== undefined && bucket.items + usage.items > itemQuota) {
      return overDailyQuota('items', tenantId, Math.floor(itemQuota), now);
    }
    if (byteQuota !== undefined && bucket.bytes + usage.bytes > byteQuota) {
      return overDailyQuota('bytes', tenantId, Math.floor(byteQuota), now);
    }
    const warnings: QuotaWarning[] = [];
    const warnItems =
      itemQuota === undefined
        ? undefined
        : crossedWarning('items', itemQuota, bucket.items, usage.items, now);
    const warnBytes =
      byteQuota === undefined
        ? undefined
        : crossedWarning('bytes', byteQuota, bucket.bytes, usage.bytes, now);
    if (warnItems) warnings.push(warnItems);
    if (warnBytes) warnings.push(warnBytes);
    if (rate !== undefined) bucket.tokens -= usage.items;
    bucket.bytes += usage.bytes;
    bucket.items += usage.items;
    return allowedWith(warnings);
  }

  private evict(): void {
    while (this.buckets.size > this.maxTenants) {
      const oldest = this.buckets.keys().next();
      if (oldest.done) return;
      this.buckets.delete(oldest.value);
    }
  }
}

/** Lets everything through; for deployments that want no limiting at all. */
export class UnlimitedRateLimiter implements RateLimiter {
  take(): Promise<RateDecision> {
    return Promise.resolve(ALLOWED);
  }
}
