import { createHash, randomBytes } from 'node:crypto';

/**
 * Tenant API keys: `otlp_` + 32 base62 characters (~190 bits from the CSPRNG). Only the SHA-256 of a
 * key is stored; a key has that much entropy, so an unsalted fast hash is enough (nobody can brute
 * force 2^190) and it lets the ingest path find a key with one GetItem by hash.
 */
export const KEY_PREFIX = 'otlp_';
const KEY_BODY_LENGTH = 32;
const KEY_ID_LENGTH = 8;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const GENERATED_KEY = /^otlp_[0-9A-Za-z]{32}$/;

/** Tenant ids go into S3 keys, partition values and SQL literals: keep them to a safe alphabet. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * What a key may look like when given to us (registerKey) or presented by a client: RFC 6750's
 * b64token alphabet, so it survives an HTTP header and a comma-joined duplicate header is rejected.
 */
const TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MIN_KEY_LENGTH = 8;
const MAX_KEY_LENGTH = 256;

export class TenantError extends Error {
  override readonly name = 'TenantError';
  constructor(
    message: string,
    /** `invalid`: bad input; `not-found`: no such key or tenant; `conflict`: taken or ambiguous. */
    readonly kind: 'invalid' | 'not-found' | 'conflict',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isValidTenantId(tenantId: string): boolean {
  return TENANT_ID_PATTERN.test(tenantId);
}

export function assertTenantId(tenantId: string): void {
  if (!isValidTenantId(tenantId)) {
    throw new TenantError(
      `tenant id must match ${TENANT_ID_PATTERN.source} (lower-case letters, digits, '-'), got: ${JSON.stringify(tenantId)}`,
      'invalid',
    );
  }
}

/** Whether a string may be registered as a key: header-safe and not trivially short. */
export function isAcceptableKey(key: string): boolean {
  return key.length >= MIN_KEY_LENGTH && key.length <= MAX_KEY_LENGTH && TOKEN_PATTERN.test(key);
}

/** A new key from crypto randomness; rejection sampling keeps every base62 character equally likely. */
export function generateApiKey(): string {
  let body = '';
  while (body.length < KEY_BODY_LENGTH) {
    for (const byte of randomBytes(KEY_BODY_LENGTH)) {
      // 248 = 4 × 62: bytes at or above it would bias the first characters of the alphabet.
      if (byte < 248 && body.length < KEY_BODY_LENGTH) body += BASE62[byte % 62];
    }
  }
  return KEY_PREFIX + body;
}

/** Hex SHA-256 of the key: the only form in which a key is stored. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * The short, non-secret handle used to list and revoke a key. For a generated key it is the first 8
 * characters after the prefix, so the holder can tell which key is which by looking at it (the
 * remaining 24 characters still carry ~143 bits). A key registered from elsewhere (e.g. local mode's
 * `local-dev-key`) may be short, so its id comes from the hash and reveals nothing of it.
 */
export function keyIdFor(key: string): string {
  if (GENERATED_KEY.test(key)) return key.slice(KEY_PREFIX.length, KEY_PREFIX.length + KEY_ID_LENGTH);
  return `h${hashApiKey(key).slice(0, KEY_ID_LENGTH - 1)}`;
}

/**
 * The API key a request carries: `Authorization: Bearer <key>` (scheme case-insensitive), else
 * `x-api-key: <key>`. API Gateway v2 lower-cases header names; other casings are accepted too so the
 * local server and tests need not normalise. A malformed value (wrong scheme, empty, whitespace or a
 * comma inside, as when a header was sent twice) yields no key for that header.
 */
export function apiKeyFromHeaders(headers: Record<string, string | undefined>): string | undefined {
  let authorization: string | undefined;
  let apiKey: string | undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === 'authorization') authorization ??= value;
    else if (lower === 'x-api-key') apiKey ??= value;
  }
  if (authorization !== undefined) {
    const match = /^\s*bearer +(\S+)\s*$/i.exec(authorization);
    const token = match?.[1];
    if (token !== undefined && TOKEN_PATTERN.test(token)) return token;
  }
  if (apiKey !== undefined) {
    const token = apiKey.trim();
    if (TOKEN_PATTERN.test(token)) return token;
  }
  return undefined;
}
