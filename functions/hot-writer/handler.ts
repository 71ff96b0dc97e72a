import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { S3Client } from '@aws-sdk/client-s3';
import type { ClickHouseClient } from '@clickhouse/client';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { HOT_WRITER_CLIENT_OPTIONS } from '../shared/clickhouse/connect.js';
import { WRITE_LEDGER_TABLE } from '../shared/clickhouse/ddl.js';
import { type ClickHouseRequests, clickHouseRequests } from '../shared/clickhouse/requests.js';
import {
  clickHouseClientProvider,
  clickHouseSourceFromEnv,
} from '../shared/clickhouse/secrets-manager-client.js';
import { ClickHouseTelemetryWriter, type ClickHouseWriterOptions } from '../shared/clickhouse/writer.js';
import { PIPELINE_METRICS } from '../shared/costs/pipeline-metrics.js';
import type { DeadLetterSink } from '../shared/dead-letter/dead-letter.js';
import { S3DeadLetterSink } from '../shared/dead-letter/s3-dead-letter-sink.js';
import { observability } from '../shared/observability/middleware.js';
import { ClickHouseTraceSampler } from '../shared/sampling/clickhouse-trace-sampler.js';
import { ClickHouseUsageSink } from '../shared/usage/usage.js';
import { type HotWriterConfig, hotWriterConfig } from './config.js';
import { consumeKinesisRecords } from './consumer.js';

/**
 * The hot-writer Lambda: Kinesis batches (ESM with ReportBatchItemFailures) into ClickHouse.
 * Wiring only; the rules live in consumer.ts and ../shared/clickhouse/writer.ts.
 */

export interface HotWriterDeps {
  /** The ClickHouse client, resolved per invocation (cached by the provider). */
  readonly clickhouse: () => Promise<ClickHouseClient>;
  readonly deadLetters: DeadLetterSink | (() => DeadLetterSink);
  readonly writer?: ClickHouseWriterOptions;
  /** Per-tenant hot-tier sampling (ADR 0009): rules read from ClickHouse. @default true */
  readonly sampling?: boolean;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly tracer?: Tracer;
}

/** One data insert that ClickHouse accepted: its table and how long it took. */
export interface InsertObservation {
  readonly table: string;
  readonly ms: number;
}

