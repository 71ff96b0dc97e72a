import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: HMAC-SHA256 over `${timestamp}.${body}` with the channel's shared key, sent as
 * `X-Signature-256: sha256=<hex>` with `X-Timestamp: <unix seconds>`. The timestamp is signed too, so
 * a captured request cannot be replayed later with a fresh timestamp; receivers reject old ones.
 */

export const SIGNATURE_HEADER = 'X-Signature-256';
export const TIMESTAMP_HEADER = 'X-Timestamp';
/** The transition id: the same on every delivery of one event, for receivers to deduplicate. */
export const ALERT_ID_HEADER = 'X-Alert-Id';

/** How far a timestamp may be from the receiver's clock. @default 300 s */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function webhookSignature(key: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function signWebhook(key: string, body: string, nowMs: number = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: webhookSignature(key, timestamp, body) };
}

export type VerifyResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'expired' | 'mismatch' };

export interface VerifyInput {
  /** The raw request body, exactly as received (not re-serialised JSON). */
  readonly body: string;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  readonly key: string;
  readonly nowMs?: number;
  readonly toleranceSeconds?: number;
}

/** For receivers: checks a request's signature and timestamp in constant time. */
export function verifyWebhookSignature(input: VerifyInput): VerifyResult {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(timestamp) || !/^sha256=[0-9a-f]{64}$/.test(signature)) {
    return { ok: false, reason: 'malformed' };
  }
  const skew = Math.abs((input.nowMs ?? Date.now()) / 1000 - Number(timestamp));
  if (skew > (input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return { ok: false, reason: 'expired' };
  const expected = Buffer.from(webhookSignature(input.key, timestamp, input.body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given)
    ? { ok: true }
    : { ok: false, reason: 'mismatch' };
}
