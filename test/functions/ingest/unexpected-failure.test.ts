import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestHandler } from '../../../functions/ingest/handler.js';
import { type HttpGateway, startHttpGateway } from '../../../local/http-gateway.js';
import { CapturingMetrics } from './pipeline.js';

let gateway: HttpGateway;
const metrics = new CapturingMetrics({ namespace: 'test', serviceName: 'ingest' });
beforeAll(async () => {
  const handler = createIngestHandler({
    ports: () => {
      throw new Error('a bug building the ports');
    },
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics,
    tracer: new Tracer({ enabled: false }),
  });
  gateway = await startHttpGateway({ port: 0, routes: [{ method: 'POST', path: '/v1/traces', handler }] });
});
afterAll(() => gateway.close());

describe('an unexpected failure in the ingest handler', () => {
  it('answers 503 with Retry-After, which OTLP clients retry (a 500 would make them drop the batch)', async () => {
    for (const contentType of ['application/json', 'application/x-protobuf']) {
      const res = await fetch(`${gateway.url}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': contentType, authorization: 'Bearer x' },
        body: contentType === 'application/json' ? '{}' : new Uint8Array(0),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('content-type')).toBe(contentType);
      if (contentType === 'application/json') {
        expect(await res.json()).toEqual({ code: 14, message: 'internal error, retry later' });
      }
    }
    // Counted, so the IngestErrors alarm sees it.
    expect(metrics.published.filter((m) => m.IngestErrors === 1)).toHaveLength(2);
  });
});
