import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError } from '../lib/api.js';
import type { Route } from '../lib/route.js';
import { formatInstant, parseDurationMs, type ResolvedRange, stepFor } from '../lib/time-range.js';
import { Card, Chart, ProblemView, Query, RangeProblem } from '../ui/components.js';
import { colorFor, SEVERITY_COLORS } from '../ui/format.js';
import { align, lineOptions } from '../ui/series.js';
import { api, hrefFor, iso, rangeParams, setParams, useQuery, useResolvedRange } from '../ui/state.js';
import { VirtualList } from '../ui/virtual-list.js';

/** GET /v1/query/logs record (LogRecordSchema). */
export interface LogRecord {
  timeUnixNano: string;
  time: string;
  serviceName: string;
  severityText: string;
  severityNumber: number;
  body: string;
  traceId: string;
  spanId: string;
  attributes: Record<string, string>;
  resourceAttributes: Record<string, string>;
}

export const SEVERITIES = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
type Severity = (typeof SEVERITIES)[number];

/** The OTLP severity range (1-24, four numbers per level) a record belongs to. */
export function severityOf(n: number, text: string): Severity {
  if (n >= 1 && n <= 24) return SEVERITIES[Math.floor((n - 1) / 4)]!;
  const t = text.toUpperCase();
  return (SEVERITIES as readonly string[]).includes(t) ? (t as Severity) : 'INFO';
}

/** GET /v1/query/logs/histogram (route 4). */
interface HistogramBucket {
  t: number;
  counts: Record<Severity, number>;
}

const logKey = (l: LogRecord) => `${l.timeUnixNano}|${l.serviceName}|${l.spanId}|${l.body.slice(0, 64)}`;

