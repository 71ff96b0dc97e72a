import { queryRateKey } from '../query/limits.js';
import {
  formatScopes,
  hasScope,
  type KeyScope,
  type TenantDirectory,
  TenantDirectoryError,
  type TenantInfo,
} from './directory.js';
import { apiKeyFromHeaders } from './keys.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * The gate in front of every read API (query, usage, alerts): the key, its scope and the tenant's
 * request rate, in that order. Each API words its refusal in its own error shape; the decisions
 * and their messages are this one place.
 */

export interface AdmissionPorts {
  readonly tenants: Pick<TenantDirectory, 'resolve'>;
  readonly rateLimiter?: RateLimiter;
}

export interface AdmissionPolicy {
  readonly scope: KeyScope;
  /** What a key without the scope may not do, for the 403: `read data`, `change alerting`. */
  readonly deniedAction: string;
  /** Which limit a 429 names: `query rate limit`. */
  readonly limitName: string;
}

export type Admission =
  | { readonly ok: true; readonly info: TenantInfo }
  | {
      readonly ok: false;
      readonly status: 401 | 403 | 429 | 503;
      readonly code: string;
      readonly message: string;
      readonly headers?: Readonly<Record<string, string>>;
      /** Known once the key resolved (403, 429). */
      readonly tenant?: string;
    };

export async function admit(
  ports: AdmissionPorts,
  headers: Readonly<Record<string, string | undefined>>,
  policy: AdmissionPolicy,
): Promise<Admission> {
  const key = apiKeyFromHeaders(headers);
  let info: TenantInfo | undefined;
  try {
    info = key === undefined ? undefined : await ports.tenants.resolve(key);
  } catch (err) {
    if (err instanceof TenantDirectoryError) {
      return {
        ok: false,
        status: 503,
        code: 'unavailable',
        message: 'tenant directory unavailable, retry later',
      };
    }
    throw err;
  }
  if (info === undefined) {
    return {
      ok: false,
      status: 401,
      code: 'unauthorized',
      message: 'a valid API key is required (Authorization: Bearer <key> or x-api-key)',
      headers: { 'www-authenticate': 'Bearer' },
    };
  }
  const tenant = info.tenantId;
  if (!hasScope(info, policy.scope)) {
    return {
      ok: false,
      status: 403,
      code: 'forbidden',
      message: `this API key may not ${policy.deniedAction} (scopes: ${formatScopes(info.scopes)}); use a key with the ${policy.scope} scope`,
      tenant,
    };
  }
  if (ports.rateLimiter) {
    const q = info.queryLimits;
    const decision = await ports.rateLimiter.take(
      queryRateKey(tenant),
      { items: 1, bytes: 0 },
      q?.requestsPerSecond === undefined
        ? undefined
        : { itemsPerSecond: q.requestsPerSecond, ...(q.burst !== undefined && { burst: q.burst }) },
    );
    if (!decision.allowed) {
      return {
        ok: false,
        status: 429,
        code: 'rate_limited',
        message: `${policy.limitName} of tenant ${tenant} reached; retry after ${decision.retryAfterSeconds} s`,
        headers: { 'retry-after': String(decision.retryAfterSeconds) },
        tenant,
      };
    }
  }
  return { ok: true, info };
}
