/**
 * `npx tsx bench/faults.ts [name filter…] [--quick]`: runs the fault matrix of local mode
 * (test/local/faults-scenarios.ts) and prints it as a Markdown table: per scenario the items sent,
 * acknowledged, stored in each tier, lost and duplicated (see docs/reliability.md). Each scenario
 * starts `bin/local.ts` in a temporary data directory; the full-disk one mounts a tmpfs (root).
 * --quick runs the byte-identical resend only; --verbose prints what local mode printed.
 */

import { runMatrixScenario, SCENARIOS } from '../test/local/faults-scenarios.js';
import { formatMatrix, type MatrixRow } from '../test/local/faults-support.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const verbose = args.includes('--verbose');
const filters = args.filter((a) => !a.startsWith('--'));
const chosen = SCENARIOS.filter((s, i) =>
  quick ? i === 0 : filters.length === 0 || filters.some((f) => s.name.includes(f)),
);

const rows: MatrixRow[] = [];
for (const scenario of chosen) {
  const t0 = performance.now();
  try {
    const { row, output, seconds } = await runMatrixScenario(scenario);
    rows.push(row);
    if (verbose) console.error(output);
    console.error(
      `${scenario.name}: ${((performance.now() - t0) / 1000).toFixed(0)} s ${JSON.stringify(seconds)}`,
    );
  } catch (e) {
    console.error(`${scenario.name}: failed: ${(e as Error).message.slice(0, 4000)}`);
    rows.push({
      scenario: scenario.name,
      sent: 0,
      acknowledged: 0,
      storedHot: 0,
      storedLake: 0,
      lostHot: 0,
      lostLake: 0,
      duplicatedHot: 0,
      duplicatedLake: 0,
      quarantined: 0,
      notes: `scenario failed: ${(e as Error).message.split('\n')[0]}`,
    });
  }
}
console.log(formatMatrix(rows));
process.exit(0);
