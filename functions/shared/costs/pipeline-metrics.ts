/**
 * The pipeline's own CloudWatch metrics (emitted by the functions through Powertools as embedded
 * metric format), as the dashboard and the cost report read them. The CDK function construct
 * sets POWERTOOLS_METRICS_NAMESPACE to `metricsNamespace(environment)` (one namespace per
 * deployment, so two environments in one account never mix) and POWERTOOLS_SERVICE_NAME to the
 * function's folder name, so each metric carries a `service` dimension ('ingest', 'hot-writer', ...).
 * The dashboard reads them with SEARCH expressions, so a metric not emitted yet shows an empty
 * graph rather than breaking the deploy.
 */
export const PIPELINE_METRICS = {
  /** Namespace prefix; the full namespace is `metricsNamespace(environment)`. */
  namespace: 'OtlpPipeline',
  /** Telemetry items (spans, log records, data points) accepted by ingest; dimensions service, signal. */
  itemsAccepted: 'ItemsAccepted',
  /** Items rejected (partial success) by ingest; dimensions service, signal. */
  itemsRejected: 'ItemsRejected',
  /** Records dead-lettered (hot-writer, lake-writer; dimension service): each consumer alarms on it. */
  deadLetters: 'DeadLetters',
  /** The same records by reason class: dimensions service and reason (a Powertools single metric). */
  deadLettersByReason: 'DeadLettersByReason',
  /** Rows inserted into ClickHouse (hot-writer). */
  rowsInserted: 'RowsInserted',
  /** Rows written to Parquet (lake-writer). */
  lakeRowsWritten: 'LakeRowsWritten',
  /** Incomplete staging files (0 bytes, truncated) the lake writer found and rewrote; alarmed. */
  lakeFilesReplaced: 'LakeFilesReplaced',
  /** Unreadable staging files the compactor moved under `_quarantine/`; alarmed. */
  lakeFilesQuarantined: 'LakeFilesQuarantined',
  /** Partitions a compactor run could not finish (retried by the next run); alarmed. */
  compactionPartitionsFailed: 'CompactionPartitionsFailed',
  /** Milliseconds per ClickHouse insert (hot-writer), unit Milliseconds. */
  clickhouseInsertLatency: 'ClickHouseInsertLatency',
  /** Rows written per tenant: dimensions service and tenant (a Powertools single metric). */
  rowsWrittenPerTenant: 'TenantRowsWritten',
} as const;

export const INGEST_SERVICE = 'ingest';

/** The signals ingest tags its item counts with (the `signal` dimension). */
export const INGEST_SIGNALS = ['traces', 'logs', 'metrics'] as const;

/** The CloudWatch namespace of one deployment's metrics, e.g. `OtlpPipeline/prod`. */
export function metricsNamespace(environment: string): string {
  return `${PIPELINE_METRICS.namespace}/${environment}`;
}
