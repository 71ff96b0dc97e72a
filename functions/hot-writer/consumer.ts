import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { KinesisStreamBatchResponse, KinesisStreamRecord } from 'aws-lambda';
import type {
  PositionedEnvelope,
  RejectionClass,
  StreamPosition,
  TelemetryWriter,
  WriteResult,
} from '../shared/clickhouse/writer.js';
import type { DeadLetter, DeadLetterSink } from '../shared/dead-letter/dead-letter.js';
import { EnvelopeError, positionEnvelopeId, unpackEnvelope } from '../shared/envelope/envelope.js';
import type { SamplingPlan, TraceSampler } from '../shared/sampling/clickhouse-trace-sampler.js';
import { type UsageRecord, type UsageSink, usageRecordOf } from '../shared/usage/usage.js';

/**
 * The hot writer's use-case: a Kinesis batch in, rows in ClickHouse, a partial-batch response out.
 *
 * - Each record is decoded on its own (Powertools BatchProcessor). An undecodable envelope goes to
 *   the dead-letter sink with its reason and the batch moves on; so does one whose rows do not fit
 *   the column model (the writer rejects it).
 * - The decoded envelopes are written together: one insert per table per batch.
 * - When ClickHouse fails, every record not yet fully written is reported in `batchItemFailures`
 *   (we do not throw). Lambda then checkpoints before the lowest of them and redelivers from there:
 *   already-written records ahead of it are not sent again, and poison records already dead-lettered
 *   are not dead-lettered twice. A thrown error would instead bisect the batch and redeliver all of it.
 * - A record is acknowledged only once it is in ClickHouse or in the dead-letter sink.
 */

export const DEAD_LETTER_SOURCE = 'hot-writer';

/** Why records were dead-lettered, as a metric dimension: a few fixed values. */
export type DeadLetterReasonClass = 'undecodable' | RejectionClass;

export interface HotWriterPorts {
  readonly writer: TelemetryWriter;
  readonly deadLetters: DeadLetterSink;
  /** Hot-tier sampling (ADR 0009); without it every span is written at weight 1. */
  readonly sampler?: TraceSampler;
  /** Where the requests' usage (on their first envelopes) is metered. @default none */
  readonly usage?: UsageSink;
}

export interface HotWriterOutcome {
  readonly response: KinesisStreamBatchResponse;
  readonly records: number;
  readonly deadLettered: number;
  /** `deadLettered` by reason class. */
  readonly deadLetteredByReason: ReadonlyMap<DeadLetterReasonClass, number>;
  /** Undefined when the write phase was not reached (nothing decodable). */
  readonly write?: WriteResult;
  /** Why some records were reported as failures. */
  readonly errors: readonly Error[];
}

/** shardId and stream name of a Kinesis event record. */
export function recordPosition(record: KinesisStreamRecord): StreamPosition {
  const shardId = record.eventID.slice(0, record.eventID.lastIndexOf(':')) || 'unknown-shard';
  const arn = record.eventSourceARN;
  const stream = arn.slice(arn.lastIndexOf('/') + 1) || arn;
  return { stream, shardId, sequenceNumber: record.kinesis.sequenceNumber };
}

