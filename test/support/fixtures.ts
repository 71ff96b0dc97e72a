import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** ../shared/fixtures beside the repository (see ../shared/fixtures/README.md); never copied in. */
export const FIXTURES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/fixtures');

export function fixture(relativePath: string): Buffer {
  return readFileSync(join(FIXTURES_DIR, relativePath));
}

export function fixtureNames(relativeDir: string): string[] {
  return readdirSync(join(FIXTURES_DIR, relativeDir)).sort();
}
