import type { LogRecord, ResourceLogs, ScopeLogs } from '../model.js';
import { LOG_SEVERITY_NUMBERS } from '../severity.js';
import {
  anyValue,
  droppedAttributes,
  enumValue,
  envelope,
  id,
  item,
  keyValues,
  list,
  type Mutable,
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
 * The OTLP/JSON decoder of ExportLogsServiceRequest: shared parts in ./common.ts, the entry in
 * ../decode-json.ts.
 */

export function resourceLogs(w: Walk, v: unknown): ResourceLogs {
  const o = obj(v, 'an element of resourceLogs') ?? {};
  return envelope(
    w,
    (): ResourceLogs => ({
      resource: resource(w, o.resource),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      scopeLogs: list(one(o.scopeLogs, o.scope_logs, 'scopeLogs', 'scope_logs'), 'scopeLogs', (x) =>
        scopeLogs(w, x),
      ),
    }),
    (r) => r.scopeLogs.map((s) => s.logRecords),
  );
}

function scopeLogs(w: Walk, v: unknown): ScopeLogs {
  const o = obj(v, 'an element of scopeLogs') ?? {};
  return envelope(
    w,
    (): ScopeLogs => ({
      scope: scope(w, o.scope),
      schemaUrl: str(w, one(o.schemaUrl, o.schema_url, 'schemaUrl', 'schema_url'), 'schemaUrl'),
      logRecords: list(one(o.logRecords, o.log_records, 'logRecords', 'log_records'), 'logRecords', (x) =>
        logRecord(w, x),
      ),
    }),
    (s) => [s.logRecords],
  );
}

const SEVERITIES = new Map<string, number>([['SEVERITY_NUMBER_UNSPECIFIED', 0]]);
for (const [level, first] of Object.entries(LOG_SEVERITY_NUMBERS)) {
  SEVERITIES.set(`SEVERITY_NUMBER_${level}`, first);
  for (let k = 2; k <= 4; k++) SEVERITIES.set(`SEVERITY_NUMBER_${level}${k}`, first + k - 1);
}

function logRecord(w: Walk, v: unknown): LogRecord {
  const o = obj(v, 'an element of logRecords') ?? {};
  return item(
    w,
    (): Mutable<LogRecord> => ({
      timeUnixNano: time(
        w,
        one(o.timeUnixNano, o.time_unix_nano, 'timeUnixNano', 'time_unix_nano'),
        'timeUnixNano',
      ),
      observedTimeUnixNano: time(
        w,
        one(
          o.observedTimeUnixNano,
          o.observed_time_unix_nano,
          'observedTimeUnixNano',
          'observed_time_unix_nano',
        ),
        'observedTimeUnixNano',
      ),
      severityNumber: enumValue(
        w,
        one(o.severityNumber, o.severity_number, 'severityNumber', 'severity_number'),
        SEVERITIES,
        'severity number',
      ),
      severityText: str(
        w,
        one(o.severityText, o.severity_text, 'severityText', 'severity_text'),
        'severityText',
      ),
      body: anyValue(w, o.body, 0),
      attributes: keyValues(w, o.attributes, 'attributes', 0),
      droppedAttributesCount: droppedAttributes(w, o, 'droppedAttributesCount'),
      flags: uint32(w, o.flags, 'flags'),
      traceId: id(w, one(o.traceId, o.trace_id, 'traceId', 'trace_id'), 16, 'traceId'),
      spanId: id(w, one(o.spanId, o.span_id, 'spanId', 'span_id'), 8, 'spanId'),
      eventName: str(w, one(o.eventName, o.event_name, 'eventName', 'event_name'), 'eventName'),
    }),
  );
}
