import type { TenantLimits } from './directory.js';

/**
 * Per-tenant ingest rate limiting. The ingest handler calls `take` with the number of items in a
 * request (spans, log records or metric data points) after authenticating it, and answers 429 with
 * `Retry-After: retryAfterSeconds` when not allowed. See docs/decisions/0003.
 */
export type RateDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

export interface RateLimiter {
  take(tenantId: string, items: number, limits?: TenantLimits): Promise<RateDecision>;
}

/** A tenant with `itemsPerSecond` but no `burst` may send this many seconds' worth at once. */
export const DEFAULT_BURST_SECONDS = 10;
/** Answer to a tenant whose limit is zero or negative (blocked): come back in a minute. */
const BLOCKED_RETRY_SECONDS = 60;

export const ALLOWED: RateDecision = { allowed: true };

export interface EffectiveLimit {
  /** Items per second; zero or less means the tenant is blocked. */
  readonly rate: number;
  /** Bucket size: `burst`, else `rate × DEFAULT_BURST_SECONDS`, at least 1. */
  readonly capacity: number;
}

/** The limit that applies: the tenant's own, else the operator's default, else none (`undefined`). */
export function effectiveLimit(
  limits: TenantLimits | undefined,
  fallback: TenantLimits | undefined,
): EffectiveLimit | undefined {
  const chosen = limits?.itemsPerSecond !== undefined ? limits : fallback;
  const rate = chosen?.itemsPerSecond;
  if (rate === undefined || Number.isNaN(rate)) return undefined;
  return { rate, capacity: Math.max(1, chosen?.burst ?? rate * DEFAULT_BURST_SECONDS) };
}

/** Answer to a tenant whose limit is zero or negative. */
export const BLOCKED: RateDecision = { allowed: false, retryAfterSeconds: BLOCKED_RETRY_SECONDS };

export interface TokenBucketRateLimiterOptions {
  /** Limits for tenants that have none. @default undefined (no limit) */
  readonly defaultLimits?: TenantLimits;
  /** Most tenants tracked; the least recently seen are forgotten (their bucket refills). @default 10_000 */
  readonly maxTenants?: number;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per tenant in this process' memory: no I/O, but each Lambda instance holds its own
 * buckets, so across N warm instances a tenant can get up to N × its limit (see the ADR).
 *
 * The bucket holds up to `burst` tokens and refills at `itemsPerSecond`. A request takes one token
 * per item. A request larger than the whole bucket is let through once the bucket is full and leaves
 * it in debt, so a big batch is delayed rather than refused forever.
 */
export class TokenBucketRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly defaultLimits: TenantLimits | undefined;
  private readonly maxTenants: number;
  private readonly now: () => number;

  constructor(options: TokenBucketRateLimiterOptions = {}) {
    this.defaultLimits = options.defaultLimits;
    this.maxTenants = Math.max(1, options.maxTenants ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  take(tenantId: string, items: number, limits?: TenantLimits): Promise<RateDecision> {
    return Promise.resolve(this.takeSync(tenantId, items, limits));
  }

  takeSync(tenantId: string, items: number, limits?: TenantLimits): RateDecision {
    const effective = effectiveLimit(limits, this.defaultLimits);
    if (effective === undefined || items <= 0) return ALLOWED;
    const { rate, capacity } = effective;
    if (rate <= 0) return BLOCKED;

    const now = this.now();
    let bucket = this.buckets.get(tenantId);
    if (bucket === undefined) {
      bucket = { tokens: capacity, updatedAt: now };
    } else {
      this.buckets.delete(tenantId); // re-inserted below as the most recently seen
      const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
      // min(): a lowered burst applies at once.
      bucket.tokens = Math.min(capacity, bucket.tokens + elapsedSeconds * rate);
      bucket.updatedAt = now;
    }
    this.buckets.set(tenantId, bucket);
    this.evict();

    const needed = Math.min(items, capacity);
    if (bucket.tokens >= needed) {
      bucket.tokens -= items;
      return ALLOWED;
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((needed - bucket.tokens) / rate)) };
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
