/**
 * What the local ClickHouse HTTP interface (local/clickhouse-http.ts) costs per insert, against the
 * in-process chdb connection, on the same engine and data directory in this process:
 *
 *   npx tsx bench/clickhouse-http.ts [--quick]
 *
 * - the hot writer's whole write of one 512-span request (ledger read, insert, ledger write: three
 *   round trips), embedded vs the production HTTP client (gzip bodies, keep-alive) vs HTTP without
 *   compression;
 * - a one-row insert, where the fixed cost per request dominates.
 *
 * Wall-clock milliseconds per operation, median and p95, run alternately so machine load hits both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { createRemoteClickHouse } from '../functions/shared/clickhouse/connect.js';
import { applyMigrations } from '../functions/shared/clickhouse/migrations.js';
import { ClickHouseTelemetryWriter, type PositionedEnvelope } from '../functions/shared/clickhouse/writer.js';
import { packEnvelopes, unpackEnvelope } from '../functions/shared/envelope/envelope.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import { flatten } from '../functions/shared/rows/flatten.js';
import { createEmbeddedClickHouse } from '../local/clickhouse-embedded.js';
import { startClickHouseHttp } from '../local/clickhouse-http.js';
import { traceRequest } from './workload.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 8 : 40;
const RETENTION_DAYS = 3650;

function envelopes(seed: number): PositionedEnvelope[] {
  const otlp = decodeOtlp('traces', traceRequest({ items: 512, seed }).protobuf, 'protobuf');
  // The workload's times are fixed: "received" just after them, so ingest's age limits keep them.
  let latest = 0n;
  if (otlp.signal === 'traces')
    for (const r of otlp.request.resourceSpans)
      for (const sc of r.scopeSpans)
        for (const sp of sc.spans)
          if (BigInt(sp.startTimeUnixNano) > latest) latest = BigInt(sp.startTimeUnixNano);
  const receivedAtNs = String(latest + 1_000_000_000n);
  const { batches } = flatten({ tenant: 'bench', otlp, receivedAtNs });
  return packEnvelopes('bench', 'traces', batches).map((env, i) => {
    const { header, batches: decoded } = unpackEnvelope(env.data);
    return {
      position: { stream: 'bench', shardId: 'shardId-0', sequenceNumber: String(seed * 100 + i) },
      tenant: header.tenant,
      batches: decoded,
    };
  });
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ch-http-'));
  const embedded = createEmbeddedClickHouse({ path: dir });
  const server = await startClickHouseHttp({ path: dir, port: 0 });
  const http = createRemoteClickHouse({
    url: server.url,
    username: 'default',
    password: '',
    database: 'default',
  });
  const plain = createClient({ url: server.url, keep_alive: { enabled: true } });
  const clients: [string, ClickHouseClient][] = [
    ['embedded (in-process chdb)', embedded],
    ['HTTP, production client (gzip)', http],
    ['HTTP, no compression', plain],
  ];
  try {
    await applyMigrations(embedded, { hotRetentionDays: RETENTION_DAYS });
    await embedded.command({
      query: 'CREATE TABLE IF NOT EXISTS one (x UInt64, s String) ENGINE = MergeTree ORDER BY x',
    });
    const writeMs = new Map<string, number[]>(clients.map(([n]) => [n, []]));
    const oneMs = new Map<string, number[]>(clients.map(([n]) => [n, []]));
    let seed = 1;
    for (let round = -1; round < ROUNDS; round++) {
      for (const [name, client] of clients) {
        const writer = new ClickHouseTelemetryWriter(client, { hotRetentionDays: RETENTION_DAYS });
        const batch = envelopes(seed++);
        let t = performance.now();
        const r = await writer.write(batch);
        if (r.pending.length > 0 || r.rejected.length > 0 || r.stats.rowsInserted !== 512)
          throw new Error(`${name}: write failed (${r.stats.rowsInserted} rows)`);
        if (round >= 0) writeMs.get(name)!.push(performance.now() - t);
        t = performance.now();
        await client.insert({ table: 'one', values: [{ x: seed, s: 'x' }], format: 'JSONEachRow' });
        if (round >= 0) oneMs.get(name)!.push(performance.now() - t);
      }
    }
    const base = (m: Map<string, number[]>) => quantile(m.get(clients[0]![0])!, 0.5);
    console.log(`rounds: ${ROUNDS} (alternating), 512 spans per write`);
    for (const [label, m] of [
      ['writer.write, 512 spans (3 round trips)', writeMs],
      ['insert of 1 row', oneMs],
    ] as const) {
      console.log(`\n${label}`);
      for (const [name] of clients) {
        const xs = m.get(name)!;
        const p50 = quantile(xs, 0.5);
        const extra = name === clients[0]![0] ? '' : `  (+${(p50 - base(m)).toFixed(2)} ms vs embedded)`;
        console.log(
          `  ${name.padEnd(32)} p50 ${p50.toFixed(2)} ms  p95 ${quantile(xs, 0.95).toFixed(2)} ms${extra}`,
        );
      }
    }
  } finally {
    await plain.close();
    await http.close();
    await server.close();
    await embedded.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
