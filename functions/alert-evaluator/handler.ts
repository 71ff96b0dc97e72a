import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { ClickHouseClient } from '@clickhouse/client';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { alertConfigPorts } from '../shared/alerts/alert-config-ports.js';
import { DynamoAlertStateStore } from '../shared/alerts/dynamo-alert-state-store.js';
import { isScheduledRule } from '../shared/alerts/evaluation-path.js';
import {
  type AlertEvaluatorPorts,
  createAlertEvaluator,
  type EvaluationReport,
  RecentValues,
  type RuleOutcome,
} from '../shared/alerts/evaluator.js';
import { EventBridgeEventPublisher } from '../shared/alerts/eventbridge-event-publisher.js';
import { ALERT_FIRING } from '../shared/alerts/events.js';
import { DynamoAlertSliceStore } from '../shared/alerts/slice-store.js';
import { createStreamEvaluator, type StreamEvaluator } from '../shared/alerts/stream-evaluator.js';
import {
  clickHouseClientProvider,
  clickHouseSourceFromEnv,
} from '../shared/clickhouse/secrets-manager-client.js';
import { observability } from '../shared/observability/middleware.js';
import type { PutEventsClient } from '../shared/tenants/quota-events.js';
import { type AlertEvaluatorConfig, alertEvaluatorConfig } from './config.js';

/**
 * The alert evaluator Lambda, invoked every minute by EventBridge Scheduler: one evaluation round
 * (see ../shared/alerts/evaluator.ts). Run with reserved concurrency 1; a duplicate or overlapping
 * invocation is still harmless (conditional writes), only wasteful. A rule that cannot be evaluated
 * fails the invocation after the others are done, so the schedule's error alarm sees it.
 */

