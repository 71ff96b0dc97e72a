import type { DecodeCaps } from '../decode-error.js';
import type {
  KeyValue,
  ResourceSpans,
  ScopeSpans,
  Span,
  SpanEvent,
  SpanLink,
  TracesRequest,
} from '../model.js';
import { ProtoReader } from '../protobuf-reader.js';
import {
  bits,
  EMPTY_RESOURCE,
  EMPTY_SCOPE,
  envelope,
  keyValue,
  type Mutable,
  NO_STATUS,
  resource,
  scope,
  topLevel,
} from './common.js';

/**
 * The protobuf decoder of ExportTraceServiceRequest (opentelemetry-proto collector/trace/v1); its conventions and the
 * messages every signal shares are in ./common.ts.
 */

export function decodeTracesProtobuf(buf: Uint8Array, maxDepth: number, caps?: DecodeCaps): TracesRequest {
  const r = new ProtoReader(buf, maxDepth, caps);
  return { resourceSpans: topLevel(r, 'ExportTraceServiceRequest', resourceSpans) };
}

function resourceSpans(r: ProtoReader, end: number): ResourceSpans {
  const e = envelope(r, end, 'ResourceSpans', EMPTY_RESOURCE, resource, scopeSpans, (c) =>
    c.map((s) => s.spans),
  );
  return { resource: e.header, schemaUrl: e.schemaUrl, scopeSpans: e.children };
}

function scopeSpans(r: ProtoReader, end: number): ScopeSpans {
  const e = envelope(r, end, 'ScopeSpans', EMPTY_SCOPE, scope, span, (c) => [c]);
  return { scope: e.header, schemaUrl: e.schemaUrl, spans: e.children };
}

const SPAN_KNOWN = bits(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
function span(r: ProtoReader, end: number): Span {
  r.item();
  const outer = r.problem;
  r.problem = undefined;
  let traceId = '';
  let spanId = '';
  let traceState = '';
  let parentSpanId = '';
  let flags = 0;
  let name = '';
  let kind = 0;
  let startTimeUnixNano = '0';
  let endTimeUnixNano = '0';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  const events: SpanEvent[] = [];
  let droppedEventsCount = 0;
  const links: SpanLink[] = [];
  let droppedLinksCount = 0;
  let status = NO_STATUS;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: trace_id
        traceId = r.id(16, 'trace_id');
        break;
      case 18: // 2: span_id
        spanId = r.id(8, 'span_id');
        break;
      case 26: // 3: trace_state
        traceState = r.string();
        break;
      case 34: // 4: parent_span_id
        parentSpanId = r.id(8, 'parent_span_id');
        break;
      case 42: // 5: name
        name = r.string();
        break;
      case 48: // 6: kind
        kind = r.int32();
        break;
      case 57: // 7: start_time_unix_nano
        startTimeUnixNano = r.fixed64Decimal();
        break;
      case 65: // 8: end_time_unix_nano
        endTimeUnixNano = r.fixed64Decimal();
        break;
      case 74: // 9: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 80: // 10: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      case 90: // 11: events
        events.push(spanEvent(r, r.lenEnd()));
        break;
      case 96: // 12: dropped_events_count
        droppedEventsCount = r.varint();
        break;
      case 106: // 13: links
        links.push(spanLink(r, r.lenEnd()));
        break;
      case 112: // 14: dropped_links_count
        droppedLinksCount = r.varint();
        break;
      case 122: // 15: status
        status = spanStatus(r, r.lenEnd());
        break;
      case 133: // 16: flags (fixed32)
        flags = r.fixed32();
        break;
      default:
        r.skip(tag, SPAN_KNOWN, 'Span');
    }
  }
  r.finish(end, 'Span');
  const out: Mutable<Span> = {
    traceId,
    spanId,
    traceState,
    parentSpanId,
    flags,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    attributes,
    droppedAttributesCount,
    events,
    droppedEventsCount,
    links,
    droppedLinksCount,
    status,
  };
  if (r.problem !== undefined) out.invalid = r.problem;
  r.problem = outer;
  return out;
}

const EVENT_KNOWN = bits(1, 2, 3, 4);
function spanEvent(r: ProtoReader, end: number): SpanEvent {
  r.attribute();
  let timeUnixNano = '0';
  let name = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 9: // 1: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 18: // 2: name
        name = r.string();
        break;
      case 26: // 3: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 32: // 4: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      default:
        r.skip(tag, EVENT_KNOWN, 'Span.Event');
    }
  }
  r.finish(end, 'Span.Event');
  return { timeUnixNano, name, attributes, droppedAttributesCount };
}

const LINK_KNOWN = bits(1, 2, 3, 4, 5, 6);
function spanLink(r: ProtoReader, end: number): SpanLink {
  r.attribute();
  let traceId = '';
  let spanId = '';
  let traceState = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: trace_id
        traceId = r.id(16, 'links.trace_id');
        break;
      case 18: // 2: span_id
        spanId = r.id(8, 'links.span_id');
        break;
      case 26: // 3: trace_state
        traceState = r.string();
        break;
      case 34: // 4: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 40: // 5: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      case 53: // 6: flags (fixed32)
        flags = r.fixed32();
        break;
      default:
        r.skip(tag, LINK_KNOWN, 'Span.Link');
    }
  }
  r.finish(end, 'Span.Link');
  return { traceId, spanId, traceState, attributes, droppedAttributesCount, flags };
}

const STATUS_KNOWN = bits(2, 3);
function spanStatus(r: ProtoReader, end: number): Span['status'] {
  let code = 0;
  let message = '';
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 18: // 2: message
        message = r.string();
        break;
      case 24: // 3: code
        code = r.int32();
        break;
      default: // 1: the deprecated code, not read
        r.skip(tag, STATUS_KNOWN, 'Status');
    }
  }
  r.finish(end, 'Status');
  return { code, message };
}
