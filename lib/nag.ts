import { Stack, Validations } from 'aws-cdk-lib';
// The exact rendering cdk-nag applies to a policy resource before naming its finding.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag finding on one construct, with the reason. `finding` narrows rules that
 * report several findings per resource (IAM5 `Resource::*`, IAM4 `Policy::...`): only that one is
 * acknowledged, any other finding of the same rule still fails the check.
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string, finding?: string): void {
  Validations.of(scope).acknowledge({ id: finding === undefined ? rule : `${rule}[${finding}]`, reason });
}

/**
 * Acknowledges the IAM5 finding for one wildcard resource of a policy, e.g.
 * `bucket.arnForObjects('*')` or `${fn.functionArn}:*`. The finding's text depends on how the
 * reference resolves (`<LakeBucket.Arn>/*` in one stack, an export name across stacks), which is
 * only known once CDK has prepared the app, so it is computed then: construct validations run
 * after references are resolved and before the nag packs read the acknowledgements.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  scope.node.addValidation({
    validate: () => {
      const rendered = flattenCfnReference(Stack.of(scope).resolve(resource));
      acknowledge(scope, 'AwsSolutions-IAM5', reason, `Resource::${rendered}`);
      return [];
    },
  });
}
