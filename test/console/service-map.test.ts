import { describe, expect, it } from 'vitest';
import { type MapSpanInput, quantile, serviceGraph } from '../../console/src/lib/service-map.js';

const s = (
  spanId: string,
  parentSpanId: string,
  serviceName: string,
  durationMs = 1,
  error = false,
): MapSpanInput => ({
  spanId,
  parentSpanId,
  serviceName,
  durationMs,
  status: { code: error ? 'STATUS_CODE_ERROR' : 'STATUS_CODE_OK' },
});

describe('service map from spans', () => {
  it('draws an edge parent -> child for each span whose parent belongs to another service', () => {
    const g = serviceGraph([
      [
        s('1', '', 'frontend', 100),
        s('2', '1', 'frontend', 90), // same service: no edge
        s('3', '2', 'checkout', 80),
        s('4', '3', 'payments', 30, true),
        s('5', '3', 'payments', 10),
        s('6', '3', 'checkout', 5),
      ],
    ]);
    expect(g.edges).toEqual([
      {
        parent: 'checkout',
        child: 'payments',
        calls: 2,
        errors: 1,
        errorRatio: 0.5,
        p50Ms: 10,
        p95Ms: 30,
        p99Ms: 30,
      },
      {
        parent: 'frontend',
        child: 'checkout',
        calls: 1,
        errors: 0,
        errorRatio: 0,
        p50Ms: 80,
        p95Ms: 80,
        p99Ms: 80,
      },
    ]);
    expect(g.nodes).toEqual([
      { service: 'checkout', spans: 2, errors: 0 },
      { service: 'frontend', spans: 2, errors: 0 },
      { service: 'payments', spans: 2, errors: 1 },
    ]);
  });

  it('looks parents up within each trace only, ignores missing parents, and counts a duplicated span once', () => {
    const g = serviceGraph([
      [s('1', '', 'a'), s('2', '1', 'b'), s('2', '1', 'b')],
      [s('1', '', 'c'), s('3', 'gone', 'b')],
    ]);
    expect(g.edges.map((e) => `${e.parent}->${e.child}:${e.calls}`)).toEqual(['a->b:1']);
  });

  it('takes nearest-rank quantiles', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([quantile(v, 0.5), quantile(v, 0.95), quantile(v, 0.99), quantile(v, 1)]).toEqual([
      50, 95, 99, 100,
    ]);
    expect(quantile([], 0.5)).toBe(0);
  });
});
