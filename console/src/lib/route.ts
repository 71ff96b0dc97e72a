/**
 * Hash routing: `/#/traces/<id>?from=now-1h&service=checkout`. One static index.html serves every
 * view from any host, and the query string after the hash carries the whole state of the view.
 */

export const PAGES = ['services', 'map', 'traces', 'logs', 'metrics', 'alerts'] as const;
export type Page = (typeof PAGES)[number];

export interface Route {
  readonly page: Page;
  /** Path segments after the page: a service name, a trace id. */
  readonly rest: readonly string[];
  readonly params: Readonly<Record<string, string>>;
}

export function parseHash(hash: string): Route {
  const body = hash.replace(/^#/, '');
  const q = body.indexOf('?');
  const path = q >= 0 ? body.slice(0, q) : body;
  const query = q >= 0 ? body.slice(q + 1) : '';
  const segments = path
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  const first = segments[0];
  const page: Page = (PAGES as readonly string[]).includes(first ?? '') ? (first as Page) : 'services';
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) if (v !== '') params[k] = v;
  return { page, rest: first === page ? segments.slice(1) : [], params };
}

/** The hash of a route; empty parameters are left out so links stay short. */
export function formatHash(
  page: Page,
  rest: readonly string[],
  params: Readonly<Record<string, string | undefined>>,
): string {
  const path = [page, ...rest].map(encodeURIComponent).join('/');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return `#/${path}${qs ? `?${qs}` : ''}`;
}
