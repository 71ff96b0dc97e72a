import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLakeWriterHandler } from '../../../functions/lake-writer/handler.js';
import type { ObjectStore } from '../../../functions/shared/lake/object-store.js';
import { lambdaContext } from '../../../local/lambda-context.js';
import {
  type LakeHarness,
  MemoryDeadLetterSink,
  queryObjects,
  records,
  startLake,
} from '../shared/lake/support.js';
import { sampleTraces } from '../shared/parquet/sample-rows.js';

let lake: LakeHarness;
beforeAll(async () => {
  lake = await startLake();
});
afterAll(async () => {
  await lake.close();
});

const context = lambdaContext({
  functionName: 'lake-writer',
  requestId: 'req-1',
  // A constant remaining time: nothing here depends on the clock.
  remaining: { constantMs: 60_000 },
});

function kinesisEvent(
  recs: { shardId: string; sequenceNumber: string; data: Uint8Array }[],
): KinesisStreamEvent {
  return {
    Records: recs.map((r) => ({
      eventID: `${r.shardId}:${r.sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/otlp',
      awsRegion: 'us-east-1',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/lake-writer',
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'acme',
        sequenceNumber: r.sequenceNumber,
        approximateArrivalTimestamp: 1795428000.5,
        data: Buffer.from(r.data).toString('base64'),
      },
    })),
  };
}

function handlerWith(store: ObjectStore, deadLetters: MemoryDeadLetterSink) {
  return createLakeWriterHandler({
    ports: { store, deadLetters },
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'test', serviceName: 'lake-writer' }),
    tracer: new Tracer({ enabled: false }),
  });
}

describe('lake-writer handler', () => {
  it('dead-letters a poison record with its reason and writes the rest', async () => {
    const [first, middle, last] = records('h1', 'traces', [
      [sampleTraces(10, { tenant: 'h1', seed: 1 })],
      [sampleTraces(7, { tenant: 'h1', seed: 3 })],
      [sampleTraces(5, { tenant: 'h1', seed: 2 })],
    ]);
    const poison = { ...middle!, data: Buffer.from(middle!.data) };
    // The payload no longer matches its sha256.
    poison.data[poison.data.length - 1] = (poison.data[poison.data.length - 1] ?? 0) ^ 0xff;
    const corrupted = poison.data;
    const sink = new MemoryDeadLetterSink();

    const response = await handlerWith(lake.store, sink)(kinesisEvent([first!, poison, last!]), context);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(sink.letters).toHaveLength(1);
    expect(sink.letters[0]).toMatchObject({
      source: 'lake-writer',
      reason: 'envelope payload does not match its sha256',
      shardId: 'shardId-000000000000',
      sequenceNumber: poison.sequenceNumber,
    });
    expect(Buffer.from(sink.letters[0]!.data).equals(corrupted)).toBe(true);
    const [count] = await queryObjects(
      lake.store,
      lake.dir,
      'staging/otel_traces/tenant=h1/',
      'SELECT count(*)::INTEGER AS n FROM {files}',
    );
    expect(count).toEqual({ n: 15 });
  });

  it('fails the invocation when storage fails, so the ESM retries the batch', async () => {
    const recs = records('h2', 'traces', [[sampleTraces(10, { tenant: 'h2' })]]);
    const failing: ObjectStore = {
      ...lake.store,
      list: (prefix) => lake.store.list(prefix),
      get: (key) => lake.store.get(key),
      getRange: (key, start, end) => lake.store.getRange(key, start, end),
      copy: (source, target) => lake.store.copy(source, target),
      delete: (keys) => lake.store.delete(keys),
      put: async () => {
        throw new Error('SlowDown');
      },
    };

    const run = handlerWith(failing, new MemoryDeadLetterSink())(kinesisEvent(recs), context);

    await expect(run).rejects.toThrow('lake partitions failed to write');
    expect(await lake.store.list('staging/otel_traces/tenant=h2/')).toEqual([]);
  });
});
