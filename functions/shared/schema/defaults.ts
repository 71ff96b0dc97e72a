import type { ScalarType } from './columns.js';

/** A column's absent value: its own (`absent` in the model, e.g. SampleRate's 1), else its type's. */
export function absentValueOf(col: { readonly type: ScalarType; readonly absent?: number }): unknown {
  return col.absent ?? absentValue(col.type);
}

/**
 * The value of a column a row does not carry, in the model's representation (schema/columns.ts):
 * what ClickHouse stores for a column absent from an insert ('' , 0, the epoch, false, an empty
 * map or array). The Parquet reader fills a column missing from an older file with it, so a
 * column added to the model reads the same through the compactor as through ClickHouse
 * (test/functions/shared/parquet/schema-evolution.test.ts compares the two for every table).
 */
export function absentValue(type: ScalarType): unknown {
  switch (type) {
    case 'string':
    case 'lowcard':
      return '';
    case 'timestamp_ns':
      return '0';
    case 'uint8':
    case 'uint32':
    case 'int32':
    case 'uint64':
    case 'float64':
      return 0;
    case 'bool':
      return false;
    case 'map':
      return {};
    case 'array_float64':
    case 'array_uint64':
      return [];
  }
}
