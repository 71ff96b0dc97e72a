import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { S3Client } from '@aws-sdk/client-s3';
import type { ClickHouseClient } from '@clickhouse/client';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import {
  clickHouseClientProvider,
  clickHouseSourceFromEnv,
} from '../shared/clickhouse/secrets-manager-client.js';
import { ClickHouseTelemetryWriter, type ClickHouseWriterOptions } from '../shared/clickhouse/writer.js';
import type { DeadLetterSink } from '../shared/dead-letter/dead-letter.js';
import { S3DeadLetterSink } from '../shared/dead-letter/s3-dead-letter-sink.js';
import { hotWriterConfig } from './config.js';
import { consumeKinesisRecords } from './consumer.js';

/**
 * The hot-writer Lambda: Kinesis batches (ESM with ReportBatchItemFailures) into ClickHouse.
 * Wiring only; the rules live in consumer.ts and ../shared/clickhouse/writer.ts.
 */

export interface HotWriterDeps {
  /** The ClickHouse client, resolved per invocation (cached by the provider). */
  readonly clickhouse: () => Promise<ClickHouseClient>;
  readonly deadLetters: DeadLetterSink | (() => DeadLetterSink);
  readonly writer?: ClickHouseWriterOptions;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

export function createHotWriterHandler(deps: HotWriterDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();
  let deadLetters: DeadLetterSink | undefined;

  const lambdaHandler = async (
    event: KinesisStreamEvent,
    _context: Context,
  ): Promise<KinesisStreamBatchResponse> => {
    deadLetters ??= typeof deps.deadLetters === 'function' ? deps.deadLetters() : deps.deadLetters;
    const client = await deps.clickhouse();
    const writer = new ClickHouseTelemetryWriter(client, deps.writer);
    const outcome = await consumeKinesisRecords(event.Records, { writer, deadLetters });

    const failures = outcome.response.batchItemFailures.length;
    metrics.addMetric('Records', MetricUnit.Count, outcome.records);
    metrics.addMetric('RecordsDeadLettered', MetricUnit.Count, outcome.deadLettered);
    metrics.addMetric('RecordsRetried', MetricUnit.Count, failures);
    if (outcome.write) {
      const { stats } = outcome.write;
      metrics.addMetric('RowsInserted', MetricUnit.Count, stats.rowsInserted);
      metrics.addMetric('RowsAlreadyWritten', MetricUnit.Count, stats.rowsAlreadyWritten);
      metrics.addMetric('RowsExpired', MetricUnit.Count, stats.rowsExpired);
    }
    const fields = {
      records: outcome.records,
      deadLettered: outcome.deadLettered,
      retried: failures,
      ...outcome.write?.stats,
    };
    if (failures > 0) {
      logger.error('records not written; reported for redelivery', {
        ...fields,
        errors: outcome.errors.map(
          (e) => `${e.name}: ${e.message}${e.cause ? ` (cause: ${String(e.cause)})` : ''}`,
        ),
      });
    } else if (outcome.deadLettered > 0) {
      logger.warn('records dead-lettered', fields);
    } else {
      logger.debug('batch written', fields);
    }
    return outcome.response;
  };

  return middy(lambdaHandler)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}

/** Production dependencies from the environment, read on the first invocation. */
export function depsFromConfig(): HotWriterDeps {
  const tracer = new Tracer();
  let clickhouse: (() => Promise<ClickHouseClient>) | undefined;
  return {
    logger: new Logger(),
    metrics: new Metrics(),
    tracer,
    clickhouse: () => {
      clickhouse ??= clickHouseClientProvider(clickHouseSourceFromEnv(hotWriterConfig()));
      return clickhouse();
    },
    deadLetters: () =>
      new S3DeadLetterSink(tracer.captureAWSv3Client(new S3Client({})), hotWriterConfig().DEAD_LETTER_BUCKET),
    get writer(): ClickHouseWriterOptions {
      const config = hotWriterConfig();
      // The client's own database setting qualifies the tables: no database here.
      return { hotRetentionDays: config.HOT_RETENTION_DAYS, attempts: config.CLICKHOUSE_INSERT_ATTEMPTS };
    },
  };
}

export const handler = createHotWriterHandler(depsFromConfig());
