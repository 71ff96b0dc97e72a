import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { ClickHouseClient } from '@clickhouse/client';
import middy from '@middy/core';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import * as z from 'zod';
import { DEFAULT_HOT_RETENTION_DAYS } from '../shared/clickhouse/ddl.js';
import { applyMigrations } from '../shared/clickhouse/migrations.js';
import {
  clickHouseClientProvider,
  clickHouseEnvSchema,
  clickHouseSourceFromEnv,
} from '../shared/clickhouse/secrets-manager-client.js';
import { observability } from '../shared/observability/middleware.js';
import { NO_RETENTION_OVERRIDES, parseRetentionSettings } from '../shared/tenants/retention.js';

/**
 * The ClickHouse schema as a CloudFormation custom resource, for the CDK custom-resource Provider
 * framework (`onEventHandler`): Create and Update apply the migrations and set the hot retention;
 * Delete does nothing, so tearing down a stack never drops telemetry. The physical id is constant,
 * so an Update never makes CloudFormation "replace" (and delete) the schema.
 *
 * ResourceProperties (strings, as CloudFormation passes them):
 *   HotRetentionDays  days of hot data (default 7); changing it alters every TTL
 *   TenantRetention   optional JSON of tenants/retention.ts RetentionSettings: tenants' own hot retention
 *   SchemaVersion     optional; change it to force a run after a deploy that adds migrations
 */

export const PHYSICAL_RESOURCE_ID = 'clickhouse-hot-tier-schema';

const propertiesSchema = z.object({
  HotRetentionDays: z.coerce.number().int().positive().default(DEFAULT_HOT_RETENTION_DAYS),
  TenantRetention: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text === '') return NO_RETENTION_OVERRIDES;
      try {
        return parseRetentionSettings(JSON.parse(text), 'TenantRetention');
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
});

export interface MigrateHandlerDeps {
  readonly clickhouse: () => Promise<ClickHouseClient>;
  /** Omitted: the client's own database. */
  readonly database?: string;
  readonly logger?: Logger;
  readonly tracer?: Tracer;
}

export interface MigrateResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

export class MigrateRequestError extends Error {
  override readonly name = 'MigrateRequestError';
}

export function createMigrateHandler(deps: MigrateHandlerDeps) {
  const logger = deps.logger ?? new Logger();
  const tracer = deps.tracer ?? new Tracer();

  const lambdaHandler = async (
    event: CloudFormationCustomResourceEvent,
    _context: Context,
  ): Promise<MigrateResponse> => {
    if (event.RequestType === 'Delete') {
      logger.info('delete: the schema and its data are kept');
      return { PhysicalResourceId: event.PhysicalResourceId };
    }
    const props = propertiesSchema.safeParse(event.ResourceProperties);
    if (!props.success) {
      throw new MigrateRequestError(`invalid properties: ${z.prettifyError(props.error)}`, {
        cause: props.error,
      });
    }
    const result = await applyMigrations(await deps.clickhouse(), {
      hotRetentionDays: props.data.HotRetentionDays,
      tenantRetention: props.data.TenantRetention,
      ...(deps.database && { database: deps.database }),
    });
    logger.info('schema current', { requestType: event.RequestType, ...result });
    return {
      PhysicalResourceId: PHYSICAL_RESOURCE_ID,
      Data: {
        Version: String(result.version),
        Applied: result.applied.join(','),
        RetentionChanged: result.retentionChanged.join(','),
      },
    };
  };

  // No metrics: it runs once per deploy, and its outcome is the deploy's.
  return middy(lambdaHandler).use(observability({ tracer, logger }));
}

export function depsFromEnv(): MigrateHandlerDeps {
  let clickhouse: (() => Promise<ClickHouseClient>) | undefined;
  return {
    clickhouse: () => {
      const env = clickHouseEnvSchema.safeParse(process.env);
      if (!env.success) throw new MigrateRequestError(`invalid environment: ${z.prettifyError(env.error)}`);
      // DDL can take longer than an insert; the custom resource has up to 15 minutes.
      clickhouse ??= clickHouseClientProvider(clickHouseSourceFromEnv(env.data), {
        requestTimeoutMs: 120_000,
      });
      return clickhouse();
    },
  };
}

export const handler = createMigrateHandler(depsFromEnv());
