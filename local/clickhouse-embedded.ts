import { type ClickHouseClient, type ClickHouseClientConfigOptions, createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

// The client's own view of a connection (it bundles its copy of the client-common types).
type Conn = NonNullable<ClickHouseClientConfigOptions['connection']>;
type ConnBaseQueryParams = Parameters<Conn['query']>[0];
type ConnExecParams = Parameters<Conn['exec']>[0];
type ConnInsertParams = Parameters<Conn['insert']>[0];
type ConnPingParams = Parameters<Conn['ping']>[0];
type Settings = NonNullable<ConnBaseQueryParams['clickhouse_settings']>;

/**
 * Embedded ClickHouse (chdb) behind the ordinary `@clickhouse/client` API, for local mode, tests
 * and benchmarks. Lives outside functions/ so chdb never reaches a Lambda bundle.
 *
 * chdb applies `clickhouse_settings` as session-wide `SET`s that outlive the statement; over HTTP
 * they are per request. A leaked `insert_deduplication_token` would silently drop a later insert
 * into the same table, so this connection scopes settings the way the server does: inserts carry
 * them in the statement's own `SETTINGS` clause, other statements reset them to `DEFAULT` after.
 * (Another statement running concurrently in the same process can still see them in between.)
 */

/** Settings chdb ignores (HTTP-layer only) or maps to an option: never SET, never reset. */
const NOT_RESET = new Set([
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
  'default_format',
]);

function literal(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function settingNames(settings: Settings | undefined): string[] {
  return Object.entries(settings ?? {})
    .filter(([k, v]) => v !== undefined && !NOT_RESET.has(k))
    .map(([k]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid setting name ${JSON.stringify(k)}`);
      return k;
    });
}

class ScopedSettingsConnection implements Conn {
  constructor(private readonly inner: Conn) {}

  private async resetAfter<T>(params: ConnBaseQueryParams, run: () => Promise<T>): Promise<T> {
    const names = settingNames(params.clickhouse_settings);
    try {
      return await run();
    } finally {
      if (names.length > 0) {
        await this.inner.command({ query: names.map((n) => `SET ${n} = DEFAULT`).join('; ') });
      }
    }
  }

  query(params: ConnBaseQueryParams): ReturnType<Conn['query']> {
    return this.resetAfter(params, () => this.inner.query(params));
  }

  exec(params: ConnExecParams): ReturnType<Conn['exec']> {
    return this.resetAfter(params, () => this.inner.exec(params));
  }

  command(params: ConnBaseQueryParams): ReturnType<Conn['command']> {
    return this.resetAfter(params, () => this.inner.command(params));
  }

  insert(params: ConnInsertParams): ReturnType<Conn['insert']> {
    const names = settingNames(params.clickhouse_settings);
    const at = params.query.lastIndexOf(' FORMAT ');
    if (names.length === 0 || at < 0) return this.inner.insert(params);
    const settings = params.clickhouse_settings ?? {};
    const clause = names.map((n) => `${n} = ${literal(settings[n])}`).join(', ');
    const rest: Settings = { ...settings };
    for (const n of names) delete rest[n];
    return this.inner.insert({
      ...params,
      query: `${params.query.slice(0, at)} SETTINGS ${clause}${params.query.slice(at)}`,
      clickhouse_settings: rest,
    });
  }

  ping(params: ConnPingParams): ReturnType<Conn['ping']> {
    return this.inner.ping(params);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface EmbeddedClickHouseOptions {
  /**
   * Data directory. chdb binds one per process: every client in a process must use the same path
   * (tests: one mkdtemp directory per test file; vitest forks a process per file).
   */
  readonly path: string;
}

/** A `ClickHouseClient` over embedded chdb at `path`; close it to release the session. */
export function createEmbeddedClickHouse(options: EmbeddedClickHouseOptions): ClickHouseClient {
  const connection = new ScopedSettingsConnection(createChdbConnection({ path: options.path }) as Conn);
  return createClient({ connection });
}
