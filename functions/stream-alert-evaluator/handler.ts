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
import type { PutEventsClient } from '../shared/tenants/quota-events.js';
import { type StreamAlertEvaluatorConfig, streamAlertEvaluatorConfig } from './config.js';

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

/** What the stream evaluator talks to: Lambda's defaults, or local mode's emulator and bus. */
export interface StreamAlertEvaluatorClients {
  readonly dynamo: DynamoDBClient;
  /** The alert bus: EventBridge in AWS, local/event-bus.ts locally. */
  readonly eventBridge: PutEventsClient;
}

/**
 * The stream evaluator's one composition, from the validated config and the clients, read on the
 * first invocation (local mode: local/functions.ts).
 */
export function depsFromConfig(
  config: () => StreamAlertEvaluatorConfig = streamAlertEvaluatorConfig,
  clients?: StreamAlertEvaluatorClients,
): StreamAlertEvaluatorHandlerDeps {
  const tracer = new Tracer();
  return {
    tracer,
    ports: () => {
      const c = config();
      const { dynamo, eventBridge } = clients ?? {
        dynamo: tracer.captureAWSv3Client(new DynamoDBClient({})),
        eventBridge: tracer.captureAWSv3Client(new EventBridgeClient({})),
      };
      return {
        // The scheduled evaluator's rules, silences and history (files merged with the alerts API).
        ...alertConfigPorts(dynamo, {
          rulesDir: c.ALERT_RULES_DIR,
          ...(c.ALERT_CONFIG_TABLE && { configTable: c.ALERT_CONFIG_TABLE }),
          ...(c.ALERT_HISTORY_TABLE && { historyTable: c.ALERT_HISTORY_TABLE }),
          rulesTtlMs: c.ALERT_RULES_TTL_MS,
          ...(c.CONSOLE_BASE_URL && { consoleBaseUrl: c.CONSOLE_BASE_URL }),
        }),
        state: new DynamoAlertStateStore(dynamo, c.ALERT_STATE_TABLE),
        slices: new DynamoAlertSliceStore(dynamo, c.ALERT_STATE_TABLE),
        publisher: new EventBridgeEventPublisher(eventBridge, c.ALERT_BUS_NAME),
        queryBaseUrl: c.QUERY_API_URL,
        concurrency: c.ALERT_CONCURRENCY,
      };
    },
  };
}

export const handler = createStreamAlertEvaluatorHandler(depsFromConfig());
