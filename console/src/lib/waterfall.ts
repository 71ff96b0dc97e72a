/**
 * The trace view's geometry, kept apart from the DOM so it can be tested: the span tree in
 * display order, each span's bar relative to the trace start, clock-skew correction between
 * services, and the critical path.
 */

/** The fields of a query API span (functions/shared/query/schemas.ts SpanSchema) the layout uses. */
export interface WaterfallSpanInput {
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly serviceName: string;
  readonly name: string;
  /** Nanoseconds since the epoch, decimal string (exceeds a double's exact range). */
  readonly startTimeUnixNano: string;
  readonly durationNanos: string;
  readonly status: { readonly code: string };
}

export interface WaterfallRow<S extends WaterfallSpanInput = WaterfallSpanInput> {
  readonly span: S;
  readonly depth: number;
  /** Start as drawn, ms after the trace start (after any skew shift). */
  readonly startMs: number;
  readonly durationMs: number;
  readonly error: boolean;
  /** The parent id names no span of this trace (not yet arrived, or dropped): drawn as a root. */
  readonly missingParent: boolean;
  /**
   * How far this span (with its subtree) was moved to sit inside its parent, in ms: a child of
   * another service that started before its parent or ended after it had a clock skewed against
   * the parent's host. 0 when drawn as recorded.
   */
  readonly skewShiftMs: number;
  readonly hasChildren: boolean;
}

export interface Waterfall<S extends WaterfallSpanInput = WaterfallSpanInput> {
  readonly rows: readonly WaterfallRow<S>[];
  /** From the earliest drawn start to the latest drawn end, ms. */
  readonly totalMs: number;
  /** Epoch ms of the drawn time 0 (the earliest recorded start unless skew moved that span). */
  readonly traceStartMs: number;
  readonly services: readonly string[];
  /** The critical path: per span, the parts of its bar during which nothing it waited for was running. */
  readonly criticalPath: readonly CriticalSegment[];
}

export interface CriticalSegment {
  readonly spanId: string;
  readonly startMs: number;
  readonly endMs: number;
}

const isError = (s: WaterfallSpanInput) => s.status.code === 'STATUS_CODE_ERROR' || s.status.code === 'ERROR';

function nanos(s: string): bigint {
  try {
    return BigInt(s);
  } catch {
    return 0n;
  }
}

interface Node<S> {
  readonly span: S;
  start: number;
  readonly duration: number;
  readonly children: Node<S>[];
  missingParent: boolean;
  shift: number;
}

function shiftSubtree<S>(node: Node<S>, by: number): void {
  node.start += by;
  for (const c of node.children) shiftSubtree(c, by);
}

/**
 * Lays out one trace. Children follow their parent, ordered by start; spans whose parent is not
 * in the trace become roots (flagged). A child of another service that does not fit inside its
 * parent is moved, with its subtree, to the middle of the parent (or to its start, when longer):
 * the two hosts' clocks disagree, and the parent's bounds are the only evidence of when the child
 * really ran. A child of the same service is drawn as recorded (async work may outlive a parent).
 */
