import { buildConsoleSync, CONSOLE_DIST, consoleIsStale } from '../scripts/build-console.js';

/**
 * The console's files must exist before the console function is defined (they are copied into
 * its package): built here, synchronously, when console/src is newer than console/dist, so
 * `cdk synth` and `cdk deploy` need no separate step.
 */
export function ensureConsoleBuiltSync(): string {
  if (consoleIsStale()) buildConsoleSync();
  return CONSOLE_DIST;
}
