import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import middy from '@middy/core';
import type { Context, KinesisStreamEvent, KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { observability } from '../../functions/shared/observability/middleware.js';
import { containerPerShard, shardOf } from '../../local/containers.js';
import { lambdaContext } from '../../local/lambda-context.js';

const batch = (shardId: string, n = 1): KinesisStreamEvent =>
  ({
    Records: Array.from({ length: n }, (_, i) => ({ eventID: `${shardId}:4968000000000000000${i}` })),
  }) as KinesisStreamEvent;

const finalWindow = (shardId: string) =>
  ({ Records: [], shardId, isFinalInvokeForWindow: true }) as unknown as KinesisStreamTumblingWindowEvent;

describe('shardOf', () => {
  it('reads the shard from a record id, or from a window event that holds no record', () => {
    expect(shardOf(batch('shardId-000000000001', 3))).toBe('shardId-000000000001');
    expect(shardOf(finalWindow('shardId-000000000002'))).toBe('shardId-000000000002');
    expect(() => shardOf({ Records: [] })).toThrow(/without records or shardId/);
  });
});

describe('containerPerShard', () => {
  it('makes one handler per shard on its first batch and keeps it', async () => {
    const made: string[][] = [];
    const handler = containerPerShard(() => {
      const seen: string[] = [];
      made.push(seen);
      return async (event: KinesisStreamEvent) => seen.push(shardOf(event));
    });
    const context = lambdaContext();
    for (const shard of ['s-0', 's-1', 's-0', 's-1', 's-0']) await handler(batch(shard), context);
    expect(made).toEqual([
      ['s-0', 's-0', 's-0'],
      ['s-1', 's-1'],
    ]);
  });

  describe('with the handlers Powertools metrics (POWERTOOLS_METRICS_DISABLED, as local mode runs)', () => {
    beforeEach(() => vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true'));
    afterEach(() => vi.unstubAllEnvs());

    /**
     * A consumer as ours are: a metric added while it works, flushed by the middleware after. Each
     * invocation returns only once both have added theirs: two batches in flight at once.
     */
    function consumer(warnings: string[], bothAdded: Promise<unknown>, added: () => void) {
      const metrics = new Metrics({
        namespace: 'test',
        serviceName: 'consumer',
        logger: { ...console, warn: (m: string) => warnings.push(m) },
      });
      const tracer = new Tracer({ serviceName: 'consumer', enabled: false });
      const logger = new Logger({ serviceName: 'consumer', logLevel: 'SILENT' });
      return middy(async (event: KinesisStreamEvent, _context: Context) => {
        metrics.addMetric('Records', MetricUnit.Count, event.Records.length);
        added();
        await bothAdded;
        return { batchItemFailures: [] };
      }).use(observability({ tracer, logger, metrics }));
    }

    /** Both shards' batches in flight at once, as the local pollers run them. */
    async function sideBySide(perShard: boolean): Promise<string[]> {
      const warnings: string[] = [];
      let adds = 0;
      let release = () => {};
      const bothAdded = new Promise<void>((r) => {
        release = r;
      });
      const make = () => consumer(warnings, bothAdded, () => ++adds === 2 && release());
      const handler = perShard ? containerPerShard(make) : make();
      await Promise.all(['s-0', 's-1'].map((s) => handler(batch(s), lambdaContext())));
      return warnings;
    }

    it('publishes each invocation its own metrics: no "No application metrics" warning', async () => {
      expect(await sideBySide(true)).toEqual([]);
    });

    it('(the control: one handler for both shards warns, as local mode did)', async () => {
      const warnings = await sideBySide(false);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/No application metrics to publish/);
    });
  });
});
