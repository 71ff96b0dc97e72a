import {
  EnvelopeError,
  nameEnvelopes,
  type PackedEnvelope,
  type PackOptions,
  packEnvelopes,
  packUsageEnvelope,
  REQUEST_ID_PLACEHOLDER,
  requestContentId,
  rowsContent,
  rowsContentId,
} from '../shared/envelope/envelope.js';
import { decodeOtlp, jsonText } from '../shared/otlp/decode.js';
import { OtlpDecodeError, OtlpLimitError } from '../shared/otlp/decode-error.js';
import type { OtlpRequest } from '../shared/otlp/model.js';
import { countJsonItems, countJsonValues, countProtobufItems } from '../shared/otlp/prescan.js';
import { encodeExportResponse, encodeStatus } from '../shared/otlp/responses.js';
import { type FlattenOptions, flatten } from '../shared/rows/flatten.js';
import type { Signal } from '../shared/schema/columns.js';
import type { StreamRecord, StreamSink } from '../shared/stream/stream-sink.js';
import {
  formatScopes,
  hasScope,
  type TenantDirectory,
  TenantDirectoryError,
} from '../shared/tenants/directory.js';
import { apiKeyFromHeaders } from '../shared/tenants/keys.js';
import { type QuotaEventSink, quotaWarningDetail } from '../shared/tenants/quota-events.js';
import type { RateDecision, RateLimiter } from '../shared/tenants/rate-limiter.js';
import {
  DEFAULT_DEADLINE_MARGIN_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  DEFAULT_REQUEST_CAPS,
  type RequestCaps,
} from './config.js';
import { decompressBounded, parseContentEncoding, SUPPORTED_ENCODINGS_TEXT } from './content-encoding.js';
import { expandedAttributeBytes } from './expansion.js';
import { groupByService, partitionKey } from './partition.js';

export { parseContentEncoding } from './content-encoding.js';

/**
 * The OTLP/HTTP receiver as a pure use-case: headers and body in, status, headers and body out.
 * Order of checks: content type and encoding (415; they also fix the response format), API key
 * (401), size as received (413), bounded decompression (413), a cheap pre-scan against the
 * request caps (413: items in protobuf, values in JSON), for JSON its UTF-8 text (400), rate limit
 * on a cheap item count (429, or 413 for a request larger than the whole burst or daily quota),
 * decode (400; 413 past the item or attribute cap), the rate limit again for items the count
 * missed (JSON items without their marker keys), resource expansion (413), flatten and pack,
 * stream (429/503). Only a `durable` stream outcome is answered with 200, so nothing is
 * acknowledged that is not in the stream.
 */

export type WireFormat = 'protobuf' | 'json';

/** google.rpc.Code values used in Status bodies. */
const RPC = {
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  UNAUTHENTICATED: 16,
  PERMISSION_DENIED: 7,
  UNAVAILABLE: 14,
  INTERNAL: 13,
} as const;

const CONTENT_TYPES: Record<WireFormat, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** Retry-After when the tenant directory cannot answer. */
const DIRECTORY_RETRY_AFTER_SECONDS = 5;

/** The OTLP decoder the receiver calls (a port, so a test can tell whether it ran). */
export type OtlpDecoder = typeof decodeOtlp;

export interface IngestPorts {
  readonly tenants: TenantDirectory;
  /** @default decodeOtlp */
  readonly decode?: OtlpDecoder;
  /** @default none: no rate limiting (the handler and local mode always pass one) */
  readonly rateLimiter?: RateLimiter;
  /** Where a daily quota's 80% warning goes (the alert bus). @default none */
  readonly quotaEvents?: QuotaEventSink;
  /** Told when a quota warning could not be sent (the request is answered all the same). */
  readonly onQuotaEventError?: (err: unknown) => void;
  /** Per-request caps; absent fields keep DEFAULT_REQUEST_CAPS. */
  readonly requestCaps?: Partial<RequestCaps>;
  readonly stream: StreamSink;
  /** @default DEFAULT_MAX_BODY_BYTES (4 MiB) */
  readonly maxBodyBytes?: number;
  /** @default DEFAULT_MAX_DECOMPRESSED_BYTES (16 MiB) */
  readonly maxDecompressedBytes?: number;
  /** Kept back from the remaining time for answering. @default DEFAULT_DEADLINE_MARGIN_MS */
  readonly deadlineMarginMs?: number;
  readonly flatten?: FlattenOptions;
  readonly envelope?: PackOptions;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /** Nanoseconds since the epoch as a decimal string (row time when an item has none). */
  readonly nowNs?: () => string;
}

