import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { createEmbeddedClickHouse } from '../../local/clickhouse-embedded.js';
import { LOCAL_LAKE_BUCKET } from '../../local/pipeline.js';

/**
 * `tsx test/local/faults-read.ts <DATA_DIR>`: what a stopped local mode holds, counted per span id
 * by the real engines, printed as one JSON line. A process of its own because chdb binds one data
 * directory per process and every fault scenario has its own.
 * - hot: embedded ClickHouse on <DATA_DIR>/clickhouse, every row of otel_traces (FINAL when the
 *   engine collapses duplicates, so the count is what a query sees);
 * - lake: DuckDB over every traces Parquet object in s3rver's directory (staging and published
 *   parts); an object DuckDB cannot read is listed, not skipped silently.
 */

interface Tiers {
  hot: Record<string, number>;
  lake: Record<string, number>;
  lakeObjects: number;
  unreadableObjects: string[];
  deadLetters: number;
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

async function readHot(dataDir: string): Promise<Record<string, number>> {
  const client = createEmbeddedClickHouse({ path: join(dataDir, 'clickhouse') });
  try {
    const engine = await client.query({
      query: "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'otel_traces'",
      format: 'JSONEachRow',
    });
    const [row] = await engine.json<{ engine: string }>();
    const final = row && /Replacing|Collapsing/.test(row.engine) ? 'FINAL' : '';
    const rs = await client.query({
      query: `SELECT SpanId AS id, count() AS n FROM otel_traces ${final} GROUP BY SpanId`,
      format: 'JSONEachRow',
    });
    const out: Record<string, number> = {};
    for (const r of await rs.json<{ id: string; n: string | number }>()) out[r.id] = Number(r.n);
    return out;
  } finally {
    await client.close();
  }
}

async function readLake(dataDir: string): Promise<Omit<Tiers, 'hot'>> {
  const bucket = join(dataDir, 'aws', 's3', LOCAL_LAKE_BUCKET);
  const objects: string[] = [];
  let deadLetters = 0;
  for await (const file of walk(bucket)) {
    if (!file.endsWith('._S3rver_object')) continue;
    const rel = file.slice(bucket.length + 1);
    if (rel.startsWith('dead-letter/')) deadLetters++;
    else if (/(^|\/)otel_traces\//.test(rel) && rel.includes('.parquet._S3rver_object')) objects.push(file);
  }
  const lake: Record<string, number> = {};
  const unreadable: string[] = [];
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    for (const file of objects) {
      try {
        if ((await stat(file)).size === 0) throw new Error('0 bytes');
        const reader = await conn.runAndReadAll(
          `SELECT SpanId AS id, count(*) AS n FROM read_parquet('${file.replace(/'/g, "''")}') GROUP BY SpanId`,
        );
        for (const r of reader.getRowObjectsJson() as { id: string; n: string | number }[]) {
          lake[r.id] = (lake[r.id] ?? 0) + Number(r.n);
        }
      } catch (e) {
        unreadable.push(`${file.slice(bucket.length + 1)}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  } finally {
    conn.closeSync();
  }
  return { lake, lakeObjects: objects.length, unreadableObjects: unreadable, deadLetters };
}

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: tsx test/local/faults-read.ts <DATA_DIR>');
  process.exit(2);
}
const tiers: Tiers = { hot: await readHot(dataDir), ...(await readLake(dataDir)) };
process.stdout.write(`${JSON.stringify(tiers)}\n`);
process.exit(0);
