import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter } from '../../../../functions/shared/clickhouse/writer.js';
import type { DeadLetter, DeadLetterSink } from '../../../../functions/shared/dead-letter/dead-letter.js';
import type { TableName } from '../../../../functions/shared/schema/columns.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { batchOf } from '../clickhouse/support.js';

/** Embedded ClickHouse with the current schema, in a fresh directory (one per test file). */
export async function embeddedClickHouse(): Promise<ClickHouseClient> {
  const dir = await mkdtemp(join(tmpdir(), 'alerts-ch-'));
  const client = createEmbeddedClickHouse({ path: dir });
  await applyMigrations(client, { hotRetentionDays: 7 });
  return client;
}

const ns = (ms: number) => (BigInt(Math.round(ms)) * 1_000_000n).toString();

let sequence = 0;

/** Writes rows the way the hot writer does (column batches, dedup token, ledger). */
export async function writeRows(
  client: ClickHouseClient,
  tenant: string,
  table: TableName,
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  const writer = new ClickHouseTelemetryWriter(client);
  const result = await writer.write([
    {
      position: {
        stream: 'alerts-test',
        shardId: 'shard-0',
        sequenceNumber: String(++sequence).padStart(20, '0'),
      },
      tenant,
      batches: [
        batchOf(
          table,
          rows.map((r) => ({ ...r, TenantId: tenant })),
        ),
      ],
    },
  ]);
  if (result.rejected.length > 0 || result.pending.length > 0) {
    throw new Error(`test rows not written: ${JSON.stringify(result.rejected)} ${String(result.error)}`);
  }
}

export interface SpanSpec {
  readonly atMs: number;
  readonly service?: string;
  readonly operation?: string;
  readonly error?: boolean;
  readonly durationMs?: number;
}

let spanNo = 0;

export function spans(n: number, spec: SpanSpec): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    spanNo++;
    return {
      Timestamp: ns(spec.atMs + i),
      TraceId: `t${spanNo}`,
      SpanId: `s${spanNo}`,
      ParentSpanId: '',
      SpanName: spec.operation ?? 'GET /checkout',
      SpanKind: 'Server',
      ServiceName: spec.service ?? 'checkout',
      Duration: Math.round((spec.durationMs ?? 10) * 1_000_000),
      StatusCode: spec.error ? 'Error' : 'Ok',
    };
  });
}

export function logs(
  n: number,
  spec: { atMs: number; service?: string; severity?: [string, number]; body?: string },
): Record<string, unknown>[] {
  const [text, number] = spec.severity ?? ['INFO', 9];
  return Array.from({ length: n }, (_, i) => ({
    Timestamp: ns(spec.atMs + i),
    ServiceName: spec.service ?? 'checkout',
    SeverityText: text,
    SeverityNumber: number,
    Body: spec.body ?? `line ${i}`,
  }));
}

export function gauges(
  values: readonly number[],
  spec: { atMs: number; service?: string; metric: string; attributes?: Record<string, string> },
): Record<string, unknown>[] {
  return values.map((v, i) => ({
    TimeUnix: ns(spec.atMs + i),
    StartTimeUnix: ns(spec.atMs + i),
    ServiceName: spec.service ?? 'checkout',
    MetricName: spec.metric,
    Attributes: spec.attributes ?? {},
    Value: v,
  }));
}

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Status codes to answer, in order; when used up, 200. */
  statuses: number[];
  /** Paths that always answer 500. */
  readonly failing: Set<string>;
  close(): Promise<void>;
}

/** A real HTTP endpoint on 127.0.0.1 recording what it is sent. */
export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const receiver = { statuses: [] as number[], failing: new Set<string>() };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.statusCode = receiver.failing.has(req.url ?? '') ? 500 : (receiver.statuses.shift() ?? 200);
      res.end(res.statusCode < 300 ? 'ok' : 'failure');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

/** The DeadLetterSink port, in memory: tests read what was dead-lettered. */
export class MemoryDeadLetters implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  async put(letters: readonly DeadLetter[]): Promise<void> {
    this.letters.push(...letters);
  }
}
