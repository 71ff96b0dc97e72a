import {
  forceCenter,
  forceCollide,
  forceLink,
  forceManyBody,
  forceSimulation,
  type SimulationNodeDatum,
} from 'd3-force';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Page as ApiPage } from '../lib/api.js';
import type { Route } from '../lib/route.js';
import { serviceGraph } from '../lib/service-map.js';
import { Card, ProblemView, Query, RangeProblem } from '../ui/components.js';
import { colorFor, fmtMs, fmtPct, fmtRate } from '../ui/format.js';
import { api, hrefFor, iso, type QueryState, rangeParams, useQuery, useResolvedRange } from '../ui/state.js';
import type { Span } from './trace.js';
import type { TraceSummary } from './traces.js';

/** GET /v1/query/service-map (route 3). */
export interface ServiceMap {
  nodes: { service: string; requests: number; errors: number; rate: number | null; errorRatio: number }[];
  edges: {
    parent: string;
    child: string;
    calls: number;
    errors: number;
    rate: number | null;
    errorRatio: number;
    p50Ms: number;
    p95Ms: number;
    p99Ms: number;
  }[];
}

interface Placed extends SimulationNodeDatum {
  id: string;
}

const W = 900;
const H = 520;

/** Places the services with a force layout, run to rest before drawing (no animation). */
function layout(map: ServiceMap): Map<string, { x: number; y: number }> {
  const nodes: Placed[] = map.nodes.map((n) => ({ id: n.service }));
  const links = map.edges.map((e) => ({ source: e.parent, target: e.child }));
  const sim = forceSimulation(nodes)
    .force('charge', forceManyBody().strength(-1400))
    .force(
      'link',
      forceLink<Placed, { source: string; target: string }>(links)
        .id((d) => d.id)
        .distance(260),
    )
    .force('center', forceCenter(W / 2, H / 2))
    .force('collide', forceCollide(90))
    .stop();
  for (let i = 0; i < 300; i++) sim.tick();
  return new Map(
    nodes.map((n) => [
      n.id,
      {
        x: Math.min(W - 80, Math.max(80, n.x ?? 0)),
        y: Math.min(H - 60, Math.max(40, n.y ?? 0)),
      },
    ]),
  );
}

function Graph({ map, route }: { map: ServiceMap; route: Route }) {
  const pos = useMemo(() => layout(map), [map]);
  const range = rangeParams(route);
  return (
    <svg
      class="service-map"
      viewBox={`0 0 ${W} ${H}`}
      data-testid="service-map"
      role="img"
      aria-label="Service map"
    >
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="10"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto-start-reverse"
        >
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#8795a1" />
        </marker>
      </defs>
      {map.edges.map((e) => {
        const a = pos.get(e.parent);
        const b = pos.get(e.child);
        if (!a || !b) return null;
        const dx = b.x - a.x;
        const dy = b.y - a.y;
        const len = Math.hypot(dx, dy) || 1;
        const r = 34;
        const x1 = a.x + (dx / len) * r;
        const y1 = a.y + (dy / len) * r;
        const x2 = b.x - (dx / len) * r;
        const y2 = b.y - (dy / len) * r;
        const bad = e.errorRatio > 0.05;
        return (
          <g key={`${e.parent}>${e.child}`} class="edge">
            <line
              x1={x1}
              y1={y1}
              x2={x2}
              y2={y2}
              stroke={bad ? '#eb5757' : '#8795a1'}
              stroke-width={1.5 + Math.min(4, Math.log10(1 + e.calls))}
              marker-end="url(#arrow)"
            />
            <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 6} class="edge-label">
              {e.rate === null ? `${e.calls} calls` : fmtRate(e.rate)} · {fmtPct(e.errorRatio)} · p95{' '}
              {fmtMs(e.p95Ms)}
            </text>
            <title>
              {e.parent} → {e.child}: {e.calls} calls, {e.errors} errors, p50 {fmtMs(e.p50Ms)}, p95{' '}
              {fmtMs(e.p95Ms)}, p99 {fmtMs(e.p99Ms)}
            </title>
          </g>
        );
      })}
      {map.nodes.map((n) => {
        const p = pos.get(n.service);
        if (!p) return null;
        return (
          <a key={n.service} href={hrefFor('services', [n.service], range)} class="node">
            <circle
              cx={p.x}
              cy={p.y}
              r={30}
              fill="#fff"
              stroke={colorFor(n.service)}
              stroke-width={n.errorRatio > 0.05 ? 5 : 3}
            />
            <text x={p.x} y={p.y + 48} class="node-label">
              {n.service}
            </text>
            <text x={p.x} y={p.y + 4} class="node-stat">
              {fmtPct(n.errorRatio)}
            </text>
          </a>
        );
      })}
    </svg>
  );
}

