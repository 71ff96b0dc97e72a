import { describe, expect, it } from 'vitest';
import { layoutWaterfall, type WaterfallSpanInput } from '../../console/src/lib/waterfall.js';

const T0 = 1_765_000_000_000_000_000n; // epoch ns, beyond a double's exact integers

function span(
  spanId: string,
  parentSpanId: string,
  startMs: number,
  durationMs: number,
  serviceName = 'api',
  error = false,
): WaterfallSpanInput {
  return {
    spanId,
    parentSpanId,
    serviceName,
    name: `op-${spanId}`,
    startTimeUnixNano: String(T0 + BigInt(Math.round(startMs * 1e6))),
    durationNanos: String(BigInt(Math.round(durationMs * 1e6))),
    status: { code: error ? 'STATUS_CODE_ERROR' : 'STATUS_CODE_UNSET' },
  };
}

const ids = (w: ReturnType<typeof layoutWaterfall>) =>
  w.rows.map((r) => `${'  '.repeat(r.depth)}${r.span.spanId}`);

describe('waterfall layout', () => {
  it('nests children under parents, each level ordered by start, whatever order the spans arrive in', () => {
    const w = layoutWaterfall([
      span('b', 'a', 10, 30),
      span('d', 'b', 12, 5),
      span('a', '', 0, 100),
      span('c', 'a', 5, 20),
      span('e', 'c', 6, 1),
    ]);
    expect(ids(w)).toEqual(['a', '  c', '    e', '  b', '    d']);
    expect(w.rows.find((r) => r.span.spanId === 'b')).toMatchObject({
      startMs: 10,
      durationMs: 30,
      hasChildren: true,
    });
    expect(w.totalMs).toBe(100);
    expect(w.traceStartMs).toBe(Number(T0 / 1_000_000n));
  });

  it('keeps nanosecond offsets exact at real epoch times', () => {
    const w = layoutWaterfall([
      { ...span('a', '', 0, 1), startTimeUnixNano: String(T0 + 1n) },
      { ...span('b', 'a', 0, 0.001), startTimeUnixNano: String(T0 + 1_001n) },
    ]);
    expect(w.rows.map((r) => r.startMs)).toEqual([0, 0.001]);
  });

  it('marks error spans', () => {
    const w = layoutWaterfall([span('a', '', 0, 10), span('b', 'a', 1, 2, 'db', true)]);
    expect(w.rows.map((r) => r.error)).toEqual([false, true]);
  });

  it('moves a child of another service that starts before its parent into the parent, with its subtree, and flags it', () => {
    // db's clock runs 50 ms behind api's: its span appears to start before the call that made it.
    const w = layoutWaterfall([
      span('a', '', 0, 100, 'api'),
      span('b', 'a', 20, 40, 'api'),
      span('c', 'b', -30, 20, 'db'),
      span('d', 'c', -25, 10, 'db'),
    ]);
    const c = w.rows.find((r) => r.span.spanId === 'c')!;
    const d = w.rows.find((r) => r.span.spanId === 'd')!;
    expect(c.skewShiftMs).toBe(60); // centred in b: 20 + (40 - 20) / 2 = 30 = -30 + 60
    expect(c.startMs).toBe(30);
    expect(d.startMs).toBe(35); // the subtree keeps its own timing relative to c
    expect(d.skewShiftMs).toBe(0); // same service as c: not skewed against it
    for (const r of w.rows) expect(r.startMs).toBeGreaterThanOrEqual(0);
  });

  it('moves a child of another service that ends after its parent, and aligns one longer than its parent to its start', () => {
    const w = layoutWaterfall([
      span('a', '', 0, 100, 'api'),
      span('b', 'a', 90, 30, 'db'),
      span('c', 'a', 10, 150, 'cache'),
    ]);
    const b = w.rows.find((r) => r.span.spanId === 'b')!;
    const c = w.rows.find((r) => r.span.spanId === 'c')!;
    expect(b).toMatchObject({ startMs: 35, skewShiftMs: -55 });
    expect(c).toMatchObject({ startMs: 0, skewShiftMs: -10 });
  });

  it('draws a same-service child outside its parent as recorded (async work may outlive the request)', () => {
    const w = layoutWaterfall([span('a', '', 0, 10, 'api'), span('b', 'a', 5, 50, 'api')]);
    expect(w.rows[1]).toMatchObject({ startMs: 5, skewShiftMs: 0 });
    expect(w.totalMs).toBe(55);
  });

  it('shows a span whose parent is not in the trace as a flagged root, and survives parent cycles', () => {
    const w = layoutWaterfall([
      span('a', '', 0, 10),
      span('x', 'missing', 2, 3),
      span('p', 'q', 1, 1),
      span('q', 'p', 1, 1),
      span('a', '', 0, 10), // the same span delivered twice
    ]);
    expect(w.rows).toHaveLength(4);
    expect(w.rows.find((r) => r.span.spanId === 'x')).toMatchObject({ depth: 0, missingParent: true });
    expect(new Set(w.rows.map((r) => r.span.spanId))).toEqual(new Set(['a', 'x', 'p', 'q']));
  });

  it('is empty for no spans', () => {
    expect(layoutWaterfall([])).toMatchObject({ rows: [], totalMs: 0, criticalPath: [] });
  });
});

describe('critical path', () => {
  const path = (w: ReturnType<typeof layoutWaterfall>) =>
    w.criticalPath.map((s) => `${s.spanId}:${s.startMs}-${s.endMs}`);

  it('follows sequential calls and gives the gaps between them to the parent', () => {
    const w = layoutWaterfall([span('a', '', 0, 100), span('b', 'a', 10, 30), span('c', 'a', 50, 40)]);
    expect(path(w)).toEqual(['a:0-10', 'b:10-40', 'a:40-50', 'c:50-90', 'a:90-100']);
  });

  it('of parallel calls, takes the one the parent waited for (the last to finish)', () => {
    const w = layoutWaterfall([
      span('a', '', 0, 100),
      span('slow', 'a', 10, 70),
      span('fast', 'a', 20, 40),
      span('deep', 'slow', 30, 40),
    ]);
    expect(path(w)).toEqual(['a:0-10', 'slow:10-30', 'deep:30-70', 'slow:70-80', 'a:80-100']);
    expect(w.criticalPath.some((s) => s.spanId === 'fast')).toBe(false);
  });

  it('covers the root exactly once from its start to its end', () => {
    const w = layoutWaterfall([
      span('a', '', 0, 100),
      span('b', 'a', 0, 100),
      span('c', 'b', 40, 80, 'api'), // ends after b (same service): capped at b's end
    ]);
    const total = w.criticalPath.reduce((n, s) => n + (s.endMs - s.startMs), 0);
    expect(total).toBe(100);
    expect(path(w)).toEqual(['b:0-40', 'c:40-100']);
  });
});
