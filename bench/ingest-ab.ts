/**
 * Ingest A/B in one process: `npx tsx bench/ingest-ab.ts <other checkout> [--rounds N]` loads
 * `createIngest` from another checkout of this repository (e.g. `git worktree add /tmp/base <rev>`,
 * with its node_modules) beside this one's, and times both on the same requests, round after
 * round in turn, so this VM's drifting CPU speed lands on both alike. Prints the median CPU µs per
 * item of each and their ratio: the figure for "must not regress by more than 5%". `--b <checkout>`
 * loads B from another checkout too: with two copies of one revision, an A/A that shows the noise.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createIngest as createIngestThis, type IngestPorts } from '../functions/ingest/ingest.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import type { Signal } from '../functions/shared/schema/columns.js';
import type { StreamSink } from '../functions/shared/stream/stream-sink.js';
import { logsRequest, metricsRequest, type Payload, receivedAfter, traceRequest } from './workload.js';

const args = process.argv.slice(2);
const other = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!other) {
  console.error(
    'usage: npx tsx bench/ingest-ab.ts <other checkout> [--b <checkout>] [--rounds N] [--case <name part>]',
  );
  process.exit(2);
}
const roundsAt = args.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 15;
/** `--case JSON`: only the cases whose name contains it (a quicker look at one path). */
const caseAt = args.indexOf('--case');
const only = caseAt >= 0 ? args[caseAt + 1] : undefined;
/** CPU per timed round of one case and side. */
const MIN_CPU_US = 100_000;

type CreateIngest = typeof createIngestThis;
const load = async (checkout: string) =>
  (
    (await import(pathToFileURL(resolve(checkout, 'functions/ingest/ingest.ts')).href)) as {
      createIngest: CreateIngest;
    }
  ).createIngest;
const createIngestA = await load(other);
const bAt = args.indexOf('--b');
const otherB = bAt >= 0 ? args[bAt + 1] : undefined;
const createIngestB = otherB === undefined ? createIngestThis : await load(otherB);

const sink: StreamSink = {
  put: (records) =>
    Promise.resolve({
      kind: 'durable',
      records: records.length,
      bytes: records.reduce((n, r) => n + r.data.byteLength, 0),
      attempts: 1,
    }),
};

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

interface Case {
  readonly name: string;
  readonly signal: Signal;
  readonly payload: Payload;
  readonly format: 'protobuf' | 'json';
  readonly gzip?: boolean;
}

const traces = traceRequest();
const logs = logsRequest();
const metrics = await metricsRequest();
const cases: Case[] = [
  { name: 'traces protobuf', signal: 'traces', payload: traces, format: 'protobuf' },
  { name: 'traces protobuf gzip', signal: 'traces', payload: traces, format: 'protobuf', gzip: true },
  { name: 'traces JSON', signal: 'traces', payload: traces, format: 'json' },
  { name: 'logs protobuf', signal: 'logs', payload: logs, format: 'protobuf' },
  { name: 'logs JSON', signal: 'logs', payload: logs, format: 'json' },
  { name: 'metrics protobuf', signal: 'metrics', payload: metrics, format: 'protobuf' },
];

function runner(create: CreateIngest, c: Case): () => Promise<unknown> {
  const raw = c.format === 'protobuf' ? c.payload.protobuf : c.payload.json;
  const body = c.gzip ? gzipSync(raw) : raw;
  const receivedAtNs = receivedAfter(decodeOtlp(c.signal, c.payload.protobuf, 'protobuf'));
  const ports: IngestPorts = {
    tenants: { resolve: () => Promise.resolve({ tenantId: 'bench', keyId: 'k' }) },
    stream: sink,
    nowNs: () => receivedAtNs,
  };
  const ingest = create(ports);
  const headers = {
    'content-type': c.format === 'protobuf' ? 'application/x-protobuf' : 'application/json',
    authorization: 'Bearer bench-key',
    ...(c.gzip ? { 'content-encoding': 'gzip' } : {}),
  };
  return async () => {
    const res = await ingest({ signal: c.signal, headers, body, remainingMs: 30_000 });
    if (res.status !== 200 || res.stats.rejected > 0) throw new Error(`${c.name}: ${res.status}`);
  };
}

async function repsFor(once: () => Promise<unknown>): Promise<number> {
  for (let reps = 1; ; reps *= 2) {
    const t = cpuMicros();
    for (let i = 0; i < reps; i++) await once();
    if (cpuMicros() - t >= MIN_CPU_US) return reps;
  }
}

/** The q-quantile (nearest rank) of xs. */
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
const median = (xs: number[]) => quantile(xs, 0.5);

const sides = cases
  .filter((c) => only === undefined || c.name.includes(only))
  .map((c) => ({ c, a: runner(createIngestA, c), b: runner(createIngestB, c) }));
// One case at a time: calibrated together, their awaits would interleave and each would count the
// others' CPU (repetitions a sixth of what was meant, rounds of ~17 ms and their noise).
const reps: (readonly [number, number])[] = [];
for (const s of sides) reps.push([await repsFor(s.a), await repsFor(s.b)]);
const perItem = sides.map(() => ({ a: [] as number[], b: [] as number[] }));
for (let round = 0; round < ROUNDS; round++) {
  for (const [k, s] of sides.entries()) {
    // Alternate which side goes first, so neither always runs on a warmer heap.
    const order = round % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
    for (const side of order) {
      const n = side === 'a' ? reps[k]![0] : reps[k]![1];
      const t = cpuMicros();
      for (let i = 0; i < n; i++) await s[side]();
      perItem[k]![side].push((cpuMicros() - t) / n / s.c.payload.items);
    }
  }
}

console.log(
  `A = ${resolve(other)}, B = ${otherB === undefined ? 'this checkout' : resolve(otherB)}; median of ${ROUNDS} interleaved rounds, CPU µs per item`,
);
console.table(
  sides.map((s, k) => {
    const a = median(perItem[k]!.a);
    const b = median(perItem[k]!.b);
    // The spread of the ratio within a round (both sides ran back to back): its interquartile range.
    const ratios = perItem[k]!.b.map((x, i) => x / perItem[k]!.a[i]!);
    return {
      case: s.c.name,
      'A µs/item': a.toFixed(2),
      'B µs/item': b.toFixed(2),
      'B / A': (b / a).toFixed(3),
      'round B/A median [p25..p75]': `${median(ratios).toFixed(3)} [${quantile(ratios, 0.25).toFixed(3)}..${quantile(ratios, 0.75).toFixed(3)}]`,
    };
  }),
);
