import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCompactorHandler } from '../../../functions/compactor/handler.js';
import { writeToLake } from '../../../functions/shared/lake/lake-writer.js';
import { lambdaContext } from '../../../local/lambda-context.js';
import { decoded, type LakeHarness, queryObjects, records, startLake } from '../shared/lake/support.js';
import { sampleTraces } from '../shared/parquet/sample-rows.js';

let lake: LakeHarness;
beforeAll(async () => {
  lake = await startLake();
});
afterAll(async () => {
  await lake.close();
});

const scheduled = {
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  time: '2026-11-23T14:00:00Z',
} as unknown as ScheduledEvent;
const context = lambdaContext({
  functionName: 'compactor',
  requestId: 'req-1',
});

describe('compactor handler', () => {
  it('publishes closed hours on its schedule so the Glue table path holds every staged row', async () => {
    for (let b = 0; b < 3; b++) {
      const recs = records('k1', 'traces', [[sampleTraces(30, { tenant: 'k1', seed: b })]], {
        firstSeq: BigInt(b) * 100n + 1n,
      });
      await writeToLake(lake.store, decoded(recs));
    }
    const handler = createCompactorHandler({
      store: lake.store,
      config: { COMPACTION_TARGET_BYTES: 128 * 1024 * 1024, COMPACTION_GRACE_MINUTES: 90 },
      // Late enough that both the hour and the files' own write times are past the grace.
      now: () => new Date(Date.now() + 24 * 3_600_000),
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'test', serviceName: 'compactor' }),
      tracer: new Tracer({ enabled: false }),
    });

    const result = await handler(scheduled, context);

    expect(result).toMatchObject({ partitions: 1, consumed: 3, rows: 90 });
    const [count] = await queryObjects(
      lake.store,
      lake.dir,
      'otel_traces/tenant=k1/dt=2026-11-23/hour=10/',
      'SELECT count(*)::INTEGER AS n FROM {files}',
    );
    expect(count).toEqual({ n: 90 });
    expect(await lake.store.list('staging/')).toEqual([]);
  });

  it('quarantines an unreadable staging file, publishes the rest and counts it in the alarmed metric', async () => {
    const written = [];
    for (let b = 0; b < 2; b++) {
      const recs = records('k2', 'traces', [[sampleTraces(30, { tenant: 'k2', seed: 10 + b })]], {
        firstSeq: BigInt(b) * 100n + 1n,
      });
      written.push(...(await writeToLake(lake.store, decoded(recs))).files);
    }
    const broken = written[0]!;
    const whole = (await lake.store.get(broken))!;
    await lake.store.put(broken, whole.subarray(0, 1000));
    const metrics = new Metrics({ namespace: 'test', serviceName: 'compactor' });
    const added = vi.spyOn(metrics, 'addMetric');
    const handler = createCompactorHandler({
      store: lake.store,
      config: { COMPACTION_TARGET_BYTES: 128 * 1024 * 1024, COMPACTION_GRACE_MINUTES: 90 },
      now: () => new Date(Date.now() + 24 * 3_600_000),
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics,
      tracer: new Tracer({ enabled: false }),
    });

    const result = await handler(scheduled, context);

    expect(result).toMatchObject({ consumed: 1, rows: 30, failed: [], quarantined: [{ key: broken }] });
    expect(added).toHaveBeenCalledWith('LakeFilesQuarantined', 'Count', 1);
    expect(added).toHaveBeenCalledWith('CompactionPartitionsFailed', 'Count', 0);
    expect(await lake.store.list(`_quarantine/${broken}`)).toHaveLength(2);
  });
});
