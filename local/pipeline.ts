import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import { createConsoleHandler } from '../functions/console/handler.js';
import { queryRoutes } from '../functions/query/handler.js';
import { alertsRoutes } from '../functions/shared/alerts/alerts-api.js';
import { FileChannelSecretStore, RoutingSecretSource } from '../functions/shared/alerts/channel-secrets.js';
import { LocalSecretSource } from '../functions/shared/alerts/secrets.js';
import { createRemoteClickHouse } from '../functions/shared/clickhouse/connect.js';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import { CONSOLE_ROUTES, DirectoryConsoleFiles } from '../functions/shared/console/static-site.js';
import { S3DeadLetterSink } from '../functions/shared/dead-letter/s3-dead-letter-sink.js';
import { S3ObjectStore } from '../functions/shared/lake/s3-object-store.js';
import { ensureRateLimitTable } from '../functions/shared/tenants/dynamo-rate-limiter.js';
import {
  ensureTenantsTable,
  registerKey,
  setKeyScopes,
} from '../functions/shared/tenants/dynamo-tenant-directory.js';
import { DEFAULT_RETENTION_FILE, readRetentionFile } from '../functions/shared/tenants/retention.js';
import { localDynamoClient, localKinesisClient, localS3Client } from './aws-clients.js';
import { FileCheckpointStore } from './checkpoint-store.js';
import { createEmbeddedClickHouse } from './clickhouse-embedded.js';
import { startClickHouseHttp } from './clickhouse-http.js';
import { createLocalColdTier } from './cold-tier.js';
import type { LocalConfig } from './config.js';
import { containerPerShard } from './containers.js';
import { startEmulators } from './emulators.js';
import { deadLetterDestination, type EsmPoller, startEsmPoller } from './esm-poller.js';
import { InProcessEventBus, type LocalAlerting, scheduledEvent, startLocalAlerting } from './event-bus.js';
import { lakePutFault, parseFaultPlan, withHotInsertFault } from './fault-hooks.js';
import { ensureLocalAlertTables, LOCAL_RESOURCES, localFunctions } from './functions.js';
import { type GatewayRoute, startHttpGateway } from './http-gateway.js';
import { lambdaContext } from './lambda-context.js';
import { ensureBucket, ensureStream } from './provision.js';

/**
 * The whole pipeline in one process: the same handlers as in Lambda, wired to the emulators and
 * the embedded ClickHouse. `bin/local.ts` starts it for `npm start`; tests and benchmarks start it
 * the same way.
 */

export const LOCAL_STREAM = LOCAL_RESOURCES.stream;
export const LOCAL_LAKE_BUCKET = LOCAL_RESOURCES.lakeBucket;
export const LOCAL_TENANTS_TABLE = LOCAL_RESOURCES.tenantsTable;
export const LOCAL_RATE_LIMIT_TABLE = LOCAL_RESOURCES.rateLimitTable;
/** The built console (scripts/build-console.ts writes it; bin/local.ts builds it when stale). */
export const LOCAL_CONSOLE_DIR = fileURLToPath(new URL('../console/dist', import.meta.url));
/** The compactor's settings in local mode (the fault matrix's reader compacts with the same). */
export const LOCAL_COMPACTION = { COMPACTION_TARGET_BYTES: 128 * 1024 * 1024, COMPACTION_GRACE_MINUTES: 70 };

export interface LocalPipeline {
  readonly url: string;
  readonly tenant: string;
  readonly apiKey: string;
  readonly dataDir: string;
  readonly clickhouse: ClickHouseClient;
  readonly clickhouseMode: 'embedded' | 'remote';
  /** The ClickHouse HTTP interface over the embedded engine, or why it is not served. */
  readonly clickhouseHttp: { readonly url: string; readonly user: string } | { readonly notServed: string };
  readonly endpoints: LocalEndpoints;
  /** Resolves when both consumers have caught up with the stream. */
  whenIdle(): Promise<void>;
  /** Runs the compactor once now (it also runs on its timer). */
  compact(): Promise<void>;
  /** Alerting: the evaluator on its timer and the in-process event bus. */
  readonly alerting: LocalAlerting;
  /**
   * Stop accepting, answer the requests in flight, let the consumers write what is on the stream
   * and checkpoint (each phase bounded by STOP_TIMEOUT_MS), then close everything.
   */
  stop(): Promise<void>;
}

