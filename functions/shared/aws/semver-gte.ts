/**
 * Stands in for the `semver` package in the Lambda bundles only (an esbuild alias from
 * lib/lambda-bundling.ts). The Powertools Tracer's X-Ray SDK and its cls-hooked dependency use
 * one function of it, `gte`, on plain release versions (the Node.js version; the AWS SDK v2
 * version, which our functions never pass in), and the whole package was 28 KiB of a bundle with
 * a 500 KB budget (docs/decisions/0001-envelope-and-stream.md). Tests and local mode load the
 * real package.
 */

interface Parsed {
  readonly core: readonly [number, number, number];
  /** The pre-release identifiers ('1.2.3-rc.1' -> ['rc', '1']); empty for a release. */
  readonly pre: readonly string[];
}

// semver's loose form, as far as these callers need it: an optional 'v' or '=', build metadata ignored.
const VERSION = /^\s*[v=]?\s*(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\s*$/;

function parse(version: string): Parsed {
  const m = VERSION.exec(version);
  if (!m) throw new TypeError(`Invalid Version: ${version}`);
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] === undefined ? [] : m[4].split('.') };
}

/** Identifier order of semver 2.0.0 §11: numeric ones numerically and below alphanumeric ones. */
function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Number(a) - Number(b);
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compare(a: string, b: string): number {
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! < y.core[i]! ? -1 : 1;
  // A pre-release sorts before its release.
  if (x.pre.length === 0 || y.pre.length === 0) {
    if (x.pre.length === y.pre.length) return 0;
    return x.pre.length === 0 ? 1 : -1;
  }
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const c = compareIdentifiers(x.pre[i]!, y.pre[i]!);
    if (c !== 0) return c < 0 ? -1 : 1;
  }
  return Math.sign(x.pre.length - y.pre.length);
}

export function gte(a: string, b: string): boolean {
  return compare(a, b) >= 0;
}
