import { useMemo, useState } from 'preact/hooks';
import type { Route } from '../lib/route.js';
import { serviceGraph } from '../lib/service-map.js';
import { formatInstant } from '../lib/time-range.js';
import { layoutWaterfall, type Waterfall, type WaterfallRow } from '../lib/waterfall.js';
import { Card, Query } from '../ui/components.js';
import { colorFor, fmtMs, fmtPct } from '../ui/format.js';
import { hrefFor, rangeParams, useQuery } from '../ui/state.js';
import { VirtualList } from '../ui/virtual-list.js';
import { type LogRecord, LogRow } from './logs.js';

/** GET /v1/query/traces/{traceId} span (SpanSchema). */
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: string;
  serviceName: string;
  startTimeUnixNano: string;
  startTime: string;
  durationNanos: string;
  durationMs: number;
  status: { code: string; message: string };
  attributes: Record<string, string>;
  resourceAttributes: Record<string, string>;
  scope: { name: string; version: string };
  events: { timeUnixNano: string; name: string; attributes: Record<string, string> }[];
  links: { traceId: string; spanId: string; traceState: string; attributes: Record<string, string> }[];
}

function Attrs({ attrs }: { attrs: Record<string, string> }) {
  const entries = Object.entries(attrs).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <div class="muted">none</div>;
  return (
    <table class="kv">
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function SpanDetails({ row, w, route }: { row: WaterfallRow<Span>; w: Waterfall<Span>; route: Route }) {
  const s = row.span;
  const startNs = BigInt(s.startTimeUnixNano);
  return (
    <div class="span-details" data-testid="span-details">
      <h3>
        <span class="swatch" style={{ background: colorFor(s.serviceName) }} />
        {s.serviceName} · {s.name}
      </h3>
      <dl class="facts">
        <dt>Span</dt>
        <dd class="mono">{s.spanId}</dd>
        <dt>Parent</dt>
        <dd class="mono">{s.parentSpanId || '(root)'}</dd>
        <dt>Kind</dt>
        <dd>{s.kind.replace('SPAN_KIND_', '').toLowerCase()}</dd>
        <dt>Start</dt>
        <dd>
          {s.startTime} (+{fmtMs(row.startMs)})
        </dd>
        <dt>Duration</dt>
        <dd>{fmtMs(s.durationMs)}</dd>
        <dt>Status</dt>
        <dd class={row.error ? 'bad' : ''}>
          {s.status.code.replace('STATUS_CODE_', '').toLowerCase()}
          {s.status.message && `: ${s.status.message}`}
        </dd>
        <dt>Scope</dt>
        <dd>
          {s.scope.name} {s.scope.version}
        </dd>
      </dl>
      {row.skewShiftMs !== 0 && (
        <div class="state note">
          Clock skew: this {s.serviceName} span was recorded {fmtMs(Math.abs(row.skewShiftMs))}{' '}
          {row.skewShiftMs > 0 ? 'before' : 'after'} where its parent places it; it is drawn inside its
          parent.
        </div>
      )}
      {row.missingParent && (
        <div class="state note">Its parent span is not in this trace (not received or dropped).</div>
      )}
      <h4>Attributes</h4>
      <Attrs attrs={s.attributes} />
      <h4>Resource</h4>
      <Attrs attrs={s.resourceAttributes} />
      <h4>Events ({s.events.length})</h4>
      {s.events.map((e) => (
        <div class="event" key={`${e.timeUnixNano}-${e.name}`}>
          <strong>{e.name}</strong> +{fmtMs(Number(BigInt(e.timeUnixNano) - startNs) / 1e6)}
          <Attrs attrs={e.attributes} />
        </div>
      ))}
      <h4>Links ({s.links.length})</h4>
      {s.links.map((l) => (
        <div key={`${l.traceId}-${l.spanId}`}>
          <a href={hrefFor('traces', [l.traceId], rangeParams(route))} class="mono">
            {l.traceId}/{l.spanId}
          </a>
          <Attrs attrs={l.attributes} />
        </div>
      ))}
      <div class="muted">Trace total {fmtMs(w.totalMs)}</div>
    </div>
  );
}

function ticks(totalMs: number): number[] {
  const n = 5;
  return Array.from({ length: n + 1 }, (_, i) => (totalMs * i) / n);
}

function WaterfallView({
  w,
  selected,
  onSelect,
}: {
  w: Waterfall<Span>;
  selected?: string;
  onSelect: (id: string) => void;
}) {
  const total = w.totalMs || 1;
  const critical = useMemo(() => {
    const m = new Map<string, { startMs: number; endMs: number }[]>();
    for (const c of w.criticalPath) m.set(c.spanId, [...(m.get(c.spanId) ?? []), c]);
    return m;
  }, [w]);
  const pct = (ms: number) => `${(ms / total) * 100}%`;
  return (
    <div class="waterfall" data-testid="waterfall">
      <div class="wf-row wf-head">
        <div class="wf-name">Service · operation</div>
        <div class="wf-time">
          {ticks(total).map((t) => (
            <span key={t} class="tick" style={{ left: pct(t) }}>
              {fmtMs(t)}
            </span>
          ))}
        </div>
      </div>
      <VirtualList
        items={w.rows}
        estimate={26}
        height={Math.min(26 * w.rows.length + 4, 560)}
        itemKey={(r) => r.span.spanId}
        render={(r) => {
          const crit = critical.get(r.span.spanId);
          return (
            <button
              type="button"
              class={`wf-row ${r.error ? 'error' : ''} ${selected === r.span.spanId ? 'selected' : ''}`}
              data-span-id={r.span.spanId}
              onClick={() => onSelect(r.span.spanId)}
            >
              <span
                class="wf-name"
                style={{ paddingLeft: `${r.depth * 14 + 4}px` }}
                title={`${r.span.serviceName} ${r.span.name}`}
              >
                <span class="swatch" style={{ background: colorFor(r.span.serviceName) }} />
                <span class="svc">{r.span.serviceName}</span> {r.span.name}
                {r.error && (
                  <span class="badge bad" title={r.span.status.message}>
                    error
                  </span>
                )}
                {r.skewShiftMs !== 0 && (
                  <span
                    class="badge warn"
                    title="clock skew against the parent's service: moved inside its parent"
                  >
                    skew {fmtMs(Math.abs(r.skewShiftMs))}
                  </span>
                )}
                {r.missingParent && <span class="badge warn">parent missing</span>}
              </span>
              <span class="wf-time">
                <span
                  class="bar"
                  style={{
                    left: pct(r.startMs),
                    width: `max(2px, ${pct(r.durationMs)})`,
                    background: r.error ? '#eb5757' : colorFor(r.span.serviceName),
                  }}
                />
                {crit?.map((c) => (
                  <span
                    key={c.startMs}
                    class="crit"
                    style={{ left: pct(c.startMs), width: pct(c.endMs - c.startMs) }}
                  />
                ))}
                <span
                  class="dur"
                  style={{ left: `min(calc(${pct(r.startMs + r.durationMs)} + 4px), calc(100% - 60px))` }}
                >
                  {fmtMs(r.durationMs)}
                </span>
              </span>
            </button>
          );
        }}
      />
      <div class="legend-line muted">
        <span class="crit-key" /> critical path · <span class="badge bad">error</span> error status ·{' '}
        <span class="badge warn">skew</span> child of another service moved inside its parent
      </div>
    </div>
  );
}

function MiniMap({ spans }: { spans: Span[] }) {
  const g = useMemo(() => serviceGraph([spans]), [spans]);
  if (g.edges.length === 0) return null;
  return (
    <table class="grid small">
      <thead>
        <tr>
          <th>Call</th>
          <th class="num">Calls</th>
          <th class="num">Errors</th>
          <th class="num">Longest</th>
        </tr>
      </thead>
      <tbody>
        {g.edges.map((e) => (
          <tr key={`${e.parent}>${e.child}`}>
            <td>
              {e.parent} → {e.child}
            </td>
            <td class="num">{e.calls}</td>
            <td class="num">{fmtPct(e.errorRatio)}</td>
            <td class="num">{fmtMs(e.p99Ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TraceLogs({ route, w, traceId }: { route: Route; w: Waterfall<Span>; traceId: string }) {
  // The trace's logs: a window around the trace, wide enough for skewed clocks.
  const params = {
    traceId,
    from: new Date(w.traceStartMs - 300_000).toISOString(),
    to: new Date(w.traceStartMs + w.totalMs + 300_000).toISOString(),
    limit: 500,
  };
  const logs = useQuery<LogRecord[]>('/v1/query/logs', params);
  return (
    <Query state={logs} route={route} what="logs of this trace" isEmpty={(p) => p.data.length === 0}>
      {(page) => (
        <div class="trace-logs" data-testid="trace-logs">
          {[...page.data]
            .sort((a, b) => (BigInt(a.timeUnixNano) < BigInt(b.timeUnixNano) ? -1 : 1))
            .map((l) => (
              <LogRow
                key={`${l.timeUnixNano}-${l.spanId}-${l.body}`}
                log={l}
                route={route}
                showTrace={false}
              />
            ))}
        </div>
      )}
    </Query>
  );
}

export function TracePage({ route, traceId }: { route: Route; traceId: string }) {
  const trace = useQuery<{ traceId: string; spans: Span[] }>(
    `/v1/query/traces/${encodeURIComponent(traceId)}`,
    {},
  );
  const [selected, setSelected] = useState<string | undefined>();
  const range = rangeParams(route);
  return (
    <>
      <h1>
        Trace <span class="mono">{traceId}</span>
        <span class="sub">
          <a href={hrefFor('traces', [], range)}>← all traces</a>
        </span>
      </h1>
      <Query state={trace} route={route} what="the trace" isEmpty={(p) => p.data.spans.length === 0}>
        {(page) => {
          const w = layoutWaterfall(page.data.spans);
          const row = w.rows.find((r) => r.span.spanId === selected) ?? w.rows[0]!;
          const errors = w.rows.filter((r) => r.error).length;
          return (
            <>
              <div class="summary">
                <span>
                  {formatInstant(w.traceStartMs)} UTC · {fmtMs(w.totalMs)} · {w.rows.length} spans ·{' '}
                  {w.services.length} services
                </span>
                {errors > 0 && <span class="badge bad">{errors} errors</span>}
              </div>
              <div class="trace-layout">
                <Card title="Waterfall">
                  <WaterfallView w={w} selected={row.span.spanId} onSelect={setSelected} />
                </Card>
                <div class="side">
                  <Card title="Span">
                    <SpanDetails row={row} w={w} route={route} />
                  </Card>
                  <Card title="Logs of this trace">
                    <TraceLogs route={route} w={w} traceId={traceId} />
                  </Card>
                  <Card title="Calls between services">
                    <MiniMap spans={page.data.spans} />
                  </Card>
                </div>
              </div>
            </>
          );
        }}
      </Query>
    </>
  );
}