export function LogRow({
  log,
  route,
  showTrace = true,
}: {
  log: LogRecord;
  route: Route;
  showTrace?: boolean;
}) {
  const [open, setOpen] = useState(false);
  const sev = severityOf(log.severityNumber, log.severityText);
  return (
    <div class={`log ${open ? 'open' : ''}`} data-severity={sev}>
      <button type="button" class="log-line" onClick={() => setOpen(!open)} aria-expanded={open}>
        <span class="time">{log.time.replace('T', ' ').replace(/\.(\d{3})\d*Z$/, '.$1')}</span>
        <span class="sev" style={{ color: SEVERITY_COLORS[sev] }}>
          {sev}
        </span>
        <span class="svc">
          <span class="swatch" style={{ background: colorFor(log.serviceName) }} />
          {log.serviceName}
        </span>
        <span class="body">{log.body}</span>
      </button>
      {showTrace && log.traceId && (
        <a
          class="to-trace"
          href={hrefFor('traces', [log.traceId], rangeParams(route))}
          title="Open the trace of this record"
        >
          trace →
        </a>
      )}
      {open && (
        <div class="log-detail">
          <pre>{log.body}</pre>
          <table class="kv">
            <tbody>
              {log.traceId && (
                <tr>
                  <th>trace / span</th>
                  <td class="mono">
                    <a href={hrefFor('traces', [log.traceId], rangeParams(route))}>{log.traceId}</a> /{' '}
                    {log.spanId}
                  </td>
                </tr>
              )}
              <tr>
                <th>severity</th>
                <td>
                  {log.severityText || '–'} ({log.severityNumber})
                </td>
              </tr>
              {Object.entries(log.attributes).map(([k, v]) => (
                <tr key={`a.${k}`}>
                  <th>{k}</th>
                  <td>{v}</td>
                </tr>
              ))}
              {Object.entries(log.resourceAttributes).map(([k, v]) => (
                <tr key={`r.${k}`}>
                  <th class="muted">resource {k}</th>
                  <td>{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** `key=value` attribute filters, comma-separated, applied to the loaded records (the API filters text, service, severity). */
function attrFilter(spec: string | undefined): (l: LogRecord) => boolean {
  const pairs = (spec ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      return i < 0 ? ([p, undefined] as const) : ([p.slice(0, i).trim(), p.slice(i + 1).trim()] as const);
    });
  return (l) =>
    pairs.every(([k, v]) => {
      const actual = l.attributes[k] ?? l.resourceAttributes[k];
      return v === undefined ? actual !== undefined : actual === v;
    });
}

function histogramFromRecords(
  records: readonly LogRecord[],
  fromMs: number,
  stepMs: number,
): HistogramBucket[] {
  const by = new Map<number, HistogramBucket>();
  for (const l of records) {
    const t = fromMs + Math.floor((Date.parse(l.time) - fromMs) / stepMs) * stepMs;
    const b = by.get(t) ?? { t, counts: { TRACE: 0, DEBUG: 0, INFO: 0, WARN: 0, ERROR: 0, FATAL: 0 } };
    b.counts[severityOf(l.severityNumber, l.severityText)]++;
    by.set(t, b);
  }
  return [...by.values()].sort((a, b) => a.t - b.t);
}

function VolumeChart({ buckets, range }: { buckets: HistogramBucket[]; range: ResolvedRange }) {
  const { data, options } = useMemo(() => {
    const lines = SEVERITIES.map((s) => ({
      name: s,
      points: buckets.map((b) => ({ t: b.t, v: b.counts[s] || null })),
    }));
    return {
      data: align(lines),
      options: lineOptions(SEVERITIES, 'count', { bars: true, colors: SEVERITY_COLORS, range }),
    };
  }, [buckets, range]);
  return <Chart options={options} data={data} height={150} testId="log-histogram" />;
}

const FOLLOW_MS = 3000;

export function LogsPage({ route }: { route: Route }) {
  const r = useResolvedRange(route);
  const ok = 'range' in r;
  const p = route.params;
  const filters = { service: p.service, severity: p.severity, q: p.q };
  const params = ok ? { from: iso(r.range.fromMs), to: iso(r.range.toMs), ...filters } : {};
  // The log histogram is read from the per-minute rollup: whole minutes only.
  const step = ok ? stepFor(r.range, 120, 60_000) : '1m';
  const logs = useQuery<LogRecord[]>(ok ? '/v1/query/logs' : undefined, { ...params, limit: 1000 });
  const hist = useQuery<HistogramBucket[]>(ok ? '/v1/query/logs/histogram' : undefined, { ...params, step });
  const [draft, setDraft] = useState({
    q: p.q ?? '',
    service: p.service ?? '',
    severity: p.severity ?? '',
    attr: p.attr ?? '',
  });
  const follow = p.follow === '1';
  const [followed, setFollowed] = useState<LogRecord[]>([]);
  const [followProblem, setFollowProblem] = useState<ApiError | undefined>();
  const newest = useRef<string | undefined>(undefined);
  const loaded = logs.status === 'ok' ? logs.data.data : undefined;
  useEffect(() => {
    setFollowed([]);
    newest.current = loaded?.[0]?.time ?? (ok ? iso(r.range.toMs) : undefined);
    if (!follow || !ok) return;
    const timer = setInterval(async () => {
      try {
        const page = await api.get<LogRecord[]>('/v1/query/logs', {
          ...filters,
          from: newest.current,
          to: 'now',
          limit: 1000,
        });
        setFollowProblem(undefined);
        if (page.data.length === 0) return;
        newest.current = page.data[0]!.time;
        setFollowed((prev) => {
          const seen = new Set([...prev, ...(loaded ?? [])].map(logKey));
          return [...page.data.filter((l) => !seen.has(logKey(l))), ...prev];
        });
      } catch (e) {
        if (e instanceof ApiError) setFollowProblem(e);
      }
    }, FOLLOW_MS);
    return () => clearInterval(timer);
  }, [follow, loaded, JSON.stringify(filters)]);
  if ('error' in r) return <RangeProblem message={r.error} />;
  const keep = attrFilter(p.attr);
  const set = (k: keyof typeof draft) => (e: { currentTarget: { value: string } }) =>
    setDraft({ ...draft, [k]: e.currentTarget.value });
  const histMissing = hist.status === 'error' && hist.problem.kind === 'missing-route';
  return (
    <>
      <h1>Logs</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setParams(route, draft);
        }}
      >
        <label class="grow">
          Text <input name="q" value={draft.q} onInput={set('q')} placeholder="body contains…" />
        </label>
        <label>
          Service <input name="service" value={draft.service} onInput={set('service')} placeholder="any" />
        </label>
        <label>
          Min severity{' '}
          <select name="severity" value={draft.severity} onChange={set('severity')}>
            <option value="">any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Attributes{' '}
          <input name="attr" value={draft.attr} onInput={set('attr')} placeholder="key=value, key" />
        </label>
        <button type="submit">Search</button>
        <label class="check">
          <input
            type="checkbox"
            name="follow"
            checked={follow}
            onChange={(e) => setParams(route, { follow: e.currentTarget.checked ? '1' : undefined })}
          />{' '}
          Follow
        </label>
      </form>
      <Card title={histMissing ? 'Volume by severity (of the records loaded)' : 'Volume by severity'}>
        {histMissing ? (
          loaded && (
            <VolumeChart
              range={r.range}
              buckets={histogramFromRecords(loaded.filter(keep), r.range.fromMs, parseDurationMs(step))}
            />
          )
        ) : (
          <Query state={hist} route={route} what="log volume">
            {(page) => <VolumeChart buckets={page.data} range={r.range} />}
          </Query>
        )}
      </Card>
      <Card title="Records, newest first">
        {followProblem && <ProblemView problem={followProblem.problem} route={route} />}
        {follow && (
          <div class="state note">Following: new records appear at the top every {FOLLOW_MS / 1000} s.</div>
        )}
        <Query
          state={logs}
          route={route}
          what="log records"
          isEmpty={(pg) => pg.data.length === 0 && followed.length === 0}
        >
          {(page) => {
            const rows = [...followed, ...page.data].filter(keep);
            return (
              <>
                <div class="muted">
                  {rows.length} records
                  {page.meta.nextCursor
                    ? ' (the newest 1000; narrow the range or filter for older ones)'
                    : ''}
                  {p.attr ? ` matching ${p.attr}` : ''}
                </div>
                <VirtualList
                  items={rows}
                  estimate={28}
                  height="60vh"
                  testId="log-results"
                  itemKey={logKey}
                  render={(l) => <LogRow log={l} route={route} />}
                />
              </>
            );
          }}
        </Query>
      </Card>
      <div class="muted">
        Times in UTC; the range is {formatInstant(r.range.fromMs)} → {formatInstant(r.range.toMs)}.
      </div>
    </>
  );
}
