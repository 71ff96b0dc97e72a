import { type ClickHouseClient, createClient } from '@clickhouse/client';
import * as z from 'zod';
import { zstd } from '../compression/zstd.js';
import { LeanHttp, LeanHttpConnection, LeanHttpRequests } from './lean-connection.js';
import { registerRequests } from './requests.js';

/**
 * A remote ClickHouse (ClickHouse Cloud or self-hosted) over HTTPS. Everything else (DDL, writer,
 * queries) takes a `ClickHouseClient` and runs the same against this or embedded chdb
 * (local/clickhouse-embedded.ts).
 */

export const ClickHouseCredentialsSchema = z.object({
  url: z.url(),
  username: z.string().min(1).default('default'),
  password: z.string().default(''),
  database: z.string().min(1).default('default'),
});

export type ClickHouseCredentials = z.infer<typeof ClickHouseCredentialsSchema>;

export interface RemoteClientOptions {
  /** Per-request timeout (ms); a Lambda invocation must outlive it. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** @default 'otlp-pipeline' */
  readonly application?: string;
  /** Insert body compression. @default DEFAULT_REQUEST_COMPRESSION */
  readonly requestCompression?: RequestCompressionOption;
  /**
   * 'lean': requests through LeanHttpConnection (results buffered whole), and the hot writer's
   * port (`clickHouseRequests(client)`) straight over the same transport, for the hot writer;
   * 'client': the client's own streaming connection.
   * @default 'client'
   */
  readonly connection?: 'lean' | 'client';
}

/**
 * What insert bodies are compressed with: none, gzip at a zlib level (1 fastest … 9), zstd at a
 * level (1 fast … 22; needs zstd in node:zlib, Node 22.15+) or Brotli at a quality (0 fastest … 11).
 */
export type RequestCompressionOption =
  | false
  | { readonly codec: 'gzip'; readonly level: number }
  | { readonly codec: 'zstd'; readonly level: number }
  | { readonly codec: 'br'; readonly quality: number };

/**
 * zstd level 1 where node:zlib has zstd (Lambda's Node 22), else Brotli quality 1
 * (docs/decisions/0004). On the writer's insert text, 2,048-span bodies on Node 22: zstd 1 sends
 * 86 B/span for ~1.0 µs/span of CPU, Brotli 1 92 B for ~1.2, gzip 1 109 B for ~2.7. zstd as
 * WebAssembly (Node 20) costs ~1.8 µs/span: Brotli there.
 */
export const DEFAULT_REQUEST_COMPRESSION: RequestCompressionOption =
  zstd?.backend === 'node:zlib' ? { codec: 'zstd', level: 1 } : { codec: 'br', quality: 1 };

/** How the hot writer reaches ClickHouse: small result sets, CPU per request counted (ADR 0004). */
export const HOT_WRITER_CLIENT_OPTIONS: RemoteClientOptions = { connection: 'lean' };

export function createRemoteClickHouse(
  credentials: ClickHouseCredentials,
  options: RemoteClientOptions = {},
): ClickHouseClient {
  const request = options.requestCompression ?? DEFAULT_REQUEST_COMPRESSION;
  if (options.connection === 'lean') {
    const http = new LeanHttp({
      ...credentials,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      application: options.application ?? 'otlp-pipeline',
      compression: request,
    });
    const client = createClient({
      url: credentials.url,
      database: credentials.database,
      connection: new LeanHttpConnection(http),
    });
    // The hot writer's port over the same transport (clickHouseRequests(client) finds it).
    registerRequests(client, new LeanHttpRequests(http));
    return client;
  }
  return createClient({
    url: credentials.url,
    username: credentials.username,
    password: credentials.password,
    database: credentials.database,
    application: options.application ?? 'otlp-pipeline',
    request_timeout: options.requestTimeoutMs ?? 30_000,
    // Compress the insert bodies: JSON rows compress several-fold, and egress is billed and slow.
    compression: {
      request,
      response: true,
    },
    // Long query parameters (the writer's envelope-id lookup) go in the body, not an over-long URL.
    use_multipart_params_auto: true,
    // A Lambda container may freeze for minutes between invocations; a stale socket then fails.
    keep_alive: { enabled: true, idle_socket_ttl: 2_500 },
  });
}
