import { formatThreshold, formatValue } from '../../../functions/shared/alerts/value-format.js';
import { ALERTS_REFRESH_MS } from '../lib/api.js';
import type { Route } from '../lib/route.js';
import { formatInstant } from '../lib/time-range.js';
import { Card, Query, RangeProblem } from '../ui/components.js';
import { iso, rangeOf, useQuery, useResolvedRange } from '../ui/state.js';

/** GET /v1/alerts/rules (route 9). */
interface Rule {
  id: string;
  name: string;
  kind: string;
  description?: string;
  severity?: string;
  source: 'file' | 'api';
  version: number | string;
}

type AlertStateName = 'ok' | 'pending' | 'firing';

/** GET /v1/alerts/state (route 10). */
interface SeriesState {
  ruleId: string;
  ruleName: string;
  labels: Record<string, string>;
  state: AlertStateName;
  value: number | null;
  threshold: number | null;
  since: number;
}

/** GET /v1/alerts/history (route 11). */
interface Transition {
  at: number;
  ruleId: string;
  ruleName: string;
  labels: Record<string, string>;
  from: AlertStateName;
  to: AlertStateName;
  value: number | null;
  threshold: number | null;
  windowMs: number;
  link?: string;
}

const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ') || '(all)';

function StateBadge({ state }: { state: AlertStateName }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

export function AlertsPage({ route }: { route: Route }) {
  const r = useResolvedRange(route);
  const ok = 'range' in r;
  const rules = useQuery<Rule[]>('/v1/alerts/rules', {});
  const states = useQuery<SeriesState[]>('/v1/alerts/state', {}, { refreshMs: ALERTS_REFRESH_MS });
  // A range ending now asks without `to` (the API's now), so each refresh sees new transitions.
  const live = rangeOf(route).to === 'now';
  const history = useQuery<Transition[]>(
    ok ? '/v1/alerts/history' : undefined,
    ok ? { from: iso(r.range.fromMs), ...(!live && { to: iso(r.range.toMs) }), limit: 200 } : {},
    { refreshMs: ALERTS_REFRESH_MS },
  );
  // Values in each rule's unit (12.5%, 840 ms, burn rate 15.2x), as the notifications put them.
  const kindOf = new Map(rules.status === 'ok' ? rules.data.data.map((x) => [x.id, x.kind]) : []);
  const inUnit = (format: typeof formatValue) => (ruleId: string, v: number | null) =>
    v === null ? '–' : format(kindOf.get(ruleId) ?? '', v);
  const value = inUnit(formatValue);
  const threshold = inUnit(formatThreshold);
  const stateByRule = (id: string) =>
    states.status === 'ok' ? states.data.data.filter((s) => s.ruleId === id) : [];
  return (
    <>
      <h1>Alerts</h1>
      {'error' in r && <RangeProblem message={r.error} />}
      <Card title="Rules">
        <Query state={rules} route={route} what="alert rules">
          {(page) =>
            page.data.length === 0 ? (
              <div class="state empty">No alert rules: add one under alerts/ or through the API.</div>
            ) : (
              <table class="grid" data-testid="alert-rules">
                <thead>
                  <tr>
                    <th>Rule</th>
                    <th>Kind</th>
                    <th>Severity</th>
                    <th>Source</th>
                    <th>State</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((rule) => {
                    const s = stateByRule(rule.id);
                    const worst: AlertStateName = s.some((x) => x.state === 'firing')
                      ? 'firing'
                      : s.some((x) => x.state === 'pending')
                        ? 'pending'
                        : 'ok';
                    return (
                      <tr key={rule.id} data-rule-id={rule.id}>
                        <td>
                          <strong>{rule.name}</strong>
                          {rule.description && <div class="muted">{rule.description}</div>}
                        </td>
                        <td>{rule.kind}</td>
                        <td>{rule.severity ?? '–'}</td>
                        <td>
                          {rule.source} v{rule.version}
                        </td>
                        <td>{states.status === 'ok' ? <StateBadge state={worst} /> : '…'}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )
          }
        </Query>
      </Card>
      <Card title="Series">
        <Query state={states} route={route} what="alert states">
          {(page) =>
            page.data.length === 0 ? (
              <div class="state empty">No series evaluated yet: the evaluator runs every minute.</div>
            ) : (
              <table class="grid" data-testid="alert-states">
                <thead>
                  <tr>
                    <th>Rule</th>
                    <th>Series</th>
                    <th>State</th>
                    <th class="num">Value</th>
                    <th class="num">Threshold</th>
                    <th>Since (UTC)</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((s) => (
                    <tr key={`${s.ruleId}-${labelText(s.labels)}`}>
                      <td>{s.ruleName}</td>
                      <td class="mono">{labelText(s.labels)}</td>
                      <td>
                        <StateBadge state={s.state} />
                      </td>
                      <td class="num">{value(s.ruleId, s.value)}</td>
                      <td class="num">{threshold(s.ruleId, s.threshold)}</td>
                      <td>{formatInstant(s.since)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Query>
      </Card>
      <Card title="Recent transitions">
        <Query state={history} route={route} what="transitions" isEmpty={(p) => p.data.length === 0}>
          {(page) => (
            <table class="grid" data-testid="alert-history">
              <thead>
                <tr>
                  <th>At (UTC)</th>
                  <th>Rule</th>
                  <th>Series</th>
                  <th>Change</th>
                  <th class="num">Value</th>
                  <th class="num">Threshold</th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((t) => (
                  <tr key={`${t.at}-${t.ruleId}-${labelText(t.labels)}`}>
                    <td>{formatInstant(t.at)}</td>
                    <td>{t.link ? <a href={t.link}>{t.ruleName}</a> : t.ruleName}</td>
                    <td class="mono">{labelText(t.labels)}</td>
                    <td>
                      <StateBadge state={t.from} /> → <StateBadge state={t.to} />
                    </td>
                    <td class="num">{value(t.ruleId, t.value)}</td>
                    <td class="num">{threshold(t.ruleId, t.threshold)}</td>
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
