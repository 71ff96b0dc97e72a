/** Lambda answers at most 6 MB; the rest is headroom for the headers and the invocation envelope. */
export const DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024;
