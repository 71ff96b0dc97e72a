import { afterAll, describe, expect, it } from 'vitest';
import { runMatrixScenario, SCENARIOS } from './faults-scenarios.js';
import { formatMatrix, type MatrixRow } from './faults-support.js';

/**
 * The fault matrix of local mode (issue #16; docs/reliability.md): each scenario starts
 * `bin/local.ts` in its own process and data directory, sends 2,000 spans with unique ids through
 * a client that retries as the OTLP/HTTP spec says, hurts the process one way (kill -9 at aimed
 * points, SIGSTOP past the client timeout, SIGTERM mid-batch, a full data disk, a byte-identical
 * resend), restarts it where it died, stops it gracefully and counts every span in ClickHouse
 * (chdb on the data directory) and in the lake as Athena sees it (the real compactor run over
 * s3rver's bucket, then DuckDB over the published parts only; quarantined files reported).
 *
 * The requirement: no acknowledged span lost and none stored twice, in either tier. The printed
 * table is the matrix of docs/reliability.md.
 */

const rows: MatrixRow[] = [];

describe('local mode under faults: acknowledged => stored exactly once in both tiers', () => {
  afterAll(() => {
    if (rows.length > 0) console.log(`\n${formatMatrix(rows)}\n`);
  });

  for (const scenario of SCENARIOS) {
    it(scenario.name, { timeout: 150_000 }, async () => {
      const { row, tiers } = await runMatrixScenario(scenario);
      rows.push(row);
      expect(row.sent).toBe(scenario.requests * scenario.spansPerRequest);
      // The client retries every request to an answer within the scenario: all are acknowledged.
      expect(row.acknowledged).toBe(row.sent);
      // The lake as Athena sees it: every staging file published by the compaction the reader ran.
      expect(tiers.unreadableObjects).toEqual([]);
      expect(tiers.compaction.failed).toEqual([]);
      expect(tiers.stagingLeft).toEqual([]);
      // A torn file is quarantined, and its records were rewritten (else they count as lost below).
      expect(row.quarantined).toBe(scenario.quarantines ?? 0);
      expect({ lostHot: row.lostHot, lostLake: row.lostLake }).toEqual({ lostHot: 0, lostLake: 0 });
      expect({ duplicatedHot: row.duplicatedHot, duplicatedLake: row.duplicatedLake }).toEqual({
        duplicatedHot: 0,
        duplicatedLake: 0,
      });
    });
  }
});
