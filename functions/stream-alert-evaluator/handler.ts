import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import type { Context, KinesisStreamStateResponse, KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import { alertConfigPorts } from '../shared/alerts/alert-config-ports.js';
import { DynamoAlertStateStore } from '../shared/alerts/dynamo-alert-state-store.js';
import { EventBridgeEventPublisher } from '../shared/alerts/eventbridge-event-publisher.js';
import { ALERT_FIRING } from '../shared/alerts/events.js';
import { DynamoAlertSliceStore } from '../shared/alerts/slice-store.js';
import { createStreamEvaluator, type StreamEvaluatorPorts } from '../shared/alerts/stream-evaluator.js';
import { observability } from '../shared/observability/middleware.js';
import { streamAlertEvaluatorConfig } from './config.js';

/**
 * The stream alert evaluator Lambda: a Kinesis consumer with tumbling windows
 * (`TumblingWindowInSeconds`). Aggregating invocations return the window's state; the final one
 * decides the stream-owned rules (../shared/alerts/stream-evaluator.ts). A final invocation that
 * cannot decide every rule throws, so Lambda retries it before the shard moves on.
 */

export interface StreamAlertEvaluatorHandlerDeps {
  readonly ports: () => StreamEvaluatorPorts;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

export function createStreamAlertEvaluatorHandler(deps: StreamAlertEvaluatorHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();
  let evaluator: ReturnType<typeof createStreamEvaluator> | undefined;

  const lambdaHandler = async (
    event: KinesisStreamTumblingWindowEvent,
    _context: Context,
  ): Promise<KinesisStreamStateResponse> => {
    evaluator ??= createStreamEvaluator(deps.ports());
    const { response, report } = await evaluator.handle(event);
    metrics.addMetric('StreamRecords', MetricUnit.Count, report.records);
    if (report.undecodable > 0) metrics.addMetric('StreamUndecodable', MetricUnit.Count, report.undecodable);
    if (report.final) {
      const published = report.outcomes.flatMap((o) => o.published);
      const fired = published.filter((e) => e.detailType === ALERT_FIRING).length;
      metrics.addMetric('StreamRulesDecided', MetricUnit.Count, report.outcomes.length);
      metrics.addMetric('AlertsFired', MetricUnit.Count, fired);
      metrics.addMetric('AlertsResolved', MetricUnit.Count, published.length - fired);
      for (const e of published) {
        logger.info('alert transition', {
          detailType: e.detailType,
          tenant: e.detail.tenant,
          rule: e.detail.rule.id,
          series: e.detail.series,
          value: e.detail.value,
          transitionId: e.detail.transitionId,
        });
      }
    }
    return response;
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

/** Production dependencies from the environment, read on the first invocation. */
export function depsFromConfig(): StreamAlertEvaluatorHandlerDeps {
  const tracer = new Tracer();
  return {
    tracer,
    ports: () => {
      const config = streamAlertEvaluatorConfig();
      const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
      return {
        // The scheduled evaluator's rules, silences and history (files merged with the alerts API).
        ...alertConfigPorts(dynamo, {
          rulesDir: config.ALERT_RULES_DIR,
          ...(config.ALERT_CONFIG_TABLE && { configTable: config.ALERT_CONFIG_TABLE }),
          ...(config.ALERT_HISTORY_TABLE && { historyTable: config.ALERT_HISTORY_TABLE }),
          rulesTtlMs: config.ALERT_RULES_TTL_MS,
          ...(config.CONSOLE_BASE_URL && { consoleBaseUrl: config.CONSOLE_BASE_URL }),
        }),
        state: new DynamoAlertStateStore(dynamo, config.ALERT_STATE_TABLE),
        slices: new DynamoAlertSliceStore(dynamo, config.ALERT_STATE_TABLE),
        publisher: new EventBridgeEventPublisher(
          tracer.captureAWSv3Client(new EventBridgeClient({})),
          config.ALERT_BUS_NAME,
        ),
        queryBaseUrl: config.QUERY_API_URL,
        concurrency: config.ALERT_CONCURRENCY,
      };
    },
  };
}

export const handler = createStreamAlertEvaluatorHandler(depsFromConfig());