export async function consumeKinesisRecords(
  records: readonly KinesisStreamRecord[],
  ports: HotWriterPorts,
): Promise<HotWriterOutcome> {
  const decoded = new Map<string, PositionedEnvelope>();
  const usage = new Map<string, UsageRecord>();
  const raw = new Map<string, Uint8Array>();
  const errors: Error[] = [];
  let deadLettered = 0;
  const deadLetteredByReason = new Map<DeadLetterReasonClass, number>();
  const count = (reason: DeadLetterReasonClass) => {
    deadLettered++;
    deadLetteredByReason.set(reason, (deadLetteredByReason.get(reason) ?? 0) + 1);
  };

  const decodeRecord = async (record: KinesisStreamRecord): Promise<void> => {
    const position = recordPosition(record);
    const data = Buffer.from(record.kinesis.data, 'base64');
    try {
      // Attribute maps as their JSON text: the insert needs nothing else (ADR 0004).
      const { header, batches } = unpackEnvelope(data, { mapsAsJson: true });
      decoded.set(position.sequenceNumber, {
        position,
        tenant: header.tenant,
        // An envelope from before content ids: the writer falls back to its stream position.
        ...(header.id !== undefined && { id: header.id }),
        ...(header.receivedAtNs !== undefined && { receivedAtNs: header.receivedAtNs }),
        batches,
      });
      raw.set(position.sequenceNumber, data);
      const arrivalMs = Math.round(record.kinesis.approximateArrivalTimestamp * 1000);
      const metered = usageRecordOf(
        header,
        positionEnvelopeId(position.shardId, position.sequenceNumber),
        arrivalMs,
      );
      if (metered) usage.set(position.sequenceNumber, metered);
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      // A throw here (sink down) makes this record a batch item failure: retried, not lost.
      await ports.deadLetters.put([letter(position, `undecodable envelope: ${err.message}`, data)]);
      count('undecodable');
    }
  };

  const processor = new BatchProcessor(EventType.KinesisDataStreams);
  const decodeResponse = await processPartialResponse({ Records: [...records] }, decodeRecord, processor, {
    throwOnFullBatchFailure: false,
  });
  const failed = new Set(decodeResponse.batchItemFailures.map((f) => f.itemIdentifier));
  for (const [, err] of processor.errors.entries()) errors.push(err);

  let write: WriteResult | undefined;
  const envelopes = records.map((r) => decoded.get(r.kinesis.sequenceNumber)).filter((e) => e !== undefined);
  // Sampling: decided and its deferred rows written before the kept rows (see writeDeferred); the
  // keep list and promotion after the write, whatever its outcome. A failure in either redelivers
  // every decoded record; every write is idempotent.
  let plan: SamplingPlan | undefined;
  let samplingFailed = false;
  if (ports.sampler && envelopes.length > 0) {
    try {
      plan = await ports.sampler.plan(envelopes);
      await plan.writeDeferred();
    } catch (err) {
      samplingFailed = true;
      errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  if (samplingFailed) {
    for (const e of envelopes) failed.add(e.position.sequenceNumber);
  } else if (decoded.size > 0) {
    write = await ports.writer.write(plan?.envelopes ?? envelopes);
    if (plan) {
      try {
        await plan.commit();
      } catch (err) {
        for (const e of envelopes) failed.add(e.position.sequenceNumber);
        errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    for (const p of write.pending) failed.add(p.sequenceNumber);
    if (write.error) errors.push(write.error);
    if (write.rejected.length > 0) {
      try {
        await ports.deadLetters.put(
          write.rejected.map((r) => letter(r.position, r.reason, raw.get(r.position.sequenceNumber)!)),
        );
        for (const r of write.rejected) count(r.reasonClass);
      } catch (err) {
        for (const r of write.rejected) failed.add(r.position.sequenceNumber);
        errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  // Usage of the requests whose envelopes are now stored (or dead-lettered): a failure retries
  // them with their rows, which the writer then finds already written; the usage table keeps one
  // row per envelope id, so nothing counts twice.
  if (ports.usage && usage.size > 0) {
    const done = [...usage].filter(([seq]) => !failed.has(seq));
    try {
      await ports.usage.record(done.map(([, r]) => r));
    } catch (err) {
      for (const [seq] of done) failed.add(seq);
      errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }

  const response: KinesisStreamBatchResponse = {
    batchItemFailures: records
      .filter((r) => failed.has(r.kinesis.sequenceNumber))
      .map((r) => ({ itemIdentifier: r.kinesis.sequenceNumber })),
  };
  return {
    response,
    records: records.length,
    deadLettered,
    deadLetteredByReason,
    ...(write && { write }),
    errors,
  };
}

function letter(position: StreamPosition, reason: string, data: Uint8Array): DeadLetter {
  return {
    source: DEAD_LETTER_SOURCE,
    reason,
    shardId: position.shardId,
    sequenceNumber: position.sequenceNumber,
    data,
  };
}
