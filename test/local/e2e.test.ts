import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteClickHouse } from '../../functions/shared/clickhouse/connect.js';
import {
  LogSearchResponseSchema,
  MetricResponseSchema,
  ServicesResponseSchema,
  TraceResponseSchema,
  TraceSearchResponseSchema,
} from '../../functions/shared/query/schemas.js';
import {
  EXPECTED_VIEW,
  freePort,
  makeRunTelemetry,
  ORDER_VALUE_METRIC,
  ORDER_VALUES,
  ORDERS_METRIC,
  ORDERS_TOTAL,
  QueryApi,
  RUN_ID_ATTR,
  type RunningApp,
  type RunTelemetry,
  type RunView,
  runToExit,
  sendRun,
  startApp,
  succeeded,
  viewRun,
} from './e2e-support.js';

/**
 * Local mode as a user runs it: `bin/local.ts` in its own process (what `npm start` runs), fed by
 * the official OpenTelemetry exporters and read back through the query API; then stopped with
 * SIGTERM and started again on the same data directory. The steps build on each other and run
 * in order.
 */

const STOP_WITHIN_MS = 30_000;

describe('local mode end to end, started as `npm start` starts it', () => {
  const dirs: string[] = [];
  let dataDir: string;
  let settings: Record<string, string>;
  let app: RunningApp | undefined;
  let api: QueryApi;
  let runA: RunTelemetry;
  let viewA: RunView;

  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'otlp-e2e-'));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    dataDir = await tempDir();
    settings = {
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      // Short windows so data is queryable (and a stop flushes) within a second or so.
      HOT_BATCH_WINDOW_MS: '200',
      LAKE_BATCH_WINDOW_MS: '500',
      LOG_LEVEL: 'WARN',
      CLICKHOUSE_HTTP_PORT: String(await freePort()),
      CLICKHOUSE_HTTP_PASSWORD: 'e2e-secret',
    };
    app = await startApp(settings);
    api = new QueryApi(app.url);
    runA = await makeRunTelemetry(`a${randomUUID().slice(0, 8)}`);
  });

  afterAll(async () => {
    await app?.stop('SIGKILL', STOP_WITHIN_MS).catch(() => undefined);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('prints a banner with the OTLP endpoint and the port asked for', () => {
    expect(app?.url).toBe(`http://127.0.0.1:${settings.PORT}`);
    expect(app?.output()).toContain('Tenant / key   local / local-dev-key');
  });

  it('accepts traces (protobuf), logs (JSON), metrics (protobuf) and traces (JSON + gzip) from the official exporters', async () => {
    const results = await sendRun(appUrl(), runA);
    expect({
      tracesProto: succeeded(results.tracesProto),
      logsJson: succeeded(results.logsJson),
      metricsProto: succeeded(results.metricsProto),
      tracesJsonGzip: succeeded(results.tracesJsonGzip),
    }).toEqual({
      tracesProto: 'success',
      logsJson: 'success',
      metricsProto: 'success',
      tracesJsonGzip: 'success',
    });
  });

  it('finds the protobuf trace by id with its spans, parentage, attributes and events', async () => {
    const body = await api.poll(
      `/v1/query/traces/${runA.checkoutTraceId}`,
      TraceResponseSchema,
      (b) => b.data.spans.length >= 2,
    );
    expect(body.data.traceId.toLowerCase()).toBe(runA.checkoutTraceId);
    const root = body.data.spans.find((s) => s.name === 'GET /checkout');
    const child = body.data.spans.find((s) => s.name === 'SELECT orders');
    expect(root).toMatchObject({
      parentSpanId: '',
      kind: 'SPAN_KIND_SERVER',
      serviceName: runA.service,
      durationMs: 120,
      status: { code: 'STATUS_CODE_OK' },
      attributes: { 'http.route': '/checkout', 'http.request.method': 'GET', [RUN_ID_ATTR]: runA.runId },
      resourceAttributes: { 'service.version': '1.2.3', [RUN_ID_ATTR]: runA.runId },
      scope: { name: 'e2e-shop', version: '0.1.0' },
    });
    expect(root?.events.map((e) => [e.name, e.attributes['order.items']])).toEqual([
      ['order.validated', '3'],
    ]);
    expect(child).toMatchObject({ kind: 'SPAN_KIND_CLIENT', durationMs: 40 });
    expect(child?.parentSpanId).toBe(root?.spanId);
    expect(body.data.spans).toHaveLength(2);
  });

  it('finds the gzip-compressed JSON trace with its error status', async () => {
    const body = await api.poll(`/v1/query/traces/${runA.paymentTraceId}`, TraceResponseSchema, (b) =>
      b.data.spans.some((s) => s.name === 'POST /pay'),
    );
    expect(body.data.spans).toHaveLength(1);
    expect(body.data.spans[0]).toMatchObject({
      name: 'POST /pay',
      durationMs: 60,
      status: { code: 'STATUS_CODE_ERROR', message: 'card declined' },
      attributes: { 'http.route': '/pay', [RUN_ID_ATTR]: runA.runId },
    });
  });

  it('lists both traces of the service, newest first, the failed one counted as an error', async () => {
    const body = await api.poll(
      `/v1/query/traces?service=${runA.service}`,
      TraceSearchResponseSchema,
      (b) => b.data.length >= 2,
    );
    expect(
      body.data.map((t) => [t.traceId.toLowerCase(), t.operation, t.spanCount, t.errorCount, t.durationMs]),
    ).toEqual([
      [runA.paymentTraceId, 'POST /pay', 1, 1, 60],
      [runA.checkoutTraceId, 'GET /checkout', 2, 0, 120],
    ]);
  });

  it('finds the logs by service, newest first with trace context, and by case-insensitive text', async () => {
    const byService = await api.poll(
      `/v1/query/logs?service=${runA.service}`,
      LogSearchResponseSchema,
      (b) => b.data.length >= 3,
    );
    expect(byService.data.map((l) => [l.severityText, l.body, l.traceId.toLowerCase()])).toEqual([
      ['ERROR', `Payment declined: insufficient funds (run ${runA.runId})`, runA.paymentTraceId],
      ['INFO', `order placed for run ${runA.runId}`, runA.checkoutTraceId],
      ['INFO', `checkout started for run ${runA.runId}`, runA.checkoutTraceId],
    ]);
    expect(byService.data[1]?.attributes).toMatchObject({ 'order.id': 'o-1', [RUN_ID_ATTR]: runA.runId });

    const byText = await api.get(
      `/v1/query/logs?service=${runA.service}&q=${encodeURIComponent('PAYMENT DECLINED')}`,
      LogSearchResponseSchema,
    );
    expect(byText.data.map((l) => [l.severityNumber, l.body])).toEqual([
      [17, `Payment declined: insufficient funds (run ${runA.runId})`],
    ]);
  });

  it('returns the metric series with the values the SDK recorded', async () => {
    const counter = await api.poll(
      `/v1/query/metrics?name=${ORDERS_METRIC}&service=${runA.service}&agg=sum&attr.${RUN_ID_ATTR}=${runA.runId}`,
      MetricResponseSchema,
      (b) => b.data.series.length > 0,
    );
    expect(counter.data.series.map((s) => [s.serviceName, s.metricType])).toEqual([[runA.service, 'sum']]);
    const points = counter.data.series[0]?.points.filter((p) => p.value !== null) ?? [];
    expect(points.map((p) => p.value)).toEqual([ORDERS_TOTAL]);

    const histogram = await api.poll(
      `/v1/query/metrics?name=${ORDER_VALUE_METRIC}&service=${runA.service}&agg=max`,
      MetricResponseSchema,
      (b) => b.data.series.length > 0,
    );
    expect(histogram.data.series[0]?.metricType).toBe('histogram');
    const max = histogram.data.series[0]?.points.map((p) => p.value).filter((v) => v !== null);
    expect(max).toEqual([Math.max(...ORDER_VALUES)]);
  });

  it('lists the service with its requests and error ratio', async () => {
    const body = await api.poll('/v1/query/services', ServicesResponseSchema, (b) =>
      b.data.some((s) => s.serviceName === runA.service && s.requests >= 2),
    );
    const service = body.data.find((s) => s.serviceName === runA.service);
    expect(service).toMatchObject({ requests: 2, errors: 1, errorRatio: 0.5 });
    expect(service?.latencyMs?.p99).toBeGreaterThanOrEqual(60);
  });

  it('holds exactly one copy of everything sent', async () => {
    viewA = await viewRun(api, runA);
    expect(viewA).toEqual(EXPECTED_VIEW);
  });

  it('serves ClickHouse over HTTP on the port asked for: the production client reads the same spans', async () => {
    const url = `http://127.0.0.1:${settings.CLICKHOUSE_HTTP_PORT}`;
    expect(app?.output()).toContain(`ClickHouse     ${url}  (user default;`);
    const clickhouse = createRemoteClickHouse({
      url,
      username: 'default',
      password: 'e2e-secret',
      database: 'default',
    });
    try {
      const rs = await clickhouse.query({
        query: `SELECT TraceId, count() AS spans FROM otel_traces
                WHERE TenantId = {tenant:String} AND TraceId IN {ids:Array(String)} GROUP BY TraceId ORDER BY spans`,
        query_params: { tenant: 'local', ids: [runA.checkoutTraceId, runA.paymentTraceId] },
        format: 'JSONEachRow',
      });
      expect(await rs.json()).toEqual([
        { TraceId: runA.paymentTraceId, spans: String(EXPECTED_VIEW.paymentSpans) },
        { TraceId: runA.checkoutTraceId, spans: String(EXPECTED_VIEW.checkoutSpans) },
      ]);
    } finally {
      await clickhouse.close();
    }
  });

  it('refuses a second instance on the same port with a "port in use" message and a non-zero exit', async () => {
    const second = await runToExit({ ...settings, DATA_DIR: await tempDir() });
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    expect(second.output).toMatch(new RegExp(`cannot start: port ${settings.PORT} .*already in use`));
    // The first instance is unharmed.
    expect((await api.get('/v1/query/services', ServicesResponseSchema)).data.length).toBeGreaterThan(0);
  });

  it('stops cleanly on SIGTERM and, restarted on the same data, still has every item once', async () => {
    const exit = await app?.stop('SIGTERM', STOP_WITHIN_MS);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(app?.output()).toContain('stopped cleanly');

    app = await startApp(settings);
    api = new QueryApi(app.url);
    expect(await viewRun(api, runA)).toEqual(viewA);
  });

  it('after the restart, the same data sent again under a new run id appears once and the first run stays single', async () => {
    const runB = await makeRunTelemetry(`b${randomUUID().slice(0, 8)}`);
    const results = await sendRun(appUrl(), runB);
    expect(Object.values(results).map(succeeded)).toEqual(['success', 'success', 'success', 'success']);
    // Once run B is visible the consumers have moved past anything they could have replayed.
    expect(await viewRun(api, runB)).toEqual(EXPECTED_VIEW);
    expect(await viewRun(api, runA)).toEqual(viewA);
  });

  it('refuses a bad setting, naming the variable', async () => {
    const bad = await runToExit({ ...settings, DATA_DIR: await tempDir(), PORT: 'abc' });
    expect(bad.code).toBe(1);
    expect(bad.output).toContain('cannot start: invalid local-mode settings');
    expect(bad.output).toMatch(/^\s*PORT: /m);
  });

  function appUrl(): string {
    if (!app) throw new Error('local mode is not running');
    return app.url;
  }
});
