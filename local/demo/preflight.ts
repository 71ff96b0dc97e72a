import { DemoConnectionError } from './errors.js';

/**
 * One empty OTLP traces request before the SDKs start, so that a stopped `npm start` or a
 * wrong key is reported once, in words, instead of as a stream of failed exports. An empty
 * protobuf body is a valid, empty ExportTraceServiceRequest: it stores nothing.
 */
export async function checkEndpoint(endpoint: string, apiKey: string, timeoutMs = 5000): Promise<void> {
  const url = `${endpoint}/v1/traces`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${apiKey}` },
      body: new Uint8Array(0),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new DemoConnectionError(unreachableMessage(endpoint, err, timeoutMs), { cause: err });
  }
  // The body is an OTLP Status or export response; only the status code matters here.
  await response.arrayBuffer().catch(() => undefined);
  if (response.status === 401 || response.status === 403) {
    throw new DemoConnectionError(
      `${url} refused the API key (HTTP ${response.status}). ` +
        'Pass the right one with --key <key> or OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <key>" ' +
        '(local mode prints its key when it starts).',
    );
  }
  if (response.status === 404 || response.status === 405) {
    throw new DemoConnectionError(
      `${url} answered HTTP ${response.status}: this does not look like an OTLP/HTTP endpoint. ` +
        'Give the base URL (e.g. http://127.0.0.1:4318), without /v1/traces.',
    );
  }
  // Anything else (2xx, or a transient 429/5xx) lets the demo start; exports report later errors.
}

function unreachableMessage(endpoint: string, err: unknown, timeoutMs: number): string {
  const code = errorCode(err);
  if (code === 'ECONNREFUSED') {
    return `cannot connect to ${endpoint}: connection refused. Is \`npm start\` running?`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `cannot resolve the host of ${endpoint} (${code}). Check --endpoint or OTEL_EXPORTER_OTLP_ENDPOINT.`;
  }
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer from ${endpoint} within ${timeoutMs / 1000} s. Is \`npm start\` running and healthy?`;
  }
  const detail = code ?? (err instanceof Error ? err.message : String(err));
  return `cannot reach ${endpoint} (${detail}). Is \`npm start\` running?`;
}

/** The system error code (ECONNREFUSED…) somewhere in fetch's chain of causes. */
function errorCode(err: unknown, depth = 0): string | undefined {
  if (depth > 5 || typeof err !== 'object' || err === null) return undefined;
  const { code, cause, errors } = err as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  // Dual-stack connection attempts fail with an AggregateError holding one error per address.
  if (Array.isArray(errors)) {
    for (const inner of errors) {
      const found = errorCode(inner, depth + 1);
      if (found) return found;
    }
  }
  return errorCode(cause, depth + 1);
}
