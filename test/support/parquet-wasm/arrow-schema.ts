import {
  Bool,
  type DataType,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  Map_,
  Schema,
  Struct,
  TimestampMicrosecond,
  Utf8,
} from 'apache-arrow';
import {
  type Column,
  type ScalarType,
  TABLES,
  type TableName,
} from '../../../functions/shared/schema/columns.js';

/**
 * The Arrow (and so Parquet) schema of a table, derived from the column model: same column names
 * as ClickHouse, every field REQUIRED (the model never holds nulls: '' and 0 stand for absent).
 *
 * Type choices, for Athena engine 3 (Trino), DuckDB, ClickHouse and Spark alike:
 * - timestamps: INT64 TIMESTAMP(MICROS, UTC). NANOS has no legacy ConvertedType, Spark rejects it
 *   ("Illegal Parquet type: INT64 (TIMESTAMP(NANOS,true))") and Athena's `timestamp` holds
 *   milliseconds anyway; MICROS is read everywhere and keeps more than Athena shows. The exact
 *   nanosecond span length survives in `Duration`.
 * - unsigned integers: signed INT64/INT32 (Hive has no unsigned types; values stay below 2^53).
 * - maps: MAP<string,string>; nested columns: LIST<STRUCT<fields>> named by the parent column.
 */

/** Name of the list element field (the Parquet LogicalTypes spec's 3-level list). */
const LIST_ITEM = 'element';
/** Name of the map's repeated key/value group in the Parquet spec. */
const MAP_ENTRIES = 'key_value';

export function mapType(): Map_<Utf8, Utf8> {
  return new Map_(
    new Field(
      MAP_ENTRIES,
      new Struct([new Field('key', new Utf8(), false), new Field('value', new Utf8(), false)]),
      false,
    ),
  );
}

export function scalarArrowType(type: ScalarType): DataType {
  switch (type) {
    case 'string':
    case 'lowcard':
      return new Utf8();
    case 'timestamp_ns':
      return new TimestampMicrosecond('UTC');
    case 'uint8':
    case 'int32':
      return new Int32();
    case 'uint32':
    case 'uint64':
      return new Int64();
    case 'float64':
      return new Float64();
    case 'bool':
      return new Bool();
    case 'map':
      return mapType();
    case 'array_float64':
      return new List(new Field(LIST_ITEM, new Float64(), false));
    case 'array_uint64':
      return new List(new Field(LIST_ITEM, new Int64(), false));
  }
}

export function columnArrowType(col: Column): DataType {
  if (col.type !== 'nested') return scalarArrowType(col.type);
  const struct = new Struct(col.fields.map((f) => new Field(f.name, scalarArrowType(f.type), false)));
  return new List(new Field(LIST_ITEM, struct, false));
}

export function arrowSchema(table: TableName): Schema {
  return new Schema(TABLES[table].columns.map((col) => new Field(col.name, columnArrowType(col), false)));
}