export interface AlertEvaluatorHandlerDeps {
  /** Everything but ClickHouse, which is resolved per invocation (cached by the provider). */
  readonly ports: () => Omit<AlertEvaluatorPorts, 'clickhouse'>;
  readonly clickhouse: () => Promise<ClickHouseClient>;
  /**
   * After the round: the stream evaluator's sweep of stream-owned series whose shard went silent
   * (stream-evaluator.ts). Absent when no stream evaluator is deployed.
   */
  readonly sweep?: () => Promise<readonly RuleOutcome[]>;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

export class AlertEvaluationError extends Error {
  override readonly name = 'AlertEvaluationError';
}

export function createAlertEvaluatorHandler(deps: AlertEvaluatorHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();

  const lambdaHandler = async (_event: unknown, _context: Context): Promise<EvaluationReport> => {
    const evaluator = createAlertEvaluator({ ...deps.ports(), clickhouse: await deps.clickhouse() });
    const report = await evaluator.evaluate();
    const swept = deps.sweep ? await deps.sweep() : [];
    const sweptPublished = swept.flatMap((o) => o.published);
    const sweptErrors = swept.flatMap((o) => (o.error ? [o.error] : []));
    metrics.addMetric('StreamSeriesSwept', MetricUnit.Count, sweptPublished.length);
    for (const e of sweptPublished) {
      logger.info('alert transition (sweep of a silent shard)', {
        detailType: e.detailType,
        tenant: e.detail.tenant,
        rule: e.detail.rule.id,
        transitionId: e.detail.transitionId,
      });
    }
    for (const e of sweptErrors)
      logger.error(e.message, { tenant: e.tenant, rule: e.ruleId, cause: String(e.cause) });
    const fired = report.published.filter((e) => e.detailType === ALERT_FIRING).length;
    metrics.addMetric('RulesEvaluated', MetricUnit.Count, report.rules);
    metrics.addMetric('SeriesEvaluated', MetricUnit.Count, report.series);
    metrics.addMetric('AlertsFired', MetricUnit.Count, fired);
    metrics.addMetric('AlertsResolved', MetricUnit.Count, report.published.length - fired);
    metrics.addMetric('StateConflicts', MetricUnit.Count, report.conflicts);
    metrics.addMetric('RuleErrors', MetricUnit.Count, report.errors.length);
    for (const e of report.published) {
      logger.info('alert transition', {
        detailType: e.detailType,
        tenant: e.detail.tenant,
        rule: e.detail.rule.id,
        series: e.detail.series,
        value: e.detail.value,
        transitionId: e.detail.transitionId,
      });
    }
    if (report.errors.length > 0 || sweptErrors.length > 0) {
      for (const e of report.errors)
        logger.error(e.message, { tenant: e.tenant, rule: e.ruleId, cause: String(e.cause) });
      throw new AlertEvaluationError(
        `${report.errors.length} of ${report.rules} rules could not be evaluated; ${sweptErrors.length} sweeps failed`,
      );
    }
    logger.info('evaluation done', {
      rules: report.rules,
      series: report.series,
      published: report.published.length,
      conflicts: report.conflicts,
      republished: report.republished,
    });
    return report;
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

function configPorts(config: AlertEvaluatorConfig, dynamo: DynamoDBClient, logger: Logger) {
  return alertConfigPorts(dynamo, {
    rulesDir: config.ALERT_RULES_DIR,
    ...(config.ALERT_CONFIG_TABLE && { configTable: config.ALERT_CONFIG_TABLE }),
    ...(config.ALERT_HISTORY_TABLE && { historyTable: config.ALERT_HISTORY_TABLE }),
    rulesTtlMs: config.ALERT_RULES_TTL_MS,
    ...(config.CONSOLE_BASE_URL && { consoleBaseUrl: config.CONSOLE_BASE_URL }),
    onSkipped: (r) => logger.warn('API alert rules skipped', { shadowed: r.shadowed, invalid: r.invalid }),
  });
}

/** What the evaluator talks to: Lambda's defaults, or local mode's engine, emulator and bus. */
export interface AlertEvaluatorClients {
  /** Resolved per invocation (a provider caches it). */
  readonly clickhouse: () => Promise<ClickHouseClient>;
  readonly dynamo: DynamoDBClient;
  /** The alert bus: EventBridge in AWS, local/event-bus.ts locally. */
  readonly eventBridge: PutEventsClient;
}

function lambdaClients(config: AlertEvaluatorConfig, tracer: Tracer): AlertEvaluatorClients {
  return {
    clickhouse: clickHouseClientProvider(clickHouseSourceFromEnv(config)),
    dynamo: tracer.captureAWSv3Client(new DynamoDBClient({})),
    eventBridge: tracer.captureAWSv3Client(new EventBridgeClient({})),
  };
}

/**
 * The evaluator's one composition, from the validated config and the clients, read on the first
 * invocation. The Lambda passes its environment and the AWS clients; local mode the same
 * function's config and its local clients (local/functions.ts).
 */
export function depsFromConfig(
  config: () => AlertEvaluatorConfig = alertEvaluatorConfig,
  clients?: AlertEvaluatorClients,
): AlertEvaluatorHandlerDeps {
  const tracer = new Tracer();
  const logger = new Logger();
  let resolved: AlertEvaluatorClients | undefined;
  const clientsOf = () => {
    resolved ??= clients ?? lambdaClients(config(), tracer);
    return resolved;
  };
  // One set of rules, silences, history, state and bus for the round and the sweep: one rule cache
  // (one scan of the API rules table per TTL) and the same rule set in both.
  let shared: ReturnType<typeof sharedPorts> | undefined;
  const sharedPorts = () => {
    const c = config();
    const { dynamo, eventBridge } = clientsOf();
    return {
      ...configPorts(c, dynamo, logger),
      state: new DynamoAlertStateStore(dynamo, c.ALERT_STATE_TABLE),
      publisher: new EventBridgeEventPublisher(eventBridge, c.ALERT_BUS_NAME),
      queryBaseUrl: c.QUERY_API_URL,
    };
  };
  let ports: Omit<AlertEvaluatorPorts, 'clickhouse'> | undefined;
  let stream: StreamEvaluator | undefined;
  return {
    tracer,
    logger,
    ports: () => {
      if (!ports) {
        const c = config();
        shared ??= sharedPorts();
        ports = {
          ...shared,
          // Kept by the warm container between rounds: the trend of series not stored (ok).
          recentValues: new RecentValues(),
          concurrency: c.ALERT_CONCURRENCY,
          // The stream evaluator decides the rest (evaluation-path.ts), when deployed.
          ...(c.ALERT_STREAM_WINDOW_SECONDS > 0 && { owns: isScheduledRule }),
        };
      }
      return ports;
    },
    sweep: async () => {
      const c = config();
      if (c.ALERT_STREAM_WINDOW_SECONDS === 0) return [];
      shared ??= sharedPorts();
      stream ??= createStreamEvaluator({
        // The same rules, silences and history as the round: a stream rule made through the API too.
        ...shared,
        slices: new DynamoAlertSliceStore(clientsOf().dynamo, c.ALERT_STATE_TABLE),
      });
      return stream.sweep(Date.now(), c.ALERT_STREAM_WINDOW_SECONDS * 1000);
    },
    clickhouse: () => clientsOf().clickhouse(),
  };
}

export const handler = createAlertEvaluatorHandler(depsFromConfig());
