/**
 * Percentiles of explicit-bucket histograms (OTLP `ExplicitBounds`/`BucketCounts`), estimated the
 * usual way: values spread evenly inside their bucket (linear interpolation). Bucket i holds
 * (bounds[i-1], bounds[i]]; the first bucket starts at the recorded minimum when there is one (else
 * at 0 for positive bounds, as Prometheus does), the last ends at the recorded maximum (else at the
 * last bound: nothing is known above it). Parts with different bounds (an instrument reconfigured
 * within a step) are summed as distributions: the result is the quantile of their mixture.
 */

export interface HistogramPart {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly min: number | null;
  readonly max: number | null;
}

interface Span {
  readonly lo: number;
  readonly hi: number;
  readonly count: number;
}

function spans(part: HistogramPart): Span[] {
  const { bounds, counts } = part;
  if (counts.length !== bounds.length + 1) return [];
  const first = bounds[0];
  const last = bounds[bounds.length - 1];
  const min = part.min !== null && Number.isFinite(part.min) ? part.min : null;
  const max = part.max !== null && Number.isFinite(part.max) ? part.max : null;
  const lo = first === undefined ? (min ?? max) : min !== null && min <= first ? min : Math.min(first, 0);
  const hi = last === undefined ? (max ?? min) : max !== null && max >= last ? max : last;
  if (lo === null || hi === null) return [];
  const out: Span[] = [];
  counts.forEach((count, i) => {
    if (!(count > 0)) return;
    const a = i === 0 ? lo : bounds[i - 1]!;
    const b = i === bounds.length ? hi : bounds[i]!;
    out.push({ lo: Math.min(a, b), hi: Math.max(a, b), count });
  });
  return out;
}

/** Cumulative count at x: `strict` counts point masses at x only when false (the right limit). */
function cdf(all: readonly Span[], x: number, strict: boolean): number {
  let n = 0;
  for (const s of all) {
    if (s.hi === s.lo) {
      if (strict ? s.lo < x : s.lo <= x) n += s.count;
    } else if (x >= s.hi) n += s.count;
    else if (x > s.lo) n += (s.count * (x - s.lo)) / (s.hi - s.lo);
  }
  return n;
}

/** The `q` quantile (0..1) of the parts together; null without any count. */
export function histogramQuantile(parts: readonly HistogramPart[], q: number): number | null {
  const all = parts.flatMap(spans);
  const total = all.reduce((n, s) => n + s.count, 0);
  if (total === 0) return null;
  const target = Math.min(1, Math.max(0, q)) * total;
  const edges = [...new Set(all.flatMap((s) => [s.lo, s.hi]))].sort((a, b) => a - b);
  let prevX = edges[0]!;
  let prevF = cdf(all, prevX, false);
  if (target <= prevF) return prevX;
  for (const x of edges.slice(1)) {
    const before = cdf(all, x, true);
    if (target <= before) {
      // F is linear between two consecutive edges.
      return before === prevF ? x : prevX + ((x - prevX) * (target - prevF)) / (before - prevF);
    }
    const at = cdf(all, x, false);
    if (target <= at) return x;
    prevX = x;
    prevF = at;
  }
  return edges[edges.length - 1]!;
}
