import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import { QueryParameterError } from './errors.js';

/**
 * Opaque page cursors: `base64url(JSON payload) "." base64url(HMAC-SHA256(secret, payload))`.
 * The payload binds the cursor to the tenant, the endpoint and a hash of the query's parameters,
 * and carries the resolved time range (so `from=now-1h` means the same hour on every page) and the
 * keyset position. Anything that does not verify is a 400 naming `cursor`: a tampered cursor, one
 * made for another tenant or another query, or an expired one. A cursor reveals its position and
 * range to whoever holds it (it is the holder's own data), never another tenant's.
 */

const CursorPayloadSchema = z.object({
  v: z.literal(1),
  /** tenant */
  t: z.string(),
  /** endpoint */
  e: z.string(),
  /** hash of the canonical query parameters */
  h: z.string(),
  /** resolved range, nanoseconds as decimal strings */
  f: z.string().regex(/^\d+$/),
  u: z.string().regex(/^\d+$/),
  /** keyset position: endpoint-specific strings */
  k: z.array(z.string()).max(4),
  /** issued at, epoch ms */
  i: z.number().int(),
});

export type CursorPayload = z.infer<typeof CursorPayloadSchema>;

export interface CursorContext {
  readonly tenant: string;
  readonly endpoint: string;
  /** The request's parameters other than `cursor` and `limit`. */
  readonly params: Readonly<Record<string, string | undefined>>;
}

export interface CursorPosition {
  readonly fromNs: bigint;
  readonly toNs: bigint;
  readonly key: readonly string[];
}

/** A cursor stays valid this long (pages of a long-gone search are not worth keeping). */
export const CURSOR_TTL_MS = 24 * 3_600_000;

/** Hash of the parameters in a canonical order (key=value pairs sorted, absent ones left out). */
export function paramsHash(params: Readonly<Record<string, string | undefined>>): string {
  const pairs = Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(pairs)).digest('base64url').slice(0, 22);
}

export class CursorCodec {
  private readonly secret: Buffer;

  constructor(
    secret: string,
    private readonly now: () => number = Date.now,
  ) {
    if (secret.length < 16) throw new RangeError('the cursor secret must be at least 16 characters');
    this.secret = Buffer.from(secret, 'utf8');
  }

  encode(ctx: CursorContext, pos: CursorPosition): string {
    const payload: CursorPayload = {
      v: 1,
      t: ctx.tenant,
      e: ctx.endpoint,
      h: paramsHash(ctx.params),
      f: pos.fromNs.toString(),
      u: pos.toNs.toString(),
      k: [...pos.key],
      i: this.now(),
    };
    const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  /** The position a cursor holds; QueryParameterError('cursor') unless it is genuine and for this query. */
  decode(ctx: CursorContext, cursor: string): CursorPosition {
    const invalid = (why: string) => new QueryParameterError('cursor', why);
    const dot = cursor.indexOf('.');
    if (dot <= 0 || cursor.length > 4096) throw invalid('not a cursor returned by this API');
    const body = cursor.slice(0, dot);
    const given = Buffer.from(cursor.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.sign(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw invalid('signature mismatch (the cursor was altered or is not from this API)');
    }
    let parsed: CursorPayload;
    try {
      parsed = CursorPayloadSchema.parse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
    } catch {
      throw invalid('malformed');
    }
    // Same message for a foreign tenant as for another query: nothing to learn from the difference.
    if (parsed.t !== ctx.tenant || parsed.e !== ctx.endpoint || parsed.h !== paramsHash(ctx.params)) {
      throw invalid('belongs to another query; repeat the request with the same parameters');
    }
    if (this.now() - parsed.i > CURSOR_TTL_MS) throw invalid('expired; start the search again');
    return { fromNs: BigInt(parsed.f), toNs: BigInt(parsed.u), key: parsed.k };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}
