import type { DecodeCaps } from '../decode-error.js';
import type { AnyValue, KeyValue, LogRecord, LogsRequest, ResourceLogs, ScopeLogs } from '../model.js';
import { ProtoReader } from '../protobuf-reader.js';
import {
  anyValue,
  bits,
  EMPTY_RESOURCE,
  EMPTY_SCOPE,
  envelope,
  keyValue,
  type Mutable,
  resource,
  scope,
  topLevel,
} from './common.js';

/**
 * The protobuf decoder of ExportLogsServiceRequest (opentelemetry-proto collector/logs/v1); its conventions and the
 * messages every signal shares are in ./common.ts.
 */

export function decodeLogsProtobuf(buf: Uint8Array, maxDepth: number, caps?: DecodeCaps): LogsRequest {
  const r = new ProtoReader(buf, maxDepth, caps);
  return { resourceLogs: topLevel(r, 'ExportLogsServiceRequest', resourceLogs) };
}

function resourceLogs(r: ProtoReader, end: number): ResourceLogs {
  const e = envelope(r, end, 'ResourceLogs', EMPTY_RESOURCE, resource, scopeLogs, (c) =>
    c.map((s) => s.logRecords),
  );
  return { resource: e.header, schemaUrl: e.schemaUrl, scopeLogs: e.children };
}

function scopeLogs(r: ProtoReader, end: number): ScopeLogs {
  const e = envelope(r, end, 'ScopeLogs', EMPTY_SCOPE, scope, logRecord, (c) => [c]);
  return { scope: e.header, schemaUrl: e.schemaUrl, logRecords: e.children };
}

const LOG_KNOWN = bits(1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12);
function logRecord(r: ProtoReader, end: number): LogRecord {
  r.item();
  const outer = r.problem;
  r.problem = undefined;
  let timeUnixNano = '0';
  let observedTimeUnixNano = '0';
  let severityNumber = 0;
  let severityText = '';
  let body: AnyValue | undefined;
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  let traceId = '';
  let spanId = '';
  let eventName = '';
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 9: // 1: time_unix_nano
        timeUnixNano = r.fixed64Decimal();
        break;
      case 89: // 11: observed_time_unix_nano
        observedTimeUnixNano = r.fixed64Decimal();
        break;
      case 16: // 2: severity_number
        severityNumber = r.int32();
        break;
      case 26: // 3: severity_text
        severityText = r.string();
        break;
      case 42: // 5: body
        body = anyValue(r, r.lenEnd(), 0);
        break;
      case 50: // 6: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 56: // 7: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      case 69: // 8: flags (fixed32)
        flags = r.fixed32();
        break;
      case 74: // 9: trace_id
        traceId = r.id(16, 'trace_id');
        break;
      case 82: // 10: span_id
        spanId = r.id(8, 'span_id');
        break;
      case 98: // 12: event_name
        eventName = r.string();
        break;
      default:
        r.skip(tag, LOG_KNOWN, 'LogRecord');
    }
  }
  r.finish(end, 'LogRecord');
  const out: Mutable<LogRecord> = {
    timeUnixNano,
    observedTimeUnixNano,
    severityNumber,
    severityText,
    body,
    attributes,
    droppedAttributesCount,
    flags,
    traceId,
    spanId,
    eventName,
  };
  if (r.problem !== undefined) out.invalid = r.problem;
  r.problem = outer;
  return out;
}
