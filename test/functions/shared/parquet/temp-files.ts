import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** A temporary folder for the suite's files (removed after it); returns a writer of named files. */
export function tempFiles(prefix: string): (name: string, bytes: Uint8Array) => Promise<string> {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return async (name, bytes) => {
    const p = join(dir, name);
    await writeFile(p, bytes);
    return p;
  };
}
