import { useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import type { Route } from '../lib/route.js';
import { formatInstant } from '../lib/time-range.js';
import { Card, Chart, Query, RangeProblem } from '../ui/components.js';
import { colorFor, fmtMs } from '../ui/format.js';
import { timeAxis, utcTimeAxis } from '../ui/series.js';
import {
  hrefFor,
  iso,
  navigate,
  rangeParams,
  setParams,
  useQuery,
  useResolvedRange,
  useStableCallback,
} from '../ui/state.js';
import { VirtualList } from '../ui/virtual-list.js';

/** GET /v1/query/traces TraceSummary. */
export interface TraceSummary {
  traceId: string;
  startTimeUnixNano: string;
  startTime: string;
  serviceName: string;
  operation: string;
  durationMs: number;
  spanCount: number;
  errorCount: number;
}

const FILTERS = ['service', 'operation', 'minDurationMs', 'status', 'limit'] as const;

function Filters({ route }: { route: Route }) {
  const [draft, setDraft] = useState<Record<string, string>>(() =>
    Object.fromEntries(FILTERS.map((f) => [f, route.params[f] ?? ''])),
  );
  const set = (k: string) => (e: { currentTarget: { value: string } }) =>
    setDraft({ ...draft, [k]: e.currentTarget.value });
  return (
    <form
      class="filters"
      onSubmit={(e) => {
        e.preventDefault();
        setParams(route, draft);
      }}
    >
      <label>
        Service <input name="service" value={draft.service} onInput={set('service')} placeholder="any" />
      </label>
      <label>
        Operation{' '}
        <input name="operation" value={draft.operation} onInput={set('operation')} placeholder="any" />
      </label>
      <label>
        Min duration (ms){' '}
        <input
          name="minDurationMs"
          type="number"
          min="0"
          value={draft.minDurationMs}
          onInput={set('minDurationMs')}
        />
      </label>
      <label>
        Status{' '}
        <select name="status" value={draft.status} onChange={set('status')}>
          <option value="">any</option>
          <option value="error">error</option>
          <option value="ok">ok</option>
          <option value="unset">unset</option>
        </select>
      </label>
      <label>
        Limit{' '}
        <select name="limit" value={draft.limit || '200'} onChange={set('limit')}>
          {['50', '200', '500', '1000'].map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Search</button>
    </form>
  );
}

/** Duration over time; a click on a point opens its trace (the nearest point within a few pixels). */
function Scatter({
  traces,
  fromMs,
  toMs,
  route,
}: {
  traces: TraceSummary[];
  fromMs: number;
  toMs: number;
  route: Route;
}) {
  const sorted = useMemo(
    () => [...traces].sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime)),
    [traces],
  );
  const maxMs = Math.max(1, ...sorted.map((t) => t.durationMs));
  const data = useMemo<uPlot.AlignedData>(() => {
    const xs = sorted.map((t) => Date.parse(t.startTime) / 1000);
    const ok = sorted.map((t) => (t.errorCount > 0 ? null : t.durationMs));
    const bad = sorted.map((t) => (t.errorCount > 0 ? t.durationMs : null));
    return [xs, ok, bad];
  }, [sorted]);
  const options = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(() => {
    const points = (color: string) => ({
      stroke: color,
      fill: color,
      paths: () => null,
      points: { show: true, size: 7, stroke: color, fill: color },
      value: (_u: uPlot, v: number | null) => fmtMs(v),
    });
    return {
      ...utcTimeAxis,
      // Fixed scales: the range asked for and 0..max, so a point's place says when and how long.
      scales: {
        x: { time: true, range: () => [fromMs / 1000, toMs / 1000] },
        y: { range: () => [0, maxMs * 1.1] },
      },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      legend: { show: true },
      axes: [timeAxis, { values: (_u, vals) => vals.map((v) => fmtMs(v)), size: 70 }],
      series: [{}, { label: 'ok', ...points('#2f80ed') }, { label: 'error', ...points('#eb5757') }],
    };
  }, [fromMs, toMs, maxMs]);
  const open = useStableCallback((u: uPlot, e: MouseEvent) => {
    const rect = u.over.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    let best = -1;
    let bestD = 12 * 12;
    for (let i = 0; i < sorted.length; i++) {
      const px = u.valToPos(data[0][i]!, 'x');
      const py = u.valToPos(sorted[i]!.durationMs, 'y');
      const d = (px - x) ** 2 + (py - y) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    if (best >= 0) navigate('traces', [sorted[best]!.traceId], rangeParams(route));
  });
  const onReady = useStableCallback((u: uPlot) => {
    u.over.style.cursor = 'pointer';
    u.over.addEventListener('click', (e) => open(u, e));
  });
  return <Chart options={options} data={data} height={240} testId="trace-scatter" onReady={onReady} />;
}

export function TracesPage({ route }: { route: Route }) {
  const r = useResolvedRange(route);
  const ok = 'range' in r;
  const p = route.params;
  const params = ok
    ? {
        from: iso(r.range.fromMs),
        to: iso(r.range.toMs),
        service: p.service,
        operation: p.operation,
        minDurationMs: p.minDurationMs,
        status: p.status,
        limit: p.limit ?? '200',
      }
    : {};
  const traces = useQuery<TraceSummary[]>(ok ? '/v1/query/traces' : undefined, params);
  const range = rangeParams(route);
  if ('error' in r) return <RangeProblem message={r.error} />;
  return (
    <>
      <h1>Traces</h1>
      <Filters route={route} />
      <Query state={traces} route={route} what="traces" isEmpty={(pg) => pg.data.length === 0}>
        {(page) => (
          <>
            <Card title={`Duration over time (${page.data.length} traces; click a point to open it)`}>
              <Scatter traces={page.data} fromMs={r.range.fromMs} toMs={r.range.toMs} route={route} />
            </Card>
            <Card title="Results">
              <div class="trow thead">
                <span>Start (UTC)</span>
                <span>Service</span>
                <span>Operation</span>
                <span class="num">Duration</span>
                <span class="num">Spans</span>
                <span class="num">Errors</span>
              </div>
              <VirtualList
                items={page.data}
                estimate={30}
                height="50vh"
                testId="trace-results"
                itemKey={(t) => t.traceId}
                render={(t) => (
                  <a
                    class={`trow ${t.errorCount > 0 ? 'bad' : ''}`}
                    href={hrefFor('traces', [t.traceId], range)}
                  >
                    <span>{formatInstant(Date.parse(t.startTime))}</span>
                    <span>
                      <span class="swatch" style={{ background: colorFor(t.serviceName) }} />
                      {t.serviceName}
                    </span>
                    <span>{t.operation}</span>
                    <span class="num">{fmtMs(t.durationMs)}</span>
                    <span class="num">{t.spanCount}</span>
                    <span class="num">{t.errorCount}</span>
                  </a>
                )}
              />
            </Card>
          </>
        )}
      </Query>
    </>
  );
}
