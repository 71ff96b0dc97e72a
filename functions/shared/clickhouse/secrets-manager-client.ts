import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { ClickHouseClient } from '@clickhouse/client';
import * as z from 'zod';
import {
  type ClickHouseCredentials,
  ClickHouseCredentialsSchema,
  createRemoteClickHouse,
  type RemoteClientOptions,
} from './connect.js';

/**
 * Where a Lambda finds ClickHouse: a Secrets Manager secret holding JSON
 * `{ url, username, password, database }` (AWS), or credentials from the environment (local runs).
 */
export type ClickHouseSource =
  | { readonly secretArn: string }
  | { readonly credentials: ClickHouseCredentials };

/** Environment variables shared by every function that talks to ClickHouse. */
export const clickHouseEnvSchema = z
  .object({
    CLICKHOUSE_SECRET_ARN: z.string().min(1).optional(),
    CLICKHOUSE_URL: z.url().optional(),
    CLICKHOUSE_USER: z.string().min(1).default('default'),
    CLICKHOUSE_PASSWORD: z.string().default(''),
    CLICKHOUSE_DATABASE: z.string().min(1).default('default'),
  })
  .refine((e) => e.CLICKHOUSE_SECRET_ARN !== undefined || e.CLICKHOUSE_URL !== undefined, {
    message: 'set CLICKHOUSE_SECRET_ARN (AWS) or CLICKHOUSE_URL (local)',
  });

export function clickHouseSourceFromEnv(env: z.output<typeof clickHouseEnvSchema>): ClickHouseSource {
  if (env.CLICKHOUSE_SECRET_ARN) return { secretArn: env.CLICKHOUSE_SECRET_ARN };
  return {
    credentials: {
      url: env.CLICKHOUSE_URL!,
      username: env.CLICKHOUSE_USER,
      password: env.CLICKHOUSE_PASSWORD,
      database: env.CLICKHOUSE_DATABASE,
    },
  };
}

export class ClickHouseSecretError extends Error {
  override readonly name = 'ClickHouseSecretError';
}

/** How long a secret value is trusted before Secrets Manager is asked again (rotation). */
const SECRET_MAX_AGE_SECONDS = 300;

/**
 * A function returning the client, built once per container; a rotated secret (new credentials)
 * replaces the client on the next call after the cache expires.
 */
export function clickHouseClientProvider(
  source: ClickHouseSource,
  options: RemoteClientOptions = {},
): () => Promise<ClickHouseClient> {
  let current: { key: string; client: ClickHouseClient } | undefined;
  return async () => {
    let credentials: ClickHouseCredentials;
    if ('secretArn' in source) {
      const raw = await getSecret(source.secretArn, { transform: 'json', maxAge: SECRET_MAX_AGE_SECONDS });
      const parsed = ClickHouseCredentialsSchema.safeParse(raw);
      if (!parsed.success) {
        throw new ClickHouseSecretError(
          `secret ${source.secretArn} is not {url, username, password, database}`,
          {
            cause: parsed.error,
          },
        );
      }
      credentials = parsed.data;
    } else {
      credentials = source.credentials;
    }
    const key = JSON.stringify(credentials);
    if (current?.key !== key) {
      const old = current?.client;
      current = { key, client: createRemoteClickHouse(credentials, options) };
      // In-flight requests on the old client finish; closing only frees its sockets.
      void old?.close().catch(() => undefined);
    }
    return current.client;
  };
}
