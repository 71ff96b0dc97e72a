/**
 * `npm run bench`: runs every benchmark script in this folder, one after another, each in its own
 * process (so one's heap does not skew another's figures). `npm run bench -- --quick` passes
 * --quick to each for a fast smoke run. The A/B scripts (`*-ab.ts`) time this checkout against
 * another one, so they run only with `--baseline=<other checkout>` (e.g. made by
 * `git worktree add /tmp/base <rev>`), which is passed to them as their argument.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith('--'));
const baselineFlag = args.find((a) => a.startsWith('--baseline='));
const baseline = baselineFlag?.slice('--baseline='.length);
const flags = args.filter((a) => a.startsWith('--') && a !== baselineFlag);
const isAB = (f: string) => f.endsWith('-ab.ts');
const scripts = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'workload.ts'].includes(f) && !f.endsWith('.d.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

let failed = 0;
for (const script of scripts) {
  console.log(`\n=== ${script} ===`);
  if (isAB(script) && baseline === undefined) {
    console.log('skipped: an A/B script needs --baseline=<other checkout>');
    continue;
  }
  const scriptArgs = isAB(script) && baseline !== undefined ? [baseline, ...flags] : flags;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--expose-gc', join(here, script), ...scriptArgs],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
