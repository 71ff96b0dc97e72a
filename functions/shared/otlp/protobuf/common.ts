import { OtlpDecodeError } from '../decode-error.js';
import { markAll } from '../decoded-defaults.js';
import type { AnyValue, InstrumentationScope, KeyValue, MaybeInvalid, Resource } from '../model.js';
import type { ProtoReader } from '../protobuf-reader.js';

export {
  EMPTY_RESOURCE,
  EMPTY_SCOPE,
  type Mutable,
  markAll,
  NO_BUCKETS,
  NO_STATUS,
} from '../decoded-defaults.js';

/**
 * The hand-written protobuf decoder for the OTLP export requests
 * (opentelemetry-proto collector/{trace,logs,metrics}/v1), one module per signal (./traces.ts,
 * ./logs.ts, ./metrics.ts) over the messages they share (this module). Each message decoder loops over
 * the tags of its byte range and switches on the whole tag, `field << 3 | wire type`, so a known
 * field with the expected wire type is one jump; everything else goes to `ProtoReader.skip`,
 * which rejects a known field with another wire type and skips unknown fields.
 *
 * Field numbers are those of the .proto files, noted beside each case as `field: name`.
 */

export const bits = (...fields: number[]): number => fields.reduce((m, f) => m | (1 << f), 0);

const KV_KNOWN = bits(1, 2);
export function keyValue(r: ProtoReader, end: number, depth: number): KeyValue {
  r.attribute();
  let key = '';
  let value: AnyValue | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: key
        key = r.string();
        break;
      case 18: // 2: value
        value = anyValue(r, r.lenEnd(), depth);
        break;
      default:
        r.skip(tag, KV_KNOWN, 'KeyValue');
    }
  }
  r.finish(end, 'KeyValue');
  return { key, value };
}

const ANY_KNOWN = bits(1, 2, 3, 4, 5, 6, 7);
export function anyValue(r: ProtoReader, end: number, depth: number): AnyValue | undefined {
  let value: AnyValue | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: string_value
        value = { t: 'string', v: r.string() };
        break;
      case 16: // 2: bool_value
        value = { t: 'bool', v: r.bool() };
        break;
      case 24: // 3: int_value
        value = { t: 'int', v: r.int64Decimal() };
        break;
      case 33: // 4: double_value
        value = { t: 'double', v: r.double() };
        break;
      case 42: // 5: array_value
        value = { t: 'array', v: arrayValue(r, r.lenEnd(), depth + 1) };
        break;
      case 50: // 6: kvlist_value
        value = { t: 'kvlist', v: kvlistValue(r, r.lenEnd(), depth + 1) };
        break;
      case 58: // 7: bytes_value
        value = { t: 'bytes', v: r.bytesCopy() };
        break;
      default:
        r.skip(tag, ANY_KNOWN, 'AnyValue');
    }
  }
  r.finish(end, 'AnyValue');
  return value;
}

function checkDepth(r: ProtoReader, depth: number): void {
  if (depth > r.maxDepth)
    throw new OtlpDecodeError(`attribute values nested deeper than ${r.maxDepth} levels`);
}

function arrayValue(r: ProtoReader, end: number, depth: number): AnyValue[] {
  checkDepth(r, depth);
  const values: AnyValue[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 10) {
      // 1: values. An element with no value has nothing to carry in the model: dropped.
      r.attribute();
      const v = anyValue(r, r.lenEnd(), depth);
      if (v !== undefined) values.push(v);
    } else r.skip(tag, 2, 'ArrayValue');
  }
  r.finish(end, 'ArrayValue');
  return values;
}

function kvlistValue(r: ProtoReader, end: number, depth: number): KeyValue[] {
  checkDepth(r, depth);
  const values: KeyValue[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 10)
      values.push(keyValue(r, r.lenEnd(), depth)); // 1: values
    else r.skip(tag, 2, 'KeyValueList');
  }
  r.finish(end, 'KeyValueList');
  return values;
}

const RESOURCE_KNOWN = bits(1, 2);
export function resource(r: ProtoReader, end: number): Resource {
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 16: // 2: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      default: // 3: entity_refs, not modelled
        r.skip(tag, RESOURCE_KNOWN, 'Resource');
    }
  }
  r.finish(end, 'Resource');
  return { attributes, droppedAttributesCount };
}

const SCOPE_KNOWN = bits(1, 2, 3, 4);
export function scope(r: ProtoReader, end: number): InstrumentationScope {
  let name = '';
  let version = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: name
        name = r.string();
        break;
      case 18: // 2: version
        version = r.string();
        break;
      case 26: // 3: attributes
        attributes.push(keyValue(r, r.lenEnd(), 0));
        break;
      case 32: // 4: dropped_attributes_count
        droppedAttributesCount = r.varint();
        break;
      default:
        r.skip(tag, SCOPE_KNOWN, 'InstrumentationScope');
    }
  }
  r.finish(end, 'InstrumentationScope');
  return { name, version, attributes, droppedAttributesCount };
}

/**
 * The Resource* and Scope* envelopes share one shape: a header message (field 1), repeated
 * children (field 2) and a schema_url (field 3). A problem in the header or schema_url belongs to
 * every item below it, which `items` lists once the envelope is read (fields may come in any order).
 */
export function envelope<H, C>(
  r: ProtoReader,
  end: number,
  message: string,
  empty: H,
  header: (r: ProtoReader, end: number) => H,
  child: (r: ProtoReader, end: number) => C,
  items: (children: C[]) => Iterable<readonly MaybeInvalid[]>,
): { header: H; schemaUrl: string; children: C[] } {
  r.attribute();
  const outer = r.problem;
  r.problem = undefined;
  let head = empty;
  let schemaUrl = '';
  const children: C[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: // 1: resource | scope
        head = header(r, r.lenEnd());
        break;
      case 18: // 2: scope_* | spans | log_records | metrics
        children.push(child(r, r.lenEnd()));
        break;
      case 26: // 3: schema_url
        schemaUrl = r.string();
        break;
      default:
        r.skip(tag, 0b1110, message);
    }
  }
  r.finish(end, message);
  if (r.problem !== undefined) for (const list of items(children)) markAll(list, r.problem);
  r.problem = outer;
  return { header: head, schemaUrl, children };
}

export function topLevel<T>(r: ProtoReader, message: string, child: (r: ProtoReader, end: number) => T): T[] {
  const out: T[] = [];
  while (r.pos < r.len) {
    const tag = r.varint();
    if (tag === 10)
      out.push(child(r, r.lenEnd())); // 1: resource_spans | resource_logs | resource_metrics
    else r.skip(tag, 2, message);
  }
  return out;
}
