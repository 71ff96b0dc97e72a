/** Lambda answers at most 6 MB; the rest is headroom for the headers and the invocation envelope. */
export const DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024;

/**
 * The limiter's bucket of a tenant's queries: apart from its ingest bucket (tenant ids hold no ':').
 * The alerts API's requests count in the same bucket.
 */
export const queryRateKey = (tenant: string): string => `query:${tenant}`;
