import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_DEPTH, decodeOtlp, OtlpDecodeError } from '../../../../functions/shared/otlp/decode.js';
import { logsOf, metricsOf, spansOf } from './support.js';

const enc = (v: unknown): Uint8Array =>
  new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const TRACE = '0102030405060708090a0b0c0d0e0f10';
const SPAN = 'a1a2a3a4a5a6a7a8';
const b64 = (hex: string, pad = true) => {
  const s = Buffer.from(hex, 'hex').toString('base64');
  return pad ? s : s.replace(/=+$/, '');
};

const oneSpan = (span: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  enc({ resourceSpans: [{ scopeSpans: [{ spans: [span] }], ...extra }] });

describe('JSON decoder', () => {
  it('takes OTLP/JSON and the canonical mapping (snake_case, base64, enum names) to the same model', () => {
    const otlp = {
      resourceSpans: [
        {
          resource: {
            attributes: [{ key: 'service.name', value: { stringValue: 'cart' } }],
            droppedAttributesCount: 1,
          },
          schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
          scopeSpans: [
            {
              scope: { name: 'http', version: '1' },
              spans: [
                {
                  traceId: TRACE.toUpperCase(),
                  spanId: SPAN,
                  parentSpanId: '',
                  name: 'GET /',
                  kind: 2,
                  startTimeUnixNano: '1763900000123456789',
                  endTimeUnixNano: 1763900000,
                  attributes: [
                    { key: 'i', value: { intValue: 42 } },
                    { key: 'big', value: { intValue: '-9223372036854775808' } },
                    { key: 'nan', value: { doubleValue: 'NaN' } },
                    { key: 'bytes', value: { bytesValue: 'AP8Q' } },
                  ],
                  droppedEventsCount: 2,
                  events: [{ timeUnixNano: '5', name: 'e' }],
                  links: [{ traceId: TRACE, spanId: SPAN, flags: 256 }],
                  status: { code: 2, message: 'boom' },
                  flags: 769,
                },
              ],
            },
          ],
        },
      ],
    };
    const canonical = {
      resource_spans: [
        {
          resource: {
            attributes: [{ key: 'service.name', value: { string_value: 'cart' } }],
            dropped_attributes_count: 1,
          },
          schema_url: 'https://opentelemetry.io/schemas/1.26.0',
          scope_spans: [
            {
              scope: { name: 'http', version: '1' },
              spans: [
                {
                  trace_id: b64(TRACE),
                  span_id: b64(SPAN, false),
                  name: 'GET /',
                  kind: 'SPAN_KIND_SERVER',
                  start_time_unix_nano: '1763900000123456789',
                  end_time_unix_nano: '1763900000',
                  attributes: [
                    { key: 'i', value: { int_value: '42' } },
                    { key: 'big', value: { int_value: '-9223372036854775808' } },
                    { key: 'nan', value: { double_value: 'NaN' } },
                    { key: 'bytes', value: { bytes_value: 'AP8Q' } },
                  ],
                  dropped_events_count: 2,
                  events: [{ time_unix_nano: '5', name: 'e', future_field: { x: 1 } }],
                  links: [{ trace_id: b64(TRACE), span_id: b64(SPAN), flags: 256 }],
                  status: { code: 'STATUS_CODE_ERROR', message: 'boom' },
                  flags: 769,
                  unknownField: [1, 2, 3],
                },
              ],
            },
          ],
        },
      ],
    };
    const a = decodeOtlp('traces', enc(otlp), 'json');
    const b = decodeOtlp('traces', enc(canonical), 'json');
    expect(b).toEqual(a);
    const [span] = spansOf(a);
    expect(span).toMatchObject({
      traceId: TRACE,
      spanId: SPAN,
      kind: 2,
      startTimeUnixNano: '1763900000123456789',
      endTimeUnixNano: '1763900000',
      flags: 769,
      status: { code: 2, message: 'boom' },
      droppedEventsCount: 2,
    });
    expect(span?.invalid).toBeUndefined();
    expect(span?.attributes.map((kv) => kv.value)).toEqual([
      { t: 'int', v: '42' },
      { t: 'int', v: '-9223372036854775808' },
      { t: 'double', v: Number.NaN },
      { t: 'bytes', v: new Uint8Array([0, 255, 16]) },
    ]);
  });

  it('maps severity and temporality names, and reads int64 and double strings in metrics', () => {
    const [log] = logsOf(
      decodeOtlp(
        'logs',
        enc({
          resourceLogs: [
            {
              scopeLogs: [
                { logRecords: [{ severity_number: 'SEVERITY_NUMBER_WARN3', body: { kvlistValue: {} } }] },
              ],
            },
          ],
        }),
        'json',
      ),
    );
    expect(log).toMatchObject({ severityNumber: 15, body: { t: 'kvlist', v: [] }, timeUnixNano: '0' });

    const metrics = metricsOf(
      decodeOtlp(
        'metrics',
        enc({
          resourceMetrics: [
            {
              scopeMetrics: [
                {
                  metrics: [
                    {
                      name: 'h',
                      histogram: {
                        aggregation_temporality: 'AGGREGATION_TEMPORALITY_DELTA',
                        data_points: [
                          {
                            count: '3',
                            sum: '1.5',
                            bucket_counts: ['1', 2],
                            explicit_bounds: ['Infinity'],
                            min: 0,
                          },
                        ],
                      },
                    },
                    { name: 's', sum: { dataPoints: [{ asInt: '-7' }], isMonotonic: false } },
                  ],
                },
              ],
            },
          ],
        }),
        'json',
      ),
    );
    expect(metrics[0]?.data).toMatchObject({
      type: 'histogram',
      aggregationTemporality: 1,
      dataPoints: [
        { count: 3, sum: 1.5, bucketCounts: [1, 2], explicitBounds: [Number.POSITIVE_INFINITY], min: 0 },
      ],
    });
    expect(metrics[0]?.data?.dataPoints[0]).toMatchObject({ max: undefined });
    expect(metrics[1]?.data).toMatchObject({
      type: 'sum',
      dataPoints: [{ value: -7 }],
      aggregationTemporality: 0,
    });
  });

  it('marks items whose scalars, ids or enum names are bad; a bad resource field marks every item', () => {
    const spans = spansOf(
      decodeOtlp(
        'traces',
        enc({
          resourceSpans: [
            {
              scopeSpans: [
                {
                  spans: [
                    { traceId: TRACE, name: 7 },
                    { traceId: 'zz'.repeat(16) },
                    { spanId: b64(TRACE) },
                    { startTimeUnixNano: '-1' },
                    { startTimeUnixNano: '18446744073709551616' },
                    { kind: 'SERVER' },
                    { status: { code: 'STATUS_CODE_MAYBE' } },
                    { attributes: [{ key: 'x', value: { intValue: '1.5' } }] },
                    { droppedAttributesCount: -1 },
                    { name: 'fine', traceId: TRACE, spanId: SPAN },
                  ],
                },
              ],
            },
            { resource: { droppedAttributesCount: 'many' }, scopeSpans: [{ spans: [{}, {}] }] },
          ],
        }),
        'json',
      ),
    );
    expect(spans.map((s) => s.invalid)).toEqual([
      'name must be a string',
      'traceId must be 16 bytes (32 hex or 24 base64 characters)',
      'spanId must be 8 bytes (16 hex or 12 base64 characters)',
      'startTimeUnixNano must be an unsigned 64-bit integer',
      'startTimeUnixNano must be an unsigned 64-bit integer',
      'unknown span kind "SERVER"',
      'unknown status code "STATUS_CODE_MAYBE"',
      'intValue must be a 64-bit integer',
      'droppedAttributesCount must be an unsigned 32-bit integer',
      undefined,
      'resource.droppedAttributesCount must be an unsigned 32-bit integer',
      'resource.droppedAttributesCount must be an unsigned 32-bit integer',
    ]);
  });

  it('treats null as absent', () => {
    const [span] = spansOf(
      decodeOtlp(
        'traces',
        oneSpan(
          { traceId: null, name: null, attributes: null, status: null, events: [{ name: null }] },
          { resource: null },
        ),
        'json',
      ),
    );
    expect(span).toMatchObject({ traceId: '', name: '', attributes: [], status: { code: 0, message: '' } });
    expect(span?.invalid).toBeUndefined();
  });

  it.each([
    ['broken JSON', '{"resourceSpans": [', /malformed JSON/],
    ['a JSON array', '[]', /must be a JSON object/],
    ['a JSON string', '"x"', /must be a JSON object/],
    ['null', 'null', /must be a JSON object/],
    ['resourceSpans not an array', { resourceSpans: {} }, /resourceSpans must be a JSON array/],
    [
      'spans not an array',
      { resourceSpans: [{ scopeSpans: [{ spans: 'x' }] }] },
      /spans must be a JSON array/,
    ],
    [
      'a span that is a number',
      { resourceSpans: [{ scopeSpans: [{ spans: [1] }] }] },
      /must be a JSON object/,
    ],
    [
      'status as a string',
      { resourceSpans: [{ scopeSpans: [{ spans: [{ status: 'OK' }] }] }] },
      /status must be/,
    ],
    [
      'an attribute value as a string',
      { resourceSpans: [{ resource: { attributes: [{ key: 'k', value: 'v' }] } }] },
      /attribute value/,
    ],
    ['invalid UTF-8', Uint8Array.from([0x7b, 0xff, 0x7d]), /not valid UTF-8/],
  ])('rejects %s with OtlpDecodeError', (_name, body, message) => {
    const bytes = body instanceof Uint8Array ? body : enc(body);
    expect(() => decodeOtlp('traces', bytes, 'json')).toThrow(OtlpDecodeError);
    expect(() => decodeOtlp('traces', bytes, 'json')).toThrow(message);
  });

  it(`accepts attribute values nested ${DEFAULT_MAX_DEPTH} deep and rejects one level more`, () => {
    const nested = (levels: number) => {
      let v: unknown = { stringValue: 'leaf' };
      for (let i = 0; i < levels; i++) v = { arrayValue: { values: [v] } };
      return oneSpan({ attributes: [{ key: 'deep', value: v }] });
    };
    expect(spansOf(decodeOtlp('traces', nested(DEFAULT_MAX_DEPTH), 'json'))[0]?.invalid).toBeUndefined();
    expect(() => decodeOtlp('traces', nested(DEFAULT_MAX_DEPTH + 1), 'json')).toThrow(
      /nested deeper than 32/,
    );
    // Deep JSON in ignored fields is parsed but never walked.
    const deepIgnored = `{"resourceSpans":[],"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(decodeOtlp('traces', enc(deepIgnored), 'json')).toEqual({
      signal: 'traces',
      request: { resourceSpans: [] },
    });
  });
});

describe('JSON decoder: duplicated list keys', () => {
  const span = (id: string) => `{"traceId":"${TRACE}","spanId":"${id}","name":"n"}`;
  const decodeText = (s: string) => () => decodeOtlp('traces', enc(s), 'json');

  it.each([
    ['spans twice', `{"resourceSpans":[{"scopeSpans":[{"spans":[${span(SPAN)}],"spans":[${span(SPAN)}]}]}]}`],
    [
      'spans twice, pretty-printed (blanks and a newline after the colons)',
      `{"resourceSpans": [{"scopeSpans": [{"spans": \n\t [${span(SPAN)}], "spans":\r\n[]}]}]}`,
    ],
    [
      'a list, then the same key as null (the null is kept)',
      `{"resourceSpans":[{"scopeSpans":[{"spans":[${span(SPAN)}],"spans":null}]}]}`,
    ],
    [
      'events twice in a span, the second null',
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"events":[{"name":"a"}],"events":null}]}]}]}`,
    ],
  ])('%s: refused, naming the key', (_name, text) => {
    expect(decodeText(text)).toThrow(/duplicate key "(spans|events)" in one JSON object/);
  });

  it.each([
    [
      'a null list before the list (nothing is lost)',
      `{"resourceSpans":[{"scopeSpans":[{"spans":null,"spans":[${span(SPAN)}]}]}]}`,
    ],
    [
      'list keys and brackets inside strings',
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\\"spans\\": [\\"events\\":[ [","traceId":"${TRACE}"}]}]}]}`,
    ],
    [
      'a list key as a kvlist key',
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"spans","value":{"arrayValue":{"values":[]}}}]}]}]}]}`,
    ],
  ])('%s: decoded', (_name, text) => {
    expect(spansOf(decodeOtlp('traces', enc(text), 'json'))).toHaveLength(1);
  });
});
