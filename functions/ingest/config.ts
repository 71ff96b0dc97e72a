// zod/mini: the full zod would be ~90 KB of a bundle that has a 500 KB budget (ADR 0001).
import * as z from 'zod/mini';
import { rowLimitsSchema } from '../shared/rows/limits.js';
import { redactionConfigSchema } from '../shared/rows/redact.js';

/**
 * Body caps. Lambda's synchronous payload limit is 6 MB and API Gateway delivers binary bodies
 * base64-encoded (4/3 larger): 4 MiB as received is 5.59 MB of base64, leaving room for headers and
 * the rest of the event. 16 MiB decompressed bounds memory and decode time per request (OTLP asks
 * receivers to cap the decompressed size).
 */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024;

/**
 * Per-request caps on what a body may expand to, checked while decoding (and before it, by a cheap
 * pre-scan), each answered with a 413 that names it. They bound the receiver's CPU and memory by
 * the caps rather than by what a small body inflates to (16 MiB of empty spans is 8 million spans),
 * and what one request can multiply into in the hot writer. Measured in bench/adversarial.ts:
 * every request within them peaks under 256 MB in the ingest function. See docs/decisions/0003.
 */
export interface RequestCaps {
  /** Spans, log records or metric data points. The Collector's batches default to 8,192. */
  readonly maxItems: number;
  /**
   * Attribute key/values and array elements at any depth, plus span events and links, exemplars,
   * metrics, resource and scope entries (each costs an object like an attribute).
   */
  readonly maxAttributes: number;
  /** JSON bodies: objects, arrays and comma-separated values, counted before JSON.parse builds them. */
  readonly maxJsonValues: number;
  /**
   * Characters of resource and scope attributes (keys and values) times the items under them: every
   * row carries its resource's attributes, so this is what the request becomes in the hot tier.
   */
  readonly maxExpandedAttributeBytes: number;
}

export const DEFAULT_REQUEST_CAPS: RequestCaps = Object.freeze({
  maxItems: 50_000,
  maxAttributes: 500_000,
  maxJsonValues: 2_000_000,
  maxExpandedAttributeBytes: 64 * 1024 * 1024,
});

/** Time kept back from the Lambda deadline for answering after the last stream attempt. */
export const DEFAULT_DEADLINE_MARGIN_MS = 1000;

/** A JSON-valued variable parsed with `schema`; absent or blank means undefined. */
function jsonVar<T extends z.ZodMiniType>(schema: T) {
  return z.pipe(
    z.optional(z.string()),
    z.transform((raw, ctx): z.output<T> | undefined => {
      if (raw === undefined || raw.trim() === '') return undefined;
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        ctx.issues.push({ code: 'custom', message: 'is not valid JSON', input: raw });
        return z.NEVER;
      }
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        ctx.issues.push({ code: 'custom', message: z.prettifyError(parsed.error), input: raw });
        return z.NEVER;
      }
      return parsed.data;
    }),
  );
}

const name = z.string().check(z.minLength(1));
const coercedNumber = z.coerce.number();
const positiveInt = (fallback: number) => z._default(coercedNumber.check(z.int(), z.positive()), fallback);

export const ingestConfigSchema = z.object({
  STREAM_NAME: name,
  /** Optional: PutRecords by ARN (e.g. a stream in another account). */
  STREAM_ARN: z.optional(name),
  TENANTS_TABLE: name,
  /** Optional: a DynamoDB table for exact cross-instance rate limits; else in-memory token buckets. */
  RATE_LIMIT_TABLE: z.optional(name),
  /** Limits for tenants without their own (rate-limiter.ts DEFAULT_TENANT_LIMITS when unset). */
  DEFAULT_ITEMS_PER_SECOND: z.optional(coercedNumber.check(z.positive())),
  DEFAULT_BURST: z.optional(coercedNumber.check(z.positive())),
  DEFAULT_BYTES_PER_DAY: z.optional(coercedNumber.check(z.positive())),
  /** Daily item quota for tenants without their own (none when unset: quotas.ts). */
  DEFAULT_ITEMS_PER_DAY: z.optional(coercedNumber.check(z.positive())),
  /** The alert bus: daily quota warnings (80%) go there. Unset: no warnings are sent. */
  QUOTA_EVENT_BUS: z.optional(name),
  /** Instances assumed to share a tenant's traffic while the rate-limit table is unreachable. */
  RATE_LIMIT_FALLBACK_INSTANCES: z.optional(coercedNumber.check(z.int(), z.positive())),
  MAX_ITEMS_PER_REQUEST: positiveInt(DEFAULT_REQUEST_CAPS.maxItems),
  MAX_ATTRIBUTES_PER_REQUEST: positiveInt(DEFAULT_REQUEST_CAPS.maxAttributes),
  MAX_JSON_VALUES_PER_REQUEST: positiveInt(DEFAULT_REQUEST_CAPS.maxJsonValues),
  MAX_EXPANDED_ATTRIBUTE_BYTES: positiveInt(DEFAULT_REQUEST_CAPS.maxExpandedAttributeBytes),
  MAX_BODY_BYTES: positiveInt(DEFAULT_MAX_BODY_BYTES),
  MAX_DECOMPRESSED_BYTES: positiveInt(DEFAULT_MAX_DECOMPRESSED_BYTES),
  /** Items older than this are rejected (the hot tier would drop them at once). */
  HOT_RETENTION_DAYS: positiveInt(7),
  DEADLINE_MARGIN_MS: z._default(coercedNumber.check(z.int(), z.nonnegative()), DEFAULT_DEADLINE_MARGIN_MS),
  /** JSON of rows/redact.ts `redactionConfigSchema`; absent means the defaults. */
  REDACTION_RULES: jsonVar(redactionConfigSchema),
  /** JSON of rows/limits.ts `rowLimitsSchema` overrides (HOT_RETENTION_DAYS wins for retention). */
  ROW_LIMITS: jsonVar(rowLimitsSchema),
  POWERTOOLS_SERVICE_NAME: z._default(z.string(), 'otlp-ingest'),
  POWERTOOLS_METRICS_NAMESPACE: z._default(z.string(), 'OtlpPipeline'),
  POWERTOOLS_LOG_LEVEL: z._default(z.string(), 'INFO'),
});

export type IngestConfig = z.output<typeof ingestConfigSchema>;

export class IngestConfigError extends Error {
  override readonly name = 'IngestConfigError';
}

export function parseIngestConfig(env: Record<string, string | undefined>): IngestConfig {
  const parsed = ingestConfigSchema.safeParse(env);
  if (!parsed.success) {
    throw new IngestConfigError(`invalid ingest environment:\n${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

let cached: IngestConfig | undefined;

/** The Lambda's environment, parsed on first use (not at import, so tests and local mode need none). */
export function ingestConfig(): IngestConfig {
  cached ??= parseIngestConfig(process.env);
  return cached;
}
