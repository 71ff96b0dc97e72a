import type { AnyValue, KeyValue, OtlpRequest } from '../shared/otlp/model.js';

/**
 * What a request's resource and scope attributes multiply to once every row carries its own copy
 * (the hot tier's ResourceAttributes / ScopeAttributes columns): the characters of each resource's
 * and scope's attribute keys and values times the items under them, before truncation (an upper
 * bound of what is stored). Costs one pass over resources and scopes, none per item. Stops counting
 * once over `max` and returns the running total.
 */
export function expandedAttributeBytes(otlp: OtlpRequest, max: number): number {
  let total = 0;
  switch (otlp.signal) {
    case 'traces':
      for (const rs of otlp.request.resourceSpans) {
        const r = attributesSize(rs.resource.attributes);
        for (const ss of rs.scopeSpans) {
          total += (r + attributesSize(ss.scope.attributes)) * ss.spans.length;
          if (total > max) return total;
        }
      }
      return total;
    case 'logs':
      for (const rl of otlp.request.resourceLogs) {
        const r = attributesSize(rl.resource.attributes);
        for (const sl of rl.scopeLogs) {
          total += (r + attributesSize(sl.scope.attributes)) * sl.logRecords.length;
          if (total > max) return total;
        }
      }
      return total;
    case 'metrics':
      for (const rm of otlp.request.resourceMetrics) {
        const r = attributesSize(rm.resource.attributes);
        for (const sm of rm.scopeMetrics) {
          let points = 0;
          for (const m of sm.metrics) points += m.data?.dataPoints.length ?? 0;
          total += (r + attributesSize(sm.scope.attributes)) * points;
          if (total > max) return total;
        }
      }
      return total;
  }
}

function attributesSize(attributes: readonly KeyValue[]): number {
  let n = 0;
  for (const kv of attributes) n += kv.key.length + (kv.value === undefined ? 0 : valueSize(kv.value));
  return n;
}

function valueSize(v: AnyValue): number {
  switch (v.t) {
    case 'string':
    case 'int':
      return v.v.length;
    case 'bool':
      return 5;
    case 'double':
      return 24;
    case 'bytes':
      return Math.ceil((v.v.byteLength * 4) / 3);
    case 'array': {
      let n = 2;
      for (const x of v.v) n += valueSize(x) + 1;
      return n;
    }
    case 'kvlist':
      return 2 + attributesSize(v.v) + v.v.length * 4;
  }
}
