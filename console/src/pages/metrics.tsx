import { useMemo, useState } from 'preact/hooks';
import type { Route } from '../lib/route.js';
import { type ResolvedRange, stepFor } from '../lib/time-range.js';
import { Card, Chart, Query, RangeProblem } from '../ui/components.js';
import { align, lineOptions } from '../ui/series.js';
import { iso, setParams, useQuery, useResolvedRange } from '../ui/state.js';

/** GET /v1/query/metrics/names (route 5). */
interface MetricName {
  name: string;
  type: 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';
  unit: string;
  description: string;
  services: string[];
}

/** GET /v1/query/metrics (MetricResponseSchema, plus `group` from route 6). */
interface MetricData {
  name: string;
  agg: string;
  stepSeconds: number;
  series: {
    serviceName: string;
    group?: string;
    metricType: string;
    points: { timeUnixMs: number; value: number | null }[];
  }[];
}

const BASIC_AGGS = ['avg', 'sum', 'min', 'max', 'count'] as const;
const PERCENTILES = ['p50', 'p90', 'p95', 'p99'] as const;
const isHistogram = (t: string | undefined) => t === 'histogram' || t === 'exponential_histogram';

function MetricChart({ data, unit, range }: { data: MetricData; unit: string; range: ResolvedRange }) {
  const { d, options } = useMemo(() => {
    const lines = data.series.map((s) => ({
      name: s.group ?? s.serviceName,
      points: s.points.map((p) => ({ t: p.timeUnixMs, v: p.value })),
    }));
    const u = data.agg === 'count' ? 'count' : unit === 'ms' || unit === 's' ? 'value' : 'value';
    return {
      d: align(lines),
      options: lineOptions(
        lines.map((l) => l.name),
        u,
        { range },
      ),
    };
  }, [data, unit, range]);
  return <Chart options={options} data={d} height={280} testId="metric-chart" />;
}

export function MetricsPage({ route }: { route: Route }) {
  const r = useResolvedRange(route);
  const ok = 'range' in r;
  const p = route.params;
  const range = ok ? { from: iso(r.range.fromMs), to: iso(r.range.toMs) } : {};
  const names = useQuery<MetricName[]>(ok ? '/v1/query/metrics/names' : undefined, range);
  const known = names.status === 'ok' ? names.data.data : [];
  const selected = known.find((n) => n.name === p.name);
  const agg = p.agg ?? (isHistogram(selected?.type) ? 'p95' : 'avg');
  const step = ok ? stepFor(r.range) : undefined;
  const metric = useQuery<MetricData>(ok && p.name ? '/v1/query/metrics' : undefined, {
    ...range,
    name: p.name,
    agg,
    service: p.service,
    ...(p.groupBy && p.groupBy !== 'service' && { groupBy: p.groupBy }),
    step,
  });
  const [draft, setDraft] = useState({
    name: p.name ?? '',
    service: p.service ?? '',
    groupBy: p.groupBy ?? 'service',
  });
  if ('error' in r) return <RangeProblem message={r.error} />;
  const namesMissing = names.status === 'error' && names.problem.kind === 'missing-route';
  return (
    <>
      <h1>Metrics</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setParams(route, { ...draft, agg: p.name === draft.name ? p.agg : undefined });
        }}
      >
        <label class="grow">
          Metric{' '}
          <input
            name="name"
            list="metric-names"
            value={draft.name}
            onInput={(e) => setDraft({ ...draft, name: e.currentTarget.value })}
            placeholder={
              namesMissing ? 'metric name, e.g. http.server.request.duration' : 'pick or type a metric'
            }
          />
          <datalist id="metric-names">
            {known.map((n) => (
              <option key={n.name} value={n.name}>
                {n.type}
                {n.unit ? ` (${n.unit})` : ''}
              </option>
            ))}
          </datalist>
        </label>
        <label>
          Service{' '}
          <input
            name="service"
            value={draft.service}
            onInput={(e) => setDraft({ ...draft, service: e.currentTarget.value })}
            placeholder="any"
          />
        </label>
        <label>
          Group by{' '}
          <input
            name="groupBy"
            value={draft.groupBy}
            onInput={(e) => setDraft({ ...draft, groupBy: e.currentTarget.value })}
            placeholder="service or attr.<key>"
          />
        </label>
        <button type="submit">Chart</button>
      </form>
      {known.length > 0 && (
        <div class="chips">
          {known.slice(0, 40).map((n) => (
            <button
              type="button"
              key={n.name}
              class={n.name === p.name ? 'active' : ''}
              title={`${n.type}${n.unit ? `, ${n.unit}` : ''}${n.description ? `: ${n.description}` : ''} (${n.services.join(', ')})`}
              onClick={() => {
                setDraft({ ...draft, name: n.name });
                setParams(route, { name: n.name, agg: undefined });
              }}
            >
              {n.name} <span class="muted">{n.type}</span>
            </button>
          ))}
        </div>
      )}
      {p.name ? (
        <Card
          title={`${p.name}${selected?.unit ? ` (${selected.unit})` : ''}`}
          actions={
            <label>
              Aggregate{' '}
              <select
                name="agg"
                value={agg}
                onChange={(e) => setParams(route, { agg: e.currentTarget.value })}
              >
                {(isHistogram(selected?.type) || !selected
                  ? [...PERCENTILES, ...BASIC_AGGS]
                  : BASIC_AGGS
                ).map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            </label>
          }
        >
          <Query
            state={metric}
            route={route}
            what="data points"
            isEmpty={(pg) => pg.data.series.length === 0}
          >
            {(page) => (
              <>
                <MetricChart data={page.data} unit={selected?.unit ?? ''} range={r.range} />
                <div class="muted">
                  {page.data.series.length} series · {page.data.agg} per {page.data.stepSeconds} s
                  {isHistogram(page.data.series[0]?.metricType) && PERCENTILES.includes(agg as never)
                    ? ' · percentiles estimated from the bucket counts'
                    : ''}
                </div>
              </>
            )}
          </Query>
        </Card>
      ) : (
        <div class="state note">Pick a metric{known.length > 0 ? ' above' : ''} to chart it.</div>
      )}
    </>
  );
}
