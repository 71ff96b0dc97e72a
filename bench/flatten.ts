/**
 * Rows benchmark: flatten + sanitize + redact, in µs of CPU per item (span, log record, data
 * point), on the shared synthetic workload (bench/workload.ts: 512 spans / 512 log records with 10
 * attributes of ~20-character keys, 16 resource attributes; ~500 metric data points), decoded once
 * with the real decoder. Redaction on (the documented defaults) and off, to show its share.
 *
 *   npx tsx bench/flatten.ts [--quick]
 *
 * CPU time of this process (process.cpuUsage), so a busy shared machine skews it less than wall
 * time; the median of several rounds is reported.
 */
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import type { OtlpRequest } from '../functions/shared/otlp/model.js';
import { flatten } from '../functions/shared/rows/flatten.js';
import { compileRedaction, type Redactor } from '../functions/shared/rows/redact.js';
import { logsRequest, metricsRequest, receivedAfter, traceRequest } from './workload.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 9;
const MIN_CPU_S = quick ? 0.05 : 0.15;

function cpuMicros(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Figure {
  readonly case: string;
  readonly items: number;
  readonly rows: number;
  readonly usPerItem: number;
  readonly itemsPerCpuS: number;
}

function measure(name: string, otlp: OtlpRequest, redactor: Redactor): Figure {
  const input = { tenant: 'bench', otlp, receivedAtNs: receivedAfter(otlp) };
  const first = flatten(input, { redactor });
  if (first.rejected > 0) throw new Error(`${name}: ${first.message}`);
  const items = first.accepted;
  const rows = first.batches.reduce((n, b) => n + b.rowCount, 0);
  // Warm up, and size a round to at least MIN_CPU_S of work.
  let reps = 1;
  while (
    cpuMicros(() => {
      for (let i = 0; i < reps; i++) flatten(input, { redactor });
    }) <
    MIN_CPU_S * 1e6
  )
    reps *= 2;
  const perItem: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const us = cpuMicros(() => {
      for (let i = 0; i < reps; i++) flatten(input, { redactor });
    });
    perItem.push(us / reps / items);
  }
  const usPerItem = median(perItem);
  return { case: name, items, rows, usPerItem, itemsPerCpuS: 1e6 / usPerItem };
}

async function main(): Promise<void> {
  const traces = decodeOtlp('traces', traceRequest({ items: 512 }).protobuf, 'protobuf');
  const logs = decodeOtlp('logs', logsRequest({ items: 512 }).protobuf, 'protobuf');
  const metrics = decodeOtlp('metrics', (await metricsRequest()).protobuf, 'protobuf');
  const on = compileRedaction();
  const off = compileRedaction({ dropKeys: [], patterns: [] });

  const figures = [
    measure('traces, redaction on', traces, on),
    measure('traces, redaction off', traces, off),
    measure('logs, redaction on', logs, on),
    measure('logs, redaction off', logs, off),
    measure('metrics, redaction on', metrics, on),
  ];
  console.log(
    `flatten + sanitize + redact (${quick ? 'quick' : 'full'}; CPU time, median of ${ROUNDS} rounds)`,
  );
  console.table(
    figures.map((f) => ({
      case: f.case,
      items: f.items,
      rows: f.rows,
      'µs/item': Number(f.usPerItem.toFixed(2)),
      'items/CPU-s': Math.round(f.itemsPerCpuS),
    })),
  );
}

await main();
