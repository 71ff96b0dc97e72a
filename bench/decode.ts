/**
 * OTLP decode throughput on one core: the hand-written protobuf decoder and the JSON decoder on
 * the shared workload (bench/workload.ts), against a baseline measured in the same run:
 * `JSON.parse` of the same OTLP/JSON payload (text decoding included), which does no validation
 * and builds no model. Also the fixed64 → decimal string conversion used for every timestamp,
 * two-uint32 arithmetic vs BigInt (from the halves, or read straight from a DataView).
 *
 *   npx tsx bench/decode.ts [--quick]
 */
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import { uint64ToDecimal, uint64ToDecimalBigInt } from '../functions/shared/otlp/int64.js';
import type { Signal } from '../functions/shared/schema/columns.js';
import { logsRequest, metricsRequest, type Payload, rng, traceRequest } from './workload.js';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 0.25 : 2;

/**
 * Runs `fn` repeatedly for about SECONDS of CPU after a warm-up; returns runs per CPU-second.
 * CPU time (user + system of this process) rather than wall time: the figure is per core, and
 * it stays meaningful on a machine shared with other work. GC helper threads count too, so the
 * figure errs low.
 */
function measure(fn: () => unknown): number {
  const cpuSeconds = (since: NodeJS.CpuUsage) => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1e6;
  };
  const warm = process.cpuUsage();
  while (cpuSeconds(warm) < SECONDS / 4) fn();
  let runs = 0;
  const start = process.cpuUsage();
  let used = 0;
  while (used < SECONDS) {
    for (let i = 0; i < 4; i++) fn();
    runs += 4;
    used = cpuSeconds(start);
  }
  return runs / used;
}

interface Row {
  readonly case: string;
  readonly payloadKiB: string;
  readonly 'MB/s': string;
  readonly 'items/s': string;
  readonly 'µs/request': string;
}

function row(name: string, bytes: number, items: number, perSecond: number): Row {
  return {
    case: name,
    payloadKiB: (bytes / 1024).toFixed(0),
    'MB/s': ((bytes * perSecond) / 1e6).toFixed(1),
    'items/s': Math.round(items * perSecond).toLocaleString('en-US'),
    'µs/request': (1e6 / perSecond).toFixed(0),
  };
}

const payloads: [Signal, Payload][] = [
  ['traces', traceRequest()],
  ['logs', logsRequest()],
  ['metrics', await metricsRequest()],
];

const rows: Row[] = [];
const text = new TextDecoder();
for (const [signal, p] of payloads) {
  rows.push(
    row(
      `${signal} protobuf decode`,
      p.protobuf.length,
      p.items,
      measure(() => decodeOtlp(signal, p.protobuf, 'protobuf')),
    ),
    row(
      `${signal} JSON decode`,
      p.json.length,
      p.items,
      measure(() => decodeOtlp(signal, p.json, 'json')),
    ),
    row(
      `${signal} JSON.parse baseline`,
      p.json.length,
      p.items,
      measure(() => JSON.parse(text.decode(p.json))),
    ),
  );
}
console.log(
  `OTLP decode, one core, ${quick ? 'quick' : 'full'} run (${SECONDS} CPU-s per case, figures per CPU-second), Node ${process.version}`,
);
console.table(rows);

// Timestamps: 2–3 per item, each a fixed64 turned into an exact decimal string.
const next = rng(7);
const count = 4096;
const timeBytes = new DataView(new ArrayBuffer(count * 8));
for (let i = 0; i < count; i++) {
  const ns =
    BigInt(1_763_900_000 + Math.floor(next() * 1e6)) * 1_000_000_000n + BigInt(Math.floor(next() * 1e9));
  timeBytes.setBigUint64(i * 8, ns, true);
}
const halves = (i: number) =>
  [timeBytes.getUint32(i * 8, true), timeBytes.getUint32(i * 8 + 4, true)] as const;
for (let i = 0; i < count; i++) {
  const [lo, hi] = halves(i);
  const expected = timeBytes.getBigUint64(i * 8, true).toString();
  if (uint64ToDecimal(lo, hi) !== expected || uint64ToDecimalBigInt(lo, hi) !== expected) {
    throw new Error('conversions disagree');
  }
}
let sink = 0;
const perSecond = (f: (i: number) => string) =>
  measure(() => {
    for (let i = 0; i < count; i++) sink += f(i).length;
  }) * count;
const conversions = [
  ['two uint32 halves, arithmetic', (i: number) => uint64ToDecimal(...halves(i))],
  ['two uint32 halves → BigInt', (i: number) => uint64ToDecimalBigInt(...halves(i))],
  ['DataView.getBigUint64 (used for times)', (i: number) => timeBytes.getBigUint64(i * 8, true).toString()],
] as const;
console.table(
  conversions.map(([name, f]) => ({
    'fixed64 → decimal string': name,
    'M/s': (perSecond(f) / 1e6).toFixed(1),
  })),
);
if (sink < 0) console.log(sink);
