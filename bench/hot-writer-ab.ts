/**
 * Hot-writer A/B in one process: `npx tsx bench/hot-writer-ab.ts <other checkout> [--rounds N] [--compression]`
 * loads `ClickHouseTelemetryWriter` and `createRemoteClickHouse` from another checkout of this
 * repository (e.g. `git worktree add /tmp/base main`, with its node_modules) beside this one's, and
 * writes the same batches with both, in turn, round after round, each into its own database of one
 * ClickHouse served over HTTP by another process (local/clickhouse-http-process.ts): the engine's
 * CPU is not this process's, so `process.cpuUsage()` around `write()` is the writer's own (row
 * conversion, encoding, compression, the client), as in a Lambda talking to ClickHouse Cloud.
 *
 * A batch is what one invocation gets: envelopes of 512-span requests from the shared workload,
 * flattened and packed as ingest does, unpacked as the consumer does (not timed). Prints the
 * median CPU µs per span of each side, their ratio, round trips per invocation and wall time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  createRemoteClickHouse as createRemoteB,
  type RequestCompressionOption,
} from '../functions/shared/clickhouse/connect.js';
import {
  type PositionedEnvelope,
  ClickHouseTelemetryWriter as WriterB,
} from '../functions/shared/clickhouse/writer.js';
import { packEnvelopes, unpackEnvelope } from '../functions/shared/envelope/envelope.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import { flatten } from '../functions/shared/rows/flatten.js';
import { spawnClickHouseHttp } from '../local/clickhouse-http-process.js';
import { receivedAfter, traceRequest } from './workload.js';

const args = process.argv.slice(2);
const other = args.find((a) => !a.startsWith('--'));
if (!other) {
  console.error('usage: npx tsx bench/hot-writer-ab.ts <other checkout> [--rounds N]');
  process.exit(2);
}
const roundsAt = args.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 12;
const RETENTION_DAYS = 3650;
const REQUEST_SPANS = 512;

const { ClickHouseTelemetryWriter: WriterA } = (await import(
  pathToFileURL(resolve(other, 'functions/shared/clickhouse/writer.ts')).href
)) as { ClickHouseTelemetryWriter: typeof WriterB };
const { createRemoteClickHouse: createRemoteA } = (await import(
  pathToFileURL(resolve(other, 'functions/shared/clickhouse/connect.ts')).href
)) as { createRemoteClickHouse: typeof createRemoteB };

/** Envelopes of `requests` workload requests, as the consumer hands them to the writer. */
function invocation(requests: number, seed: number): PositionedEnvelope[] {
  const out: PositionedEnvelope[] = [];
  for (let q = 0; q < requests; q++) {
    const otlp = decodeOtlp(
      'traces',
      traceRequest({ items: REQUEST_SPANS, seed: seed * 1000 + q }).protobuf,
      'protobuf',
    );
    const { batches } = flatten({ tenant: 'bench', otlp, receivedAtNs: receivedAfter(otlp) });
    for (const env of packEnvelopes('bench', 'traces', batches)) {
      const { header, batches: decoded } = unpackEnvelope(env.data);
      out.push({
        position: { stream: 'bench', shardId: 'shardId-0', sequenceNumber: String(seed * 1000 + out.length) },
        tenant: header.tenant,
        ...(header.id !== undefined && { id: header.id }),
        ...(header.receivedAtNs !== undefined && { receivedAtNs: header.receivedAtNs }),
        batches: decoded,
      });
    }
  }
  return out;
}

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

interface Side {
  readonly name: string;
  readonly client: ClickHouseClient;
  readonly writer: WriterB;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-hot-writer-ab-'));
const server = await spawnClickHouseHttp({
  path: dir,
  hotRetentionDays: RETENTION_DAYS,
  databases: ['ab_a', 'ab_b', 'ab_none', 'ab_gzip6'],
});
const credentials = { url: server.url, username: 'default', password: '', database: 'default' };
const clientA = createRemoteA(credentials);
const clientB = createRemoteB(credentials);
const sides: Side[] = [
  {
    name: `A ${other}`,
    client: clientA,
    writer: new WriterA(clientA, { database: 'ab_a', hotRetentionDays: RETENTION_DAYS }),
  },
  {
    name: 'B this checkout',
    client: clientB,
    writer: new WriterB(clientB, { database: 'ab_b', hotRetentionDays: RETENTION_DAYS }),
  },
];
// --compression: this checkout's writer again with other insert compressions (own databases).
if (args.includes('--compression')) {
  const variants: [string, RequestCompressionOption][] = [
    ['none', false],
    ['gzip 6', { codec: 'gzip', level: 6 }],
  ];
  for (const [label, requestCompression] of variants) {
    const database = `ab_${label.replace(/\W/g, '')}`;
    const client = createRemoteB(credentials, { requestCompression });
    sides.push({
      name: `B, ${label}`,
      client,
      writer: new WriterB(client, { database, hotRetentionDays: RETENTION_DAYS }),
    });
  }
}

try {
  const table: Record<string, unknown>[] = [];
  for (const requests of [1, 4]) {
    const spans = requests * REQUEST_SPANS;
    const cpu = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    const wall = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    const trips = new Map<string, number>();
    let seed = requests * 10_000;
    for (let round = -2; round < ROUNDS; round++) {
      const batch = invocation(requests, seed++);
      // Alternate which side goes first: neither always meets a warm or cold server.
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const c0 = cpuMicros();
        const t0 = performance.now();
        const r = await side.writer.write(batch);
        const c = cpuMicros() - c0;
        const t = performance.now() - t0;
        if (r.pending.length > 0 || r.rejected.length > 0 || r.stats.rowsInserted !== spans)
          throw new Error(`${side.name}: ${r.stats.rowsInserted} rows of ${spans} (${r.error?.message})`);
        if (round < 0) continue;
        cpu.get(side.name)!.push(c / spans);
        wall.get(side.name)!.push(t);
        trips.set(side.name, r.stats.roundTrips);
      }
    }
    const base = median(cpu.get(sides[0]!.name)!);
    for (const side of sides) {
      const m = median(cpu.get(side.name)!);
      table.push({
        'spans/invocation': spans,
        side: side.name,
        'CPU µs/span (median)': Number(m.toFixed(2)),
        'vs A': Number((m / base).toFixed(3)),
        'round trips': trips.get(side.name),
        'wall ms (median)': Number(median(wall.get(side.name)!).toFixed(1)),
      });
    }
  }
  console.log(
    `${ROUNDS} rounds, sides in turn; one ClickHouse over HTTP in another process (pid ${server.pid})`,
  );
  console.table(table);
} finally {
  for (const side of sides) await side.client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