export interface LocalEndpoints {
  readonly url: string;
  readonly kinesisEndpoint: string;
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
  readonly streamName: string;
  readonly lakeBucket: string;
  readonly tenantsTable: string;
  /** The local ClickHouse HTTP interface, when served. */
  readonly clickhouseHttpUrl?: string;
}

export class LocalStartError extends Error {
  override readonly name = 'LocalStartError';
}

/** Quiet, local-friendly Powertools defaults (no X-Ray daemon, no EMF lines on stdout) unless set. */
function powertoolsDefaults(config: LocalConfig): void {
  process.env.POWERTOOLS_LOG_LEVEL ??= config.LOG_LEVEL;
  process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'otlp-pipeline';
  process.env.POWERTOOLS_SERVICE_NAME ??= 'otlp-pipeline-local';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** Cursors are signed; the local secret is made once and kept with the data. */
async function localCursorSecret(dataDir: string): Promise<string> {
  const path = join(dataDir, 'cursor-secret');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    await writeFile(path, secret, { mode: 0o600 });
    return secret;
  }
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (cause) {
    throw new LocalStartError(`data directory ${dir} is not writable (set DATA_DIR to another place)`, {
      cause,
    });
  }
}

/** Fails fast, before the emulators and ClickHouse start, when the port is taken. */
async function ensurePortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new LocalStartError(
              `port ${port} on ${host} is already in use (is another \`npm start\` running? set PORT)`,
            )
          : err,
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/**
 * The ClickHouse HTTP interface over the embedded engine. A secondary door: when its port is
 * taken (say, by a real ClickHouse), local mode still starts and the banner says so.
 */
