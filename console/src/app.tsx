import { useEffect, useState } from 'preact/hooks';
import { adviceFor, type Problem } from './lib/api.js';
import type { Page } from './lib/route.js';
import { AlertsPage } from './pages/alerts.js';
import { LogsPage } from './pages/logs.js';
import { MapPage } from './pages/map.js';
import { MetricsPage } from './pages/metrics.js';
import { ServicePage, ServicesPage } from './pages/services.js';
import { TracePage } from './pages/trace.js';
import { TracesPage } from './pages/traces.js';
import { TimePicker } from './ui/components.js';
import { hrefFor, onAuthProblem, rangeParams, readKey, storeKey, useRoute } from './ui/state.js';

const NAV: readonly { page: Page; label: string }[] = [
  { page: 'services', label: 'Services' },
  { page: 'map', label: 'Service map' },
  { page: 'traces', label: 'Traces' },
  { page: 'logs', label: 'Logs' },
  { page: 'metrics', label: 'Metrics' },
  { page: 'alerts', label: 'Alerts' },
];

function KeyEntry({ problem, onKey }: { problem?: Problem; onKey: (key: string) => void }) {
  const [value, setValue] = useState('');
  const advice = problem && adviceFor(problem);
  return (
    <main class="key-entry">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onKey(value.trim());
        }}
      >
        <h1>OTLP pipeline console</h1>
        {advice ? (
          <div class="state error" role="alert">
            <strong>{advice.title}.</strong> {advice.action}
            {problem.status > 0 && (
              <div class="detail">
                HTTP {problem.status}: {problem.message}
              </div>
            )}
          </div>
        ) : (
          <p>
            Enter your tenant's API key. A key with the query scope is enough; it is kept for this tab only.
          </p>
        )}
        <label>
          API key{' '}
          <input
            name="api-key"
            type="password"
            autocomplete="off"
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
            autofocus
          />
        </label>
        <button type="submit">Open the console</button>
      </form>
    </main>
  );
}

export function App() {
  const route = useRoute();
  const [key, setKey] = useState(readKey);
  const [authProblem, setAuthProblem] = useState<Problem | undefined>();
  useEffect(
    () =>
      onAuthProblem((p) => {
        storeKey(undefined);
        setKey(undefined);
        setAuthProblem(p);
      }),
    [],
  );
  if (!key)
    return (
      <KeyEntry
        {...(authProblem && { problem: authProblem })}
        onKey={(k) => {
          storeKey(k);
          setAuthProblem(undefined);
          setKey(k);
        }}
      />
    );
  const range = rangeParams(route);
  const traceId = route.page === 'traces' ? route.rest[0] : undefined;
  const service = route.page === 'services' ? route.rest[0] : undefined;
  return (
    <div class="app">
      <header class="top">
        <a class="brand" href={hrefFor('services', [], range)}>
          otlp-pipeline
        </a>
        <nav>
          {NAV.map((n) => (
            <a key={n.page} href={hrefFor(n.page, [], range)} class={route.page === n.page ? 'active' : ''}>
              {n.label}
            </a>
          ))}
        </nav>
        <TimePicker route={route} />
        <button
          type="button"
          class="link"
          onClick={() => {
            storeKey(undefined);
            setKey(undefined);
          }}
        >
          Forget key
        </button>
      </header>
      <main class="content" key={`${route.page}/${route.rest.join('/')}`}>
        {route.page === 'services' &&
          (service ? <ServicePage route={route} service={service} /> : <ServicesPage route={route} />)}
        {route.page === 'map' && <MapPage route={route} />}
        {route.page === 'traces' &&
          (traceId ? <TracePage route={route} traceId={traceId} /> : <TracesPage route={route} />)}
        {route.page === 'logs' && <LogsPage route={route} />}
        {route.page === 'metrics' && <MetricsPage route={route} />}
        {route.page === 'alerts' && <AlertsPage route={route} />}
      </main>
    </div>
  );
}
