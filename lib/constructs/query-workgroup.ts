import { RemovalPolicy, Token } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface QueryWorkgroupProps {
  /** Athena needs a name; derive it from the deployment, never hard-code it. */
  readonly name: string;
  /** Query results land here (a bucket with a short expiry). */
  readonly resultsBucket: s3.IBucket;
  /** Athena cancels a query once it has scanned this many bytes (minimum 10 MB). */
  readonly bytesScannedCutoffPerQuery: number;
}

/**
 * An Athena workgroup on engine v3 whose settings clients cannot override: results location and
 * encryption, the per-query bytes-scanned cutoff (a forgotten `dt` predicate cannot scan the lake),
 * and CloudWatch metrics for cost tracking.
 */
export class QueryWorkgroup extends Construct {
  public readonly workgroup: athena.CfnWorkGroup;
  public readonly workgroupName: string;

  constructor(scope: Construct, id: string, props: QueryWorkgroupProps) {
    super(scope, id);
    const cutoff = props.bytesScannedCutoffPerQuery;
    if (!Token.isUnresolved(cutoff) && (!Number.isInteger(cutoff) || cutoff < 10_000_000)) {
      throw new Error(`\`bytesScannedCutoffPerQuery\` must be an integer >= 10000000, got: ${cutoff}`);
    }
    this.workgroupName = props.name;
    this.workgroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.name,
      description: 'Queries over the OpenTelemetry lake; settings enforced.',
      state: 'ENABLED',
      recursiveDeleteOption: false,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        bytesScannedCutoffPerQuery: cutoff,
        publishCloudWatchMetricsEnabled: true,
        requesterPaysEnabled: false,
        resultConfiguration: {
          outputLocation: props.resultsBucket.s3UrlForObject('results/'),
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });
    this.workgroup.applyRemovalPolicy(RemovalPolicy.RETAIN);
  }
}
