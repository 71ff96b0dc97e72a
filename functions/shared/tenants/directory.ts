import { hashApiKey } from './keys.js';

/**
 * Per-tenant ingest limits; an absent field takes the deployment's default (DEFAULT_TENANT_LIMITS
 * in rate-limiter.ts unless the operator set others).
 */
export interface TenantLimits {
  /** Sustained items (spans, log records, metric data points) per second. */
  readonly itemsPerSecond?: number;
  /** Items a tenant may send at once after being idle. @default itemsPerSecond × 10 */
  readonly burst?: number;
  /** Decompressed request bytes per UTC day (a daily quota: quotas.ts). */
  readonly bytesPerDay?: number;
  /** Items per UTC day (a daily quota: quotas.ts). @default none */
  readonly itemsPerDay?: number;
  /** No limit at all for this tenant, whatever the defaults. */
  readonly unlimited?: boolean;
}

export interface TenantInfo {
  readonly tenantId: string;
  readonly keyId: string;
  readonly limits?: TenantLimits;
  /** What the key may do; absent on keys made before scopes existed, which may do both. */
  readonly scopes?: readonly KeyScope[];
  /** Per-tenant query API rate; absent: the deployment's default (see query/config.ts). */
  readonly queryLimits?: TenantQueryLimits;
}

/**
 * What a key may be used for: `ingest` (POST /v1/traces|logs|metrics), `query` (GET /v1/query/...
 * and reading alert rules, channels, silences, state and history) or `admin` (changing alert rules,
 * channels and silences: /v1/alerts/... writes). A key in a web page (browser telemetry) can be read
 * by anyone who loads the page: give it `ingest` only, so it cannot read the tenant's data back.
 */
export const KEY_SCOPES = ['ingest', 'query', 'admin'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];
/**
 * The scopes of a key created without `--scope`, and of keys stored before scopes existed: never
 * `admin`, which must be asked for (a leaked everyday key cannot rewrite the alerting).
 */
export const DEFAULT_KEY_SCOPES: readonly KeyScope[] = ['ingest', 'query'];

/** Whether the key may be used for `scope` (a key without stored scopes has DEFAULT_KEY_SCOPES: not `admin`). */
export function hasScope(info: TenantInfo, scope: KeyScope): boolean {
  return (info.scopes ?? DEFAULT_KEY_SCOPES).includes(scope);
}

/** `ingest`, `query`, `admin` or a `+` list of them (any order) into scopes; undefined when not that. */
export function parseScopes(text: string): KeyScope[] | undefined {
  const parts = text.split('+').map((p) => p.trim());
  if (parts.length === 0 || parts.length > KEY_SCOPES.length) return undefined;
  const scopes = KEY_SCOPES.filter((s) => parts.includes(s));
  return scopes.length === parts.length ? scopes : undefined;
}

export function formatScopes(scopes: readonly KeyScope[] | undefined): string {
  return (scopes ?? DEFAULT_KEY_SCOPES).join('+');
}

/** Per-tenant query API limits (requests, whatever their size: the read caps bound each one). */
export interface TenantQueryLimits {
  /** Sustained query requests per second. */
  readonly requestsPerSecond?: number;
  /** Requests a tenant may make at once after being idle. @default requestsPerSecond × 10 */
  readonly burst?: number;
}

/** Who owns an API key. Resolves `undefined` for an unknown or revoked key. */
export interface TenantDirectory {
  resolve(apiKey: string): Promise<TenantInfo | undefined>;
}

/** The directory could not answer (e.g. DynamoDB unreachable): the caller answers 503, not 401. */
export class TenantDirectoryError extends Error {
  override readonly name = 'TenantDirectoryError';
}

export interface CachedTenantDirectoryOptions {
  /** How long a found key is trusted. A revocation takes effect within this. @default 60_000 */
  readonly positiveTtlMs?: number;
  /** How long an unknown key stays unknown; bounds DynamoDB reads from bad keys. @default 10_000 */
  readonly negativeTtlMs?: number;
  /** Most keys kept; the least recently used go first. @default 10_000 */
  readonly maxEntries?: number;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

interface Entry {
  readonly info: TenantInfo | undefined;
  readonly expiresAt: number;
}

/**
 * An in-memory TTL cache in front of a directory, so a warm Lambda instance reads DynamoDB about once
 * a minute per key rather than once per request. Consequence: revoking a key (or changing limits)
 * takes effect within `positiveTtlMs` (60 s by default); a newly created key within `negativeTtlMs`
 * if it was tried before it existed. Entries are keyed by the key's hash so plaintext keys of failed
 * attempts are not retained. Concurrent lookups of one key share one call; failures are not cached.
 */
export class CachedTenantDirectory implements TenantDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<TenantInfo | undefined>>();
  private readonly positiveTtlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly inner: TenantDirectory,
    options: CachedTenantDirectoryOptions = {},
  ) {
    this.positiveTtlMs = options.positiveTtlMs ?? 60_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 10_000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  resolve(apiKey: string): Promise<TenantInfo | undefined> {
    const hash = hashApiKey(apiKey);
    const entry = this.entries.get(hash);
    if (entry !== undefined) {
      this.entries.delete(hash);
      if (entry.expiresAt > this.now()) {
        this.entries.set(hash, entry); // most recently used goes last
        return Promise.resolve(entry.info);
      }
    }
    let lookup = this.pending.get(hash);
    if (lookup === undefined) {
      lookup = this.inner
        .resolve(apiKey)
        .then((info) => {
          this.store(hash, info);
          return info;
        })
        .finally(() => this.pending.delete(hash));
      this.pending.set(hash, lookup);
    }
    return lookup;
  }

  /** Forget everything, e.g. after an admin change in the same process (local mode). */
  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private store(hash: string, info: TenantInfo | undefined): void {
    const ttl = info === undefined ? this.negativeTtlMs : this.positiveTtlMs;
    this.entries.delete(hash);
    this.entries.set(hash, { info, expiresAt: this.now() + ttl });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}
