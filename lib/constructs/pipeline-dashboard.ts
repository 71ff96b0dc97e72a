import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PIPELINE_METRICS } from '../../functions/shared/costs/pipeline-metrics.js';
import type { PipelineFunction } from './pipeline-function.js';

export interface PipelineDashboardProps {
  /** Namespace of the functions' own metrics (`metricsNamespace(environment)`). */
  readonly metricsNamespace: string;
  readonly api: apigwv2.IHttpApi;
  readonly stream: kinesis.IStream;
  readonly ingest: PipelineFunction;
  /** Stream consumers with their on-failure queues. */
  readonly consumers: readonly { readonly fn: PipelineFunction; readonly deadLetterQueue: sqs.IQueue }[];
  /** Other functions whose errors and duration are worth a glance (compactor, ...). @default [] */
  readonly others?: readonly PipelineFunction[];
}

const PERIOD = Duration.minutes(1);

/**
 * Every series of the given metric names in a namespace, whatever their dimensions (ingest adds
 * `signal`, per-tenant metrics add `tenant`). A metric nobody emits yet gives an empty graph.
 */
function search(
  namespace: string,
  metricNames: readonly string[],
  statistic: string,
  label: string,
  period = PERIOD,
): cloudwatch.MathExpression {
  const names = metricNames.map((n) => `MetricName="${n}"`).join(' OR ');
  return new cloudwatch.MathExpression({
    expression: `SEARCH('Namespace="${namespace}" (${names})', '${statistic}', ${period.toSeconds()})`,
    label,
    period,
    usingMetrics: {},
  });
}

/**
 * One dashboard for the whole pipeline, in the order data flows: requests and errors at the API,
 * bytes and age on the stream, consumer errors and duration, dead letters, ClickHouse insert
 * latency, rows per tenant.
 */
export class PipelineDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const ns = props.metricsNamespace;
    const fns = [props.ingest, ...props.consumers.map((c) => c.fn), ...(props.others ?? [])];
    const hotWriter = props.consumers.find((c) => c.fn.name === 'hot-writer')?.fn;
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) =>
      new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6 });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          graph(
            'Ingest requests',
            [props.api.metricCount({ period: PERIOD, label: 'requests' })],
            [
              props.api.metricClientError({ period: PERIOD, label: '4xx' }),
              props.api.metricServerError({ period: PERIOD, label: '5xx' }),
            ],
          ),
          graph('Ingest latency (ms)', [
            props.api.metricLatency({ period: PERIOD, statistic: 'p50', label: 'p50' }),
            props.api.metricLatency({ period: PERIOD, statistic: 'p99', label: 'p99' }),
            props.api.metricIntegrationLatency({
              period: PERIOD,
              statistic: 'p99',
              label: 'integration p99',
            }),
          ]),
          graph(
            'Items accepted / rejected',
            [search(ns, [PIPELINE_METRICS.itemsAccepted], 'Sum', 'accepted')],
            [search(ns, [PIPELINE_METRICS.itemsRejected], 'Sum', 'rejected')],
          ),
        ],
        [
          graph(
            'Stream incoming bytes / records',
            [props.stream.metricIncomingBytes({ period: PERIOD, statistic: 'Sum', label: 'bytes' })],
            [props.stream.metricIncomingRecords({ period: PERIOD, statistic: 'Sum', label: 'records' })],
          ),
          graph(
            'Iterator age (ms)',
            props.consumers.map((c) =>
              c.fn.function.metric('IteratorAge', { statistic: 'Maximum', period: PERIOD, label: c.fn.name }),
            ),
            [
              props.stream.metricWriteProvisionedThroughputExceeded({
                period: PERIOD,
                statistic: 'Sum',
                label: 'write throttled',
              }),
            ],
          ),
          graph(
            'Dead letters',
            props.consumers.map((c) =>
              c.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
                period: PERIOD,
                statistic: 'Maximum',
                label: `${c.fn.name} failed batches`,
              }),
            ),
            [search(ns, [PIPELINE_METRICS.deadLetters], 'Sum', 'poison records')],
          ),
        ],
        [
          graph(
            'Function errors / throttles',
            fns.map((f) =>
              f.function.metricErrors({ period: PERIOD, statistic: 'Sum', label: `${f.name} errors` }),
            ),
            fns.map((f) =>
              f.function.metricThrottles({ period: PERIOD, statistic: 'Sum', label: `${f.name} throttles` }),
            ),
          ),
          graph(
            'Function duration p99 (ms)',
            fns.map((f) => f.function.metricDuration({ period: PERIOD, statistic: 'p99', label: f.name })),
          ),
          graph(
            'ClickHouse insert latency (ms)',
            [
              search(ns, [PIPELINE_METRICS.clickhouseInsertLatency], 'p99', 'insert p99'),
              search(ns, [PIPELINE_METRICS.clickhouseInsertLatency], 'Average', 'insert avg'),
            ],
            // The whole batch, insert included: a ceiling on the insert latency.
            hotWriter === undefined
              ? []
              : [
                  hotWriter.function.metricDuration({
                    period: PERIOD,
                    statistic: 'p99',
                    label: 'hot-writer batch p99',
                  }),
                ],
          ),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Rows written per tenant',
            left: [search(ns, [PIPELINE_METRICS.rowsWrittenPerTenant], 'Sum', '', Duration.minutes(5))],
            width: 16,
            height: 6,
            stacked: true,
          }),
          graph('Rows written', [
            search(ns, [PIPELINE_METRICS.rowsInserted], 'Sum', 'ClickHouse', Duration.minutes(5)),
            search(ns, [PIPELINE_METRICS.lakeRowsWritten], 'Sum', 'lake', Duration.minutes(5)),
          ]),
        ],
      ],
    });
  }
}
