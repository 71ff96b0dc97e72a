import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';

export interface SecureBucketProps {
  /** Lifecycle rules besides the housekeeping ones this construct always adds. @default [] */
  readonly lifecycleRules?: readonly s3.LifecycleRule[];
  /**
   * Where S3 server access logs go. Omit only for the access-log bucket itself.
   * @default - no access logging (the construct records why for cdk-nag)
   */
  readonly serverAccessLogsBucket?: s3.IBucket;
  /** Keep overwritten and deleted objects this long, then remove them. @default Duration.days(7) */
  readonly noncurrentVersionExpiration?: Duration;
}

/**
 * An S3 bucket with the settings every bucket of the pipeline shares: public access blocked, SSL
 * only, TLS 1.2+, S3-managed encryption, objects owned by the bucket owner, versioning with a short
 * noncurrent window (undo an accidental delete, without keeping every compacted file forever),
 * incomplete multipart uploads aborted, and retained when the stack is deleted.
 *
 * S3-managed keys rather than a customer key: a KMS key in this stack would need grants to the
 * compute stack's roles in its key policy, a cross-stack cycle, for no gain in this threat model.
 */
export class SecureBucket extends Construct {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: SecureBucketProps = {}) {
    super(scope, id);
    const noncurrent = props.noncurrentVersionExpiration ?? Duration.days(7);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsBucket: props.serverAccessLogsBucket,
      serverAccessLogsPrefix: props.serverAccessLogsBucket ? `${id}/` : undefined,
      lifecycleRules: [
        {
          id: 'housekeeping',
          abortIncompleteMultipartUploadAfter: Duration.days(1),
          noncurrentVersionExpiration: noncurrent,
          expiredObjectDeleteMarker: true,
        },
        ...(props.lifecycleRules ?? []),
      ],
    });
    if (props.serverAccessLogsBucket === undefined) {
      acknowledge(
        this.bucket,
        'AwsSolutions-S1',
        'This is the server access log bucket; logging it into itself would loop.',
      );
    }
  }
}
