import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';

/** Creates the stream if missing and waits until it is ACTIVE (local mode and tests only). */
export async function ensureStream(
  kinesis: KinesisClient,
  streamName: string,
  shardCount: number,
): Promise<void> {
  try {
    await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
  } catch (e) {
    if (!(e instanceof ResourceNotFoundException)) throw e;
    await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  }
  for (let i = 0; i < 100; i++) {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`stream ${streamName} did not become ACTIVE`);
}

/** Creates the bucket if missing (local mode and tests only). */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}
