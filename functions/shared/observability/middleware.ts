import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';

/** The Powertools utilities a handler wires; `metrics` is left out by a function that emits none. */
export interface Observability {
  readonly tracer: Tracer;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}

/**
 * The Powertools middlewares every handler uses, in one order: the tracer's segment around
 * everything, the Lambda context on every log line, the metrics (with the cold-start metric)
 * flushed after the handler. For `middy(handler).use(observability({ tracer, logger, metrics }))`.
 */
export function observability({ tracer, logger, metrics }: Observability) {
  return [
    captureLambdaHandler(tracer),
    injectLambdaContext(logger),
    ...(metrics === undefined ? [] : [logMetrics(metrics, { captureColdStartMetric: true })]),
  ];
}
