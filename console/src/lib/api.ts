/**
 * The console's only way to data: GET the query API with the user's key as a bearer token, and
 * turn every failure into a problem that says what to do. No DOM here, so it is tested in node.
 */

/**
 * How often the alerts page reads the series states and transitions again while it is open: the
 * scheduled evaluator runs every minute, the stream evaluator decides within seconds.
 */
export const ALERTS_REFRESH_MS = 15_000;

export type ProblemKind =
  | 'unauthorized' // 401: the key is wrong or revoked
  | 'forbidden' // 403: the key lacks the query scope
  | 'rate-limited' // 429
  | 'timeout' // 504 or the API's own timeout
  | 'too-large' // 422: the query would read or return too much
  | 'bad-request' // 400
  | 'missing-route' // 404 from the gateway: this API has no such route (an older deployment)
  | 'not-found' // 404 from the API: e.g. no such trace
  | 'network' // no answer
  | 'server'; // 5xx

export interface Problem {
  readonly kind: ProblemKind;
  readonly status: number;
  readonly message: string;
  readonly retryAfterSeconds?: number;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(readonly problem: Problem) {
    super(problem.message);
  }
}

export interface Page<T, M = Meta> {
  readonly data: T;
  readonly meta: M;
}

export interface Meta {
  readonly from?: string;
  readonly to?: string;
  readonly nextCursor?: string | null;
  readonly stepMs?: number;
}

function errorBody(body: unknown): { code?: string; message?: string } {
  if (typeof body !== 'object' || body === null) return {};
  const b = body as Record<string, unknown>;
  // The query API answers { error: code, message }; the console contract writes { error: { code, message } }.
  if (typeof b.error === 'object' && b.error !== null) {
    const e = b.error as Record<string, unknown>;
    return {
      ...(typeof e.code === 'string' && { code: e.code }),
      ...(typeof e.message === 'string' && { message: e.message }),
    };
  }
  return {
    ...(typeof b.error === 'string' && { code: b.error }),
    ...(typeof b.message === 'string' && { message: b.message }),
  };
}

/** The problem an error answer stands for. */
export function problemOf(status: number, body: unknown, retryAfter: string | null): Problem {
  const { code, message } = errorBody(body);
  const text = message ?? `HTTP ${status}`;
  const retry =
    retryAfter !== null && /^\d+$/.test(retryAfter) ? { retryAfterSeconds: Number(retryAfter) } : {};
  if (status === 401) return { kind: 'unauthorized', status, message: text };
  if (status === 403) return { kind: 'forbidden', status, message: text };
  if (status === 429) return { kind: 'rate-limited', status, message: text, ...retry };
  if (status === 504 || code === 'timeout') return { kind: 'timeout', status, message: text };
  if (status === 422) return { kind: 'too-large', status, message: text };
  if (status === 400) return { kind: 'bad-request', status, message: text };
  // The gateway's 404 has no error code; the API's own 404 (unknown trace) has one.
  if (status === 404)
    return { kind: code === undefined ? 'missing-route' : 'not-found', status, message: text };
  return { kind: 'server', status, message: text, ...retry };
}

export interface Advice {
  readonly title: string;
  readonly action: string;
}

/** What the console tells the user for each problem. */
export function adviceFor(p: Problem): Advice {
  switch (p.kind) {
    case 'unauthorized':
      return { title: 'The API key was not accepted', action: 'Check the key and enter it again.' };
    case 'forbidden':
      return {
        title: 'This key may not read data',
        action: 'Enter a key with the query scope (npm run tenants -- create-key --scopes query).',
      };
    case 'rate-limited':
      return {
        title: 'Too many queries for this tenant right now',
        action: `Wait ${p.retryAfterSeconds ?? 'a few'} seconds and refresh.`,
      };
    case 'timeout':
      return { title: 'The query took too long', action: 'Narrow the time range and try again.' };
    case 'too-large':
      return { title: 'The query would read too much', action: 'Narrow the time range or add filters.' };
    case 'bad-request':
      return { title: 'The API refused these parameters', action: `Fix the filter: ${p.message}` };
    case 'missing-route':
      return {
        title: 'This API does not answer this view yet',
        action: 'Update the deployment: the query API is older than the console.',
      };
    case 'not-found':
      return { title: 'Not found', action: 'It may be outside the time range: widen the range.' };
    case 'network':
      return { title: 'The API did not answer', action: 'Check that the pipeline is running, then refresh.' };
    case 'server':
      return { title: 'The API failed', action: 'Refresh in a moment; the server log says why.' };
    default: {
      const never: never = p.kind;
      return never;
    }
  }
}

export type Params = Readonly<Record<string, string | number | undefined>>;

export interface ApiClient {
  get<T, M = Meta>(path: string, params?: Params, signal?: AbortSignal): Promise<Page<T, M>>;
}

export interface ApiClientOptions {
  /** '' for the console's own origin. */
  readonly baseUrl: string;
  readonly key: () => string | undefined;
  readonly fetch: typeof fetch;
}

export function queryString(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  return {
    async get<T, M>(path: string, params: Params = {}, signal?: AbortSignal): Promise<Page<T, M>> {
      const key = opts.key();
      if (!key) throw new ApiError({ kind: 'unauthorized', status: 401, message: 'no API key entered' });
      let res: Response;
      try {
        res = await opts.fetch(`${opts.baseUrl}${path}${queryString(params)}`, {
          headers: { authorization: `Bearer ${key}`, accept: 'application/json' },
          ...(signal && { signal }),
        });
      } catch (e) {
        if (signal?.aborted) throw e;
        throw new ApiError({
          kind: 'network',
          status: 0,
          message: e instanceof Error ? e.message : String(e),
        });
      }
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      if (!res.ok) throw new ApiError(problemOf(res.status, body, res.headers.get('retry-after')));
      if (typeof body !== 'object' || body === null || !('data' in body)) {
        throw new ApiError({
          kind: 'server',
          status: res.status,
          message: 'the answer is not { data, meta }',
        });
      }
      return body as Page<T, M>;
    },
  };
}
