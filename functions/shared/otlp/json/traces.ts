import type { ResourceSpans, ScopeSpans, Span, SpanEvent, SpanLink } from '../model.js';
import {
  countAttributes,
  droppedAttributes,
  enumValue,
  envelope,
  id,
  item,
  keyValues,
  list,
  type Mutable,
  NO_STATUS,
  obj,
  one,
  resource,
  scope,
  str,
  time,
  uint32,
  type Walk,
} from './common.js';

/**
 * The OTLP/JSON decoder of ExportTraceServiceRequest: shared parts in ./common.ts, the entry in
 * ../decode-json.ts.
 */

export function resourceSpans(w: Walk, v: unknown): ResourceSpans {
  const o = obj(v, 'an element of resourceSpans') ?? {};
  return envelope(
    w,
    (): ResourceSpans => ({
      resource: resource(w, o.resource),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      scopeSpans: list(one(o.scopeSpans, o.scope_spans, 'scopeSpans', 'scope_spans'), 'scopeSpans', (x) =>
        scopeSpans(w, x),
      ),
    }),
    (r) => r.scopeSpans.map((s) => s.spans),
  );
}

function scopeSpans(w: Walk, v: unknown): ScopeSpans {
  const o = obj(v, 'an element of scopeSpans') ?? {};
  return envelope(
    w,
    (): ScopeSpans => ({
      scope: scope(w, o.scope),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      spans: list(o.spans, 'spans', (x) => span(w, x)),
    }),
    (s) => [s.spans],
  );
}

const SPAN_KINDS = new Map([
  ['SPAN_KIND_UNSPECIFIED', 0],
  ['SPAN_KIND_INTERNAL', 1],
  ['SPAN_KIND_SERVER', 2],
  ['SPAN_KIND_CLIENT', 3],
  ['SPAN_KIND_PRODUCER', 4],
  ['SPAN_KIND_CONSUMER', 5],
]);

const STATUS_CODES = new Map([
  ['STATUS_CODE_UNSET', 0],
  ['STATUS_CODE_OK', 1],
  ['STATUS_CODE_ERROR', 2],
]);

function span(w: Walk, v: unknown): Span {
  const o = obj(v, 'an element of spans') ?? {};
  return item(
    w,
    (): Mutable<Span> => ({
      traceId: id(w, one(o.traceId, o.trace_id, 'traceId', 'trace_id'), 16, 'traceId'),
      spanId: id(w, one(o.spanId, o.span_id, 'spanId', 'span_id'), 8, 'spanId'),
      traceState: str(w, one(o.traceState, o.trace_state, 'traceState', 'trace_state'), 'traceState'),
      parentSpanId: id(
        w,
        one(o.parentSpanId, o.parent_span_id, 'parentSpanId', 'parent_span_id'),
        8,
        'parentSpanId',
      ),
      flags: uint32(w, o.flags, 'flags'),
      name: str(w, o.name, 'name'),
      kind: enumValue(w, o.kind, SPAN_KINDS, 'span kind'),
      startTimeUnixNano: time(
        w,
        one(o.startTimeUnixNano, o.start_time_unix_nano, 'startTimeUnixNano', 'start_time_unix_nano'),
        'startTimeUnixNano',
      ),
      endTimeUnixNano: time(
        w,
        one(o.endTimeUnixNano, o.end_time_unix_nano, 'endTimeUnixNano', 'end_time_unix_nano'),
        'endTimeUnixNano',
      ),
      attributes: keyValues(w, o.attributes, 'attributes', 0),
      droppedAttributesCount: droppedAttributes(w, o, 'droppedAttributesCount'),
      events: list(o.events, 'events', (x) => spanEvent(w, x)),
      droppedEventsCount: uint32(
        w,
        one(o.droppedEventsCount, o.dropped_events_count, 'droppedEventsCount', 'dropped_events_count'),
        'droppedEventsCount',
      ),
      links: list(o.links, 'links', (x) => spanLink(w, x)),
      droppedLinksCount: uint32(
        w,
        one(o.droppedLinksCount, o.dropped_links_count, 'droppedLinksCount', 'dropped_links_count'),
        'droppedLinksCount',
      ),
      status: spanStatus(w, o.status),
    }),
  );
}

function spanEvent(w: Walk, v: unknown): SpanEvent {
  countAttributes(w, 1);
  const o = obj(v, 'an element of events') ?? {};
  return {
    timeUnixNano: time(
      w,
      one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
      'events.timeUnixNano',
    ),
    name: str(w, o.name, 'events.name'),
    attributes: keyValues(w, o.attributes, 'events.attributes', 0),
    droppedAttributesCount: droppedAttributes(w, o, 'events.droppedAttributesCount'),
  };
}

function spanLink(w: Walk, v: unknown): SpanLink {
  countAttributes(w, 1);
  const o = obj(v, 'an element of links') ?? {};
  return {
    traceId: id(w, one(o.traceId, o.trace_id, 'traceId', 'trace_id'), 16, 'links.traceId'),
    spanId: id(w, one(o.spanId, o.span_id, 'spanId', 'span_id'), 8, 'links.spanId'),
    traceState: str(w, one(o.traceState, o.trace_state, 'traceState', 'trace_state'), 'links.traceState'),
    attributes: keyValues(w, o.attributes, 'links.attributes', 0),
    droppedAttributesCount: droppedAttributes(w, o, 'links.droppedAttributesCount'),
    flags: uint32(w, o.flags, 'links.flags'),
  };
}

function spanStatus(w: Walk, v: unknown): Span['status'] {
  const o = obj(v, 'status');
  if (o === undefined) return NO_STATUS;
  return {
    code: enumValue(w, o.code, STATUS_CODES, 'status code'),
    message: str(w, o.message, 'status.message'),
  };
}
