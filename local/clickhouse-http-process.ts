import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The local ClickHouse HTTP interface (clickhouse-http.ts) in a process of its own, with the
 * migrations applied to the given databases: a client in the calling process then costs what it
 * costs against a remote server (ClickHouse Cloud in AWS), with none of the engine's CPU or memory
 * counted as the caller's. Used by benchmarks and memory tests of the hot writer.
 *
 * Run directly (`tsx local/clickhouse-http-process.ts <dir> <retentionDays> [db...]`) it prints
 * one JSON line `{"url": ...}` once serving, and serves until stdin closes.
 */

export interface ClickHouseProcess {
  readonly url: string;
  readonly pid: number;
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));

export async function spawnClickHouseHttp(options: {
  readonly path: string;
  readonly hotRetentionDays: number;
  /** Databases to migrate besides `default`. */
  readonly databases?: readonly string[];
}): Promise<ClickHouseProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(here, 'clickhouse-http-process.ts'),
      options.path,
      String(options.hotRetentionDays),
      ...(options.databases ?? []),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`ClickHouse process exited (${code}) before serving`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { url?: unknown };
        if (typeof parsed.url === 'string') resolve(parsed.url);
      } catch {}
    });
  });
  return {
    url,
    pid: child.pid!,
    async close() {
      child.stdin!.end();
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const [path, days, ...databases] = process.argv.slice(2);
  const { applyMigrations } = await import('../functions/shared/clickhouse/migrations.js');
  const { createEmbeddedClickHouse } = await import('./clickhouse-embedded.js');
  const { startClickHouseHttp } = await import('./clickhouse-http.js');
  const embedded = createEmbeddedClickHouse({ path: path! });
  const hotRetentionDays = Number(days);
  await applyMigrations(embedded, { hotRetentionDays });
  for (const database of databases) await applyMigrations(embedded, { hotRetentionDays, database });
  const server = await startClickHouseHttp({ path: path!, port: 0 });
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', () => resolve()));
  await server.close();
  await embedded.close();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
