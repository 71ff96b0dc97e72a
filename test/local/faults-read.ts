import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { compactLake, type LakeCompaction } from '../../functions/shared/lake/compactor.js';
import {
  publishedPartitionPrefix,
  QUARANTINE_PREFIX,
  stagingPartitionPrefix,
} from '../../functions/shared/lake/layout.js';
import { S3ObjectStore } from '../../functions/shared/lake/s3-object-store.js';
import { localS3Client } from '../../local/aws-clients.js';
import { createEmbeddedClickHouse } from '../../local/clickhouse-embedded.js';
import { startEmulators } from '../../local/emulators.js';
import { LOCAL_COMPACTION, LOCAL_LAKE_BUCKET } from '../../local/pipeline.js';

/**
 * `tsx test/local/faults-read.ts <DATA_DIR>`: what a stopped local mode holds, counted per span id
 * by the real engines, printed as one JSON line. A process of its own because chdb binds one data
 * directory per process and every fault scenario has its own.
 * - hot: embedded ClickHouse on <DATA_DIR>/clickhouse, every row of otel_traces (FINAL when the
 *   engine collapses duplicates, so the count is what a query sees);
 * - lake: as Athena sees it. The emulators are started on <DATA_DIR>/aws and the real compactor
 *   (compactLake, local mode's settings) runs once over the whole lake with a clock far enough
 *   ahead that every hour is closed and every staging file is past its grace; then DuckDB reads
 *   the published parts only (`otel_traces/…`, the prefix Glue covers; never staging). Staging
 *   files left over, quarantined files (with their reasons), parts DuckDB cannot read and
 *   partitions the compactor failed are all reported, never skipped silently.
 */

const TABLE = 'otel_traces';
/** Far enough ahead that every partition of the scenario (event times around now) is closed. */
const AHEAD_MS = 24 * 3_600_000;

export interface Tiers {
  hot: Record<string, number>;
  lake: Record<string, number>;
  /** Published traces parts read. */
  lakeObjects: number;
  unreadableObjects: string[];
  /** Traces staging files still there after the compaction (should be none). */
  stagingLeft: string[];
  /** Traces staging files the compactor (or, earlier, the lake writer) moved under `_quarantine/`. */
  quarantined: { key: string; reason: string }[];
  /** What the compaction did, over every table. */
  compaction: Pick<LakeCompaction, 'partitions' | 'consumed' | 'rows' | 'duplicates' | 'failed'> & {
    parts: number;
  };
  deadLetters: number;
}

async function readHot(dataDir: string): Promise<Record<string, number>> {
  const client = createEmbeddedClickHouse({ path: join(dataDir, 'clickhouse') });
  try {
    const engine = await client.query({
      query: `SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = '${TABLE}'`,
      format: 'JSONEachRow',
    });
    const [row] = await engine.json<{ engine: string }>();
    const final = row && /Replacing|Collapsing/.test(row.engine) ? 'FINAL' : '';
    const rs = await client.query({
      query: `SELECT SpanId AS id, count() AS n FROM ${TABLE} ${final} GROUP BY SpanId`,
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
  const emulators = await startEmulators({ dataDir: join(dataDir, 'aws') });
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const store = new S3ObjectStore(localS3Client(emulators.s3Endpoint), LOCAL_LAKE_BUCKET);
    const result = await compactLake(store, {
      now: new Date(Date.now() + AHEAD_MS),
      graceMs: LOCAL_COMPACTION.COMPACTION_GRACE_MINUTES * 60_000,
      targetBytes: LOCAL_COMPACTION.COMPACTION_TARGET_BYTES,
    });
    // `otel_traces/` is every published traces part (publishedPartitionPrefix without a partition).
    const publishedPrefix = publishedPartitionPrefix(TABLE, '').replace(/\/+$/, '/');
    const stagingPrefix = stagingPartitionPrefix(TABLE, '').replace(/\/+$/, '/');
    const parts = (await store.list(publishedPrefix)).filter((o) => o.key.endsWith('.parquet'));
    const stagingLeft = (await store.list(stagingPrefix)).map((o) => o.key);
    const quarantined: Tiers['quarantined'] = [];
    for (const o of await store.list(`${QUARANTINE_PREFIX}${stagingPrefix}`)) {
      if (!o.key.endsWith('.json')) continue;
      const body = await store.get(o.key);
      const record = body
        ? (JSON.parse(Buffer.from(body).toString('utf8')) as { key?: string; reason?: string })
        : {};
      quarantined.push({ key: record.key ?? o.key, reason: record.reason ?? 'no reason recorded' });
    }
    const deadLetters = (await store.list('dead-letter/')).length;

    const lake: Record<string, number> = {};
    const unreadable: string[] = [];
    for (const part of parts) {
      const file = emulators.s3ObjectFile(LOCAL_LAKE_BUCKET, part.key);
      try {
        if ((await stat(file)).size === 0) throw new Error('0 bytes');
        const reader = await conn.runAndReadAll(
          `SELECT SpanId AS id, count(*) AS n FROM read_parquet('${file.replace(/'/g, "''")}') GROUP BY SpanId`,
        );
        for (const r of reader.getRowObjectsJson() as { id: string; n: string | number }[]) {
          lake[r.id] = (lake[r.id] ?? 0) + Number(r.n);
        }
      } catch (e) {
        unreadable.push(`${part.key}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    return {
      lake,
      lakeObjects: parts.length,
      unreadableObjects: unreadable,
      stagingLeft,
      quarantined,
      compaction: {
        partitions: result.partitions,
        parts: result.published.length,
        consumed: result.consumed,
        rows: result.rows,
        duplicates: result.duplicates,
        failed: result.failed,
      },
      deadLetters,
    };
  } finally {
    conn.closeSync();
    await emulators.close();
  }
}

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: tsx test/local/faults-read.ts <DATA_DIR>');
  process.exit(2);
}
const tiers: Tiers = { hot: await readHot(dataDir), ...(await readLake(dataDir)) };
process.stdout.write(`${JSON.stringify(tiers)}\n`);
process.exit(0);
