import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { observability } from '../../../../functions/shared/observability/middleware.js';

const context = (id: string) =>
  ({ functionName: 'fn', awsRequestId: id, getRemainingTimeInMillis: () => 1000 }) as unknown as Context;

let lines: string[];
beforeEach(() => {
  // As in Lambda: Powertools counts a cold start only for on-demand environments.
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
  lines = [];
  const capture = (chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => capture(a.join(' ')));
  vi.spyOn(console, 'info').mockImplementation((...a: unknown[]) => capture(a.join(' ')));
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const parsed = () =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
const emf = () => parsed().filter((o) => o._aws !== undefined);

describe('observability middleware list (every handler wires it)', () => {
  it('puts the Lambda context on log lines and flushes metrics with a cold-start metric once', async () => {
    const logger = new Logger({ serviceName: 'svc' });
    const metrics = new Metrics({ namespace: 'Test', serviceName: 'svc' });
    const tracer = new Tracer({ serviceName: 'svc', enabled: false });
    const handler = middy(async () => {
      logger.info('inside');
      metrics.addMetric('Hits', MetricUnit.Count, 1);
      return 'ok';
    }).use(observability({ tracer, logger, metrics }));

    expect(await handler({}, context('req-1'))).toBe('ok');
    expect(parsed().find((o) => o.message === 'inside')).toMatchObject({ function_request_id: 'req-1' });
    const names = () => emf().flatMap((o) => Object.keys(o).filter((k) => k === 'Hits' || k === 'ColdStart'));
    expect(names().sort()).toEqual(['ColdStart', 'Hits']);

    lines = [];
    await handler({}, context('req-2'));
    expect(parsed().find((o) => o.message === 'inside')).toMatchObject({ function_request_id: 'req-2' });
    expect(names()).toEqual(['Hits']);
  });

  it('without metrics (the migrate function) logs with context and prints no metrics', async () => {
    const logger = new Logger({ serviceName: 'svc' });
    const tracer = new Tracer({ serviceName: 'svc', enabled: false });
    const handler = middy(async () => {
      logger.info('inside');
    }).use(observability({ tracer, logger }));
    await handler({}, context('req-3'));
    expect(parsed().find((o) => o.message === 'inside')).toMatchObject({ function_request_id: 'req-3' });
    expect(emf()).toEqual([]);
  });
});
