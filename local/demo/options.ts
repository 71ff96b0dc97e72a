import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DemoUsageError } from './errors.js';

/**
 * `npm run demo` arguments. Flags win over the standard OTLP exporter variables
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS), which win over local mode's
 * defaults, so the same command works against `npm start` and against a deployed stack.
 */

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:4318';
export const DEFAULT_API_KEY = 'local-dev-key';
export const DEFAULT_RATE = 50;

export const DEMO_USAGE = `Usage: npm run demo -- [options]

Sends realistic telemetry (traces, logs, metrics) from a simulated shop (frontend, checkout,
payments, inventory) through the official OpenTelemetry JS SDK to an OTLP/HTTP endpoint.

Options:
  --rate <n>        spans per second, approximately (default ${DEFAULT_RATE})
  --duration <s>    stop after this many seconds (default: run until Ctrl-C)
  --endpoint <url>  OTLP/HTTP base URL (default: $OTEL_EXPORTER_OTLP_ENDPOINT, else ${DEFAULT_ENDPOINT})
  --key <api key>   tenant API key, sent as "Authorization: Bearer <key>"
                    (default: from $OTEL_EXPORTER_OTLP_HEADERS, else ${DEFAULT_API_KEY})
  -h, --help        show this help

Start the local pipeline first (\`npm start\`), then run this in a second terminal.`;

export interface DemoOptions {
  /** OTLP/HTTP base URL without a trailing slash; signals go to /v1/traces, /v1/logs, /v1/metrics. */
  readonly endpoint: string;
  readonly apiKey: string;
  /** Spans per second to aim for. */
  readonly rate: number;
  /** Stop after this long; undefined runs until the abort signal. */
  readonly durationMs: number | undefined;
}

export type ParsedDemoArgs =
  | { readonly help: true }
  | { readonly help: false; readonly options: DemoOptions };

const endpointSchema = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .transform((url) => url.replace(/\/+$/, ''));

const argsSchema = z.object({
  rate: z.coerce
    .number({ error: 'must be a number' })
    .positive('must be above 0')
    .max(100_000, 'must be at most 100000')
    .default(DEFAULT_RATE),
  duration: z.coerce.number({ error: 'must be a number of seconds' }).positive('must be above 0').optional(),
  endpoint: endpointSchema,
  key: z.string().regex(/^\S+$/, 'must not contain spaces').min(1, 'must not be empty'),
});

/** Reads an API key from OTEL_EXPORTER_OTLP_HEADERS ("k=v,k2=v2", values URL-encoded). */
export function apiKeyFromOtlpHeaders(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  for (const pair of raw.split(',')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    const name = pair.slice(0, at).trim().toLowerCase();
    let value = pair.slice(at + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not URL-encoded after all: use it as written.
    }
    if (name === 'authorization') {
      const bearer = /^bearer\s+(\S+)$/i.exec(value.trim());
      if (bearer?.[1]) return bearer[1];
    } else if (name === 'x-api-key' && value) {
      return value;
    }
  }
  return undefined;
}

export function parseDemoArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedDemoArgs {
  let values: { rate?: string; duration?: string; endpoint?: string; key?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        rate: { type: 'string' },
        duration: { type: 'string' },
        endpoint: { type: 'string' },
        key: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new DemoUsageError(
      `${err instanceof Error ? err.message : String(err)}\nRun with --help for usage.`,
      {
        cause: err,
      },
    );
  }
  if (values.help) return { help: true };

  const parsed = argsSchema.safeParse({
    rate: values.rate,
    duration: values.duration,
    endpoint: values.endpoint ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT || DEFAULT_ENDPOINT),
    key: values.key ?? apiKeyFromOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS) ?? DEFAULT_API_KEY,
  });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  --${issue.path.join('.')}: ${issue.message}`);
    throw new DemoUsageError(`invalid arguments:\n${lines.join('\n')}\nRun with --help for usage.`);
  }
  const { rate, duration, endpoint, key } = parsed.data;
  return {
    help: false,
    options: {
      endpoint,
      apiKey: key,
      rate,
      durationMs: duration === undefined ? undefined : Math.round(duration * 1000),
    },
  };
}