export interface IngestRequest {
  readonly signal: Signal;
  /** Header names in any case (API Gateway v2 sends them lower-cased). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Uint8Array;
  /** Time left before the caller gives up (Lambda's remaining time). */
  readonly remainingMs: number;
}

/** What happened, for logs and metrics; not part of the HTTP answer. */
export interface IngestStats {
  readonly outcome:
    | 'accepted'
    | 'partial'
    | 'unsupported'
    | 'unauthenticated'
    | 'forbidden'
    | 'too-large'
    | 'malformed'
    | 'rate-limited'
    | 'throttled'
    | 'unavailable'
    | 'error';
  readonly tenant?: string;
  readonly requestBytes: number;
  readonly decompressedBytes?: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly envelopes: number;
  readonly envelopeBytes: number;
  /** A short reason for a non-200 outcome or rejections. */
  readonly reason?: string;
}

export interface IngestResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
  readonly stats: IngestStats;
}

export type Ingest = (request: IngestRequest) => Promise<IngestResponse>;

function header(headers: IngestRequest['headers'], name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** The wire format for a Content-Type (parameters such as charset ignored), or undefined. */
export function formatForContentType(contentType: string | undefined): WireFormat | undefined {
  const media = contentType?.split(';')[0]?.trim().toLowerCase();
  if (media === 'application/x-protobuf') return 'protobuf';
  if (media === 'application/json') return 'json';
  return undefined;
}

/** Spans, log records or metric data points in a request: what rate limits and partial_success count. */
export function countItems(otlp: OtlpRequest): number {
  let n = 0;
  switch (otlp.signal) {
    case 'traces':
      for (const rs of otlp.request.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
      return n;
    case 'logs':
      for (const rl of otlp.request.resourceLogs) for (const sl of rl.scopeLogs) n += sl.logRecords.length;
      return n;
    case 'metrics':
      for (const rm of otlp.request.resourceMetrics)
        for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.data?.dataPoints.length ?? 0;
      return n;
  }
}

export function createIngest(ports: IngestPorts): Ingest {
  const maxBody = ports.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxDecompressed = ports.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const caps: RequestCaps = { ...DEFAULT_REQUEST_CAPS, ...ports.requestCaps };
  const margin = ports.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS;
  const now = ports.now ?? Date.now;
  const nowNs = ports.nowNs ?? (() => (BigInt(Date.now()) * 1_000_000n).toString());
  const decode = ports.decode ?? decodeOtlp;

  return async (request) => {
    const started = now();
    const deadline = started + request.remainingMs - margin;
    const requestBytes = request.body.byteLength;
    const base: IngestStats = {
      outcome: 'error',
      requestBytes,
      accepted: 0,
      rejected: 0,
      envelopes: 0,
      envelopeBytes: 0,
    };

    const format = formatForContentType(header(request.headers, 'content-type'));
    // Unknown types get a JSON Status: the client's format is unknown, and JSON is readable.
    const replyFormat: WireFormat = format ?? 'json';
    const status = (
      code: number,
      rpcCode: number,
      message: string,
      stats: Partial<IngestStats>,
      extra: Record<string, string> = {},
    ): IngestResponse => ({
      status: code,
      headers: { 'content-type': CONTENT_TYPES[replyFormat], ...extra },
      body: encodeStatus(replyFormat, rpcCode, message),
      stats: { ...base, reason: message, ...stats },
    });

    if (format === undefined) {
      return status(
        415,
        RPC.INVALID_ARGUMENT,
        'unsupported Content-Type: use application/x-protobuf or application/json',
        { outcome: 'unsupported' },
      );
    }
    const encoding = parseContentEncoding(header(request.headers, 'content-encoding'));
    if (encoding === undefined) {
      return status(
        415,
        RPC.INVALID_ARGUMENT,
        `unsupported Content-Encoding: use ${SUPPORTED_ENCODINGS_TEXT}`,
        {
          outcome: 'unsupported',
        },
      );
    }

    const apiKey = apiKeyFromHeaders({ ...request.headers });
    if (apiKey === undefined) {
      return status(
        401,
        RPC.UNAUTHENTICATED,
        'missing API key: send Authorization: Bearer <key>',
        { outcome: 'unauthenticated' },
        { 'www-authenticate': 'Bearer' },
      );
    }
    let tenantInfo: Awaited<ReturnType<TenantDirectory['resolve']>>;
    try {
      tenantInfo = await ports.tenants.resolve(apiKey);
    } catch (err) {
      if (!(err instanceof TenantDirectoryError)) throw err;
      return status(
        503,
        RPC.UNAVAILABLE,
        'tenant directory unavailable, retry later',
        { outcome: 'unavailable' },
        { 'retry-after': String(DIRECTORY_RETRY_AFTER_SECONDS) },
      );
    }
    if (tenantInfo === undefined) {
      return status(
        401,
        RPC.UNAUTHENTICATED,
        'unknown or revoked API key',
        { outcome: 'unauthenticated' },
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      );
    }
    const tenant = tenantInfo.tenantId;
    if (!hasScope(tenantInfo, 'ingest')) {
      return status(
        403,
        RPC.PERMISSION_DENIED,
        `this API key may not send telemetry (scopes: ${formatScopes(tenantInfo.scopes)}); use a key with the ingest scope`,
        { outcome: 'forbidden', tenant },
      );
    }

    if (requestBytes > maxBody) {
      return status(413, RPC.RESOURCE_EXHAUSTED, `request body is over ${maxBody} bytes`, {
        outcome: 'too-large',
        tenant,
      });
    }
    const decoded = decompressBounded(encoding, request.body, maxDecompressed);
    if (!decoded.ok) {
      return decoded.tooLarge
        ? status(413, RPC.RESOURCE_EXHAUSTED, decoded.reason, { outcome: 'too-large', tenant })
        : status(400, RPC.INVALID_ARGUMENT, decoded.reason, { outcome: 'malformed', tenant });
    }
    let body = decoded.body;
    const decompressedBytes = body.byteLength;

    const success = (
      accepted: number,
      rejected: number,
      message: string | undefined,
      extra: Partial<IngestStats>,
    ) =>
      ({
        status: 200,
        headers: { 'content-type': CONTENT_TYPES[format] },
        body: encodeExportResponse(
          request.signal,
          format,
          rejected > 0 ? { rejected, message: message ?? `${rejected} items rejected` } : undefined,
        ),
        stats: {
          ...base,
          ...extra,
          outcome: rejected > 0 ? 'partial' : 'accepted',
          tenant,
          decompressedBytes,
          accepted,
          rejected,
          ...(message !== undefined ? { reason: message } : {}),
        },
      }) satisfies IngestResponse;

    // An empty body is an empty request (protobuf's encoding of a message with no fields).
    if (body.byteLength === 0) return success(0, 0, undefined, {});

    const tooLarge = (message: string) =>
      status(413, RPC.RESOURCE_EXHAUSTED, message, { outcome: 'too-large', tenant, decompressedBytes });
    const limited = (decision: Exclude<RateDecision, { allowed: true }>) =>
      decision.tooLarge
        ? status(413, RPC.RESOURCE_EXHAUSTED, decision.reason, {
            outcome: 'too-large',
            tenant,
            decompressedBytes,
          })
        : status(
            429,
            RPC.RESOURCE_EXHAUSTED,
            decision.reason,
            { outcome: 'rate-limited', tenant, decompressedBytes },
            { 'retry-after': String(decision.retryAfterSeconds) },
          );
    const take = async (items: number, bytes: number) => {
      const decision = await ports.rateLimiter?.take(tenant, { items, bytes }, tenantInfo.limits);
      // At most once per tenant, quota and day: off the common path.
      if (decision?.allowed && decision.warnings && ports.quotaEvents) {
        for (const w of decision.warnings) {
          await ports.quotaEvents
            .warn(quotaWarningDetail(tenant, w, now()))
            .catch((err: unknown) => ports.onQuotaEventError?.(err));
        }
      }
      return decision;
    };
    const malformed = (message: string) =>
      status(400, RPC.INVALID_ARGUMENT, message, { outcome: 'malformed', tenant, decompressedBytes });

    // Before the decode: a cheap count against the caps, then the rate limit on a cheap item count,
    // so an over-limit or expanding request costs a scan, not a decode. Protobuf's count walks the
    // length prefixes (an upper bound, exact for a well-formed body); JSON's counts marker keys in
    // the text JSON.parse needs anyway (exact for what exporters send; see countJsonItems).
    let counted: number;
    let text: string | undefined;
    try {
      if (format === 'protobuf') counted = countProtobufItems(request.signal, body, caps.maxItems);
      else {
        countJsonValues(body, caps.maxJsonValues);
        text = jsonText(body);
        counted = countJsonItems(request.signal, text);
      }
    } catch (err) {
      if (err instanceof OtlpDecodeError) return malformed(err.message);
      if (!(err instanceof OtlpLimitError)) throw err;
      return tooLarge(err.message);
    }
    const decision = await take(counted, decompressedBytes);
    if (decision !== undefined && !decision.allowed) return limited(decision);

    let otlp: OtlpRequest | undefined;
    try {
      otlp = decode(request.signal, text ?? body, format, {
        maxItems: caps.maxItems,
        maxAttributes: caps.maxAttributes,
      });
    } catch (err) {
      if (err instanceof OtlpLimitError) return tooLarge(err.message);
      if (!(err instanceof OtlpDecodeError)) throw err;
      return malformed(err.message);
    }
    // The decoded request holds its own copies: let the (up to 16 MiB) body go before flattening.
    body = new Uint8Array(0);
    text = undefined;
    const decodedItems = countItems(otlp);
    // Items the cheap count missed (JSON items without their marker keys) are taken now; the
    // bytes were counted with the first take.
    if (decodedItems > counted) {
      const rest = await take(decodedItems - counted, 0);
      if (rest !== undefined && !rest.allowed) return limited(rest);
    }
    if (decodedItems === 0) return success(0, 0, undefined, {});
    const expanded = expandedAttributeBytes(otlp, caps.maxExpandedAttributeBytes);
    if (expanded > caps.maxExpandedAttributeBytes) {
      return tooLarge(
        `resource and scope attributes times the items under them come to more than ${caps.maxExpandedAttributeBytes} bytes (the cap per request): send fewer items per request or smaller resource attributes`,
      );
    }

    const receivedAtNs = nowNs();
    const flat = flatten({ tenant, otlp, receivedAtNs }, ports.flatten);
    // Let the decoded request go before packing: on a 16 MiB body it is most of the heap, and
    // packing allocates the envelope JSON.
    otlp = undefined;
    const envelopes: PackedEnvelope[] = [];
    const keys: string[] = [];
    const usage = {
      accepted: flat.accepted,
      rejected: flat.rejected,
      wireBytes: requestBytes,
      decodedBytes: decompressedBytes,
    };
    // Content ids: a byte-identical resend (its response was lost) yields the same envelope ids,
    // which both writers store once (ADR 0004, 0005). A compressed body is the least to hash; an
    // uncompressed one is hashed as the rows it packs to, a few times fewer bytes (rowsContent).
    const content =
      encoding === 'none' ? rowsContent(tenant, request.signal, format, encoding, usage) : undefined;
    const requestId = content
      ? REQUEST_ID_PLACEHOLDER
      : requestContentId(tenant, request.signal, format, encoding, request.body);
    try {
      for (const [service, batches] of groupByService(flat.batches)) {
        const key = partitionKey(tenant, service);
        // The request's usage rides on its first envelope: metered by the hot writer, no extra call.
        const identity = {
          request: requestId,
          firstOrdinal: envelopes.length,
          receivedAtNs,
          timesFilled: flat.timesFilled > 0,
          usage,
          content,
        };
        for (const env of packEnvelopes(tenant, request.signal, batches, ports.envelope, identity)) {
          envelopes.push(env);
          keys.push(key);
        }
      }
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      return status(413, RPC.RESOURCE_EXHAUSTED, err.message, {
        outcome: 'too-large',
        tenant,
        decompressedBytes,
      });
    }
    let named: readonly PackedEnvelope[];
    if (envelopes.length === 0 && flat.rejected > 0) {
      // Every item rejected: nothing to store, but the request is metered all the same (issue #21)
      // by an envelope with no rows, acknowledged like any other (an outage: 429/503, retried).
      // Named by the body itself: with no rows, a rows content would make every all-rejected
      // request of one size and count one content (a rare path: the whole-body hash costs little).
      const id = requestContentId(tenant, request.signal, format, encoding, request.body);
      named = [packUsageEnvelope(tenant, request.signal, id, usage, ports.envelope)];
      keys.push(partitionKey(tenant, ''));
    } else named = content ? nameEnvelopes(envelopes, rowsContentId(content)) : envelopes;
    const records: StreamRecord[] = [];
    let envelopeBytes = 0;
    for (let k = 0; k < named.length; k++) {
      const data = named[k]!.data;
      records.push({ data, partitionKey: keys[k]! });
      envelopeBytes += data.byteLength;
    }
    const streamStats = { envelopes: records.length, envelopeBytes };
    if (records.length === 0) return success(flat.accepted, flat.rejected, flat.message, streamStats);

    const outcome = await ports.stream.put(records, deadline);
    if (outcome.kind === 'durable') return success(flat.accepted, flat.rejected, flat.message, streamStats);
    const throttled = outcome.kind === 'throttled';
    return status(
      throttled ? 429 : 503,
      throttled ? RPC.RESOURCE_EXHAUSTED : RPC.UNAVAILABLE,
      throttled ? 'stream throttled, retry later' : 'stream unavailable, retry later',
      {
        outcome: throttled ? 'throttled' : 'unavailable',
        reason: outcome.reason,
        tenant,
        decompressedBytes,
        ...streamStats,
      },
      { 'retry-after': String(outcome.retryAfterSeconds) },
    );
  };
}
