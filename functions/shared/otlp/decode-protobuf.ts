/**
 * The hand-written protobuf decoder for the OTLP export requests
 * (opentelemetry-proto collector/{trace,logs,metrics}/v1). Each message decoder loops over
 * the tags of its byte range and switches on the whole tag, `field << 3 | wire type`, so a known
 * field with the expected wire type is one jump; everything else goes to `ProtoReader.skip`,
 * which rejects a known field with another wire type and skips unknown fields.
 *
 * Field numbers are those of the .proto files, noted beside each case as `field: name`.
 */
export { decodeLogsProtobuf } from './protobuf/logs.js';
export { decodeMetricsProtobuf } from './protobuf/metrics.js';
export { decodeTracesProtobuf } from './protobuf/traces.js';
