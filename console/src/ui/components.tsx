import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { adviceFor, type Problem } from '../lib/api.js';
import type { Route } from '../lib/route.js';
import {
  absoluteRange,
  describeRange,
  narrowerRange,
  RELATIVE_PRESETS,
  resolveRange,
  TimeRangeError,
  widerRange,
} from '../lib/time-range.js';
import { type QueryState, rangeOf, refresh, setParams } from './state.js';

export function Loading({ what }: { what: string }) {
  return (
    <div class="state loading" role="status">
      Loading {what}…
    </div>
  );
}

/** An error that says what to do, with the action as a button where the console can do it. */
export function ProblemView({
  problem,
  route,
  onReenterKey,
}: {
  problem: Problem;
  route: Route;
  onReenterKey?: () => void;
}) {
  const advice = adviceFor(problem);
  const range = rangeOf(route);
  let action: ComponentChildren = null;
  if (problem.kind === 'timeout' || problem.kind === 'too-large') {
    action = (
      <button
        type="button"
        onClick={() =>
          setParams(route, narrowerRange(range, Date.now()) as unknown as Record<string, string>)
        }
      >
        Narrow the range
      </button>
    );
  } else if ((problem.kind === 'unauthorized' || problem.kind === 'forbidden') && onReenterKey) {
    action = (
      <button type="button" onClick={onReenterKey}>
        Enter the key again
      </button>
    );
  } else if (problem.kind === 'rate-limited' || problem.kind === 'server' || problem.kind === 'network') {
    action = (
      <button type="button" onClick={refresh}>
        Retry
      </button>
    );
  }
  return (
    <div class={`state error problem-${problem.kind}`} role="alert">
      <strong>{advice.title}.</strong> {advice.action} {action}
      <div class="detail">
        {problem.status > 0 ? `HTTP ${problem.status}: ` : ''}
        {problem.message}
      </div>
    </div>
  );
}

export function Empty({ route, what }: { route: Route; what: string }) {
  return (
    <div class="state empty">
      No {what} in this time range. Widen the range or relax the filters.{' '}
      <button type="button" onClick={() => setParams(route, { ...widerRange(rangeOf(route), Date.now()) })}>
        Widen the range
      </button>
    </div>
  );
}

/** Renders a query's data, or its loading/error state. */
export function Query<T>({
  state,
  route,
  what,
  children,
  isEmpty,
}: {
  state: QueryState<T>;
  route: Route;
  what: string;
  isEmpty?: (d: T) => boolean;
  children: (d: T) => ComponentChildren;
}) {
  if (state.status === 'error') return <ProblemView problem={state.problem} route={route} />;
  if (state.status === 'loading' && state.data === undefined) return <Loading what={what} />;
  const data = state.data as T;
  if (isEmpty?.(data)) return <Empty route={route} what={what} />;
  return <div class={state.status === 'loading' ? 'refreshing' : ''}>{children(data)}</div>;
}

/** Datetime-local value (UTC) of epoch ms. */
const toInput = (ms: number) => new Date(ms).toISOString().slice(0, 16);

export function TimePicker({ route }: { route: Route }) {
  const range = rangeOf(route);
  const [open, setOpen] = useState(false);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [error, setError] = useState<string | undefined>();
  let label: string;
  try {
    label = describeRange(range, Date.now());
  } catch (e) {
    label = e instanceof TimeRangeError ? `Invalid range: ${e.message}` : String(e);
  }
  const openPicker = () => {
    try {
      const r = resolveRange(range, Date.now());
      setFrom(toInput(r.fromMs));
      setTo(toInput(r.toMs));
    } catch {
      setFrom('');
      setTo('');
    }
    setError(undefined);
    setOpen(!open);
  };
  const apply = (e: Event) => {
    e.preventDefault();
    try {
      const r = resolveRange({ from: `${from}Z`, to: `${to}Z` }, Date.now());
      setParams(route, { ...absoluteRange(r.fromMs, r.toMs) });
      setOpen(false);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div class="picker">
      <button type="button" class="picker-button" onClick={openPicker} aria-expanded={open}>
        {label} ▾
      </button>
      <button type="button" onClick={refresh} title="Run the queries again (relative ranges move to now)">
        ⟳
      </button>
      {open && (
        <div class="picker-panel">
          <div class="presets">
            {RELATIVE_PRESETS.map((p) => (
              <button
                type="button"
                key={p.from}
                class={range.from === p.from && range.to === 'now' ? 'active' : ''}
                onClick={() => {
                  setParams(route, { from: p.from, to: 'now' });
                  setOpen(false);
                }}
              >
                {p.label}
              </button>
            ))}
          </div>
          <form class="absolute" onSubmit={apply}>
            <label>
              From (UTC){' '}
              <input type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
            </label>
            <label>
              To (UTC){' '}
              <input type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
            </label>
            <button type="submit">Apply</button>
            {error && <div class="state error">{error}</div>}
          </form>
        </div>
      )}
    </div>
  );
}

export interface ChartProps {
  readonly options: Omit<uPlot.Options, 'width' | 'height'>;
  readonly data: uPlot.AlignedData;
  readonly height?: number;
  readonly testId?: string;
  /** Called with the plot once drawn (click handlers on the plot area). */
  readonly onReady?: (u: uPlot) => void;
}

/** A uPlot chart sized to its container; rebuilt when the data change. */
export function Chart({ options, data, height = 200, testId, onReady }: ChartProps) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const u = new uPlot({ ...options, width: Math.max(200, host.clientWidth), height }, data, host);
    onReady?.(u);
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, host.clientWidth), height }));
    ro.observe(host);
    return () => {
      ro.disconnect();
      u.destroy();
    };
  }, [options, data, height, onReady]);
  return <div class="chart" ref={el} data-testid={testId} />;
}

export function Card({
  title,
  children,
  actions,
}: {
  title: ComponentChildren;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section class="card">
      <header>
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** A range in the URL that cannot be used (typed by hand, or an old link). */
export function RangeProblem({ message }: { message: string }) {
  return (
    <div class="state error" role="alert">
      <strong>This time range cannot be used.</strong> Pick another one with the time picker above.{' '}
      <div class="detail">{message}</div>
    </div>
  );
}
