import { defineConfig } from 'vitest/config';

// chdb binds one data directory per process, and the emulators keep state in-process:
// every test file runs in its own forked worker with its own temporary directories.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    allowOnly: false,
  },
});
