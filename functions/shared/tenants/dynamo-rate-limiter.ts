import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ensureTable } from '../dynamo/ensure-table.js';
import type { TenantLimits } from './directory.js';
import { crossedWarning, type DailyQuota, type QuotaWarning } from './quotas.js';
import {
  ALLOWED,
  allowedWith,
  blocked,
  DEFAULT_TENANT_LIMITS,
  dailyQuotaTooLargeFor,
  effectiveLimit,
  overBurst,
  overDailyQuota,
  overRate,
  type RateDecision,
  type RateLimiter,
  type RateUsage,
  TokenBucketRateLimiter,
  utcDay,
} from './rate-limiter.js';

/**
 * The rate-limit table: partition key `pk` (S) = `<tenantId>#<window start, epoch seconds>` with
 * attribute `used` (N, items), `<tenantId>#day#<UTC day number>` with `bytes` (N, the daily byte
 * quota) or `<tenantId>#items#<UTC day number>` with `items` (N, the daily item quota); all carry
 * `expiresAt` (N, epoch seconds; enable DynamoDB TTL on it so old counters vanish). Kept apart
 * from the tenants table so the internet-facing ingest function needs no write access to API keys.
 */
export const RATE_LIMIT_TABLE_KEY = 'pk';

/** Instances assumed to share a tenant's traffic while DynamoDB is unreachable (see `fallbackInstances`). */
export const DEFAULT_FALLBACK_INSTANCES = 4;

export interface DynamoWindowRateLimiterOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Window length; a tenant may send `itemsPerSecond × windowSeconds` items per window. @default 10 */
  readonly windowSeconds?: number;
  /** Limits for tenants that have none. @default DEFAULT_TENANT_LIMITS; `{}` for none */
  readonly defaultLimits?: TenantLimits;
  /**
   * While DynamoDB fails, each instance enforces an in-process token bucket at the tenant's rate
   * and daily bytes divided by this many instances: never unlimited, and close to the limit when
   * the guess is right. @default DEFAULT_FALLBACK_INSTANCES
   */
  readonly fallbackInstances?: number;
  /** After a DynamoDB failure, the fallback decides alone for this long (no request waits on a dead table). @default 5000 */
  readonly fallbackForMs?: number;
  /** Called when DynamoDB fails (the in-process fallback then decides). */
  readonly onError?: (err: unknown) => void;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

/**
 * A fixed-window item counter and a daily byte counter per tenant in DynamoDB: conditional
 * UpdateItems (one per limited dimension, sent together), exact across all Lambda instances. A
 * fixed window can admit up to twice the allowance around a window boundary; `burst` is not used
 * (the window itself is the burst). A request larger than the whole window allowance or the whole
 * daily quota is refused as too large; one larger than what is left is refused (429), never let
 * through whole. A refused request is not counted: when one counter accepts and the other refuses,
 * the accepted one is given back.
 */
export class DynamoWindowRateLimiter implements RateLimiter {
  private readonly doc: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly windowSeconds: number;
  private readonly defaultLimits: TenantLimits | undefined;
  private readonly fallback: TokenBucketRateLimiter;
  private readonly onError: (err: unknown) => void;
  private readonly now: () => number;
  private readonly fallbackForMs: number;
  private fallbackUntil = 0;

  constructor(options: DynamoWindowRateLimiterOptions) {
    this.doc = DynamoDBDocumentClient.from(options.client);
    this.tableName = options.tableName;
    this.windowSeconds = Math.max(1, Math.floor(options.windowSeconds ?? 10));
    this.defaultLimits = options.defaultLimits ?? DEFAULT_TENANT_LIMITS;
    this.onError = options.onError ?? (() => {});
    this.now = options.now ?? Date.now;
    this.fallbackForMs = options.fallbackForMs ?? 5000;
    const instances = Math.max(1, options.fallbackInstances ?? DEFAULT_FALLBACK_INSTANCES);
    this.fallback = new TokenBucketRateLimiter({
      defaultLimits: this.defaultLimits,
      share: 1 / instances,
      now: this.now,
    });
  }

