import { type Column, type ScalarType, TABLES, type TableName } from '../schema/columns.js';
import { type CompactWriter, TType } from './thrift-compact.js';

/**
 * The Parquet schema of a table, derived from the column model, the same as the files written
 * through Arrow and parquet-wasm before (test/functions/shared/parquet/parquet-schema.test.ts
 * compares them with DuckDB's parquet_schema()):
 * - every field REQUIRED (the model holds no nulls: '' and 0 stand for absent);
 * - strings BYTE_ARRAY UTF8/STRING; timestamps INT64 TIMESTAMP(MICROS, UTC) with the legacy
 *   TIMESTAMP_MICROS converted type (see ADR 0005 for why not NANOS); uint8/int32 INT32;
 *   uint32 INT64 (Hive has no unsigned types); uint64 INT64 annotated INTEGER(64, unsigned) /
 *   UINT_64, so 2^63 and above read back as themselves (DuckDB: UBIGINT), not negative; float64
 *   DOUBLE; bool BOOLEAN;
 * - maps `required group (MAP) { repeated group entries { required key; required value } }`;
 * - arrays and nested columns the 3-level LIST: `required group (LIST) { repeated group list {
 *   required element } }`, a nested column's element a group of its fields.
 */

/** Physical types (parquet.thrift `Type`). */
export const Physical = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
export type Physical = (typeof Physical)[keyof typeof Physical];

const Repetition = { REQUIRED: 0, REPEATED: 2 } as const;
const Converted = { UTF8: 0, MAP: 1, LIST: 3, TIMESTAMP_MICROS: 10, UINT_64: 14 } as const;

type Logical = 'string' | 'map' | 'list' | 'timestamp' | 'uint64';

interface SchemaNode {
  readonly name: string;
  readonly repetition: number;
  readonly physical?: Physical;
  readonly converted?: number;
  readonly logical?: Logical;
  readonly children?: readonly SchemaNode[];
}

/** The kind of value a leaf column holds, which picks its encoder. */
export type LeafKind = 'string' | 'timestamp' | 'int32' | 'int64' | 'uint64' | 'double' | 'bool';

/** One leaf (physical) column of the file, in schema order. */
export interface LeafSpec {
  readonly path: readonly string[];
  readonly physical: Physical;
  readonly kind: LeafKind;
  readonly maxRep: number;
  readonly maxDef: number;
}

/** Name of the map's repeated key/value group: what the Arrow writer (arrow-rs) named it. */
export const MAP_ENTRIES = 'entries';

function leafNode(name: string, type: ScalarType): SchemaNode {
  const required = { name, repetition: Repetition.REQUIRED };
  switch (type) {
    case 'string':
    case 'lowcard':
      return { ...required, physical: Physical.BYTE_ARRAY, converted: Converted.UTF8, logical: 'string' };
    case 'timestamp_ns':
      return {
        ...required,
        physical: Physical.INT64,
        converted: Converted.TIMESTAMP_MICROS,
        logical: 'timestamp',
      };
    case 'uint8':
    case 'int32':
      return { ...required, physical: Physical.INT32 };
    case 'uint32':
      return { ...required, physical: Physical.INT64 };
    case 'uint64':
      return { ...required, physical: Physical.INT64, converted: Converted.UINT_64, logical: 'uint64' };
    case 'float64':
      return { ...required, physical: Physical.DOUBLE };
    case 'bool':
      return { ...required, physical: Physical.BOOLEAN };
    case 'map':
      return {
        ...required,
        converted: Converted.MAP,
        logical: 'map',
        children: [
          {
            name: MAP_ENTRIES,
            repetition: Repetition.REPEATED,
            children: [leafNode('key', 'string'), leafNode('value', 'string')],
          },
        ],
      };
    case 'array_float64':
    case 'array_uint64':
      return listNode(name, leafNode('element', type === 'array_float64' ? 'float64' : 'uint64'));
  }
}

