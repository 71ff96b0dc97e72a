import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { PIPELINE_METRICS } from '../shared/costs/pipeline-metrics.js';
import { compactLake, type LakeCompaction } from '../shared/lake/compactor.js';
import type { ObjectStore } from '../shared/lake/object-store.js';
import { S3ObjectStore } from '../shared/lake/s3-object-store.js';
import { observability } from '../shared/observability/middleware.js';
import { type LakeConfig, lakeConfig } from './config.js';

/**
 * The compactor Lambda, on an hourly EventBridge schedule: publishes the staging files of closed
 * hours as large parts (see shared/lake/compactor.ts). Run it with reserved concurrency 1. A failed
 * run is simply repeated by the next one: every step is idempotent. Unreadable staging files are
 * quarantined and failing partitions reported (metrics below), so the run itself does not fail.
 */

export interface CompactorHandlerDeps {
  readonly store: ObjectStore | (() => ObjectStore);
  readonly config:
    | Pick<LakeConfig, 'COMPACTION_TARGET_BYTES' | 'COMPACTION_GRACE_MINUTES'>
    | (() => LakeConfig);
  readonly now?: () => Date;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

export function createCompactorHandler(deps: CompactorHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();
  const now = deps.now ?? (() => new Date());

  const lambdaHandler = async (_event: ScheduledEvent, _context: Context): Promise<LakeCompaction> => {
    const store = typeof deps.store === 'function' ? deps.store() : deps.store;
    const config = typeof deps.config === 'function' ? deps.config() : deps.config;
    const result = await compactLake(store, {
      now: now(),
      graceMs: config.COMPACTION_GRACE_MINUTES * 60_000,
      targetBytes: config.COMPACTION_TARGET_BYTES,
    });
    metrics.addMetric('PartsPublished', MetricUnit.Count, result.published.length);
    metrics.addMetric('StagingFilesConsumed', MetricUnit.Count, result.consumed);
    metrics.addMetric('RowsPublished', MetricUnit.Count, result.rows);
    // Both alarmed (compute stack): a quarantined file is data someone has to look at, a failed
    // partition is one the next run will retry.
    metrics.addMetric(PIPELINE_METRICS.lakeFilesQuarantined, MetricUnit.Count, result.quarantined.length);
    metrics.addMetric(PIPELINE_METRICS.compactionPartitionsFailed, MetricUnit.Count, result.failed.length);
    for (const q of result.quarantined) logger.error('staging file quarantined', { ...q });
    for (const f of result.failed) logger.error('partition not compacted', { ...f });
    logger.info('compaction done', {
      partitions: result.partitions,
      parts: result.published.length,
      consumed: result.consumed,
      rows: result.rows,
      duplicates: result.duplicates,
      quarantined: result.quarantined.length,
      failed: result.failed.length,
    });
    return result;
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

/**
 * The compactor's one composition, from the validated config and an S3 client (the default one in
 * Lambda, s3rver's locally); the store is made on the first run and kept by the warm instance.
 */
export function depsFromConfig(config: () => LakeConfig = lakeConfig, s3?: S3Client): CompactorHandlerDeps {
  const tracer = new Tracer();
  let store: ObjectStore | undefined;
  return {
    tracer,
    config,
    store: () => {
      store ??= new S3ObjectStore(s3 ?? tracer.captureAWSv3Client(new S3Client({})), config().LAKE_BUCKET);
      return store;
    },
  };
}

export const handler = createCompactorHandler(depsFromConfig());
