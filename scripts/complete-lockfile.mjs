#!/usr/bin/env node
/**
 * Adds lock entries for platform-specific optional packages that npm left out of package-lock.json.
 *
 * Why: npm writes a platform package into the lock only if it can fetch its manifest. Where the
 * registry in reach lacks the packages of other platforms (these machines see linux-x64 ones only),
 * the lock misses them, and `npm ci` then refuses the lock as "out of sync" (npm/cli#4828 family).
 * Each added entry carries the package's os/cpu/libc, so npm skips it on other platforms and
 * installs it on its own. Run after any `npm install` that rewrites the lock:
 *   node scripts/complete-lockfile.mjs
 */
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix'];
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'];
const LIBC = { musl: 'musl', gnu: 'glibc' };

/** os/cpu/libc from a name such as @biomejs/cli-linux-x64-musl; undefined if it names no platform. */
function platformOf(name) {
  const tokens = name.split('/').pop().split('-');
  const os = tokens.find((t) => OS.includes(t));
  const cpu = tokens.find((t) => CPU.includes(t));
  if (!os || !cpu) return undefined;
  const libc = tokens.map((t) => LIBC[t]).find(Boolean);
  return { os: [os], cpu: [cpu], ...(libc && { libc: [libc] }) };
}

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
const added = [];
for (const [key, pkg] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(pkg.optionalDependencies ?? {})) {
    const nested = `${key ? `${key}/` : ''}node_modules/${name}`;
    if (packages[nested] || packages[`node_modules/${name}`]) continue;
    const platform = platformOf(name);
    if (!platform || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) {
      console.warn(`left alone: ${name}@${spec} (not an exact platform package)`);
      continue;
    }
    packages[`node_modules/${name}`] = {
      version: spec,
      ...platform,
      ...(pkg.dev && { dev: true }),
      optional: true,
    };
    added.push(`${name}@${spec}`);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length ? `added ${added.length} platform entries:\n  ${added.join('\n  ')}` : 'lock file complete',
);
