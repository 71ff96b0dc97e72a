import { type ClickHouseClient, createClient } from '@clickhouse/client';
import * as z from 'zod';

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
}

export function createRemoteClickHouse(
  credentials: ClickHouseCredentials,
  options: RemoteClientOptions = {},
): ClickHouseClient {
  return createClient({
    url: credentials.url,
    username: credentials.username,
    password: credentials.password,
    database: credentials.database,
    application: options.application ?? 'otlp-pipeline',
    request_timeout: options.requestTimeoutMs ?? 30_000,
    // Gzip the insert bodies: JSON rows compress ~10x and Lambda egress is the slow part.
    compression: { request: true, response: true },
    // Long query parameters (the writer's envelope-id lookup) go in the body, not an over-long URL.
    use_multipart_params_auto: true,
    // A Lambda container may freeze for minutes between invocations; a stale socket then fails.
    keep_alive: { enabled: true, idle_socket_ttl: 2_500 },
  });
}
