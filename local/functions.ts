import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ClickHouseClient } from '@clickhouse/client';
import { parseAlertEvaluatorConfig } from '../functions/alert-evaluator/config.js';
import {
  depsFromConfig as alertEvaluatorDeps,
  createAlertEvaluatorHandler,
} from '../functions/alert-evaluator/handler.js';
import { parseAlertsApiConfig } from '../functions/alerts-api/config.js';
import { depsFromConfig as alertsApiDeps, createAlertsApiHandler } from '../functions/alerts-api/handler.js';
import { depsFromConfig as compactorDeps, createCompactorHandler } from '../functions/compactor/handler.js';
import { parseHotWriterConfig } from '../functions/hot-writer/config.js';
import { createHotWriterHandler, depsFromConfig as hotWriterDeps } from '../functions/hot-writer/handler.js';
import { parseIngestConfig } from '../functions/ingest/config.js';
import { createIngestHandler, depsFromConfig as ingestDeps } from '../functions/ingest/handler.js';
import { parseLakeConfig } from '../functions/lake-writer/config.js';
import {
  createLakeWriterHandler,
  depsFromConfig as lakeWriterDeps,
} from '../functions/lake-writer/handler.js';
import { parseNotifierConfig } from '../functions/notifiers/config.js';
import { createNotifierHandler, depsFromConfig as notifierDeps } from '../functions/notifiers/handler.js';
import { parseQueryConfig } from '../functions/query/config.js';
import { createQueryHandler, depsFromConfig as queryDeps } from '../functions/query/handler.js';
import type { ChannelSecretStore } from '../functions/shared/alerts/channel-secrets.js';
import { ensureAlertConfigTables } from '../functions/shared/alerts/dynamo-alert-config-store.js';
import { ensureAlertStateTable } from '../functions/shared/alerts/dynamo-alert-state-store.js';
import type { EmailPublisher } from '../functions/shared/alerts/notifier.js';
import { CHANNEL_TYPES, type ChannelType } from '../functions/shared/alerts/rules.js';
import type { SecretSource } from '../functions/shared/alerts/secrets.js';
import type { ObjectStore } from '../functions/shared/lake/object-store.js';
import type { TelemetryReader } from '../functions/shared/query/model.js';
import { parseStreamAlertEvaluatorConfig } from '../functions/stream-alert-evaluator/config.js';
import {
  createStreamAlertEvaluatorHandler,
  depsFromConfig as streamAlertEvaluatorDeps,
} from '../functions/stream-alert-evaluator/handler.js';
import type { InProcessEventBus } from './event-bus.js';

/**
 * Local mode's functions, each composed by its own handler's `depsFromConfig` exactly as in Lambda:
 * the function's config is parsed by its own schema from the environment the stack would give it
 * (local resource names and URLs over the variables local mode was started with, so REDACTION_RULES,
 * ROW_LIMITS, MAX_BODY_BYTES... are read the same way), and its clients point at the emulators, the
 * embedded ClickHouse and the in-process bus. Where AWS has no local part the clients carry a
 * stand-in (ADR 0010): Athena (the cold tier over the same Parquet), Secrets Manager (a file and
 * `env:` references) and SNS (e-mail printed).
 */

/** What local mode provisions, named once (the tenants CLI and tests find them in local.json). */
export const LOCAL_RESOURCES = {
  stream: 'otlp-stream',
  lakeBucket: 'otlp-lake',
  tenantsTable: 'tenants',
  rateLimitTable: 'rate-limits',
  alertStateTable: 'alert-state',
  alertConfigTable: 'alert-config',
  alertHistoryTable: 'alert-history',
  alertBus: 'otlp-alerts',
  /** Channel secrets the alerts API creates (the file stand-in keys them by this prefix). */
  alertSecretPrefix: 'otlp-alerts/',
} as const;

/** The alerting tables the functions read and write (the stateful stack's, on dynalite). */
export async function ensureLocalAlertTables(dynamo: DynamoDBClient): Promise<void> {
  const R = LOCAL_RESOURCES;
  await ensureAlertConfigTables(dynamo, R.alertConfigTable, R.alertHistoryTable);
  await ensureAlertStateTable(dynamo, R.alertStateTable);
}

/**
 * The ClickHouse the functions' configs name when the embedded engine serves them: the schemas ask
 * for a server, but local mode hands the functions its client (`clients.clickhouse`), so no one
 * connects to this.
 */
export const EMBEDDED_CLICKHOUSE_URL = 'http://embedded-chdb.localhost';

/** Variables only AWS can honour (secrets and Athena by ARN or name): never read in local mode. */
const AWS_ONLY = /(_ARN$|^ATHENA_WORKGROUP$|^GLUE_DATABASE$)/;