function listNode(name: string, element: SchemaNode): SchemaNode {
  return {
    name,
    repetition: Repetition.REQUIRED,
    converted: Converted.LIST,
    logical: 'list',
    children: [{ name: 'list', repetition: Repetition.REPEATED, children: [element] }],
  };
}

function columnNode(col: Column): SchemaNode {
  if (col.type !== 'nested') return leafNode(col.name, col.type);
  return listNode(col.name, {
    name: 'element',
    repetition: Repetition.REQUIRED,
    children: col.fields.map((f) => leafNode(f.name, f.type)),
  });
}

function kindOf(node: SchemaNode): LeafKind {
  switch (node.physical) {
    case Physical.BYTE_ARRAY:
      return 'string';
    case Physical.INT64:
      return node.logical === 'timestamp' ? 'timestamp' : node.logical === 'uint64' ? 'uint64' : 'int64';
    case Physical.INT32:
      return 'int32';
    case Physical.DOUBLE:
      return 'double';
    default:
      return 'bool';
  }
}

function collectLeaves(node: SchemaNode, path: string[], rep: number, def: number, out: LeafSpec[]): void {
  const r = node.repetition === Repetition.REPEATED ? rep + 1 : rep;
  const d = node.repetition === Repetition.REPEATED ? def + 1 : def;
  const p = [...path, node.name];
  if (!node.children) {
    out.push({ path: p, physical: node.physical!, kind: kindOf(node), maxRep: r, maxDef: d });
    return;
  }
  for (const c of node.children) collectLeaves(c, p, r, d, out);
}

export interface TableSchema {
  /** The top-level fields, one per column of the model. */
  readonly roots: readonly SchemaNode[];
  /** The leaves of each top-level column, in schema order. */
  readonly leaves: readonly (readonly LeafSpec[])[];
}

const cache = new Map<TableName, TableSchema>();

export function tableSchema(table: TableName): TableSchema {
  let s = cache.get(table);
  if (!s) {
    const roots = TABLES[table].columns.map(columnNode);
    const leaves = roots.map((root) => {
      const out: LeafSpec[] = [];
      collectLeaves(root, [], 0, 0, out);
      return out;
    });
    s = { roots, leaves };
    cache.set(table, s);
  }
  return s;
}

function writeLogical(w: CompactWriter, logical: Logical): void {
  w.struct(10);
  switch (logical) {
    case 'string':
      w.struct(1).end();
      break;
    case 'map':
      w.struct(2).end();
      break;
    case 'list':
      w.struct(3).end();
      break;
    case 'timestamp':
      // TimestampType { 1: isAdjustedToUTC, 2: unit: TimeUnit { 2: MICROS } }
      w.struct(8).bool(1, true).struct(2).struct(2).end().end().end();
      break;
    case 'uint64':
      // IntType { 1: bitWidth 64, 2: isSigned false }
      w.struct(10).i8(1, 64).bool(2, false).end();
      break;
  }
  w.end();
}

function countNodes(node: SchemaNode): number {
  return 1 + (node.children ?? []).reduce((n, c) => n + countNodes(c), 0);
}

function writeNode(w: CompactWriter, node: SchemaNode): void {
  w.begin();
  if (node.physical !== undefined) w.i32(1, node.physical);
  w.i32(3, node.repetition);
  w.string(4, node.name);
  if (node.children) w.i32(5, node.children.length);
  if (node.converted !== undefined) w.i32(6, node.converted);
  if (node.logical) writeLogical(w, node.logical);
  w.end();
  for (const c of node.children ?? []) writeNode(w, c);
}

/** FileMetaData field 2: the schema as a depth-first list of SchemaElements under a root. */
export function writeSchemaElements(w: CompactWriter, schema: TableSchema): void {
  const total = 1 + schema.roots.reduce((n, r) => n + countNodes(r), 0);
  w.list(2, TType.Struct, total);
  w.begin().string(4, 'schema').i32(5, schema.roots.length).end();
  for (const r of schema.roots) writeNode(w, r);
}
