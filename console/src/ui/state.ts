import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, createApiClient, type Page, type Params, type Problem } from '../lib/api.js';
import { formatHash, type Page as PageName, parseHash, type Route } from '../lib/route.js';
import {
  DEFAULT_RANGE,
  type ResolvedRange,
  resolveRange,
  type TimeRange,
  TimeRangeError,
} from '../lib/time-range.js';

/** sessionStorage: the key lives as long as the tab, never in the URL, never in a log. */
const KEY_ITEM = 'otlp-console.key';

export function readKey(): string | undefined {
  try {
    return sessionStorage.getItem(KEY_ITEM) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeKey(key: string | undefined): void {
  if (key === undefined) sessionStorage.removeItem(KEY_ITEM);
  else sessionStorage.setItem(KEY_ITEM, key);
}

/** The query API on the console's own origin, or the one named in <meta name="otlp-api">. */
const apiBase = document.querySelector<HTMLMetaElement>('meta[name="otlp-api"]')?.content ?? '';
export const api = createApiClient({
  baseUrl: apiBase.replace(/\/$/, ''),
  key: readKey,
  fetch: (...a) => fetch(...a),
});

/** Listeners told when any request answers 401/403, so the app can ask for the key again. */
const authListeners = new Set<(p: Problem) => void>();
export function onAuthProblem(fn: (p: Problem) => void): () => void {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Moves to another view; `params` replace the current ones unless `merge`. */
export function navigate(
  page: PageName,
  rest: readonly string[],
  params: Readonly<Record<string, string | undefined>>,
): void {
  location.hash = formatHash(page, rest, params);
}

export function hrefFor(
  page: PageName,
  rest: readonly string[],
  params: Readonly<Record<string, string | undefined>>,
): string {
  return formatHash(page, rest, params);
}

/** Updates some parameters of the current view (filters, range) in the URL. */
export function setParams(route: Route, changes: Readonly<Record<string, string | undefined>>): void {
  navigate(route.page, route.rest, { ...route.params, ...changes });
}

export function rangeOf(route: Route): TimeRange {
  return { from: route.params.from ?? DEFAULT_RANGE.from, to: route.params.to ?? DEFAULT_RANGE.to };
}

/** Keeps the time range in every link between pages. */
export function rangeParams(route: Route): { from: string; to: string } {
  return rangeOf(route);
}

/** Bumped by the refresh button: relative ranges move to the new now. */
let refreshTick = 0;
const refreshListeners = new Set<(n: number) => void>();
export function refresh(): void {
  refreshTick++;
  for (const l of refreshListeners) l(refreshTick);
}
export function useRefreshTick(): number {
  const [n, setN] = useState(refreshTick);
  useEffect(() => {
    refreshListeners.add(setN);
    return () => {
      refreshListeners.delete(setN);
    };
  }, []);
  return n;
}

/** The route's range resolved once per refresh, so all panels of a page ask for the same instants. */
export function useResolvedRange(route: Route): { range: ResolvedRange } | { error: string } {
  const tick = useRefreshTick();
  const { from, to } = rangeOf(route);
  return useMemo(() => {
    try {
      return { range: resolveRange({ from, to }, Date.now()) };
    } catch (e) {
      if (e instanceof TimeRangeError) return { error: e.message };
      throw e;
    }
  }, [from, to, tick]);
}

export const iso = (ms: number) => new Date(ms).toISOString();

export type QueryState<T> =
  | { readonly status: 'loading'; readonly data?: T }
  | { readonly status: 'ok'; readonly data: T }
  | { readonly status: 'error'; readonly problem: Problem };

/**
 * GETs `path` whenever the key of the request changes; `undefined` path = not yet. With
 * `refreshMs`, GETs it again that often while the tab is visible, showing the last answer meanwhile.
 */
export function useQuery<T, M = import('../lib/api.js').Meta>(
  path: string | undefined,
  params: Params,
  options: { readonly refreshMs?: number } = {},
): QueryState<Page<T, M>> {
  const key = path === undefined ? '' : `${path}?${JSON.stringify(params)}`;
  const [state, setState] = useState<QueryState<Page<T, M>>>({ status: 'loading' });
  const [poll, setPoll] = useState(0);
  const last = useRef<Page<T, M> | undefined>(undefined);
  const lastKey = useRef('');
  const { refreshMs } = options;
  useEffect(() => {
    if (path === undefined || refreshMs === undefined) return;
    const timer = setInterval(() => {
      if (!document.hidden) setPoll((n) => n + 1);
    }, refreshMs);
    return () => clearInterval(timer);
  }, [key, refreshMs]);
  useEffect(() => {
    if (path === undefined) return;
    const ctrl = new AbortController();
    // A poll of the same request keeps showing its answer; a new request shows it as refreshing.
    if (lastKey.current !== key) {
      setState(last.current ? { status: 'loading', data: last.current } : { status: 'loading' });
    }
    lastKey.current = key;
    api.get<T, M>(path, params, ctrl.signal).then(
      (page) => {
        last.current = page;
        setState({ status: 'ok', data: page });
      },
      (e: unknown) => {
        if (ctrl.signal.aborted) return;
        const problem: Problem =
          e instanceof ApiError
            ? e.problem
            : { kind: 'server', status: 0, message: e instanceof Error ? e.message : String(e) };
        if (problem.kind === 'unauthorized' || problem.kind === 'forbidden')
          for (const l of authListeners) l(problem);
        setState({ status: 'error', problem });
      },
    );
    return () => ctrl.abort();
  }, [key, poll]);
  return state;
}

export function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  ref.current = value;
  return ref;
}

export function useStableCallback<A extends unknown[], R>(fn: (...a: A) => R): (...a: A) => R {
  const ref = useLatest(fn);
  return useCallback((...a: A) => ref.current(...a), [ref]);
}