type Env = Readonly<Record<string, string | undefined>>;

export interface LocalAlertingClients {
  readonly clickhouse: ClickHouseClient;
  readonly dynamo: DynamoDBClient;
  /** EventBridge: the in-process bus. */
  readonly bus: InProcessEventBus;
  /** Stand-in for Secrets Manager: what the notifiers read (channel secrets and `env:` references). */
  readonly notifierSecrets: SecretSource;
  /** Stand-in for SNS. */
  readonly email: EmailPublisher;
}

export interface LocalFunctionClients extends LocalAlertingClients {
  /** The consumers' (and provisioning's) Kinesis client. */
  readonly kinesis: KinesisClient;
  /** The ingest's own: one attempt per PutRecords, as in Lambda (its sink retries within the deadline). */
  readonly ingestKinesis: KinesisClient;
  readonly s3: S3Client;
  /** Stand-in for Athena. */
  readonly cold: TelemetryReader;
  /** Stand-in for Secrets Manager: the alerts API's channel secrets. */
  readonly channelSecrets: ChannelSecretStore;
}

export interface LocalAlertingSettings {
  /** The environment local mode was started with (each function's tunables are read from it). */
  readonly env: Env;
  readonly alertRulesDir: string;
  readonly alertStreamWindowSeconds: number;
  /** Local mode's shorter read of the API's rules: a rule made in the console applies within seconds. */
  readonly alertRulesTtlMs?: number;
  /** The remote ClickHouse local mode uses, if any (else the embedded engine). */
  readonly clickhouse?: {
    readonly url: string;
    readonly user: string;
    readonly password: string;
    readonly database: string;
  };
  /** The gateway's URL, known once it listens (read on each function's first invocation). */
  readonly gatewayUrl: () => string;
}

export interface LocalFunctionSettings extends LocalAlertingSettings {
  readonly hotRetentionDays: number;
  /** The page cursors' key (kept with the data). */
  readonly cursorSecret: string;
  readonly compaction: {
    readonly COMPACTION_TARGET_BYTES: number;
    readonly COMPACTION_GRACE_MINUTES: number;
  };
}

/** Parsed once, on the first invocation (the gateway's URL is known by then). */
function once<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    value ??= { v: make() };
    return value.v;
  };
}

/** The environment the stack would give a function: local facts over the variables local mode was started with. */
function functionEnv(base: Env) {
  return (facts: Record<string, string | number | undefined>): Record<string, string | undefined> => {
    const out: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(base)) if (!AWS_ONLY.test(k)) out[k] = v;
    for (const [k, v] of Object.entries(facts)) out[k] = v === undefined ? undefined : String(v);
    return out;
  };
}

function clickhouseEnv(s: LocalAlertingSettings) {
  return {
    CLICKHOUSE_URL: s.clickhouse?.url ?? EMBEDDED_CLICKHOUSE_URL,
    CLICKHOUSE_USER: s.clickhouse?.user ?? 'default',
    CLICKHOUSE_PASSWORD: s.clickhouse?.password ?? '',
    CLICKHOUSE_DATABASE: s.clickhouse?.database ?? 'default',
  };
}

/** The alert evaluator, the stream evaluator and one notifier per channel type. */
export function localAlertingFunctions(s: LocalAlertingSettings, clients: LocalAlertingClients) {
  const R = LOCAL_RESOURCES;
  const env = functionEnv(s.env);
  const clickhouse = async () => clients.clickhouse;
  const alertEnv = () =>
    env({
      ...clickhouseEnv(s),
      ALERT_RULES_DIR: s.alertRulesDir,
      ALERT_STATE_TABLE: R.alertStateTable,
      ALERT_CONFIG_TABLE: R.alertConfigTable,
      ALERT_HISTORY_TABLE: R.alertHistoryTable,
      ALERT_BUS_NAME: R.alertBus,
      QUERY_API_URL: s.gatewayUrl(),
      CONSOLE_BASE_URL: s.gatewayUrl(),
      ALERT_STREAM_WINDOW_SECONDS: s.alertStreamWindowSeconds,
      ...(s.alertRulesTtlMs !== undefined && { ALERT_RULES_TTL_MS: s.alertRulesTtlMs }),
    });
  return {
    alertEvaluator: () =>
      createAlertEvaluatorHandler(
        alertEvaluatorDeps(
          once(() => parseAlertEvaluatorConfig(alertEnv())),
          {
            clickhouse,
            dynamo: clients.dynamo,
            eventBridge: clients.bus,
          },
        ),
      ),
    streamAlertEvaluator: () =>
      createStreamAlertEvaluatorHandler(
        streamAlertEvaluatorDeps(
          once(() => parseStreamAlertEvaluatorConfig(alertEnv())),
          {
            dynamo: clients.dynamo,
            eventBridge: clients.bus,
          },
        ),
      ),
    /** One notifier function per channel type, as the stack deploys them. */
    notifiers: () =>
      Object.fromEntries(
        CHANNEL_TYPES.map((type) => [
          type,
          createNotifierHandler(
            notifierDeps(
              once(() => parseNotifierConfig(env({ NOTIFIER_CHANNEL: type }))),
              {
                secrets: clients.notifierSecrets,
                email: clients.email,
              },
            ),
          ),
        ]),
      ) as Record<ChannelType, ReturnType<typeof createNotifierHandler>>,
  };
}

