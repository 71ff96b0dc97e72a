import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { glueTables } from '../../../../functions/shared/glue/glue-tables.js';
import { encodeParquet } from '../../../../functions/shared/parquet/parquet-writer.js';
import { TABLE_NAMES } from '../../../../functions/shared/schema/columns.js';
import { queryFiles } from '../lake/support.js';
import { sampleRows } from '../parquet/sample-rows.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glue-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** DuckDB's reading of a Parquet type, in Hive/Glue spelling (what Athena would map it to). */
function hiveOf(duck: string): string {
  const t = duck.trim();
  if (t.endsWith('[]')) return `array<${hiveOf(t.slice(0, -2))}>`;
  const scalar: Record<string, string> = {
    VARCHAR: 'string',
    'TIMESTAMP WITH TIME ZONE': 'timestamp',
    INTEGER: 'int',
    BIGINT: 'bigint',
    // uint64 columns (INT64 annotated unsigned): Glue has no unsigned type and declares bigint.
    UBIGINT: 'bigint',
    DOUBLE: 'double',
    BOOLEAN: 'boolean',
  };
  if (scalar[t]) return scalar[t];
  const inner = (prefix: string) => t.slice(prefix.length, -1);
  if (t.startsWith('MAP(')) return `map<${splitTop(inner('MAP(')).map(hiveOf).join(',')}>`;
  if (t.startsWith('STRUCT(')) {
    const fields = splitTop(inner('STRUCT(')).map((f) => {
      const m = /^"?([^" ]+)"? (.+)$/.exec(f.trim())!;
      return `${m[1]}:${hiveOf(m[2]!)}`;
    });
    return `struct<${fields.join(',')}>`;
  }
  throw new Error(`unmapped DuckDB type ${t}`);
}

/** Splits on commas outside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')') depth--;
    else if (s[i] === ',' && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((x) => x.trim());
}

describe('glueTables', () => {
  const specs = glueTables('s3://lake-bucket/');

  it.each(TABLE_NAMES)('declares the columns a written %s file has, column for column', async (table) => {
    const path = join(dir, `${table}.parquet`);
    await writeFile(path, encodeParquet(table, [sampleRows(table, 5)]));

    const described = await queryFiles([path], 'DESCRIBE SELECT * FROM {files}');
    const spec = specs.find((s) => s.name === table)!;

    expect(spec.columns.map((c) => [c.name, c.type])).toEqual(
      described.map((d) => [d.column_name, hiveOf(String(d.column_type))]),
    );
  });

  it('projects tenant, day and hour partitions onto the paths the compactor publishes', () => {
    const traces = specs.find((s) => s.name === 'otel_traces')!;

    expect(specs.map((s) => s.name)).toEqual([...TABLE_NAMES]);
    expect(traces.location).toBe('s3://lake-bucket/otel_traces/');
    expect(traces.partitionKeys.map((k) => `${k.name}:${k.type}`)).toEqual([
      'tenant:string',
      'dt:string',
      'hour:int',
    ]);
    expect(traces.parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.tenant.type': 'injected',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.hour.type': 'integer',
      'projection.hour.range': '0,23',
      'projection.hour.digits': '2',
      'storage.location.template': `s3://lake-bucket/otel_traces/tenant=\${tenant}/dt=\${dt}/hour=\${hour}/`,
    });
    expect(traces.serializationLibrary).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
    // The template, filled in for a partition, is the compactor's publish prefix.
    const filled = traces.parameters['storage.location.template']!.replace(`\${tenant}`, 'acme')
      .replace(`\${dt}`, '2026-11-23')
      .replace(`\${hour}`, '10');
    expect(filled).toBe('s3://lake-bucket/otel_traces/tenant=acme/dt=2026-11-23/hour=10/');
  });
});
