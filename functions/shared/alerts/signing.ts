import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: HMAC-SHA256 with the channel's shared key over the signed string
 * `${timestamp}.${alertId}.${body}`, sent as `X-Signature-256: sha256=<hex>` beside
 * `X-Timestamp: <unix seconds>` and `X-Alert-Id: <transitionId>`. Every header a receiver acts on is
 * signed: the timestamp (a captured request cannot be replayed later with a fresh one; receivers
 * reject old ones) and the alert id (receivers deduplicate on it, so an unsigned id would let a
 * replay within the window pass as a new alert, or suppress a real one by reusing its id).
 */

export const SIGNATURE_HEADER = 'X-Signature-256';
export const TIMESTAMP_HEADER = 'X-Timestamp';
/** The transition id: the same on every delivery of one event, for receivers to deduplicate. */
export const ALERT_ID_HEADER = 'X-Alert-Id';

/** How far a timestamp may be from the receiver's clock (the replay window). @default 300 s */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Alert ids are hex hashes; the signed string relies on an id holding no '.'. */
const ALERT_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** The string the HMAC covers. */
export function signedString(timestamp: string, alertId: string, body: string): string {
  return `${timestamp}.${alertId}.${body}`;
}

export function webhookSignature(key: string, timestamp: string, alertId: string, body: string): string {
  return `sha256=${createHmac('sha256', key)
    .update(signedString(timestamp, alertId, body))
    .digest('hex')}`;
}

/** The headers of one delivery: timestamp, alert id and the signature over both and the body. */
export function signWebhook(
  key: string,
  alertId: string,
  body: string,
  nowMs: number = Date.now(),
): Record<string, string> {
  if (!ALERT_ID.test(alertId)) throw new RangeError(`not an alert id: ${JSON.stringify(alertId)}`);
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    [TIMESTAMP_HEADER]: timestamp,
    [ALERT_ID_HEADER]: alertId,
    [SIGNATURE_HEADER]: webhookSignature(key, timestamp, alertId, body),
  };
}

export type VerifyResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'expired' | 'mismatch' };

export interface VerifyInput {
  /** The raw request body, exactly as received (not re-serialised JSON). */
  readonly body: string;
  readonly timestamp: string | undefined;
  /** The X-Alert-Id header as received. */
  readonly alertId: string | undefined;
  readonly signature: string | undefined;
  readonly key: string;
  readonly nowMs?: number;
  readonly toleranceSeconds?: number;
}

/** For receivers: checks a request's signature, timestamp and alert id in constant time. */
export function verifyWebhookSignature(input: VerifyInput): VerifyResult {
  const { timestamp, signature, alertId } = input;
  if (!timestamp || !signature || !alertId) return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(timestamp) || !/^sha256=[0-9a-f]{64}$/.test(signature) || !ALERT_ID.test(alertId)) {
    return { ok: false, reason: 'malformed' };
  }
  const skew = Math.abs((input.nowMs ?? Date.now()) / 1000 - Number(timestamp));
  if (skew > (input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return { ok: false, reason: 'expired' };
  const expected = Buffer.from(webhookSignature(input.key, timestamp, alertId, input.body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given)
    ? { ok: true }
    : { ok: false, reason: 'mismatch' };
}
