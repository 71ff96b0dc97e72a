import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_DEPTH, decodeOtlp, OtlpDecodeError } from '../../../../functions/shared/otlp/decode.js';
import { bytesOf, logsOf, metricsOf, pb, spansOf } from './support.js';

const TRACE = '0102030405060708090a0b0c0d0e0f10';
const SPAN = 'a1a2a3a4a5a6a7a8';
const BAD_UTF8 = [0x61, 0xc3, 0x28]; // 'a' then a broken two-byte sequence

/** ExportTraceServiceRequest with one resource, one scope and the given spans (field lists). */
function traces(spans: number[][][], resource: number[][] = [], scope: number[][] = []): Uint8Array {
  return bytesOf(
    pb.msg(1, pb.msg(1, ...resource), pb.msg(2, pb.msg(1, ...scope), ...spans.map((s) => pb.msg(2, ...s)))),
  );
}

const okSpan = (name: string): number[][] => [
  pb.bytes(1, pb.hex(TRACE)),
  pb.bytes(2, pb.hex(SPAN)),
  pb.string(5, name),
];

describe('protobuf decoder', () => {
  it('decodes an empty body as an empty request', () => {
    expect(decodeOtlp('traces', new Uint8Array(0), 'protobuf')).toEqual({
      signal: 'traces',
      request: { resourceSpans: [] },
    });
    expect(decodeOtlp('metrics', new Uint8Array(0), 'json')).toEqual({
      signal: 'metrics',
      request: { resourceMetrics: [] },
    });
  });

  it('reads every span field, with times beyond 2^53 exact', () => {
    const body = traces([
      [
        pb.bytes(1, pb.hex(TRACE)),
        pb.bytes(2, pb.hex(SPAN)),
        pb.string(3, 'k=v'),
        pb.bytes(4, pb.hex('b1b2b3b4b5b6b7b8')),
        pb.fixed32(16, 0x301),
        pb.string(5, 'GET /'),
        pb.varint(6, 2),
        pb.fixed64(7, 1_763_900_000_123_456_789n),
        pb.fixed64(8, 18_446_744_073_709_551_615n),
        pb.msg(9, pb.string(1, 'n'), pb.msg(2, pb.varint(3, -5))),
        pb.varint(10, 1),
        pb.msg(11, pb.fixed64(1, 5n), pb.string(2, 'exception'), pb.varint(4, 2)),
        pb.varint(12, 3),
        pb.msg(
          13,
          pb.bytes(1, pb.hex(TRACE)),
          pb.bytes(2, pb.hex(SPAN)),
          pb.string(3, 'x'),
          pb.fixed32(6, 1),
        ),
        pb.varint(14, 4),
        pb.msg(15, pb.string(2, 'boom'), pb.varint(3, 2)),
      ],
    ]);
    const [span] = spansOf(decodeOtlp('traces', body, 'protobuf'));
    expect(span).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      traceState: 'k=v',
      parentSpanId: 'b1b2b3b4b5b6b7b8',
      flags: 0x301,
      name: 'GET /',
      kind: 2,
      startTimeUnixNano: '1763900000123456789',
      endTimeUnixNano: '18446744073709551615',
      attributes: [{ key: 'n', value: { t: 'int', v: '-5' } }],
      droppedAttributesCount: 1,
      events: [{ timeUnixNano: '5', name: 'exception', attributes: [], droppedAttributesCount: 2 }],
      droppedEventsCount: 3,
      links: [
        {
          traceId: TRACE,
          spanId: SPAN,
          traceState: 'x',
          attributes: [],
          droppedAttributesCount: 0,
          flags: 1,
        },
      ],
      droppedLinksCount: 4,
      status: { code: 2, message: 'boom' },
    });
  });

  it('reads every AnyValue kind, including int64 extremes and bytes', () => {
    const kv = (key: string, ...value: number[][]) => pb.msg(9, pb.string(1, key), pb.msg(2, ...value));
    const body = traces([
      [
        kv('s', pb.string(1, 'héllo ✓')),
        kv('b', pb.varint(2, 1)),
        kv('max', pb.varint(3, 9_223_372_036_854_775_807n)),
        kv('min', pb.varint(3, -9_223_372_036_854_775_808n)),
        kv('d', pb.double(4, -0.5)),
        kv('a', pb.msg(5, pb.msg(1, pb.varint(3, 1)), pb.msg(1), pb.msg(1, pb.string(1, 'x')))),
        kv('m', pb.msg(6, pb.msg(1, pb.string(1, 'k'), pb.msg(2, pb.varint(2, 0))))),
        kv('y', pb.bytes(7, [0, 255, 16])),
        pb.msg(9, pb.string(1, 'none')),
      ],
    ]);
    const [span] = spansOf(decodeOtlp('traces', Buffer.from(body), 'protobuf'));
    expect(span?.attributes).toEqual([
      { key: 's', value: { t: 'string', v: 'héllo ✓' } },
      { key: 'b', value: { t: 'bool', v: true } },
      { key: 'max', value: { t: 'int', v: '9223372036854775807' } },
      { key: 'min', value: { t: 'int', v: '-9223372036854775808' } },
      { key: 'd', value: { t: 'double', v: -0.5 } },
      // the empty element in the middle carries no value and is dropped
      {
        key: 'a',
        value: {
          t: 'array',
          v: [
            { t: 'int', v: '1' },
            { t: 'string', v: 'x' },
          ],
        },
      },
      { key: 'm', value: { t: 'kvlist', v: [{ key: 'k', value: { t: 'bool', v: false } }] } },
      { key: 'y', value: { t: 'bytes', v: new Uint8Array([0, 255, 16]) } },
      { key: 'none', value: undefined },
    ]);
    // A Buffer body must not leak Buffers (views of the request) into the model.
    const y = span?.attributes[7]?.value;
    expect(y?.t === 'bytes' && y.v.constructor).toBe(Uint8Array);
  });

  it('marks a span with an id of the wrong length invalid, keeps empty ids as ""', () => {
    const spans = spansOf(
      decodeOtlp(
        'traces',
        traces([
          [pb.bytes(1, [1, 2, 3]), pb.bytes(2, pb.hex(SPAN)), pb.string(5, 'short trace id')],
          [
            pb.bytes(1, pb.hex(TRACE)),
            pb.bytes(2, pb.hex(SPAN)),
            pb.bytes(4, [1]),
            pb.string(5, 'short parent'),
          ],
          [pb.bytes(1, []), pb.string(5, 'no ids')],
          [...okSpan('link'), pb.msg(13, pb.bytes(1, pb.hex(SPAN)))],
        ]),
        'protobuf',
      ),
    );
    expect(spans.map((s) => s.invalid)).toEqual([
      'trace_id must be 16 bytes',
      'parent_span_id must be 8 bytes',
      undefined,
      'links.trace_id must be 16 bytes',
    ]);
    expect(spans[1]?.name).toBe('short parent');
    expect(spans[2]).toMatchObject({ traceId: '', spanId: '', parentSpanId: '' });
  });

  it('marks only the item with invalid UTF-8; at resource or scope level, every item below', () => {
    const own = spansOf(
      decodeOtlp('traces', traces([okSpan('fine'), [...okSpan('x'), pb.bytes(5, BAD_UTF8)]]), 'protobuf'),
    );
    expect(own.map((s) => s.invalid)).toEqual([undefined, 'a string field is not valid UTF-8']);

    const inEvent = spansOf(
      decodeOtlp(
        'traces',
        traces([[...okSpan('x'), pb.msg(11, pb.bytes(2, BAD_UTF8))], okSpan('y')]),
        'protobuf',
      ),
    );
    expect(inEvent.map((s) => s.invalid === undefined)).toEqual([false, true]);

    const resourceLevel = spansOf(
      decodeOtlp(
        'traces',
        traces([okSpan('a'), okSpan('b')], [pb.msg(1, pb.string(1, 'k'), pb.msg(2, pb.bytes(1, BAD_UTF8)))]),
        'protobuf',
      ),
    );
    expect(resourceLevel.map((s) => s.invalid)).toEqual([
      'a string field is not valid UTF-8',
      'a string field is not valid UTF-8',
    ]);

    // The scope's bad name comes after its spans on the wire: still applied to them.
    const body = bytesOf(
      pb.msg(1, pb.msg(2, pb.msg(2, ...okSpan('a')), pb.msg(1, pb.bytes(1, BAD_UTF8)))),
      pb.msg(1, pb.msg(2, pb.msg(2, ...okSpan('other resource')))),
    );
    expect(spansOf(decodeOtlp('traces', body, 'protobuf')).map((s) => s.invalid === undefined)).toEqual([
      false,
      true,
    ]);
  });

  it('marks log records and data points the same way', () => {
    const logs = logsOf(
      decodeOtlp(
        'logs',
        bytesOf(
          pb.msg(
            1,
            pb.msg(
              2,
              pb.msg(2, pb.fixed64(1, 1n), pb.msg(5, pb.bytes(1, BAD_UTF8))),
              pb.msg(2, pb.bytes(10, [1, 2])),
              pb.msg(2, pb.varint(2, 9), pb.string(3, 'INFO'), pb.string(12, 'evt'), pb.fixed32(8, 1)),
            ),
          ),
        ),
        'protobuf',
      ),
    );
    expect(logs.map((l) => l.invalid)).toEqual([
      'a string field is not valid UTF-8',
      'span_id must be 8 bytes',
      undefined,
    ]);
    expect(logs[2]).toMatchObject({ severityNumber: 9, severityText: 'INFO', eventName: 'evt', flags: 1 });

    const metricBody = (name: number[]) =>
      bytesOf(
        pb.msg(
          1,
          pb.msg(
            2,
            pb.msg(2, name, pb.msg(5, pb.msg(1, pb.double(4, 1)), pb.msg(1, pb.msg(5, pb.bytes(4, [9]))))),
          ),
        ),
      );
    const points = metricsOf(decodeOtlp('metrics', metricBody(pb.string(1, 'ok')), 'protobuf'))[0]?.data
      ?.dataPoints;
    expect(points?.map((p) => p.invalid)).toEqual([undefined, 'exemplars.span_id must be 8 bytes']);
    const badName = metricsOf(decodeOtlp('metrics', metricBody(pb.bytes(1, BAD_UTF8)), 'protobuf'))[0]?.data
      ?.dataPoints;
    expect(badName?.map((p) => p.invalid)).toEqual([
      'a string field is not valid UTF-8',
      'exemplars.span_id must be 8 bytes',
    ]);
  });

  it('reads every metric type, exemplars, packed and unpacked repeated fields alike', () => {
    const exemplar = pb.msg(
      8,
      pb.msg(7, pb.string(1, 'k'), pb.msg(2, pb.string(1, 'v'))),
      pb.fixed64(2, 7n),
      pb.fixed64(6, -3n),
      pb.bytes(4, pb.hex(SPAN)),
      pb.bytes(5, pb.hex(TRACE)),
    );
    const packed = [
      pb.bytes(6, [...new Uint8Array(new BigUint64Array([1n, 2n]).buffer)]),
      pb.bytes(7, [...new Uint8Array(new Float64Array([0.5]).buffer)]),
    ];
    const unpacked = [pb.fixed64(6, 1n), pb.fixed64(6, 2n), pb.double(7, 0.5)];
    const metric = (...fields: number[][]) => pb.msg(2, pb.string(1, 'm'), ...fields);
    const body = bytesOf(
      pb.msg(
        1,
        pb.msg(
          2,
          metric(pb.msg(9, pb.msg(1, pb.fixed64(4, 3n), ...packed, exemplar), pb.varint(2, 1))),
          metric(pb.msg(9, pb.msg(1, pb.fixed64(4, 3n), ...unpacked, exemplar), pb.varint(2, 1))),
          metric(
            pb.msg(
              10,
              pb.msg(
                1,
                pb.fixed64(4, 4n),
                pb.double(5, 9.5),
                pb.varint(6, 3), // sint32 zigzag: -2
                pb.fixed64(7, 1n),
                pb.msg(8, pb.varint(1, 4), pb.bytes(2, [1, 0x80, 0x01])),
                pb.msg(9, pb.varint(1, 1), pb.varint(2, 5)),
                pb.double(14, 0.001),
                pb.double(12, 0.1),
              ),
              pb.varint(2, 2),
            ),
          ),
          metric(
            pb.msg(
              11,
              pb.msg(
                1,
                pb.fixed64(4, 10n),
                pb.double(5, 55),
                pb.msg(6, pb.double(1, 0.5), pb.double(2, 5)),
                pb.varint(8, 1),
              ),
            ),
          ),
          metric(pb.msg(7, pb.msg(1, pb.fixed64(6, 42n)), pb.varint(2, 2), pb.varint(3, 1))),
          metric(pb.string(3, 'unit')),
        ),
      ),
    );
    const metrics = metricsOf(decodeOtlp('metrics', body, 'protobuf'));
    const hist = metrics[0]?.data;
    expect(hist).toEqual(metrics[1]?.data);
    expect(hist).toEqual({
      type: 'histogram',
      aggregationTemporality: 1,
      dataPoints: [
        {
          attributes: [],
          startTimeUnixNano: '0',
          timeUnixNano: '0',
          flags: 0,
          exemplars: [
            {
              filteredAttributes: [{ key: 'k', value: { t: 'string', v: 'v' } }],
              timeUnixNano: '7',
              value: -3,
              spanId: SPAN,
              traceId: TRACE,
            },
          ],
          count: 3,
          sum: undefined,
          bucketCounts: [1, 2],
          explicitBounds: [0.5],
          min: undefined,
          max: undefined,
        },
      ],
    });
    expect(metrics[2]?.data).toMatchObject({
      type: 'exponential_histogram',
      aggregationTemporality: 2,
      dataPoints: [
        {
          count: 4,
          sum: 9.5,
          scale: -2,
          zeroCount: 1,
          positive: { offset: 2, bucketCounts: [1, 128] },
          negative: { offset: -1, bucketCounts: [5] },
          zeroThreshold: 0.001,
          min: 0.1,
          max: undefined,
        },
      ],
    });
    expect(metrics[3]?.data).toMatchObject({
      type: 'summary',
      dataPoints: [{ count: 10, sum: 55, quantileValues: [{ quantile: 0.5, value: 5 }], flags: 1 }],
    });
    expect(metrics[4]?.data).toMatchObject({
      type: 'sum',
      isMonotonic: true,
      aggregationTemporality: 2,
      dataPoints: [{ value: 42 }],
    });
    expect(metrics[5]).toMatchObject({ name: 'm', data: undefined });
  });

  it('skips unknown fields of every wire type, groups included, at every level', () => {
    const unknown = [
      pb.varint(90, 7),
      pb.fixed64(91, 1n),
      pb.string(92, 'future'),
      pb.fixed32(93, 1),
      [...pb.tag(94, 3), ...pb.varint(1, 1), ...pb.tag(95, 3), ...pb.tag(95, 4), ...pb.tag(94, 4)],
    ];
    const plain = traces([okSpan('s')], [pb.msg(1, pb.string(1, 'k'))]);
    const extended = bytesOf(
      pb.msg(
        1,
        ...unknown,
        pb.msg(
          1,
          pb.msg(1, pb.string(1, 'k'), ...unknown),
          ...unknown,
          pb.msg(3, pb.string(1, 'entity ref')),
        ),
        pb.msg(2, pb.msg(1, ...unknown), pb.msg(2, ...okSpan('s'), ...unknown)),
      ),
      ...unknown,
    );
    expect(decodeOtlp('traces', extended, 'protobuf')).toEqual(decodeOtlp('traces', plain, 'protobuf'));
  });

  it.each([
    ['truncated length', bytesOf(pb.tag(1, 2), [10, 1, 2])],
    ['truncated varint', Uint8Array.from([8, 0x80])],
    ['varint over 10 bytes', Uint8Array.from([8, ...new Array(11).fill(0xff), 1])],
    ['known field with the wrong wire type', bytesOf(pb.varint(1, 1))],
    ['span name as a varint', traces([[pb.varint(5, 1)]])],
    ['wire type 7', Uint8Array.from([0x0f])],
    ['field number 0', Uint8Array.from([0x02, 0x00])],
    ['stray end-group', Uint8Array.from([0x7c])],
    ['unterminated group', bytesOf(pb.tag(90, 3), pb.varint(1, 1))],
    ['sub-message overrunning its parent', bytesOf([0x0a, 0x02, 0x0a, 0x05, 1, 2, 3, 4, 5])],
    [
      'packed fixed64 of 7 bytes',
      bytesOf(pb.msg(1, pb.msg(2, pb.msg(2, pb.msg(9, pb.msg(1, pb.bytes(6, [1, 2, 3, 4, 5, 6, 7]))))))),
    ],
  ])('rejects %s with OtlpDecodeError', (_name, body) => {
    const signal = _name.startsWith('packed') ? 'metrics' : 'traces';
    expect(() => decodeOtlp(signal, body, 'protobuf')).toThrow(OtlpDecodeError);
  });

  it(`accepts attribute values nested ${DEFAULT_MAX_DEPTH} deep and rejects one level more`, () => {
    const nested = (levels: number): number[] => {
      let v = pb.string(1, 'leaf');
      for (let i = 0; i < levels; i++) v = pb.msg(5, pb.msg(1, v));
      return v;
    };
    const body = (levels: number) => traces([[pb.msg(9, pb.string(1, 'deep'), pb.msg(2, nested(levels)))]]);
    const [span] = spansOf(decodeOtlp('traces', body(DEFAULT_MAX_DEPTH), 'protobuf'));
    let v = span?.attributes[0]?.value;
    let depth = 0;
    while (v?.t === 'array') {
      depth++;
      v = v.v[0];
    }
    expect([depth, v]).toEqual([DEFAULT_MAX_DEPTH, { t: 'string', v: 'leaf' }]);
    expect(() => decodeOtlp('traces', body(DEFAULT_MAX_DEPTH + 1), 'protobuf')).toThrow(
      /nested deeper than 32 levels/,
    );
    expect(() => decodeOtlp('traces', body(3), 'protobuf', { maxDepth: 2 })).toThrow(OtlpDecodeError);
    expect(() => decodeOtlp('traces', body(300), 'protobuf')).toThrow(OtlpDecodeError);
  });
});
