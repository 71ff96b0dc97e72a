import { describe, expect, it } from 'vitest';
import { LEGACY_SPAN_KINDS, LEGACY_STATUS_CODES } from '../../../../functions/shared/clickhouse/ddl.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';
import { rowAt } from '../../../../functions/shared/rows/batch.js';
import { flatten } from '../../../../functions/shared/rows/flatten.js';
import { resolveRowLimits } from '../../../../functions/shared/rows/limits.js';
import { compileRedaction } from '../../../../functions/shared/rows/redact.js';
import { payloadColumns, type TableName } from '../../../../functions/shared/schema/columns.js';
import {
  at,
  DAY_MS,
  expPoint,
  histogramPoint,
  kv,
  logRecord,
  logs,
  metric,
  metrics,
  numberPoint,
  RECV,
  span,
  summaryPoint,
  traces,
  val,
} from './model-builders.js';

const TENANT = 'acme';

function batchOf(batches: ColumnBatch[], table: TableName): ColumnBatch {
  const b = batches.find((x) => x.table === table);
  if (!b) throw new Error(`no batch for ${table}`);
  return b;
}

describe('flatten traces', () => {
  it('maps a span to an otel_traces row as the Collector exporter does', () => {
    const s = span({
      traceState: 'rojo=00f067aa0ba902b7',
      attributes: [kv('http.method', 'GET'), kv('retries', 3), kv('ok', true), kv('ratio', 0.25)],
      events: [
        { timeUnixNano: at(-950), name: 'exception', attributes: [kv('e', 'x')], droppedAttributesCount: 0 },
      ],
      links: [
        {
          traceId: '0af7651916cd43dd8448eb211c80319c',
          spanId: 'b7ad6b7169203331',
          traceState: 'a=b',
          attributes: [kv('link.kind', 'follows')],
          droppedAttributesCount: 0,
          flags: 0,
        },
      ],
      status: { code: 2, message: 'boom' },
    });
    const result = flatten({ tenant: TENANT, otlp: traces([s]), receivedAtNs: RECV });

    expect(result).toMatchObject({ accepted: 1, rejected: 0, rejections: {}, message: undefined });
    expect(result.batches.map((b) => b.table)).toEqual(['otel_traces']);
    const batch = batchOf(result.batches, 'otel_traces');
    expect(Object.keys(batch.columns)).toEqual(payloadColumns('otel_traces').map((c) => c.name));
    // The writers fill EnvelopeId from the envelope header; flatten never creates it.
    expect(batch.columns).not.toHaveProperty('EnvelopeId');
    expect(rowAt(batch, 0)).toEqual({
      TenantId: 'acme',
      Timestamp: at(-1000),
      TraceId: '5b8efff798038103d269b633813fc60c',
      SpanId: 'eee19b7ec3c1b174',
      ParentSpanId: 'eee19b7ec3c1b173',
      TraceState: 'rojo=00f067aa0ba902b7',
      SpanName: 'I am a span!',
      SpanKind: 'Server',
      ServiceName: 'my.service',
      ResourceAttributes: { 'service.name': 'my.service' },
      ScopeName: 'my.library',
      ScopeVersion: '1.0.0',
      SpanAttributes: { 'http.method': 'GET', retries: '3', ok: 'true', ratio: '0.25' },
      Duration: 100_000_000,
      StatusCode: 'Error',
      StatusMessage: 'boom',
      'Events.Timestamp': [at(-950)],
      'Events.Name': ['exception'],
      'Events.Attributes': [{ e: 'x' }],
      'Links.TraceId': ['0af7651916cd43dd8448eb211c80319c'],
      'Links.SpanId': ['b7ad6b7169203331'],
      'Links.TraceState': ['a=b'],
      'Links.Attributes': [{ 'link.kind': 'follows' }],
    });
  });

  it("names every span kind and status code as the Collector exporter does, unknown numbers as 'Unspecified'/'Unset'", () => {
    const spans = [0, 1, 2, 3, 4, 5, 9].map((kind, i) =>
      span({ kind, status: { code: i % 4, message: '' } }),
    );
    const batch = batchOf(
      flatten({ tenant: TENANT, otlp: traces(spans), receivedAtNs: RECV }).batches,
      'otel_traces',
    );
    // The exporter's traceutil.SpanKindStr / StatusCodeStr values.
    expect(batch.columns.SpanKind).toEqual([
      'Unspecified',
      'Internal',
      'Server',
      'Client',
      'Producer',
      'Consumer',
      'Unspecified',
    ]);
    expect(batch.columns.StatusCode).toEqual(['Unset', 'Ok', 'Error', 'Unset', 'Unset', 'Ok', 'Error']);
    // Migration 2 maps each old proto name to what the flattener now writes for that enum number.
    const protoKinds = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
    expect(protoKinds.map((k) => LEGACY_SPAN_KINDS[`SPAN_KIND_${k}`])).toEqual(
      batch.columns.SpanKind!.slice(0, 6),
    );
    expect(['UNSET', 'OK', 'ERROR'].map((c) => LEGACY_STATUS_CODES[`STATUS_CODE_${c}`])).toEqual(
      batch.columns.StatusCode!.slice(0, 3),
    );
  });

  it('clamps a zero start to the receive time and zero event times to the span start, without rejecting', () => {
    const spans = [
      span({
        startTimeUnixNano: '0',
        endTimeUnixNano: '0',
        events: [{ timeUnixNano: '0', name: 'e', attributes: [], droppedAttributesCount: 0 }],
      }),
      span({ startTimeUnixNano: at(-10), endTimeUnixNano: at(-20) }),
      span({ startTimeUnixNano: '1699999999000000001', endTimeUnixNano: '1700000000000000000' }),
    ];
    const result = flatten({ tenant: TENANT, otlp: traces(spans), receivedAtNs: RECV });
    expect(result.rejected).toBe(0);
    const batch = batchOf(result.batches, 'otel_traces');
    expect(batch.columns.Timestamp).toEqual([RECV, at(-10), '1699999999000000001']);
    expect(batch.columns['Events.Timestamp']).toEqual([[RECV], [], []]);
    // end before start -> 0; exact nanoseconds across a second boundary
    expect(batch.columns.Duration).toEqual([0, 0, 999_999_999]);
  });

  it('rejects bad spans with reasons and counts, keeps the rest (partial success)', () => {
    const spans = [
      span({ name: 'ok-1' }),
      span({ invalid: 'trace_id must be 16 bytes' }),
      span({ traceId: '' }),
      span({ spanId: '' }),
      span({ startTimeUnixNano: at(-8 * DAY_MS) }),
      span({ startTimeUnixNano: at(-7 * DAY_MS - 1) }),
      span({ startTimeUnixNano: at(2 * 3600_000) }),
      span({ name: 'ok-2', startTimeUnixNano: at(3600_000), endTimeUnixNano: at(3600_001) }),
      span({ name: 'ok-3', startTimeUnixNano: at(-7 * DAY_MS + 1) }),
    ];
    const result = flatten({ tenant: TENANT, otlp: traces(spans), receivedAtNs: RECV });
    expect(result.accepted).toBe(3);
    expect(result.rejected).toBe(6);
    expect(result.rejections).toEqual({
      'trace_id must be 16 bytes': 1,
      'trace_id is empty': 1,
      'span_id is empty': 1,
      'timestamp older than the 7-day hot retention': 2,
      'timestamp more than 1 h in the future': 1,
    });
    expect(result.message).toBe(
      '6 spans rejected: 2 timestamp older than the 7-day hot retention; 1 span_id is empty; ' +
        '1 timestamp more than 1 h in the future; 1 trace_id is empty; 1 trace_id must be 16 bytes',
    );
    expect(batchOf(result.batches, 'otel_traces').columns.SpanName).toEqual(['ok-1', 'ok-2', 'ok-3']);
  });

  it('returns no batch when every span is rejected, and says so in the singular', () => {
    const result = flatten({ tenant: TENANT, otlp: traces([span({ traceId: '' })]), receivedAtNs: RECV });
    expect(result.batches).toEqual([]);
    expect(result.message).toBe('1 span rejected: 1 trace_id is empty');
  });

  it('takes TenantId from the input, never from the payload', () => {
    const otlp = traces(
      [span({ attributes: [kv('TenantId', 'evil'), kv('tenant', 'evil')] })],
      [kv('service.name', 's'), kv('TenantId', 'evil'), kv('tenant.id', 'evil')],
    );
    const batch = batchOf(flatten({ tenant: 'acme', otlp, receivedAtNs: RECV }).batches, 'otel_traces');
    expect(batch.columns.TenantId).toEqual(['acme']);
  });

  it('uses "" for ServiceName without service.name, and the last of duplicate attribute keys', () => {
    const otlp = traces(
      [span({ attributes: [kv('k', 'first'), kv('k', 'last'), kv('none', undefined)] })],
      [],
    );
    const row = rowAt(
      batchOf(flatten({ tenant: TENANT, otlp, receivedAtNs: RECV }).batches, 'otel_traces'),
      0,
    );
    expect(row.ServiceName).toBe('');
    expect(row.SpanAttributes).toEqual({ k: 'last', none: '' });
  });

  it('caps attributes, events and links per span and counts what it cut', () => {
    const limits = resolveRowLimits({
      maxAttributesPerMap: 3,
      maxSpanEvents: 2,
      maxSpanLinks: 1,
      maxNameBytes: 4,
    });
    const ev = (name: string) => ({
      timeUnixNano: at(-990),
      name,
      attributes: [],
      droppedAttributesCount: 0,
    });
    const link = {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceState: '',
      attributes: [],
      droppedAttributesCount: 0,
      flags: 0,
    };
    const s = span({
      name: 'GET /users',
      attributes: [kv('a', '1'), kv('b', '2'), kv('c', '3'), kv('a', 'again'), kv('d', '4'), kv('e', '5')],
      events: [ev('one'), ev('two'), ev('three')],
      links: [link, link, link],
    });
    const warnings: unknown[] = [];
    const result = flatten(
      { tenant: TENANT, otlp: traces([s]), receivedAtNs: RECV },
      { limits, logger: { warn: (message, extra) => warnings.push({ message, extra }) } },
    );
    const row = rowAt(batchOf(result.batches, 'otel_traces'), 0);
    expect(row.SpanAttributes).toEqual({ a: 'again', b: '2', c: '3' });
    expect(row.SpanName).toBe('GET ');
    expect(row['Events.Name']).toEqual(['one', 'two']);
    expect(row['Links.SpanId']).toEqual(['b'.repeat(16)]);
    expect(result.rejected).toBe(0);
    // names: the span name, and the scope's name and version ('my.library', '1.0.0')
    expect(result.truncated).toMatchObject({ attributes: 2, spanEvents: 1, spanLinks: 2, names: 3 });
    expect(warnings).toEqual([
      {
        message: 'telemetry truncated to row limits',
        extra: expect.objectContaining({ tenant: TENANT, signal: 'traces' }),
      },
    ]);
  });

  it('redacts span, resource, event and link attributes and the status message', () => {
    const s = span({
      attributes: [kv('http.request.header.authorization', 'Bearer abc'), kv('user', 'jane@example.com')],
      events: [
        {
          timeUnixNano: at(-990),
          name: 'e',
          attributes: [kv('password', 'x'), kv('card', '4111 1111 1111 1111')],
          droppedAttributesCount: 0,
        },
      ],
      links: [
        {
          traceId: 'a'.repeat(32),
          spanId: 'b'.repeat(16),
          traceState: '',
          attributes: [kv('Cookie', 'sid=1')],
          droppedAttributesCount: 0,
          flags: 0,
        },
      ],
      status: { code: 2, message: 'payment 4111-1111-1111-1111 declined' },
    });
    const otlp = traces([s], [kv('service.name', 'svc'), kv('aws.key', 'AKIAIOSFODNN7EXAMPLE')]);
    const result = flatten({ tenant: TENANT, otlp, receivedAtNs: RECV });
    const row = rowAt(batchOf(result.batches, 'otel_traces'), 0);
    expect(row.SpanAttributes).toEqual({ user: expect.stringMatching(/^sha256:[0-9a-f]{16}$/) });
    expect(row['Events.Attributes']).toEqual([{ card: '[REDACTED:card]' }]);
    expect(row['Links.Attributes']).toEqual([{}]);
    expect(row.StatusMessage).toBe('payment [REDACTED:card] declined');
    expect(row.ResourceAttributes).toEqual({
      'service.name': 'svc',
      'aws.key': '[REDACTED:aws_access_key_id]',
    });
    expect(result.redacted).toEqual({
      droppedKeys: 3,
      matches: { card: 2, email: 1, aws_access_key_id: 1 },
    });
  });

  it('redacts before it truncates, so a cut never leaves part of a card number in clear', () => {
    const limits = resolveRowLimits({ maxAttributeValueBytes: 20 });
    const s = span({
      attributes: [kv('note', 'paid with 4111 1111 1111 1111 today'), kv('__proto__', 'kept')],
    });
    const row = rowAt(
      batchOf(
        flatten({ tenant: TENANT, otlp: traces([s]), receivedAtNs: RECV }, { limits }).batches,
        'otel_traces',
      ),
      0,
    );
    expect(Object.keys(row.SpanAttributes as object)).toEqual(['note', '__proto__']);
    expect((row.SpanAttributes as Record<string, string>).note).toBe('paid with [REDACTED:');
    // An own key, not the prototype: it survives JSON serialisation into the envelope.
    expect(JSON.stringify(row.SpanAttributes)).toBe('{"note":"paid with [REDACTED:","__proto__":"kept"}');
  });

  it('applies a custom redaction config instead of the defaults', () => {
    const redactor = compileRedaction({
      dropKeys: ['internal.id'],
      patterns: [{ name: 'ticket', regex: 'TICKET-\\d+', action: 'replace' }],
    });
    const s = span({
      attributes: [kv('internal.id', '1'), kv('password', 'kept'), kv('note', 'see TICKET-42')],
    });
    const row = rowAt(
      batchOf(
        flatten({ tenant: TENANT, otlp: traces([s]), receivedAtNs: RECV }, { redactor }).batches,
        'otel_traces',
      ),
      0,
    );
    expect(row.SpanAttributes).toEqual({ password: 'kept', note: 'see [REDACTED:ticket]' });
  });
});

