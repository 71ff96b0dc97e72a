import { Tags } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Cost-allocation tags. Cost Explorer, Budgets and `npm run costs` group spend by these keys, so
 * every taggable resource carries all of them (a test walks the synthesized templates to prove it).
 */
export const COST_TAG_KEYS = {
  project: 'project',
  environment: 'environment',
  component: 'component',
  costCenter: 'cost-center',
} as const;

/** The parts of the pipeline that spend money, one `component` tag value each. */
export type Component =
  | 'ingest'
  | 'stream'
  | 'hot-tier'
  | 'lake'
  | 'query'
  | 'alerting'
  | 'dead-letter'
  | 'monitoring';

export interface DeploymentTags {
  readonly project: string;
  readonly environment: string;
  readonly costCenter?: string;
}

/** Tags every resource below `scope` with the deployment-wide keys. */
export function tagDeployment(scope: IConstruct, tags: DeploymentTags): void {
  Tags.of(scope).add(COST_TAG_KEYS.project, tags.project);
  Tags.of(scope).add(COST_TAG_KEYS.environment, tags.environment);
  if (tags.costCenter !== undefined) Tags.of(scope).add(COST_TAG_KEYS.costCenter, tags.costCenter);
}

/**
 * Tags every resource below `scope` with its component. A nested call wins (a higher priority),
 * so a stack can default to one component and single constructs inside it can name another.
 */
export function tagComponent(scope: IConstruct, component: Component): void {
  Tags.of(scope).add(COST_TAG_KEYS.component, component, { priority: 100 + depth(scope) });
}

function depth(scope: IConstruct): number {
  return scope.node.scopes.length;
}

/** The keys to activate as cost-allocation tags in Billing. */
export function costTagKeys(tags: DeploymentTags): string[] {
  const keys: string[] = [COST_TAG_KEYS.project, COST_TAG_KEYS.environment, COST_TAG_KEYS.component];
  if (tags.costCenter !== undefined) keys.push(COST_TAG_KEYS.costCenter);
  return keys;
}
