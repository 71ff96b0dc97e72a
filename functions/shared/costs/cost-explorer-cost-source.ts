import {
  type Expression,
  GetCostAndUsageCommand,
  type GetCostAndUsageCommandOutput,
} from '@aws-sdk/client-cost-explorer';
import {
  type ComponentCost,
  type CostQuery,
  CostReportError,
  type CostSource,
  validateQuery,
} from './cost-report.js';

/** The one Cost Explorer call used; a `CostExplorerClient` satisfies it. */
export interface CostExplorerApi {
  send(command: GetCostAndUsageCommand): Promise<GetCostAndUsageCommandOutput>;
}

/** Tag keys as applied by lib/cost-tags.ts. */
const TAG_PROJECT = 'project';
const TAG_ENVIRONMENT = 'environment';
const TAG_COMPONENT = 'component';

/**
 * Spend per `component` tag from Cost Explorer's GetCostAndUsage, filtered on the project (and
 * environment) tags, all pages. Cost Explorer's endpoint is us-east-1; build the client there.
 */
export class CostExplorerCostSource implements CostSource {
  constructor(private readonly client: CostExplorerApi) {}

  async costByComponent(query: CostQuery): Promise<readonly ComponentCost[]> {
    const { startInclusive, endExclusive } = validateQuery(query);
    const metric = query.metric ?? 'UnblendedCost';
    const tag = (key: string, value: string): Expression => ({
      Tags: { Key: key, Values: [value], MatchOptions: ['EQUALS'] },
    });
    const filter: Expression =
      query.environment === undefined
        ? tag(TAG_PROJECT, query.project)
        : { And: [tag(TAG_PROJECT, query.project), tag(TAG_ENVIRONMENT, query.environment)] };

    const out: ComponentCost[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new GetCostAndUsageCommand({
          TimePeriod: { Start: startInclusive, End: endExclusive },
          Granularity: 'MONTHLY',
          Metrics: [metric],
          Filter: filter,
          GroupBy: [{ Type: 'TAG', Key: TAG_COMPONENT }],
          NextPageToken: token,
        }),
      );
      for (const period of page.ResultsByTime ?? []) {
        for (const group of period.Groups ?? []) {
          const value = group.Metrics?.[metric];
          if (value?.Amount === undefined) continue;
          const amount = Number(value.Amount);
          if (!Number.isFinite(amount))
            throw new CostReportError(`Cost Explorer returned a non-numeric amount: ${value.Amount}`);
          out.push({
            component: componentOf(group.Keys?.[0] ?? ''),
            amount,
            unit: value.Unit ?? 'USD',
            estimated: period.Estimated ?? false,
          });
        }
      }
      token = page.NextPageToken;
    } while (token !== undefined && token !== '');
    return out;
  }
}

/** Group keys of a TAG group by look like `component$ingest`; `component$` means untagged. */
function componentOf(key: string): string {
  const i = key.indexOf('$');
  return i === -1 ? key : key.slice(i + 1);
}
