import type { ClickHouseClient } from '@clickhouse/client';
import { clickHouseType, ident } from '../functions/shared/clickhouse/ddl.js';
import { publishedPartitionPrefix, tenantSegment } from '../functions/shared/lake/layout.js';
import type { ObjectStore } from '../functions/shared/lake/object-store.js';
import {
  type ClickHouseTableSources,
  ClickHouseTelemetryReader,
} from '../functions/shared/query/clickhouse-reader.js';
import type { TableSource } from '../functions/shared/query/clickhouse-sql.js';
import { hoursOf, type TimeRange } from '../functions/shared/query/time.js';
import { TABLES, type TableName } from '../functions/shared/schema/columns.js';

/**
 * The cold tier in local mode: the same logical queries as Athena, run by the embedded ClickHouse
 * over the lake's published Parquet parts through its `s3()` table function against s3rver.
 *
 * Partition pruning is done the way Athena's partition projection does it: only the
 * `<table>/tenant=<t>/dt=<day>/hour=<hh>/` prefixes inside the range are listed, and exactly those
 * files are named in the `s3()` URL; the tenant filter is also in the SQL. Staging files (not yet
 * compacted) are not read, as Athena does not read them (see ADR 0005).
 *
 * The `s3()` call names every column of the model with its type (`lakeStructure`) instead of
 * letting ClickHouse infer a schema from one file: parts written before a column was added lack
 * it, and ClickHouse then fills it with its type's default ('' , 0, the epoch, an empty map or
 * array), as the hot tables do for an absent column and the Parquet reader does in the compactor.
 * A nested column is read as an array of named tuples, whose `Events.Name` subcolumns the queries use.
 */

/** The s3() structure of a table's Parquet parts: every model column, nested ones as Array(Tuple). */
export function lakeStructure(table: TableName): string {
  return TABLES[table].columns
    .map((col) => {
      // A column with its own absent value (SampleRate: 1) says so, for parts written before it.
      if (col.type !== 'nested')
        return `${ident(col.name)} ${clickHouseType(col.type)}${col.absent !== undefined ? ` DEFAULT ${col.absent}` : ''}`;
      const fields = col.fields.map((f) => `${ident(f.name)} ${clickHouseType(f.type)}`).join(', ');
      return `${ident(col.name)} Array(Tuple(${fields}))`;
    })
    .join(', ');
}

export interface LocalColdTierOptions {
  readonly client: ClickHouseClient;
  /** The lake bucket (lists the published parts). */
  readonly store: ObjectStore;
  /** s3rver's endpoint, e.g. http://127.0.0.1:4569 */
  readonly s3Endpoint: string;
  readonly bucket: string;
  /** s3rver checks signatures against its one key pair. @default S3RVER / S3RVER */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /** @default 10 */
  readonly maxExecutionSeconds?: number;
}

/** Keys the lake writes; anything else would break the `{a,b}` URL list (and is not ours). */
const SAFE_KEY = /^[A-Za-z0-9_=./%-]+\.parquet$/;

export class ParquetLakeSources implements ClickHouseTableSources {
  constructor(private readonly options: LocalColdTierOptions) {}

  async resolve(table: TableName, tenant: string, range: TimeRange): Promise<TableSource | undefined> {
    const byDay = new Map<string, Set<number>>();
    for (const { dt, hour } of hoursOf(range)) {
      const hours = byDay.get(dt) ?? new Set<number>();
      hours.add(hour);
      byDay.set(dt, hours);
    }
    const keys: string[] = [];
    for (const [dt, hours] of byDay) {
      const dayPrefix = `${table}/tenant=${tenantSegment(tenant)}/dt=${dt}/`;
      for (const o of await this.options.store.list(dayPrefix)) {
        const m = /\/hour=(\d{2})\/[^/]+$/.exec(o.key);
        if (!m || !hours.has(Number(m[1]))) continue;
        if (
          !o.key.startsWith(
            publishedPartitionPrefix(table, `tenant=${tenantSegment(tenant)}/dt=${dt}/hour=${m[1]}`),
          )
        )
          continue;
        if (SAFE_KEY.test(o.key)) keys.push(o.key);
      }
    }
    if (keys.length === 0) return undefined;
    const base = `${this.options.s3Endpoint.replace(/\/+$/, '')}/${this.options.bucket}/`;
    const url = keys.length === 1 ? `${base}${keys[0]}` : `${base}{${keys.join(',')}}`;
    return {
      expr: `s3({lake_url:String}, {lake_key:String}, {lake_secret:String}, 'Parquet', {lake_structure:String})`,
      params: {
        lake_url: url,
        lake_structure: lakeStructure(table),
        lake_key: this.options.accessKeyId ?? 'S3RVER',
        lake_secret: this.options.secretAccessKey ?? 'S3RVER',
      },
    };
  }
}

export function createLocalColdTier(options: LocalColdTierOptions): ClickHouseTelemetryReader {
  return new ClickHouseTelemetryReader(options.client, {
    tier: 'cold',
    engine: 'clickhouse-parquet',
    sources: new ParquetLakeSources(options),
    ...(options.maxExecutionSeconds !== undefined && { maxExecutionSeconds: options.maxExecutionSeconds }),
  });
}
