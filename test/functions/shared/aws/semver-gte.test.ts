import { describe, expect, it } from 'vitest';
import { compare, gte } from '../../../../functions/shared/aws/semver-gte.js';

describe('the semver stand-in of the Lambda bundles', () => {
  it('answers the X-Ray SDK check on the running Node.js version', () => {
    expect(gte(process.versions.node, '8.0.0')).toBe(true);
    expect(gte('22.23.3', '2.7.0')).toBe(true);
    expect(gte('2.6.9', '2.7.0')).toBe(false);
  });

  it('orders versions as semver 2.0.0 does, pre-releases before their release', () => {
    // Ascending, each pair from semver.org §11 or an edge of it.
    const ordered = [
      '0.9.99',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.2.0',
      '1.10.0',
      '10.0.0',
    ];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        const a = ordered[i]!;
        const b = ordered[j]!;
        expect(compare(a, b), `${a} vs ${b}`).toBe(Math.sign(i - j));
        expect(gte(a, b), `${a} >= ${b}`).toBe(i >= j);
      }
    }
  });

  it('reads the loose forms the package reads and ignores build metadata', () => {
    expect(compare('v1.2.3', '1.2.3')).toBe(0);
    expect(compare('=1.2.3', ' 1.2.3 ')).toBe(0);
    expect(compare('1.2.3+build.5', '1.2.3')).toBe(0);
  });

  it('throws on what is not a version, as semver does', () => {
    expect(() => gte('latest', '1.0.0')).toThrow(/Invalid Version: latest/);
  });
});