export function localFunctions(s: LocalFunctionSettings, clients: LocalFunctionClients) {
  const R = LOCAL_RESOURCES;
  const env = functionEnv(s.env);
  const clickhouse = async () => clients.clickhouse;

  return {
    ingest: () =>
      createIngestHandler(
        ingestDeps(
          once(() =>
            parseIngestConfig(
              env({
                STREAM_NAME: R.stream,
                TENANTS_TABLE: R.tenantsTable,
                RATE_LIMIT_TABLE: R.rateLimitTable,
                QUOTA_EVENT_BUS: R.alertBus,
                HOT_RETENTION_DAYS: s.hotRetentionDays,
              }),
            ),
          ),
          { kinesis: clients.ingestKinesis, dynamo: clients.dynamo, eventBridge: async () => clients.bus },
        ),
      ),
    query: () =>
      createQueryHandler(
        queryDeps(
          once(() =>
            parseQueryConfig(
              env({
                ...clickhouseEnv(s),
                TENANTS_TABLE: R.tenantsTable,
                RATE_LIMIT_TABLE: R.rateLimitTable,
                LAKE_BUCKET: R.lakeBucket,
                CURSOR_SECRET: s.cursorSecret,
                HOT_RETENTION_DAYS: s.hotRetentionDays,
              }),
            ),
          ),
          () => ({ clickhouse, dynamo: clients.dynamo, cold: clients.cold }),
        ),
      ),
    alertsApi: () =>
      createAlertsApiHandler(
        alertsApiDeps(
          once(() =>
            parseAlertsApiConfig(
              env({
                TENANTS_TABLE: R.tenantsTable,
                ALERT_CONFIG_TABLE: R.alertConfigTable,
                ALERT_HISTORY_TABLE: R.alertHistoryTable,
                ALERT_STATE_TABLE: R.alertStateTable,
                ALERT_RULES_DIR: s.alertRulesDir,
                ALERT_SECRET_PREFIX: R.alertSecretPrefix,
                RATE_LIMIT_TABLE: R.rateLimitTable,
              }),
            ),
          ),
          // Local receivers (a webhook on 127.0.0.1) are plain HTTP.
          { dynamo: clients.dynamo, secrets: clients.channelSecrets, allowHttpUrls: true },
        ),
      ),
    /** `clickhouse`: the writer's client (local mode wraps it with its fault hooks). */
    hotWriter: (writerClient: ClickHouseClient = clients.clickhouse) =>
      createHotWriterHandler(
        hotWriterDeps(
          once(() =>
            parseHotWriterConfig(
              env({
                ...clickhouseEnv(s),
                DEAD_LETTER_BUCKET: R.lakeBucket,
                HOT_RETENTION_DAYS: s.hotRetentionDays,
              }),
            ),
          ),
          { clickhouse: async () => writerClient, s3: clients.s3 },
        ),
      ),
    /** `wrapStore`: local mode's fault hooks around the lake's object store. */
    lakeWriter: (wrapStore: (store: ObjectStore) => ObjectStore = (store) => store) => {
      const deps = lakeWriterDeps(
        once(() => parseLakeConfig(lakeEnv())),
        clients.s3,
      );
      return createLakeWriterHandler({
        ...deps,
        ports: () => {
          const ports = typeof deps.ports === 'function' ? deps.ports() : deps.ports;
          return { ...ports, store: wrapStore(ports.store) };
        },
      });
    },
    compactor: () =>
      createCompactorHandler(
        compactorDeps(
          once(() => parseLakeConfig(lakeEnv())),
          clients.s3,
        ),
      ),
    ...localAlertingFunctions(s, clients),
  };

  function lakeEnv() {
    return env({ LAKE_BUCKET: R.lakeBucket, DEAD_LETTER_BUCKET: R.lakeBucket, ...s.compaction });
  }
}

export type LocalFunctions = ReturnType<typeof localFunctions>;