  async take(tenantId: string, usage: RateUsage, limits?: TenantLimits): Promise<RateDecision> {
    const effective = effectiveLimit(limits, this.defaultLimits);
    if (effective === undefined || (usage.items <= 0 && usage.bytes <= 0)) return ALLOWED;
    const { rate, bytesPerDay, itemsPerDay } = effective;
    if (rate !== undefined && rate <= 0) return blocked(tenantId);

    const nowMs = this.now();
    if (nowMs < this.fallbackUntil) return this.fallback.takeSync(tenantId, usage, limits);
    const nowSeconds = nowMs / 1000;
    const allowance = rate === undefined ? undefined : Math.max(1, Math.floor(rate * this.windowSeconds));
    if (allowance !== undefined && usage.items > allowance)
      return overBurst(tenantId, usage.items, allowance);
    const tooLarge = dailyQuotaTooLargeFor(tenantId, usage, effective);
    if (tooLarge !== undefined) return tooLarge;
    const windowStart = Math.floor(nowSeconds / this.windowSeconds) * this.windowSeconds;
    const windowEnd = windowStart + this.windowSeconds;
    const day = utcDay(nowMs);

    const counters: Counter[] = [];
    if (allowance !== undefined && rate !== undefined && usage.items > 0) {
      counters.push({
        key: `${tenantId}#${windowStart}`,
        attribute: 'used',
        amount: usage.items,
        limit: allowance,
        // Kept an extra window so a late clock on another instance still finds it.
        expiresAt: windowEnd + this.windowSeconds,
        refused: () =>
          overRate(tenantId, { rate, capacity: allowance }, Math.max(1, Math.ceil(windowEnd - nowSeconds))),
      });
    }
    const quota = (q: DailyQuota, key: string, amount: number, limit: number | undefined) => {
      if (limit === undefined || amount <= 0) return;
      counters.push({
        key,
        attribute: q,
        amount,
        limit,
        expiresAt: (day + 2) * 86_400,
        refused: () => overDailyQuota(q, tenantId, limit, nowMs),
        quota: q,
      });
    };
    quota('items', `${tenantId}#items#${day}`, usage.items, itemsPerDay);
    quota('bytes', `${tenantId}#day#${day}`, usage.bytes, bytesPerDay);
    if (counters.length === 0) return ALLOWED;

    const results = await Promise.allSettled(counters.map((c) => this.add(c)));
    const failure = results.find(
      (r): r is PromiseRejectedResult =>
        r.status === 'rejected' && !(r.reason instanceof ConditionalCheckFailedException),
    );
    const refusedAt = results.findIndex(
      (r) => r.status === 'rejected' && r.reason instanceof ConditionalCheckFailedException,
    );
    if (failure === undefined && refusedAt < 0) {
      // The counter's new value tells exactly one request per day that it crossed the warning share.
      const warnings: QuotaWarning[] = [];
      results.forEach((r, i) => {
        const c = counters[i]!;
        if (r.status !== 'fulfilled' || c.quota === undefined || r.value === undefined) return;
        const w = crossedWarning(c.quota, c.limit, r.value - c.amount, c.amount, nowMs);
        if (w) warnings.push(w);
      });
      return allowedWith(warnings);
    }
    // Give back what was counted for a request that does not pass (best effort).
    await Promise.all(
      results.map((r, i) =>
        r.status === 'fulfilled' ? this.giveBack(counters[i]!).catch((err) => this.onError(err)) : undefined,
      ),
    );
    if (failure !== undefined) {
      this.onError(failure.reason);
      this.fallbackUntil = nowMs + this.fallbackForMs;
      return this.fallback.takeSync(tenantId, usage, limits);
    }
    return counters[refusedAt]!.refused();
  }

  /** Adds the amount when it fits; resolves the counter's new value. */
  private async add(c: Counter): Promise<number | undefined> {
    // A request at most the whole limit (checked above) fits only if `used <= limit - amount`.
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [RATE_LIMIT_TABLE_KEY]: c.key },
        // A name placeholder: `items` is a DynamoDB reserved word.
        UpdateExpression: 'ADD #n :amount SET expiresAt = :expiresAt',
        ConditionExpression: 'attribute_not_exists(#n) OR #n <= :rest',
        ExpressionAttributeNames: { '#n': c.attribute },
        ExpressionAttributeValues: {
          ':amount': c.amount,
          ':expiresAt': c.expiresAt,
          ':rest': c.limit - c.amount,
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const value: unknown = out.Attributes?.[c.attribute];
    return typeof value === 'number' ? value : undefined;
  }

  private async giveBack(c: Counter): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [RATE_LIMIT_TABLE_KEY]: c.key },
        UpdateExpression: 'ADD #n :amount',
        ExpressionAttributeNames: { '#n': c.attribute },
        ExpressionAttributeValues: { ':amount': -c.amount },
      }),
    );
  }
}

interface Counter {
  readonly key: string;
  readonly attribute: 'used' | DailyQuota;
  readonly amount: number;
  readonly limit: number;
  readonly expiresAt: number;
  readonly refused: () => RateDecision;
  /** Set for daily quotas (warned about at QUOTA_WARNING_FRACTION). */
  readonly quota?: DailyQuota;
}

/** Creates the rate-limit table if missing (local mode and tests; in AWS the CDK owns it). */
export function ensureRateLimitTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureTable(client, tableName, RATE_LIMIT_TABLE_KEY);
}
