/**
 * A request body that cannot be parsed at all. The message is the reason the receiver returns
 * in its 400 response, so it is written for the user who sent the request.
 */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Which per-request cap a request went over (functions/ingest/config.ts holds their defaults). */
export type RequestCap = 'items' | 'attributes' | 'json-values' | 'expanded-attribute-bytes';

/**
 * A request over a per-request cap: the receiver answers 413 with this message, which names the
 * cap. Thrown as soon as the count passes the cap, so the work done is bounded by the cap, not by
 * what the body would expand to.
 */
export class OtlpLimitError extends Error {
  override readonly name = 'OtlpLimitError';

  constructor(
    message: string,
    readonly cap: RequestCap,
    readonly limit: number,
  ) {
    super(message);
  }
}

/** Caps the decoders enforce while decoding; absent means unbounded. */
export interface DecodeCaps {
  /** Spans, log records or metric data points per request. */
  readonly maxItems?: number;
  /**
   * Attribute key/values and array elements at any depth, plus the other nested entries that each
   * cost an object: span events and links, exemplars, metrics, resource and scope entries, quantiles.
   */
  readonly maxAttributes?: number;
}

export function tooManyItems(limit: number): OtlpLimitError {
  return new OtlpLimitError(
    `request has more than ${limit} items (spans, log records or metric data points; the cap per request is ${limit}): split it into smaller requests`,
    'items',
    limit,
  );
}

export function tooManyAttributes(limit: number): OtlpLimitError {
  return new OtlpLimitError(
    `request has more than ${limit} attributes, events, links and other nested entries (the cap per request is ${limit}): split it into smaller requests`,
    'attributes',
    limit,
  );
}
