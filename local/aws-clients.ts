import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Credentials kinesalite and dynalite accept; they check none. */
const LOCAL = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
} as const;

/**
 * kinesalite speaks HTTP/1.1 only; the SDK's Kinesis client defaults to HTTP/2. Ingest's client
 * takes `maxAttempts: 1`, as in Lambda: its stream sink retries within the request's deadline
 * itself, and the SDK's retries on top kept a client waiting past its timeout on a full disk.
 */
export function localKinesisClient(
  endpoint: string,
  options: { readonly maxAttempts?: number } = {},
): KinesisClient {
  return new KinesisClient({ ...LOCAL, endpoint, requestHandler: new NodeHttpHandler(), ...options });
}

export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ ...LOCAL, endpoint });
}

/** s3rver checks the access key: it accepts only its own fixed pair. */
export function localS3Client(endpoint: string): S3Client {
  return new S3Client({
    ...LOCAL,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    endpoint,
    forcePathStyle: true,
  });
}
