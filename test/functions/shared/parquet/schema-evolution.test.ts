import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeParquet } from '../../../../functions/shared/parquet/parquet-reader.js';
import { encodeParquet } from '../../../../functions/shared/parquet/parquet-writer.js';
import { TABLE_NAMES, TABLES, type TableName } from '../../../../functions/shared/schema/columns.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { lakeStructure } from '../../../../local/cold-tier.js';
import { rewriteWithDuckDB } from '../lake/support.js';
import { sampleRows } from './sample-rows.js';

/**
 * A file written before columns were added to the model, read back two ways: by our reader (the
 * compactor's path, which then re-encodes it) and by ClickHouse naming the full structure (the
 * cold tier's path, ClickHouse filling absent columns with its defaults). Both must give the same
 * rows, for every table and every column type, including fields added to nested columns.
 */

let dir: string;
let clickhouse: ClickHouseClient;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'schema-evolution-'));
  clickhouse = createEmbeddedClickHouse({ path: join(dir, 'chdb') });
});
afterAll(async () => {
  await clickhouse.close();
  await rm(dir, { recursive: true, force: true });
});

/** The columns an "old" file keeps: tenant, service and time, and the first field of each nested column. */
function oldSchemaSelect(table: TableName): string {
  const def = TABLES[table];
  const kept = ['TenantId', 'ServiceName', def.timeColumn].map((c) => `"${c}"`);
  for (const col of def.columns) {
    if (col.type !== 'nested') continue;
    const first = col.fields[0]!.name;
    kept.push(`list_transform("${col.name}", x -> {'${first}': x."${first}"}) AS "${col.name}"`);
  }
  return kept.join(', ');
}

async function readWithClickHouse(table: TableName, path: string): Promise<string[]> {
  const rs = await clickhouse.query({
    query: `SELECT * FROM file({path:String}, 'Parquet', {structure:String})`,
    query_params: { path, structure: lakeStructure(table) },
    format: 'JSONEachRow',
  });
  return ((await rs.json()) as unknown[]).map((r) => JSON.stringify(r)).sort();
}

describe('schema evolution: reading files that lack columns', () => {
  it.each(TABLE_NAMES)('%s: our reader fills every absent column as ClickHouse does', async (table) => {
    const full = encodeParquet(table, [sampleRows(table, 40, { spreadNs: 1_000_000_000n })]);
    const old = await rewriteWithDuckDB(dir, full, oldSchemaSelect(table));
    const oldPath = join(dir, `${table}-old.parquet`);
    await writeFile(oldPath, old);

    const decoded = decodeParquet(table, old);
    const compactedPath = join(dir, `${table}-compacted.parquet`);
    await writeFile(compactedPath, encodeParquet(table, [decoded]));
    const byClickHouse = await readWithClickHouse(table, oldPath);
    const ofOurs = await readWithClickHouse(table, compactedPath);

    expect(decoded.rowCount).toBe(40);
    expect(Object.keys(decoded.columns).length).toBeGreaterThan(4);
    expect(ofOurs).toEqual(byClickHouse);
    expect(byClickHouse).toHaveLength(40);
  });
});
