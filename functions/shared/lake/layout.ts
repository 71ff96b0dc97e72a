import type { TableName } from '../schema/columns.js';

/**
 * Where things live in the lake bucket (see docs/decisions/0005-parquet-lake.md):
 *
 *   staging/<table>/tenant=<t>/dt=YYYY-MM-DD/hour=HH/<shard>-<firstSeq>-<lastSeq>.parquet
 *       written by the lake writer, one file per (table, partition, shard) per batch; no Glue
 *       table covers this prefix, so readers never see these files.
 *   <table>/tenant=<t>/dt=YYYY-MM-DD/hour=HH/part-<hash>.parquet
 *       published by the compactor: what Glue (partition projection) and Athena read.
 *   _published/<table>/tenant=<t>/dt=YYYY-MM-DD/hour=HH/<hash>.json
 *       the compactor's manifest of the staging keys a part consumed, written before the part.
 *   _envelope-ids/<table>/tenant=<t>/dt=YYYY-MM-DD/hour=HH/<hash>.txt.gz
 *       the envelope ids in part-<hash> (one per line), written before the part: the compactor
 *       publishes each (table, partition, envelope id) once.
 *   _usage/tenant=<t>/dt=YYYY-MM-DD/<shard>-<firstSeq>-<lastSeq>.json
 *       usage metering (functions/shared/usage): the requests whose first envelope was in the lake
 *       writer's batch, one JSON object per line with its envelope id (a reader counts each id once).
 *   _quarantine/<original key>  and  _quarantine/<original key>.json
 *       a staging file that is not a complete, readable Parquet file, moved aside (never read by
 *       Glue, the writer or the compactor) with the reason in the sidecar.
 */

export const STAGING_PREFIX = 'staging/';
export const MANIFEST_PREFIX = '_published/';
export const ENVELOPE_IDS_PREFIX = '_envelope-ids/';
export const QUARANTINE_PREFIX = '_quarantine/';
export const USAGE_PREFIX = '_usage/';

/** Where a lake writer batch's usage lines of one tenant and UTC day go (deterministic: a retry overwrites). */
export function usageKey(
  tenant: string,
  day: string,
  shardId: string,
  firstSeq: bigint,
  lastSeq: bigint,
): string {
  return `${USAGE_PREFIX}tenant=${tenantSegment(tenant)}/dt=${day}/${shardId}-${firstSeq}-${lastSeq}.json`;
}

const HOUR_MS = 3_600_000;

/** `tenant=<t>/dt=YYYY-MM-DD/hour=HH` (UTC), relative to a table. */
export type PartitionPath = string;

/** Tenant ids are URL-safe in practice; anything else is percent-encoded so a key stays one segment. */
export function tenantSegment(tenant: string): string {
  return encodeURIComponent(tenant);
}

/** Partition of an event at `epochMs` (UTC). */
export function partitionOf(tenant: string, epochMs: number): PartitionPath {
  const d = new Date(Math.floor(epochMs / HOUR_MS) * HOUR_MS);
  const iso = d.toISOString(); // YYYY-MM-DDTHH:…
  return `tenant=${tenantSegment(tenant)}/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

/** Start of the partition's hour, in epoch milliseconds; undefined when the path is not a partition. */
export function partitionHourStart(partition: PartitionPath): number | undefined {
  const m = /^tenant=[^/]+\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})$/.exec(partition);
  if (!m) return undefined;
  return Date.parse(`${m[1]}T${m[2]}:00:00Z`);
}

/** Nanosecond decimal string -> epoch milliseconds (0 for anything unparsable). */
export function nanosToMillis(v: unknown): number {
  if (typeof v === 'string') return v.length > 6 ? Number(v.slice(0, -6)) || 0 : 0;
  if (typeof v === 'number') return Math.floor(v / 1e6);
  return 0;
}

export interface StagingFile {
  readonly table: TableName;
  readonly partition: PartitionPath;
  readonly shardId: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
}

export function stagingPartitionPrefix(table: TableName, partition: PartitionPath): string {
  return `${STAGING_PREFIX}${table}/${partition}/`;
}

export function stagingKey(f: StagingFile): string {
  return `${stagingPartitionPrefix(f.table, f.partition)}${f.shardId}-${f.firstSeq}-${f.lastSeq}.parquet`;
}

/** The shard and sequence range of a staging file name (`<shard>-<first>-<last>.parquet`). */
export function parseStagingName(
  name: string,
): { shardId: string; firstSeq: bigint; lastSeq: bigint } | undefined {
  const m = /^(.+)-(\d+)-(\d+)\.parquet$/.exec(name);
  if (!m) return undefined;
  return { shardId: m[1]!, firstSeq: BigInt(m[2]!), lastSeq: BigInt(m[3]!) };
}

/** Splits `staging/<table>/<partition>/<name>` into its parts. */
export function parseStagingKey(
  key: string,
): { table: string; partition: PartitionPath; name: string } | undefined {
  if (!key.startsWith(STAGING_PREFIX)) return undefined;
  const parts = key.slice(STAGING_PREFIX.length).split('/');
  if (parts.length !== 5) return undefined;
  const [table, tenant, dt, hour, name] = parts as [string, string, string, string, string];
  return { table, partition: `${tenant}/${dt}/${hour}`, name };
}

export function publishedPartitionPrefix(table: TableName, partition: PartitionPath): string {
  return `${table}/${partition}/`;
}

export function publishedKey(table: TableName, partition: PartitionPath, hash: string): string {
  return `${publishedPartitionPrefix(table, partition)}part-${hash}.parquet`;
}

export function manifestPartitionPrefix(table: TableName, partition: PartitionPath): string {
  return `${MANIFEST_PREFIX}${table}/${partition}/`;
}

export function manifestKey(table: TableName, partition: PartitionPath, hash: string): string {
  return `${manifestPartitionPrefix(table, partition)}${hash}.json`;
}

export function envelopeIdsPartitionPrefix(table: TableName, partition: PartitionPath): string {
  return `${ENVELOPE_IDS_PREFIX}${table}/${partition}/`;
}

export function envelopeIdsKey(table: TableName, partition: PartitionPath, hash: string): string {
  return `${envelopeIdsPartitionPrefix(table, partition)}${hash}.txt.gz`;
}

/** Where a staging file is moved when it cannot be read; its reason sits beside it as `.json`. */
export function quarantineKey(key: string): string {
  return `${QUARANTINE_PREFIX}${key}`;
}