describe('flatten logs', () => {
  it('maps a log record to an otel_logs row as the Collector exporter does', () => {
    const rec = logRecord({
      flags: 0x101,
      eventName: 'user.login',
      body: val({
        t: 'kvlist',
        v: [kv('b', 1), kv('a', val({ t: 'array', v: [val('x'), val(true), val(1.5)] }))],
      }),
    });
    const result = flatten({ tenant: TENANT, otlp: logs([rec]), receivedAtNs: RECV });
    expect(result).toMatchObject({ accepted: 1, rejected: 0 });
    const batch = batchOf(result.batches, 'otel_logs');
    expect(Object.keys(batch.columns)).toEqual(payloadColumns('otel_logs').map((c) => c.name));
    expect(rowAt(batch, 0)).toEqual({
      TenantId: 'acme',
      Timestamp: at(-1000),
      TraceId: '5b8efff798038103d269b633813fc60c',
      SpanId: 'eee19b7ec3c1b174',
      TraceFlags: 1,
      SeverityText: 'Information',
      SeverityNumber: 10,
      ServiceName: 'my.service',
      Body: '{"a":["x",true,1.5],"b":1}',
      ResourceSchemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
      ResourceAttributes: { 'service.name': 'my.service' },
      ScopeSchemaUrl: 'https://opentelemetry.io/schemas/1.25.0',
      ScopeName: 'my.library',
      ScopeVersion: '1.0.0',
      ScopeAttributes: { 'my.scope.attribute': 'some scope attribute' },
      LogAttributes: { 'string.attribute': 'some string' },
      EventName: 'user.login',
    });
  });

  it('stamps a record with its time, else its observed time, else the receive time', () => {
    const records = [
      logRecord({ timeUnixNano: at(-3), observedTimeUnixNano: at(-2) }),
      logRecord({ timeUnixNano: '0', observedTimeUnixNano: at(-2) }),
      logRecord({ timeUnixNano: '0', observedTimeUnixNano: '0' }),
    ];
    const result = flatten({ tenant: TENANT, otlp: logs(records), receivedAtNs: RECV });
    expect(result.rejected).toBe(0);
    expect(batchOf(result.batches, 'otel_logs').columns.Timestamp).toEqual([at(-3), at(-2), RECV]);
  });

  it('rejects records outside the time window and decoder-invalid ones, naming log records', () => {
    const records = [
      logRecord(),
      logRecord({ timeUnixNano: '0', observedTimeUnixNano: at(-30 * DAY_MS) }),
      logRecord({ timeUnixNano: at(90 * 60_000) }),
      logRecord({ invalid: 'body is not valid UTF-8' }),
    ];
    const result = flatten({ tenant: TENANT, otlp: logs(records), receivedAtNs: RECV });
    expect(result.accepted).toBe(1);
    expect(result.message).toBe(
      '3 log records rejected: 1 body is not valid UTF-8; 1 timestamp more than 1 h in the future; ' +
        '1 timestamp older than the 7-day hot retention',
    );
  });

  it('caps a long body on a UTF-8 boundary and redacts it (including dropped kvlist keys)', () => {
    const limits = resolveRowLimits({ maxLogBodyBytes: 10 });
    const records = [
      logRecord({ body: val('ab€€€€') }), // 2 + 4×3 bytes: cut after the 2nd € (8 bytes)
      logRecord({ body: val({ t: 'kvlist', v: [kv('password', 'hunter2'), kv('u', 'x')] }) }),
      logRecord({ body: val('mail a@b.io') }),
      logRecord({ body: undefined }),
    ];
    const result = flatten({ tenant: TENANT, otlp: logs(records), receivedAtNs: RECV }, { limits });
    const bodies = batchOf(result.batches, 'otel_logs').columns.Body ?? [];
    expect(bodies[0]).toBe('ab€€');
    expect(bodies[1]).toBe('{"u":"x"}');
    expect(bodies[2]).toMatch(/^mail sha2/);
    expect(bodies[3]).toBe('');
    expect(result.truncated.logBodies).toBe(2);
  });
});

