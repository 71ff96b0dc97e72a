import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocalConfig } from '../../local/config.js';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.js';

/**
 * Local mode as `npm start` composes it, for a test: a fresh data directory, a free port, one shard,
 * 100 ms consumer windows (so a write shows up quickly), no stream alert window, no ClickHouse HTTP
 * port, and `settings` on top (a function's own variables).
 */
export async function startTestPipeline(
  name: string,
  settings: Readonly<Record<string, string>> = {},
): Promise<LocalPipeline> {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  return startLocalPipeline(
    loadLocalConfig({
      DATA_DIR: await mkdtemp(join(tmpdir(), `local-${name}-`)),
      PORT: '0',
      CLICKHOUSE_HTTP_PORT: 'off',
      STREAM_SHARDS: '1',
      HOT_BATCH_WINDOW_MS: '100',
      LAKE_BATCH_WINDOW_MS: '100',
      ALERT_STREAM_WINDOW_SECONDS: '0',
      STOP_TIMEOUT_MS: '5000',
      ...settings,
    }),
  );
}