const SAMPLE_TRACES = 40;

/** When the API has no map route: the edges of a sample of the range's traces. */
function useSampledMap(enabled: boolean, params: Record<string, string>): QueryState<ApiPage<ServiceMap>> {
  const [state, setState] = useState<QueryState<ApiPage<ServiceMap>>>({ status: 'loading' });
  const key = JSON.stringify(params);
  useEffect(() => {
    if (!enabled) return;
    const ctrl = new AbortController();
    (async () => {
      const list = await api.get<TraceSummary[]>(
        '/v1/query/traces',
        { ...params, limit: SAMPLE_TRACES },
        ctrl.signal,
      );
      const traces = await Promise.all(
        list.data.map((t) =>
          api
            .get<{ spans: Span[] }>(`/v1/query/traces/${t.traceId}`, {}, ctrl.signal)
            .then((p) => p.data.spans),
        ),
      );
      const g = serviceGraph(traces);
      setState({
        status: 'ok',
        data: {
          data: {
            nodes: g.nodes.map((n) => ({
              service: n.service,
              requests: n.spans,
              errors: n.errors,
              rate: null,
              errorRatio: n.spans ? n.errors / n.spans : 0,
            })),
            edges: g.edges.map((e) => ({ ...e, rate: null })),
          },
          meta: { nextCursor: null },
        },
      });
    })().catch((e: unknown) => {
      if (ctrl.signal.aborted) return;
      const problem =
        e && typeof e === 'object' && 'problem' in e
          ? (e as { problem: import('../lib/api.js').Problem }).problem
          : { kind: 'server' as const, status: 0, message: String(e) };
      setState({ status: 'error', problem });
    });
    return () => ctrl.abort();
  }, [enabled, key]);
  return state;
}

export function MapPage({ route }: { route: Route }) {
  const r = useResolvedRange(route);
  const ok = 'range' in r;
  const params = ok ? { from: iso(r.range.fromMs), to: iso(r.range.toMs) } : ({} as Record<string, string>);
  const map = useQuery<ServiceMap>(ok ? '/v1/query/service-map' : undefined, params);
  const missing = map.status === 'error' && map.problem.kind === 'missing-route';
  const sampled = useSampledMap(missing, params);
  if ('error' in r) return <RangeProblem message={r.error} />;
  const state = missing ? sampled : map;
  return (
    <>
      <h1>Service map</h1>
      <Card
        title={
          missing ? `Calls between services in ${SAMPLE_TRACES} sampled traces` : 'Calls between services'
        }
      >
        {state.status === 'error' ? (
          <ProblemView problem={state.problem} route={route} />
        ) : (
          <Query
            state={state}
            route={route}
            what="calls between services"
            isEmpty={(p) => p.data.nodes.length === 0}
          >
            {(page) => (
              <>
                <Graph map={page.data} route={route} />
                <table class="grid small" data-testid="map-edges">
                  <thead>
                    <tr>
                      <th>Caller → callee</th>
                      <th class="num">Calls</th>
                      <th class="num">Rate</th>
                      <th class="num">Errors</th>
                      <th class="num">p50</th>
                      <th class="num">p95</th>
                      <th class="num">p99</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.edges.map((e) => (
                      <tr key={`${e.parent}>${e.child}`}>
                        <td>
                          {e.parent} → {e.child}
                        </td>
                        <td class="num">{e.calls}</td>
                        <td class="num">{e.rate === null ? '–' : fmtRate(e.rate)}</td>
                        <td class="num">{fmtPct(e.errorRatio)}</td>
                        <td class="num">{fmtMs(e.p50Ms)}</td>
                        <td class="num">{fmtMs(e.p95Ms)}</td>
                        <td class="num">{fmtMs(e.p99Ms)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </>
            )}
          </Query>
        )}
      </Card>
    </>
  );
}
