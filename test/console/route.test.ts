import { describe, expect, it } from 'vitest';
import { formatHash, parseHash } from '../../console/src/lib/route.js';

describe('console hash routes', () => {
  it('reads page, path and state from the hash', () => {
    expect(parseHash('#/traces/abc123?from=now-1h&to=now&service=checkout&minDurationMs=100')).toEqual({
      page: 'traces',
      rest: ['abc123'],
      params: { from: 'now-1h', to: 'now', service: 'checkout', minDurationMs: '100' },
    });
  });

  it('sends an empty or unknown hash to the services page', () => {
    expect(parseHash('')).toEqual({ page: 'services', rest: [], params: {} });
    expect(parseHash('#/nope/x')).toEqual({ page: 'services', rest: [], params: {} });
  });

  it('round-trips names that need escaping and drops empty parameters', () => {
    const hash = formatHash('services', ['cart service/v2'], { from: 'now-15m', q: 'a&b=c', severity: '' });
    expect(hash).toBe('#/services/cart%20service%2Fv2?from=now-15m&q=a%26b%3Dc');
    expect(parseHash(hash)).toEqual({
      page: 'services',
      rest: ['cart service/v2'],
      params: { from: 'now-15m', q: 'a&b=c' },
    });
  });
});