export function layoutWaterfall<S extends WaterfallSpanInput>(spans: readonly S[]): Waterfall<S> {
  if (spans.length === 0) return { rows: [], totalMs: 0, traceStartMs: 0, services: [], criticalPath: [] };
  let min = nanos(spans[0]!.startTimeUnixNano);
  for (const s of spans) {
    const n = nanos(s.startTimeUnixNano);
    if (n < min) min = n;
  }
  const nodes = new Map<string, Node<S>>();
  for (const s of spans) {
    if (nodes.has(s.spanId)) continue; // a duplicate delivery of the same span: draw it once
    nodes.set(s.spanId, {
      span: s,
      start: Number(nanos(s.startTimeUnixNano) - min) / 1e6,
      duration: Math.max(0, Number(nanos(s.durationNanos)) / 1e6),
      children: [],
      missingParent: false,
      shift: 0,
    });
  }
  const roots: Node<S>[] = [];
  for (const node of nodes.values()) {
    const parent = node.span.parentSpanId ? nodes.get(node.span.parentSpanId) : undefined;
    if (parent && parent !== node && !isAncestor(node, parent, nodes)) parent.children.push(node);
    else {
      node.missingParent = node.span.parentSpanId !== '' && parent === undefined;
      roots.push(node);
    }
  }
  const order = (a: Node<S>, b: Node<S>) => a.start - b.start || a.span.name.localeCompare(b.span.name);
  roots.sort(order);

  // Skew: top-down, so a parent is in its final place before its children are fitted into it.
  const fitInto = (parent: Node<S>) => {
    for (const child of parent.children) {
      const outside =
        child.start < parent.start || child.start + child.duration > parent.start + parent.duration;
      if (outside && child.span.serviceName !== parent.span.serviceName) {
        const target =
          child.duration <= parent.duration
            ? parent.start + (parent.duration - child.duration) / 2
            : parent.start;
        const by = target - child.start;
        shiftSubtree(child, by);
        child.shift += by;
      }
      fitInto(child);
    }
    parent.children.sort(order);
  };
  for (const r of roots) fitInto(r);

  const rows: WaterfallRow<S>[] = [];
  const visit = (node: Node<S>, depth: number) => {
    rows.push({
      span: node.span,
      depth,
      startMs: node.start,
      durationMs: node.duration,
      error: isError(node.span),
      missingParent: node.missingParent,
      skewShiftMs: node.shift,
      hasChildren: node.children.length > 0,
    });
    for (const c of node.children) visit(c, depth + 1);
  };
  for (const r of roots) visit(r, 0);

  // A shift can move the earliest span, or a subtree before it: time 0 is the earliest drawn bar.
  const first = Math.min(...rows.map((r) => r.startMs));
  const drawn = first !== 0 ? rows.map((r) => ({ ...r, startMs: r.startMs - first })) : rows;
  if (first !== 0) for (const n of nodes.values()) n.start -= first;
  const totalMs = Math.max(...drawn.map((r) => r.startMs + r.durationMs), 0);
  const main = roots.reduce((a, b) => (b.duration > a.duration ? b : a));
  return {
    rows: drawn,
    totalMs,
    traceStartMs: Number(min / 1_000_000n) + first,
    services: [...new Set(drawn.map((r) => r.span.serviceName))],
    criticalPath: criticalPath(main),
  };
}

function isAncestor<S extends WaterfallSpanInput>(
  candidate: Node<S>,
  of: Node<S>,
  nodes: ReadonlyMap<string, Node<S>>,
): boolean {
  // Guards against parent cycles in bad data: walking up from `of` must never reach `candidate`.
  const seen = new Set<string>();
  let cur: Node<S> | undefined = of;
  while (cur && !seen.has(cur.span.spanId)) {
    if (cur === candidate) return true;
    seen.add(cur.span.spanId);
    cur = cur.span.parentSpanId ? nodes.get(cur.span.parentSpanId) : undefined;
  }
  return false;
}

/**
 * The critical path from `root`: walking back from the span's end, the child that finished last
 * (before the cursor) is what the span was waiting for; its own critical path comes next, and the
 * gaps between such children are the span's own time. Segments are returned in time order.
 */
function criticalPath<S extends WaterfallSpanInput>(root: Node<S>): CriticalSegment[] {
  const out: CriticalSegment[] = [];
  const walk = (node: Node<S>, endCap: number) => {
    const start = node.start;
    let cursor = Math.min(node.start + node.duration, endCap);
    const children = node.children
      .map((c) => ({ c, end: Math.min(c.start + c.duration, cursor) }))
      .filter((x) => x.c.start < cursor && x.c.start + x.c.duration > start)
      .sort((a, b) => b.end - a.end);
    for (const { c, end } of children) {
      if (c.start >= cursor) continue;
      const childEnd = Math.min(end, cursor);
      if (childEnd < cursor) out.push({ spanId: node.span.spanId, startMs: childEnd, endMs: cursor });
      walk(c, childEnd);
      cursor = Math.max(start, c.start);
      if (cursor <= start) break;
    }
    if (cursor > start) out.push({ spanId: node.span.spanId, startMs: start, endMs: cursor });
  };
  walk(root, Number.POSITIVE_INFINITY);
  return out.sort((a, b) => a.startMs - b.startMs);
}
