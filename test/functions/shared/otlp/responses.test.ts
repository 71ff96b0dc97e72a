import {
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import { encodeExportResponse, encodeStatus } from '../../../../functions/shared/otlp/responses.js';
import { bytesOf, pb } from './support.js';

const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as unknown;

describe('response bodies', () => {
  it('full success is zero bytes in protobuf and {} in JSON', () => {
    expect(encodeExportResponse('traces', 'protobuf')).toEqual(new Uint8Array(0));
    expect(json(encodeExportResponse('logs', 'json'))).toEqual({});
  });

  it("partial success reads back through the SDK exporters' own response parsers", () => {
    const partial = { rejected: 3_000_000_000, message: '2 spans had invalid ids ✗' };
    expect(
      ProtobufTraceSerializer.deserializeResponse(encodeExportResponse('traces', 'protobuf', partial)),
    ).toEqual({
      partialSuccess: { rejectedSpans: 3_000_000_000, errorMessage: '2 spans had invalid ids ✗' },
    });
    expect(
      ProtobufLogsSerializer.deserializeResponse(
        encodeExportResponse('logs', 'protobuf', { rejected: 1, message: '' }),
      ),
    ).toMatchObject({ partialSuccess: { rejectedLogRecords: 1 } });
    expect(
      ProtobufMetricsSerializer.deserializeResponse(
        encodeExportResponse('metrics', 'protobuf', { rejected: 5, message: 'm' }),
      ),
    ).toMatchObject({ partialSuccess: { rejectedDataPoints: 5, errorMessage: 'm' } });
    expect(json(encodeExportResponse('metrics', 'json', { rejected: 5, message: 'bad' }))).toEqual({
      partialSuccess: { rejectedDataPoints: 5, errorMessage: 'bad' },
    });
    expect(json(encodeExportResponse('traces', 'json', { rejected: 0, message: 'warning only' }))).toEqual({
      partialSuccess: { errorMessage: 'warning only' },
    });
  });

  it('encodes google.rpc.Status', () => {
    expect(encodeStatus('protobuf', 3, 'bad request')).toEqual(
      bytesOf(pb.varint(1, 3), pb.string(2, 'bad request')),
    );
    expect(encodeStatus('protobuf', 0, '')).toEqual(new Uint8Array(0));
    expect(json(encodeStatus('json', 8, 'slow down'))).toEqual({ code: 8, message: 'slow down' });
  });
});
