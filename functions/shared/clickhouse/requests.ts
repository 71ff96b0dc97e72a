import { Readable } from 'node:stream';
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';

/**
 * The hot writer's narrow port to ClickHouse: what the writer, the usage sink and the sampler ask
 * for, and nothing else. Two adapters: ClientRequests over a `ClickHouseClient` (embedded chdb in
 * local mode and tests, or the client's own HTTP connection) and LeanHttpRequests
 * (lean-connection.ts) straight over `http.request`, which spends about a third of the CPU per
 * request of the client on the same connection (docs/decisions/0004). Errors are the adapters'
 * own (a ClickHouse exception as `ClickHouseError` with its code, a socket failure as the socket's
 * error), so errors.ts classifies both alike.
 */
export interface ClickHouseRequests {
  /** A SELECT's rows, read as one JSON document (`FORMAT JSON` is appended). */
  rows<T>(request: QueryRequest): Promise<T[]>;
  /** An INSERT whose body is text already in `format`, as chunks (a chunk may repeat by reference). */
  insertText(request: InsertTextRequest): Promise<void>;
  /** An INSERT of objects as JSONEachRow rows. */
  insertObjects(request: InsertObjectsRequest): Promise<void>;
  /** A statement with no result rows (INSERT … SELECT). */
  command(request: QueryRequest): Promise<void>;
}

export interface QueryRequest {
  readonly query: string;
  /** Bound server-side (`{name:Type}`); long values travel in a multipart body. */
  readonly params?: Readonly<Record<string, unknown>>;
  readonly settings?: ClickHouseSettings;
}

interface InsertRequest {
  /** Qualified and quoted as it goes into `INSERT INTO <table>`. */
  readonly table: string;
  /** Quoted column names, in the body's order; all columns when absent. */
  readonly columns?: readonly string[];
  readonly settings?: ClickHouseSettings;
}

export interface InsertTextRequest extends InsertRequest {
  /** A raw format, e.g. CustomSeparated (the client takes byte streams for raw formats only). */
  readonly format: string;
  readonly chunks: readonly Buffer[];
}

export interface InsertObjectsRequest extends InsertRequest {
  readonly objects: Iterable<Record<string, unknown>>;
}

/** The port over a `ClickHouseClient`: the same requests as the client's own calls. */
export class ClientRequests implements ClickHouseRequests {
  constructor(readonly client: ClickHouseClient) {}

  async rows<T>(request: QueryRequest): Promise<T[]> {
    const rs = await this.client.query({
      query: request.query,
      ...(request.params !== undefined && { query_params: request.params }),
      ...(request.settings !== undefined && { clickhouse_settings: request.settings }),
      // 10,000 envelope ids do not fit a URL: sent in the body when long.
      use_multipart_params_auto: true,
      // One JSON document: the client parses it in one go, where a row-streaming format costs a
      // stream pipeline per answer.
      format: 'JSON',
    });
    return (await rs.json<T>()).data;
  }

  async insertText(request: InsertTextRequest): Promise<void> {
    await this.client.insert({
      table: request.table,
      ...(request.columns !== undefined && { columns: request.columns as [string, ...string[]] }),
      // A fresh stream per call (retries call again).
      values: Readable.from(request.chunks, { objectMode: false }),
      format: request.format as 'CustomSeparated',
      ...(request.settings !== undefined && { clickhouse_settings: request.settings }),
    });
  }

  async insertObjects(request: InsertObjectsRequest): Promise<void> {
    const { objects } = request;
    await this.client.insert({
      table: request.table,
      ...(request.columns !== undefined && { columns: request.columns as [string, ...string[]] }),
      values: Array.isArray(objects)
        ? objects
        : Readable.from(objects, { objectMode: true, highWaterMark: 16 }),
      format: 'JSONEachRow',
      ...(request.settings !== undefined && { clickhouse_settings: request.settings }),
    });
  }

  async command(request: QueryRequest): Promise<void> {
    await this.client.command({
      query: request.query,
      ...(request.params !== undefined && { query_params: request.params }),
      ...(request.settings !== undefined && { clickhouse_settings: request.settings }),
      use_multipart_params_auto: true,
    });
  }
}

/** Lean ports of clients whose connection has one (createRemoteClickHouse with `connection: 'lean'`). */
const leanPorts = new WeakMap<ClickHouseClient, ClickHouseRequests>();

/** Makes `clickHouseRequests(client)` answer `port`: the same transport as the client's connection. */
export function registerRequests(client: ClickHouseClient, port: ClickHouseRequests): void {
  leanPorts.set(client, port);
}

const isPort = (x: ClickHouseClient | ClickHouseRequests): x is ClickHouseRequests =>
  typeof (x as Partial<ClickHouseRequests>).insertText === 'function';

/**
 * The port for `source`: itself if it is one, the lean port registered for a client built with the
 * lean connection, else the client adapter. Callers keep taking a client (tests, local mode, the
 * handler's provider) and get the cheapest path the client's connection allows.
 */
export function clickHouseRequests(source: ClickHouseClient | ClickHouseRequests): ClickHouseRequests {
  if (isPort(source)) return source;
  return leanPorts.get(source) ?? new ClientRequests(source);
}