async function startLocalClickHouseHttp(
  config: LocalConfig,
  mode: 'embedded' | 'remote',
): Promise<{ url: string; close: () => Promise<void> } | { notServed: string }> {
  if (mode === 'remote') return { notServed: 'CLICKHOUSE_URL is set: use that server' };
  if (config.CLICKHOUSE_HTTP_PORT === 'off') return { notServed: 'CLICKHOUSE_HTTP_PORT=off' };
  try {
    const server = await startClickHouseHttp({
      path: join(config.dataDir, 'clickhouse'),
      host: '127.0.0.1',
      port: config.CLICKHOUSE_HTTP_PORT,
      user: config.CLICKHOUSE_HTTP_USER,
      password: config.CLICKHOUSE_HTTP_PASSWORD,
    });
    return { url: server.url, close: () => server.close() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    return {
      notServed: `port ${config.CLICKHOUSE_HTTP_PORT} is in use (set CLICKHOUSE_HTTP_PORT to another port, or off)`,
    };
  }
}

export async function startLocalPipeline(config: LocalConfig): Promise<LocalPipeline> {
  powertoolsDefaults(config);
  await ensureWritableDir(config.dataDir);
  await ensurePortFree(config.HOST, config.PORT);
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };

  try {
    const emulators = await startEmulators({ dataDir: join(config.dataDir, 'aws'), host: '127.0.0.1' });
    closers.push(() => emulators.close());
    const kinesis = localKinesisClient(emulators.kinesisEndpoint);
    const dynamo = localDynamoClient(emulators.dynamoEndpoint);
    const s3 = localS3Client(emulators.s3Endpoint);

    await ensureStream(kinesis, LOCAL_STREAM, config.STREAM_SHARDS);
    await ensureBucket(s3, LOCAL_LAKE_BUCKET);
    await ensureTenantsTable(dynamo, LOCAL_TENANTS_TABLE);
    await ensureRateLimitTable(dynamo, LOCAL_RATE_LIMIT_TABLE);
    // The local key may also administer alerting (rules, channels, silences through /v1/alerts).
    const localKey = await registerKey(dynamo, LOCAL_TENANTS_TABLE, {
      tenantId: config.LOCAL_TENANT,
      key: config.LOCAL_API_KEY,
      label: 'local mode',
      scopes: ['ingest', 'query', 'admin'],
    });
    if (!localKey.scopes.includes('admin')) {
      // A data directory from before the admin scope: the key gains it.
      await setKeyScopes(dynamo, LOCAL_TENANTS_TABLE, localKey.keyId, [...localKey.scopes, 'admin']);
    }

    const clickhouseMode = config.CLICKHOUSE_URL ? 'remote' : 'embedded';
    const clickhouse = config.CLICKHOUSE_URL
      ? createRemoteClickHouse({
          url: config.CLICKHOUSE_URL,
          username: config.CLICKHOUSE_USER,
          password: config.CLICKHOUSE_PASSWORD,
          database: config.CLICKHOUSE_DATABASE,
        })
      : createEmbeddedClickHouse({ path: join(config.dataDir, 'clickhouse') });
    closers.push(() => clickhouse.close());
    await applyMigrations(clickhouse, {
      hotRetentionDays: config.HOT_RETENTION_DAYS,
      // Tenants' own hot retention, as `npm run tenants -- set-retention` wrote it (read at start).
      tenantRetention: await readRetentionFile(resolvePath(DEFAULT_RETENTION_FILE)),
    });
    const clickhouseHttp = await startLocalClickHouseHttp(config, clickhouseMode);
    if ('url' in clickhouseHttp) closers.push(clickhouseHttp.close);

    const deadLetters = new S3DeadLetterSink(s3, LOCAL_LAKE_BUCKET);
    const store = new S3ObjectStore(s3, LOCAL_LAKE_BUCKET);
    await ensureLocalAlertTables(dynamo);
    // EventBridge: rules deliver to the notifier functions; a delivery that keeps failing is
    // dead-lettered, as a rule's retry policy and DLQ do.
    const bus = new InProcessEventBus({
      deadLetters,
      onFailure: (rule, event, error, final) => {
        if (final) console.log(`alert bus: ${rule} dead-lettered event ${event.id}: ${String(error)}`);
      },
    });
    const channelSecrets = new FileChannelSecretStore(join(config.dataDir, 'alert-channel-secrets.json'));
    let gatewayUrl: string | undefined;
    const functions = localFunctions(
      {
        env: config.env,
        hotRetentionDays: config.HOT_RETENTION_DAYS,
        alertRulesDir: config.ALERT_RULES_DIR ?? fileURLToPath(new URL('../alerts', import.meta.url)),
        alertStreamWindowSeconds: config.ALERT_STREAM_WINDOW_SECONDS,
        alertRulesTtlMs: 5_000,
        ...(config.CLICKHOUSE_URL && {
          clickhouse: {
            url: config.CLICKHOUSE_URL,
            user: config.CLICKHOUSE_USER,
            password: config.CLICKHOUSE_PASSWORD,
            database: config.CLICKHOUSE_DATABASE,
          },
        }),
        cursorSecret: await localCursorSecret(config.dataDir),
        gatewayUrl: () => {
          if (!gatewayUrl) throw new LocalStartError('the gateway is not listening yet');
          return gatewayUrl;
        },
        compaction: LOCAL_COMPACTION,
      },
      {
        kinesis,
        // One attempt per PutRecords, as in Lambda: the SDK's own retries on top kept clients waiting
        // past their timeout, and they resent.
        ingestKinesis: localKinesisClient(emulators.kinesisEndpoint, { maxAttempts: 1 }),
        dynamo,
        s3,
        clickhouse,
        bus,
        cold: createLocalColdTier({
          client: clickhouse,
          store,
          s3Endpoint: emulators.s3Endpoint,
          bucket: LOCAL_LAKE_BUCKET,
        }),
        channelSecrets,
        notifierSecrets: new RoutingSecretSource(channelSecrets, new LocalSecretSource({}, config.env)),
        email: {
          async publish(topicArn, subject, body) {
            console.log(`e-mail to ${topicArn}: ${subject}\n${body}`);
          },
        },
      },
    );

    const ingest = functions.ingest();
    const query = functions.query();
    const alertsApi = functions.alertsApi();
    const consoleHandler = createConsoleHandler(new DirectoryConsoleFiles(LOCAL_CONSOLE_DIR, false));
    const routes: GatewayRoute[] = [
      ...(['traces', 'logs', 'metrics'] as const).map((signal) => ({
        method: 'POST',
        path: `/v1/${signal}`,
        handler: ingest,
        functionName: 'ingest',
        cors: true,
      })),
      ...queryRoutes.map((r) => ({ method: r.method, path: r.path, handler: query, functionName: 'query' })),
      // The console, as the console Lambda serves it in AWS (read from disk per request, so a
      // rebuild shows on reload).
      ...CONSOLE_ROUTES.map((path) => ({
        method: 'GET',
        path,
        handler: consoleHandler,
        functionName: 'console',
      })),
      // Alerts API: rules, channels, silences, state and history (reads: query scope; writes: admin).
      ...alertsRoutes.map((r) => ({
        method: r.method,
        path: r.path,
        handler: alertsApi,
        functionName: 'alerts-api',
      })),
    ];

    const gateway = await startHttpGateway({
      host: config.HOST,
      port: config.PORT,
      routes,
      corsAllowedOrigins: config.CORS_ALLOWED_ORIGINS,
    });
    gatewayUrl = gateway.url;
    let gatewayClosed: Promise<void> | undefined;
    const closeGateway = (graceMs = 0) => {
      gatewayClosed ??= gateway.close(graceMs);
      return gatewayClosed;
    };
    closers.push(() => closeGateway());

    const checkpoints = join(config.dataDir, 'checkpoints');
    await mkdir(checkpoints, { recursive: true });
    const fault = parseFaultPlan(config.LOCAL_FAULT);
    // The fault hooks count across the shards' containers: the n-th insert or put of the process.
    const hotClient = withHotInsertFault(clickhouse, fault);
    const lakeStore = lakePutFault(fault, (key) => emulators.s3ObjectFile(LOCAL_LAKE_BUCKET, key));
    const hotWriter = containerPerShard(() => functions.hotWriter(hotClient));
    const lakeWriter = containerPerShard(() => functions.lakeWriter(lakeStore));
    const pollers: EsmPoller[] = [];
    for (const [name, handler, batchSize, windowMs] of [
      ['hot-writer', hotWriter, config.HOT_BATCH_SIZE, config.HOT_BATCH_WINDOW_MS],
      ['lake-writer', lakeWriter, config.LAKE_BATCH_SIZE, config.LAKE_BATCH_WINDOW_MS],
    ] as const) {
      const poller = await startEsmPoller({
        kinesis,
        streamName: LOCAL_STREAM,
        handler,
        functionName: name,
        checkpointStore: new FileCheckpointStore(join(checkpoints, `${name}.json`)),
        batchSize,
        maximumBatchingWindowMs: windowMs,
        bisectBatchOnFunctionError: true,
        reportBatchItemFailures: true,
        // The writers dead-letter bad data themselves, so a failed batch is an outage (full disk,
        // engine down): retried until it passes, never discarded; Lambda's default is the same.
        maximumRetryAttempts: -1,
        maximumRetryBackoffMs: 5_000,
        startingPosition: 'TRIM_HORIZON',
        onFailure: deadLetterDestination(deadLetters, `${name}-esm`),
        pollIntervalMs: 200,
      });
      pollers.push(poller);
    }
    closers.push(async () => {
      await Promise.all(pollers.map((p) => p.stop()));
    });

    const compactor = functions.compactor();
    const compact = async () => {
      await compactor(
        scheduledEvent('aws.events'),
        lambdaContext({ functionName: 'compactor', remaining: { timeoutMs: 900_000 } }),
      );
    };
    const compactionTimer = setInterval(() => {
      compact().catch((e) => console.error('compactor run failed; the next run retries', e));
    }, config.COMPACTION_INTERVAL_MS);
    compactionTimer.unref();
    closers.push(async () => clearInterval(compactionTimer));

    // The evaluator on its schedule and the notifiers behind the bus's rules; with the stream
    // evaluator off (window 0), the schedule evaluates every rule: none is left undecided.
    const alerting = startLocalAlerting({
      bus,
      evaluator: functions.alertEvaluator(),
      notifiers: functions.notifiers(),
      intervalMs: config.ALERT_INTERVAL_MS,
    });
    closers.push(() => alerting.close());

    // The stream evaluator: a third consumer with tumbling windows, publishing on the same bus.
    if (config.ALERT_STREAM_WINDOW_SECONDS > 0) {
      const streamEvaluator = containerPerShard(functions.streamAlertEvaluator);
      const streamAlerts = await startEsmPoller({
        kinesis,
        streamName: LOCAL_STREAM,
        // The poller hands this consumer tumbling-window events (tumblingWindowSeconds below).
        handler: (event, context) => streamEvaluator(event as KinesisStreamTumblingWindowEvent, context),
        functionName: 'stream-alert-evaluator',
        checkpointStore: new FileCheckpointStore(join(checkpoints, 'stream-alert-evaluator.json')),
        batchSize: 1000,
        tumblingWindowSeconds: config.ALERT_STREAM_WINDOW_SECONDS,
        reportBatchItemFailures: true,
        maximumRetryAttempts: -1,
        maximumRetryBackoffMs: 5_000,
        // Alerts are about now: a first start does not replay the stream's history into them.
        startingPosition: 'LATEST',
        pollIntervalMs: 200,
      });
      closers.push(() => streamAlerts.stop());
    }

    const endpoints: LocalEndpoints = {
      url: gateway.url,
      kinesisEndpoint: emulators.kinesisEndpoint,
      dynamoEndpoint: emulators.dynamoEndpoint,
      s3Endpoint: emulators.s3Endpoint,
      streamName: LOCAL_STREAM,
      lakeBucket: LOCAL_LAKE_BUCKET,
      tenantsTable: LOCAL_TENANTS_TABLE,
      ...('url' in clickhouseHttp && { clickhouseHttpUrl: clickhouseHttp.url }),
    };
    // The tenants CLI (`npm run tenants -- --local`) and other tools find the running emulators here.
    await writeFile(join(config.dataDir, 'local.json'), `${JSON.stringify(endpoints, null, 2)}\n`);

    let stopping: Promise<void> | undefined;
    return {
      url: gateway.url,
      tenant: config.LOCAL_TENANT,
      apiKey: config.LOCAL_API_KEY,
      dataDir: config.dataDir,
      clickhouse,
      clickhouseMode,
      clickhouseHttp:
        'url' in clickhouseHttp
          ? { url: clickhouseHttp.url, user: config.CLICKHOUSE_HTTP_USER }
          : { notServed: clickhouseHttp.notServed },
      endpoints,
      async whenIdle() {
        await Promise.all(pollers.map((p) => p.whenIdle()));
      },
      compact,
      alerting,
      stop() {
        // Stop accepting first and answer what is in flight (a reset request whose records are on
        // the stream would be resent), then write what the stream holds, then close.
        stopping ??= (async () => {
          await closeGateway(config.STOP_TIMEOUT_MS);
          await Promise.all(pollers.map((p) => p.stop({ drainWithinMs: config.STOP_TIMEOUT_MS })));
          await closeAll();
        })();
        return stopping;
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
