import { type Column, type ScalarType, TABLE_NAMES, TABLES } from '../schema/columns.js';
import type { GlueColumnSpec, GlueTableSpec } from './glue-spec.js';

/**
 * Glue tables over the published Parquet parts, derived from the column model, with partition
 * projection (no crawler, no partition maintenance). Types mirror the Parquet schema in
 * ../parquet/parquet-schema.ts: the file's INT64 TIMESTAMP(MICROS) reads as `timestamp`, unsigned
 * integers are stored signed (`bigint`/`int`), maps and nested columns keep their structure.
 *
 * Partitions: `tenant` is injected (every query must say `tenant = '…'`, which is also how the query
 * API scopes a tenant), `dt` a date projection (yyyy-MM-dd), `hour` an integer 00-23. Staging files
 * and compaction manifests live under other prefixes, so no table ever reads them.
 */

/** The first day the date projection covers. */
export const LAKE_EPOCH_DAY = '2024-01-01';

export function hiveScalarType(type: ScalarType): string {
  switch (type) {
    case 'string':
    case 'lowcard':
      return 'string';
    case 'timestamp_ns':
      return 'timestamp';
    case 'uint8':
    case 'int32':
      return 'int';
    case 'uint32':
    case 'uint64':
      return 'bigint';
    case 'float64':
      return 'double';
    case 'bool':
      return 'boolean';
    case 'map':
      return 'map<string,string>';
    case 'array_float64':
      return 'array<double>';
    case 'array_uint64':
      return 'array<bigint>';
  }
}

export function hiveColumnType(col: Column): string {
  if (col.type !== 'nested') return hiveScalarType(col.type);
  return `array<struct<${col.fields.map((f) => `${f.name}:${hiveScalarType(f.type)}`).join(',')}>>`;
}

export const PARTITION_KEYS: readonly GlueColumnSpec[] = [
  { name: 'tenant', type: 'string', comment: 'Tenant id (injected projection: queries must filter on it)' },
  { name: 'dt', type: 'string', comment: 'UTC day of the event time, yyyy-MM-dd' },
  { name: 'hour', type: 'int', comment: 'UTC hour of the event time, 0-23' },
];

/** `lakeLocation` is the bucket URL, `s3://bucket` (a trailing slash is ignored). */
export function glueTables(lakeLocation: string): GlueTableSpec[] {
  const base = lakeLocation.replace(/\/+$/, '');
  return TABLE_NAMES.map((name) => {
    const def = TABLES[name];
    const location = `${base}/${name}/`;
    return {
      name,
      description: `OpenTelemetry ${def.signal} (${name}), Parquet (zstd) published by the compactor`,
      columns: def.columns.map((col) => ({ name: col.name, type: hiveColumnType(col) })),
      partitionKeys: PARTITION_KEYS,
      location,
      parameters: {
        classification: 'parquet',
        EXTERNAL: 'TRUE',
        'parquet.compression': 'ZSTD',
        'projection.enabled': 'true',
        'projection.tenant.type': 'injected',
        'projection.dt.type': 'date',
        'projection.dt.format': 'yyyy-MM-dd',
        'projection.dt.range': `${LAKE_EPOCH_DAY},NOW`,
        'projection.dt.interval': '1',
        'projection.dt.interval.unit': 'DAYS',
        'projection.hour.type': 'integer',
        'projection.hour.range': '0,23',
        'projection.hour.digits': '2',
        'storage.location.template': `${location}tenant=\${tenant}/dt=\${dt}/hour=\${hour}/`,
      },
      inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
      outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
      serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
    };
  });
}