/** `\`db\`.\`otel_traces\`` or `otel_traces` -> `otel_traces`. */
const tableName = (quoted: string) => (quoted.split('.').pop() ?? quoted).replace(/`/g, '');

/**
 * The writer's requests with its data inserts observed (inserts into the old write ledger, if any,
 * left out). Observing the requests rather than the writer's result gives the real figures: rows
 * already written by an earlier attempt or past the hot retention are never inserted, so never
 * counted.
 */
export function observeInserts(
  requests: ClickHouseRequests,
  onInsert: (observation: InsertObservation) => void,
): ClickHouseRequests {
  const observed = async (table: string, insert: Promise<void>) => {
    const started = performance.now();
    await insert;
    const name = tableName(table);
    if (name !== WRITE_LEDGER_TABLE) onInsert({ table: name, ms: performance.now() - started });
  };
  return {
    rows: (request) => requests.rows(request),
    command: (request) => requests.command(request),
    insertText: (request) => observed(request.table, requests.insertText(request)),
    insertObjects: (request) => observed(request.table, requests.insertObjects(request)),
  };
}

export function createHotWriterHandler(deps: HotWriterDeps) {
  const logger = deps.logger ?? new Logger();
  const metrics = deps.metrics ?? new Metrics();
  const tracer = deps.tracer ?? new Tracer();
  let deadLetters: DeadLetterSink | undefined;
  let sampler: { client: ClickHouseClient; sampler: ClickHouseTraceSampler } | undefined;
  // One single-metric emitter per dimension, made on first use and kept: each line it publishes
  // clears its dimension after, and `metrics.singleMetric()` per line read the environment again
  // (~40 µs a line, against ~8 to publish one).
  let byTenant: Metrics | undefined;
  let byReason: Metrics | undefined;

  const lambdaHandler = async (
    event: KinesisStreamEvent,
    _context: Context,
  ): Promise<KinesisStreamBatchResponse> => {
    deadLetters ??= typeof deps.deadLetters === 'function' ? deps.deadLetters() : deps.deadLetters;
    const inserts: InsertObservation[] = [];
    const raw = await deps.clickhouse();
    // The client's cheapest port (requests.ts): straight over HTTP for the lean connection.
    const requests = clickHouseRequests(raw);
    const writer = new ClickHouseTelemetryWriter(
      observeInserts(requests, (o) => inserts.push(o)),
      deps.writer,
    );
    // On the unobserved requests: deferred spans are not rows written to the hot tier. One sampler
    // per container, so its rule cache outlives the invocation.
    if (deps.sampling !== false && sampler?.client !== raw) {
      sampler = {
        client: raw,
        sampler: new ClickHouseTraceSampler(requests, {
          ...(deps.writer?.database !== undefined && { database: deps.writer.database }),
          ...(deps.writer?.hotRetentionDays !== undefined && {
            hotRetentionDays: deps.writer.hotRetentionDays,
          }),
        }),
      };
    }
    // Usage goes through the unobserved requests: its rows are not telemetry rows written.
    const usage = new ClickHouseUsageSink(requests, deps.writer?.database);
    const outcome = await consumeKinesisRecords(event.Records, {
      writer,
      deadLetters,
      usage,
      ...(sampler && { sampler: sampler.sampler }),
    });

    // The dashboard's contract (functions/shared/costs/pipeline-metrics.ts).
    for (const o of inserts) {
      metrics.addMetric(PIPELINE_METRICS.clickhouseInsertLatency, MetricUnit.Milliseconds, Math.round(o.ms));
    }
    // From the writer: insert bodies are byte streams now, which the client observer cannot count.
    for (const [tenant, rows] of outcome.write?.stats.rowsInsertedByTenant ?? []) {
      // Its own EMF line: a tenant dimension on the batch's other metrics would split them per tenant.
      byTenant ??= metrics.singleMetric();
      byTenant.addDimension('tenant', tenant);
      byTenant.addMetric(PIPELINE_METRICS.rowsWrittenPerTenant, MetricUnit.Count, rows);
    }

    const failures = outcome.response.batchItemFailures.length;
    metrics.addMetric('Records', MetricUnit.Count, outcome.records);
    // The consumer's dead-letter alarm watches this one (lib/constructs/stream-consumer.ts).
    metrics.addMetric(PIPELINE_METRICS.deadLetters, MetricUnit.Count, outcome.deadLettered);
    for (const [reason, n] of outcome.deadLetteredByReason) {
      byReason ??= metrics.singleMetric();
      byReason.addDimension('reason', reason);
      byReason.addMetric(PIPELINE_METRICS.deadLettersByReason, MetricUnit.Count, n);
    }
    metrics.addMetric('RecordsRetried', MetricUnit.Count, failures);
    if (outcome.write) {
      const { stats } = outcome.write;
      metrics.addMetric('RowsInserted', MetricUnit.Count, stats.rowsInserted);
      metrics.addMetric('RowsAlreadyWritten', MetricUnit.Count, stats.rowsAlreadyWritten);
      metrics.addMetric('RowsExpired', MetricUnit.Count, stats.rowsExpired);
    }
    const fields = {
      records: outcome.records,
      deadLettered: outcome.deadLettered,
      ...(outcome.deadLettered > 0 && {
        deadLetteredByReason: Object.fromEntries(outcome.deadLetteredByReason),
      }),
      retried: failures,
      ...(outcome.write && {
        ...outcome.write.stats,
        rowsInsertedByTenant: Object.fromEntries(outcome.write.stats.rowsInsertedByTenant),
      }),
    };
    if (failures > 0) {
      logger.error('records not written; reported for redelivery', {
        ...fields,
        errors: outcome.errors.map(
          (e) => `${e.name}: ${e.message}${e.cause ? ` (cause: ${String(e.cause)})` : ''}`,
        ),
      });
    } else if (outcome.deadLettered > 0) {
      logger.warn('records dead-lettered', fields);
    } else {
      logger.debug('batch written', fields);
    }
    return outcome.response;
  };

  return middy(lambdaHandler).use(observability({ tracer: tracer, logger: logger, metrics: metrics }));
}

/** What the hot writer talks to: Lambda's defaults, or local mode's engine and emulator. */
export interface HotWriterClients {
  /** Resolved per invocation (a provider caches it). */
  readonly clickhouse: () => Promise<ClickHouseClient>;
  readonly s3: S3Client;
}

/**
 * The hot writer's one composition, from the validated config and the clients (built on first use).
 * Without clients: the ClickHouse of the config (its secret or URL) and the default S3 client.
 */
export function depsFromConfig(
  config: () => HotWriterConfig = hotWriterConfig,
  clients?: HotWriterClients,
): HotWriterDeps {
  const tracer = new Tracer();
  let resolved: HotWriterClients | undefined;
  const clientsOf = (): HotWriterClients => {
    resolved ??= clients ?? {
      clickhouse: clickHouseClientProvider(clickHouseSourceFromEnv(config()), HOT_WRITER_CLIENT_OPTIONS),
      s3: tracer.captureAWSv3Client(new S3Client({})),
    };
    return resolved;
  };
  return {
    logger: new Logger(),
    metrics: new Metrics(),
    tracer,
    clickhouse: () => clientsOf().clickhouse(),
    deadLetters: () => new S3DeadLetterSink(clientsOf().s3, config().DEAD_LETTER_BUCKET),
    get writer(): ClickHouseWriterOptions {
      const c = config();
      // The client's own database setting qualifies the tables: no database here.
      return { hotRetentionDays: c.HOT_RETENTION_DAYS, attempts: c.CLICKHOUSE_INSERT_ATTEMPTS };
    },
  };
}

export const handler = createHotWriterHandler(depsFromConfig());
