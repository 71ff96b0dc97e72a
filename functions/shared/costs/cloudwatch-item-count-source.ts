import { GetMetricDataCommand, type GetMetricDataCommandOutput } from '@aws-sdk/client-cloudwatch';
import type { CostQuery, ItemCountSource } from './cost-report.js';
import { validateQuery } from './cost-report.js';
import { INGEST_SERVICE, INGEST_SIGNALS, metricsNamespace, PIPELINE_METRICS } from './pipeline-metrics.js';

/** The one CloudWatch call used; a `CloudWatchClient` satisfies it. */
export interface CloudWatchApi {
  send(command: GetMetricDataCommand): Promise<GetMetricDataCommandOutput>;
}

const DAY_SECONDS = 86_400;

/**
 * Items accepted by ingest over the range, from the pipeline's own metric (see pipeline-metrics.ts),
 * summed per day over all signals. Needs an environment: each deployment has its own namespace.
 */
export class CloudWatchItemCountSource implements ItemCountSource {
  constructor(private readonly client: CloudWatchApi) {}

  async ingestedItems(query: CostQuery): Promise<number | undefined> {
    const environment = query.environment;
    if (environment === undefined) return undefined;
    const { startInclusive, endExclusive } = validateQuery(query);
    // A metric is one exact dimension set: ask for each signal's series (and a signal-less one,
    // should ingest stop tagging signals) and add them up.
    const service = { Name: 'service', Value: INGEST_SERVICE };
    const series = [
      [service],
      ...INGEST_SIGNALS.map((signal) => [service, { Name: 'signal', Value: signal }]),
    ];
    let total = 0;
    let points = 0;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new GetMetricDataCommand({
          StartTime: new Date(`${startInclusive}T00:00:00Z`),
          EndTime: new Date(`${endExclusive}T00:00:00Z`),
          MetricDataQueries: series.map((dimensions, i) => ({
            Id: `items${i}`,
            MetricStat: {
              Metric: {
                Namespace: metricsNamespace(environment),
                MetricName: PIPELINE_METRICS.itemsAccepted,
                Dimensions: dimensions,
              },
              Period: DAY_SECONDS,
              Stat: 'Sum',
            },
            ReturnData: true,
          })),
          NextToken: token,
        }),
      );
      for (const result of page.MetricDataResults ?? []) {
        for (const v of result.Values ?? []) {
          total += v;
          points++;
        }
      }
      token = page.NextToken;
    } while (token !== undefined && token !== '');
    return points === 0 ? undefined : total;
  }
}
