import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The checkout this repository was cloned from, when that was a local path (a CI clone of the workspace). */
function originCheckout(): string | undefined {
  try {
    const url = execFileSync('git', ['config', '--get', 'remote.origin.url'], {
      cwd: REPO,
      encoding: 'utf8',
    }).trim();
    return url.startsWith('/') ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The OpenTelemetry example payloads, never copied in (see ../shared/fixtures/README.md): from
 * OTLP_FIXTURES_DIR, else ../shared/fixtures beside the repository, else beside the checkout it
 * was cloned from (a clean clone in a temporary directory).
 */
function fixturesDir(): string {
  const candidates = [process.env.OTLP_FIXTURES_DIR, join(REPO, '../shared/fixtures')].filter(
    (d): d is string => d !== undefined,
  );
  let found = candidates.find((d) => existsSync(d));
  if (found === undefined) {
    // Only now ask git (a process spawn) for the checkout this clone came from.
    const origin = originCheckout();
    if (origin !== undefined) candidates.push(join(origin, '../shared/fixtures'));
    found = candidates.find((d) => existsSync(d));
  }
  if (found === undefined) {
    throw new Error(`OTLP fixtures not found; looked in: ${candidates.join(', ')} (set OTLP_FIXTURES_DIR)`);
  }
  return found;
}

export const FIXTURES_DIR = fixturesDir();

export function fixture(relativePath: string): Buffer {
  return readFileSync(join(FIXTURES_DIR, relativePath));
}

export function fixtureNames(relativeDir: string): string[] {
  return readdirSync(join(FIXTURES_DIR, relativeDir)).sort();
}