describe('flatten metrics', () => {
  const exemplar = {
    filteredAttributes: [kv('host', 'h1')],
    timeUnixNano: at(-1500),
    value: 7,
    spanId: 'eee19b7ec3c1b174',
    traceId: '5b8efff798038103d269b633813fc60c',
  };
  const request = metrics([
    metric('my.gauge', { type: 'gauge', dataPoints: [numberPoint({ value: Number.NaN })] }),
    metric('my.counter', {
      type: 'sum',
      aggregationTemporality: 2,
      isMonotonic: true,
      dataPoints: [
        numberPoint({ value: 5, exemplars: [exemplar] }),
        numberPoint({ value: Number.POSITIVE_INFINITY, timeUnixNano: '0' }),
      ],
    }),
    metric('my.histogram', {
      type: 'histogram',
      aggregationTemporality: 1,
      dataPoints: [histogramPoint(), histogramPoint({ sum: undefined, min: undefined, max: undefined })],
    }),
    metric('my.exp', { type: 'exponential_histogram', aggregationTemporality: 2, dataPoints: [expPoint()] }),
    metric('my.summary', { type: 'summary', dataPoints: [summaryPoint()] }),
    metric('no.data', undefined),
  ]);
  const result = flatten({ tenant: TENANT, otlp: request, receivedAtNs: RECV });

  it('writes one row per data point into the table of its type', () => {
    expect(result).toMatchObject({ accepted: 7, rejected: 0 });
    expect(result.batches.map((b) => [b.table, b.rowCount])).toEqual([
      ['otel_metrics_gauge', 1],
      ['otel_metrics_sum', 2],
      ['otel_metrics_histogram', 2],
      ['otel_metrics_exponential_histogram', 1],
      ['otel_metrics_summary', 1],
    ]);
    for (const b of result.batches) {
      expect(Object.keys(b.columns)).toEqual(payloadColumns(b.table).map((c) => c.name));
    }
  });

  it('maps a sum point with its exemplars and the common metric columns', () => {
    expect(rowAt(batchOf(result.batches, 'otel_metrics_sum'), 0)).toEqual({
      TenantId: 'acme',
      ResourceAttributes: { 'service.name': 'my.service' },
      ResourceSchemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
      ScopeName: 'my.library',
      ScopeVersion: '1.0.0',
      ScopeAttributes: { 'my.scope.attribute': 'some scope attribute' },
      ScopeDroppedAttrCount: 0,
      ScopeSchemaUrl: '',
      ServiceName: 'my.service',
      MetricName: 'my.counter',
      MetricDescription: 'my.counter description',
      MetricUnit: '1',
      Attributes: { 'my.counter.attr': 'some value' },
      StartTimeUnix: at(-60_000),
      TimeUnix: at(-1000),
      Value: 5,
      Flags: 0,
      'Exemplars.FilteredAttributes': [{ host: 'h1' }],
      'Exemplars.TimeUnix': [at(-1500)],
      'Exemplars.Value': [7],
      'Exemplars.SpanId': ['eee19b7ec3c1b174'],
      'Exemplars.TraceId': ['5b8efff798038103d269b633813fc60c'],
      AggregationTemporality: 2,
      IsMonotonic: true,
    });
  });

  it('writes non-finite values as strings and clamps a zero point time to the receive time', () => {
    expect(batchOf(result.batches, 'otel_metrics_gauge').columns.Value).toEqual(['NaN']);
    const sum = batchOf(result.batches, 'otel_metrics_sum');
    expect(sum.columns.Value).toEqual([5, 'Infinity']);
    expect(sum.columns.TimeUnix).toEqual([at(-1000), RECV]);
  });

  it('maps histogram, exponential histogram and summary points (absent sum/min/max as 0)', () => {
    const h = batchOf(result.batches, 'otel_metrics_histogram');
    expect(h.columns.Sum).toEqual([2, 0]);
    expect(h.columns.Min).toEqual([0, 0]);
    expect(h.columns.Max).toEqual([2, 0]);
    expect(h.columns.Count).toEqual([2, 2]);
    expect(h.columns.BucketCounts).toEqual([
      [1, 1],
      [1, 1],
    ]);
    expect(h.columns.ExplicitBounds).toEqual([[1], [1]]);
    expect(h.columns.AggregationTemporality).toEqual([1, 1]);
    const e = rowAt(batchOf(result.batches, 'otel_metrics_exponential_histogram'), 0);
    expect(e).toMatchObject({
      Count: 3,
      Sum: 10,
      Scale: 2,
      ZeroCount: 1,
      PositiveOffset: 1,
      PositiveBucketCounts: [1, 1],
      NegativeOffset: -2,
      NegativeBucketCounts: [],
      Min: 1,
      Max: 5,
      AggregationTemporality: 2,
    });
    const s = rowAt(batchOf(result.batches, 'otel_metrics_summary'), 0);
    expect(s).toMatchObject({
      Count: 4,
      Sum: 10.5,
      'ValueAtQuantiles.Quantile': [0.5, 0.99],
      'ValueAtQuantiles.Value': [2, 4.5],
      Flags: 0,
    });
  });

  it('rejects points outside the time window and counts data points', () => {
    const r = flatten({
      tenant: TENANT,
      receivedAtNs: RECV,
      otlp: metrics([
        metric('g', {
          type: 'gauge',
          dataPoints: [
            numberPoint(),
            numberPoint({ timeUnixNano: at(-10 * DAY_MS) }),
            numberPoint({ invalid: 'unknown flags' }),
          ],
        }),
      ]),
    });
    expect(r.accepted).toBe(1);
    expect(r.message).toBe(
      '2 data points rejected: 1 timestamp older than the 7-day hot retention; 1 unknown flags',
    );
  });
});
