import { useMemo } from 'preact/hooks';
import type { Route } from '../lib/route.js';
import { quantile } from '../lib/service-map.js';
import type { ResolvedRange } from '../lib/time-range.js';
import { Card, Chart, ProblemView, Query, RangeProblem } from '../ui/components.js';
import { colorFor, fmtMs, fmtPct, fmtRate } from '../ui/format.js';
import { align, lineOptions } from '../ui/series.js';
import { hrefFor, iso, rangeParams, useQuery, useResolvedRange } from '../ui/state.js';

/** GET /v1/query/services (hourly rollups over the range). */
export interface ServiceRow {
  serviceName: string;
  requests: number;
  requestRate: number;
  errors: number;
  errorRatio: number;
  latencyMs: { p50: number; p95: number; p99: number } | null;
}

/** GET /v1/query/services/series (console contract, route 1). */
export interface ServiceSeries {
  service: string;
  points: {
    t: number;
    requests: number;
    errors: number;
    rate: number;
    errorRatio: number;
    p50Ms: number | null;
    p95Ms: number | null;
    p99Ms: number | null;
  }[];
}

/** GET /v1/query/services/{service}/operations (route 2). */
export interface OperationRow {
  operation: string;
  requests: number;
  errors: number;
  rate: number;
  errorRatio: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

type Metric = 'rate' | 'errorRatio' | 'p50Ms' | 'p95Ms' | 'p99Ms';

function SeriesCharts({
  range,
  series,
  metrics,
}: {
  range: ResolvedRange;
  series: ServiceSeries[];
  metrics: { metric: Metric; title: string; byService?: boolean }[];
}) {
  const charts = useMemo(
    () =>
      metrics.map(({ metric, title }) => {
        const lines = series.map((s) => ({
          name: s.service,
          points: s.points.map((p) => ({ t: p.t, v: p[metric] })),
        }));
        const unit = metric === 'rate' ? 'rate' : metric === 'errorRatio' ? 'ratio' : 'ms';
        return {
          title,
          data: align(lines),
          options: lineOptions(
            lines.map((l) => l.name),
            unit,
            { range },
          ),
        };
      }),
    [series, metrics, range],
  );
  return (
    <div class="charts">
      {charts.map((c) => (
        <Card key={c.title} title={c.title}>
          <Chart options={c.options} data={c.data} height={180} testId={`chart-${c.title}`} />
        </Card>
      ))}
    </div>
  );
}

const OVERVIEW: { metric: Metric; title: string }[] = [
  { metric: 'rate', title: 'Request rate' },
  { metric: 'errorRatio', title: 'Error ratio' },
  { metric: 'p95Ms', title: 'p95 latency' },
];

export function ServicesPage({ route }: { route: Route }) {
  const r = useResolvedRange(route);
  const params = 'range' in r ? { from: iso(r.range.fromMs), to: iso(r.range.toMs) } : {};
  const ok = 'range' in r;
  const table = useQuery<ServiceRow[]>(ok ? '/v1/query/services' : undefined, params);
  const series = useQuery<ServiceSeries[]>(ok ? '/v1/query/services/series' : undefined, params);
  const range = rangeParams(route);
  if ('error' in r) return <RangeProblem message={r.error} />;
  return (
    <>
      <h1>Services</h1>
      {series.status === 'error' && series.problem.kind === 'missing-route' ? (
        <div class="state note">
          Charts over time need GET /v1/query/services/series on this API (the table below is complete).
        </div>
      ) : (
        <Query state={series} route={route} what="service charts">
          {(page) => <SeriesCharts range={r.range} series={page.data} metrics={OVERVIEW} />}
        </Query>
      )}
      <Card title="All services">
        <Query state={table} route={route} what="services" isEmpty={(p) => p.data.length === 0}>
          {(page) => (
            <table class="grid" data-testid="services-table">
              <thead>
                <tr>
                  <th>Service</th>
                  <th class="num">Requests</th>
                  <th class="num">Rate</th>
                  <th class="num">Errors</th>
                  <th class="num">p50</th>
                  <th class="num">p95</th>
                  <th class="num">p99</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {page.data.map((s) => (
                  <tr key={s.serviceName}>
                    <td>
                      <span class="swatch" style={{ background: colorFor(s.serviceName) }} />
                      <a href={hrefFor('services', [s.serviceName], range)}>{s.serviceName}</a>
                    </td>
                    <td class="num">{s.requests.toLocaleString('en-US')}</td>
                    <td class="num rate">{fmtRate(s.requestRate)}</td>
                    <td class={`num ${s.errorRatio > 0.05 ? 'bad' : ''}`}>{fmtPct(s.errorRatio)}</td>
                    <td class="num">{fmtMs(s.latencyMs?.p50)}</td>
                    <td class="num">{fmtMs(s.latencyMs?.p95)}</td>
                    <td class="num">{fmtMs(s.latencyMs?.p99)}</td>
                    <td class="links">
                      <a href={hrefFor('traces', [], { ...range, service: s.serviceName })}>traces</a>{' '}
                      <a href={hrefFor('logs', [], { ...range, service: s.serviceName })}>logs</a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Query>
      </Card>
    </>
  );
}

interface TraceSummary {
  traceId: string;
  operation: string;
  durationMs: number;
  errorCount: number;
  serviceName: string;
}

/** Operations estimated from a sample of the service's traces, when the API has no operations route. */
function sampleOperations(traces: readonly TraceSummary[]): OperationRow[] {
  const by = new Map<string, { d: number[]; errors: number }>();
  for (const t of traces) {
    const o = by.get(t.operation) ?? { d: [], errors: 0 };
    o.d.push(t.durationMs);
    if (t.errorCount > 0) o.errors++;
    by.set(t.operation, o);
  }
  return [...by.entries()]
    .map(([operation, o]) => {
      const d = o.d.sort((a, b) => a - b);
      return {
        operation,
        requests: d.length,
        errors: o.errors,
        rate: Number.NaN,
        errorRatio: o.errors / d.length,
        p50Ms: quantile(d, 0.5),
        p95Ms: quantile(d, 0.95),
        p99Ms: quantile(d, 0.99),
      };
    })
    .sort((a, b) => b.requests - a.requests);
}

export function ServicePage({ route, service }: { route: Route; service: string }) {
  const r = useResolvedRange(route);
  const ok = 'range' in r;
  const params = ok ? { from: iso(r.range.fromMs), to: iso(r.range.toMs) } : {};
  const series = useQuery<ServiceSeries[]>(ok ? '/v1/query/services/series' : undefined, {
    ...params,
    service,
  });
  const ops = useQuery<OperationRow[]>(
    ok ? `/v1/query/services/${encodeURIComponent(service)}/operations` : undefined,
    params,
  );
  const opsMissing = ops.status === 'error' && ops.problem.kind === 'missing-route';
  const sample = useQuery<TraceSummary[]>(opsMissing ? '/v1/query/traces' : undefined, {
    ...params,
    service,
    limit: 1000,
  });
  const range = rangeParams(route);
  if ('error' in r) return <RangeProblem message={r.error} />;
  const opTable = (rows: OperationRow[], sampled: boolean) => (
    <table class="grid" data-testid="operations-table">
      <thead>
        <tr>
          <th>Operation</th>
          <th class="num">{sampled ? 'Sampled traces' : 'Requests'}</th>
          {!sampled && <th class="num">Rate</th>}
          <th class="num">Errors</th>
          <th class="num">p50</th>
          <th class="num">p95</th>
          <th class="num">p99</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((o) => (
          <tr key={o.operation}>
            <td>
              <a href={hrefFor('traces', [], { ...range, service, operation: o.operation })}>{o.operation}</a>
            </td>
            <td class="num">{o.requests.toLocaleString('en-US')}</td>
            {!sampled && <td class="num">{fmtRate(o.rate)}</td>}
            <td class="num">{fmtPct(o.errorRatio)}</td>
            <td class="num">{fmtMs(o.p50Ms)}</td>
            <td class="num">{fmtMs(o.p95Ms)}</td>
            <td class="num">{fmtMs(o.p99Ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <>
      <h1>
        <span class="swatch" style={{ background: colorFor(service) }} />
        {service}
        <span class="sub">
          <a href={hrefFor('traces', [], { ...range, service })}>traces</a> ·{' '}
          <a href={hrefFor('logs', [], { ...range, service })}>logs</a> ·{' '}
          <a href={hrefFor('services', [], range)}>all services</a>
        </span>
      </h1>
      {series.status === 'error' && series.problem.kind === 'missing-route' ? (
        <div class="state note">Charts over time need GET /v1/query/services/series on this API.</div>
      ) : (
        <Query state={series} route={route} what="service charts" isEmpty={(p) => p.data.length === 0}>
          {(page) => {
            const s = page.data.find((x) => x.service === service) ?? page.data[0]!;
            const latency = [
              { name: 'p50', points: s.points.map((p) => ({ t: p.t, v: p.p50Ms })) },
              { name: 'p95', points: s.points.map((p) => ({ t: p.t, v: p.p95Ms })) },
              { name: 'p99', points: s.points.map((p) => ({ t: p.t, v: p.p99Ms })) },
            ];
            return (
              <div class="charts">
                <SeriesCharts range={r.range} series={[s]} metrics={OVERVIEW.slice(0, 2)} />
                <Card title="Latency">
                  <Chart
                    options={lineOptions(['p50', 'p95', 'p99'], 'ms', {
                      range: r.range,
                      colors: { p50: '#2f80ed', p95: '#f2994a', p99: '#eb5757' },
                    })}
                    data={align(latency)}
                    height={180}
                  />
                </Card>
              </div>
            );
          }}
        </Query>
      )}
      <Card title="Operations">
        {opsMissing ? (
          sample.status === 'error' ? (
            <ProblemView problem={sample.problem} route={route} />
          ) : (
            <Query state={sample} route={route} what="operations" isEmpty={(p) => p.data.length === 0}>
              {(page) => (
                <>
                  <div class="state note">Estimated from {page.data.length} traces of the range.</div>
                  {opTable(sampleOperations(page.data), true)}
                </>
              )}
            </Query>
          )
        ) : (
          <Query state={ops} route={route} what="operations" isEmpty={(p) => p.data.length === 0}>
            {(page) => opTable(page.data, false)}
          </Query>
        )}
      </Card>
    </>
  );
}
