import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ensureTable } from '../dynamo/ensure-table.js';
import type { TenantLimits } from './directory.js';
import { ALLOWED, BLOCKED, effectiveLimit, type RateDecision, type RateLimiter } from './rate-limiter.js';

/**
 * The rate-limit table: partition key `pk` (S) = `<tenantId>#<window start, epoch seconds>`, attribute
 * `used` (N) and `expiresAt` (N, epoch seconds; enable DynamoDB TTL on it so old windows vanish).
 * Kept apart from the tenants table so the internet-facing ingest function needs no write access to
 * API keys.
 */
export const RATE_LIMIT_TABLE_KEY = 'pk';

export interface DynamoWindowRateLimiterOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Window length; a tenant may send `itemsPerSecond × windowSeconds` items per window. @default 10 */
  readonly windowSeconds?: number;
  /** Limits for tenants that have none. @default undefined (no limit) */
  readonly defaultLimits?: TenantLimits;
  /**
   * Called when DynamoDB fails; the request is then allowed (fail open: losing telemetry because the
   * limiter's table hiccuped is worse than letting one request through).
   */
  readonly onError?: (err: unknown) => void;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

/**
 * A fixed-window counter per tenant in DynamoDB: one conditional UpdateItem per request, exact across
 * all Lambda instances. A fixed window can admit up to twice the allowance around a window boundary;
 * `burst` is not used (the window itself is the burst). A request larger than the whole allowance is
 * admitted only into an empty window. Tenants without a limit cost no I/O.
 */
export class DynamoWindowRateLimiter implements RateLimiter {
  private readonly doc: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly windowSeconds: number;
  private readonly defaultLimits: TenantLimits | undefined;
  private readonly onError: (err: unknown) => void;
  private readonly now: () => number;

  constructor(options: DynamoWindowRateLimiterOptions) {
    this.doc = DynamoDBDocumentClient.from(options.client);
    this.tableName = options.tableName;
    this.windowSeconds = Math.max(1, Math.floor(options.windowSeconds ?? 10));
    this.defaultLimits = options.defaultLimits;
    this.onError = options.onError ?? (() => {});
    this.now = options.now ?? Date.now;
  }

  async take(tenantId: string, items: number, limits?: TenantLimits): Promise<RateDecision> {
    const effective = effectiveLimit(limits, this.defaultLimits);
    if (effective === undefined || items <= 0) return ALLOWED;
    if (effective.rate <= 0) return BLOCKED;

    const allowance = Math.max(1, Math.floor(effective.rate * this.windowSeconds));
    const nowSeconds = this.now() / 1000;
    const windowStart = Math.floor(nowSeconds / this.windowSeconds) * this.windowSeconds;
    const windowEnd = windowStart + this.windowSeconds;
    const oversized = items >= allowance;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [RATE_LIMIT_TABLE_KEY]: `${tenantId}#${windowStart}` },
          UpdateExpression: 'ADD used :items SET expiresAt = :expiresAt',
          ConditionExpression: oversized
            ? 'attribute_not_exists(used)'
            : 'attribute_not_exists(used) OR used <= :rest',
          ExpressionAttributeValues: {
            ':items': items,
            // Kept an extra window so a late clock on another instance still finds it.
            ':expiresAt': windowEnd + this.windowSeconds,
            ...(!oversized && { ':rest': allowance - items }),
          },
        }),
      );
      return ALLOWED;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(windowEnd - nowSeconds)) };
      }
      this.onError(err);
      return ALLOWED;
    }
  }
}

/** Creates the rate-limit table if missing (local mode and tests; in AWS the CDK owns it). */
export function ensureRateLimitTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureTable(client, tableName, RATE_LIMIT_TABLE_KEY);
}
