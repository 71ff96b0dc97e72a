import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { PIPELINE_METRICS } from '../shared/costs/pipeline-metrics.js';
import type { DeadLetter, DeadLetterSink } from '../shared/dead-letter/dead-letter.js';
import { S3DeadLetterSink } from '../shared/dead-letter/s3-dead-letter-sink.js';
import { EnvelopeError, unpackEnvelope } from '../shared/envelope/envelope.js';
import { type DecodedRecord, writeToLake } from '../shared/lake/lake-writer.js';
import type { ObjectStore } from '../shared/lake/object-store.js';
import { S3ObjectStore } from '../shared/lake/s3-object-store.js';
import { observability } from '../shared/observability/middleware.js';
import { type LakeConfig, lakeConfig } from './config.js';

/**
 * The lake-writer Lambda: a Kinesis batch of envelopes -> staging Parquet files (see
 * shared/lake/lake-writer.ts). Poison envelopes go to the dead-letter sink with their reason and
 * are not retried; a storage failure fails the invocation so the ESM retries the batch (bisecting
 * it), which the writer's sequence-range check makes safe.
 */

export interface LakeWriterPorts {
  readonly store: ObjectStore;
  readonly deadLetters: DeadLetterSink;
}

export interface LakeWriterHandlerDeps {
  /** The ports, or a function building them on the first event (keeps imports free of AWS env). */
  readonly ports: LakeWriterPorts | (() => LakeWriterPorts);
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

export const DEAD_LETTER_SOURCE = 'lake-writer';

/** `shardId-000000000000:4959…` -> `shardId-000000000000`. */
function shardOf(record: KinesisStreamRecord): string {
  const colon = record.eventID.indexOf(':');
  return colon > 0 ? record.eventID.slice(0, colon) : 'shardId-unknown';
}

export function createLakeWriterHandler(deps: LakeWriterHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();
  let ports: LakeWriterPorts | undefined;
  const getPorts = () => {
    ports ??= typeof deps.ports === 'function' ? deps.ports() : deps.ports;
    return ports;
  };

  const lambdaHandler = async (
    event: KinesisStreamEvent,
    context: Context,
  ): Promise<KinesisStreamBatchResponse> => {
    const { store, deadLetters } = getPorts();
    const decoded: DecodedRecord[] = [];
    const letters: DeadLetter[] = [];

    const recordHandler = async (record: KinesisStreamRecord): Promise<void> => {
      const data = Buffer.from(record.kinesis.data, 'base64');
      const shardId = shardOf(record);
      const sequenceNumber = record.kinesis.sequenceNumber;
      try {
        const envelope = unpackEnvelope(data);
        decoded.push({
          shardId,
          sequenceNumber,
          arrivalMs: Math.round(record.kinesis.approximateArrivalTimestamp * 1000),
          envelope,
        });
      } catch (err) {
        // Retrying cannot fix a record that is not a valid envelope: keep it, with the reason.
        if (!(err instanceof EnvelopeError)) throw err;
        letters.push({ source: DEAD_LETTER_SOURCE, reason: err.message, shardId, sequenceNumber, data });
      }
    };

    const processor = new BatchProcessor(EventType.KinesisDataStreams);
    const response = await processPartialResponse(event, recordHandler, processor, {
      context,
      processInParallel: false,
    });

    // A failed record is retried from its sequence number on: write only what precedes the first
    // failure (a file's sequence range must not span a record it lacks), report the rest as failed.
    const failed = response.batchItemFailures.map((f) => BigInt(f.itemIdentifier));
    let toWrite = decoded;
    if (failed.length > 0) {
      let firstFailed = failed[0]!;
      for (const f of failed) if (f < firstFailed) firstFailed = f;
      toWrite = decoded.filter((r) => BigInt(r.sequenceNumber) < firstFailed);
      const reported = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      for (const r of decoded) {
        if (BigInt(r.sequenceNumber) >= firstFailed && !reported.has(r.sequenceNumber)) {
          response.batchItemFailures.push({ itemIdentifier: r.sequenceNumber });
        }
      }
    }

    if (letters.length > 0) {
      await deadLetters.put(letters);
      // The consumer's dead-letter alarm watches this one (lib/constructs/stream-consumer.ts).
      metrics.addMetric(PIPELINE_METRICS.deadLetters, MetricUnit.Count, letters.length);
      const byReason = metrics.singleMetric();
      byReason.addDimension('reason', 'undecodable');
      byReason.addMetric(PIPELINE_METRICS.deadLettersByReason, MetricUnit.Count, letters.length);
      logger.warn('envelopes dead-lettered', { count: letters.length, first: letters[0]?.reason });
    }

    const result = await writeToLake(store, toWrite);
    metrics.addMetric('LakeFilesWritten', MetricUnit.Count, result.files.length);
    metrics.addMetric('LakeRowsWritten', MetricUnit.Count, result.rowsWritten);
    if (result.rowsSkipped > 0)
      metrics.addMetric('LakeRowsAlreadyWritten', MetricUnit.Count, result.rowsSkipped);
    if (result.replaced.length > 0) {
      // An earlier attempt left incomplete files (see quarantine.ts); their records are rewritten.
      metrics.addMetric(PIPELINE_METRICS.lakeFilesReplaced, MetricUnit.Count, result.replaced.length);
      logger.warn('incomplete staging files rewritten', { files: result.replaced });
    }
    logger.debug('lake batch written', {
      records: event.Records.length,
      files: result.files.length,
      rowsWritten: result.rowsWritten,
      rowsSkipped: result.rowsSkipped,
    });
    return response;
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

/**
 * The lake writer's one composition, from the validated config and an S3 client (the default one
 * in Lambda, s3rver's locally), built on the first event.
 */
export function depsFromConfig(config: () => LakeConfig = lakeConfig, s3?: S3Client): LakeWriterHandlerDeps {
  const tracer = new Tracer();
  return {
    tracer,
    ports: () => {
      const c = config();
      const client = s3 ?? tracer.captureAWSv3Client(new S3Client({}));
      return {
        store: new S3ObjectStore(client, c.LAKE_BUCKET),
        deadLetters: new S3DeadLetterSink(client, c.DEAD_LETTER_BUCKET),
      };
    },
  };
}

export const handler = createLakeWriterHandler(depsFromConfig());
