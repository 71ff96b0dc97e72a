/**
 * Service-to-service edges from spans, as the service-map route defines them (console contract,
 * route 3): an edge parent -> child for every span of service `child` whose parent span belongs to
 * service `parent` != child, with the child span's duration as the call's latency. The trace view
 * draws its mini map from this; the map page falls back to it over a sample of traces.
 */

export interface MapSpanInput {
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly serviceName: string;
  readonly durationMs: number;
  readonly status: { readonly code: string };
}

export interface MapNode {
  readonly service: string;
  readonly spans: number;
  readonly errors: number;
}

export interface MapEdge {
  readonly parent: string;
  readonly child: string;
  readonly calls: number;
  readonly errors: number;
  readonly errorRatio: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
}

export interface ServiceGraph {
  readonly nodes: readonly MapNode[];
  readonly edges: readonly MapEdge[];
}

/** Nearest-rank quantile of sorted values (exact over the few calls a sample holds). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

const isError = (code: string) => code === 'STATUS_CODE_ERROR' || code === 'ERROR';

/**
 * Edges and nodes of spans from one or more traces. Span ids are looked up per trace, so pass
 * each trace's spans as its own array: ids are only unique within a trace.
 */
export function serviceGraph(traces: readonly (readonly MapSpanInput[])[]): ServiceGraph {
  const nodes = new Map<string, { spans: number; errors: number }>();
  const edges = new Map<string, { parent: string; child: string; errors: number; durations: number[] }>();
  for (const spans of traces) {
    const byId = new Map<string, MapSpanInput>();
    for (const s of spans) if (!byId.has(s.spanId)) byId.set(s.spanId, s);
    for (const s of byId.values()) {
      const n = nodes.get(s.serviceName) ?? { spans: 0, errors: 0 };
      n.spans++;
      if (isError(s.status.code)) n.errors++;
      nodes.set(s.serviceName, n);
      const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
      if (!parent || parent.serviceName === s.serviceName) continue;
      const key = `${parent.serviceName}\u0000${s.serviceName}`;
      const e = edges.get(key) ?? {
        parent: parent.serviceName,
        child: s.serviceName,
        errors: 0,
        durations: [],
      };
      e.durations.push(s.durationMs);
      if (isError(s.status.code)) e.errors++;
      edges.set(key, e);
    }
  }
  return {
    nodes: [...nodes.entries()]
      .map(([service, n]) => ({ service, ...n }))
      .sort((a, b) => a.service.localeCompare(b.service)),
    edges: [...edges.values()]
      .map((e) => {
        const sorted = [...e.durations].sort((a, b) => a - b);
        return {
          parent: e.parent,
          child: e.child,
          calls: sorted.length,
          errors: e.errors,
          errorRatio: e.errors / sorted.length,
          p50Ms: quantile(sorted, 0.5),
          p95Ms: quantile(sorted, 0.95),
          p99Ms: quantile(sorted, 0.99),
        };
      })
      .sort((a, b) => a.parent.localeCompare(b.parent) || a.child.localeCompare(b.child)),
  };
}
