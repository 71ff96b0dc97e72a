/**
 * Ingest benchmark, per core, on the shared workload (bench/workload.ts):
 * - whole receiver: µs of CPU per item through `createIngest` (content checks, gunzip, decode,
 *   flatten, group by service, pack), with an in-memory StreamSink that only counts bytes (no
 *   Kinesis: its latency is I/O wait, not CPU) and a static tenant directory; beside it, per item,
 *   `JSON.parse` of the same traces as OTLP/JSON, the yardstick the figures are relative to;
 * - envelope pack alone (group by service + packEnvelopes) in µs per item;
 * - stream bytes per item and their ratio to the uncompressed OTLP protobuf request (target <= 20%),
 *   and the same payload under other codecs/levels, to choose the envelope's compression;
 * - peak memory (RSS, heap) of one 4 MB request, in a fresh child process (target <= 256 MB);
 * - the minified esbuild bundle of functions/ingest/handler.ts for node22 (target <= 500 KB, read
 *   strictly as 500,000 bytes; the tables below print KiB).
 *
 *   npx tsx bench/ingest.ts [--quick]
 *
 * CPU time of this process (process.cpuUsage), median of several rounds.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { createIngest, type IngestPorts } from '../functions/ingest/ingest.js';
import { groupByService } from '../functions/ingest/partition.js';
import { zstd } from '../functions/shared/compression/zstd.js';
import { DEFAULT_CODEC, encodePayload, packEnvelopes } from '../functions/shared/envelope/envelope.js';
import { decodeOtlp } from '../functions/shared/otlp/decode.js';
import type { OtlpRequest } from '../functions/shared/otlp/model.js';
import type { ColumnBatch } from '../functions/shared/rows/batch.js';
import { flatten } from '../functions/shared/rows/flatten.js';
import type { Signal } from '../functions/shared/schema/columns.js';
import type { StreamSink } from '../functions/shared/stream/stream-sink.js';
import { LAMBDA_ESBUILD_OPTIONS, LAMBDA_EXTERNAL_MODULES } from '../lib/lambda-bundling.js';
import { logsRequest, metricsRequest, type Payload, receivedAfter, traceRequest } from './workload.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 11;
const MIN_CPU_S = quick ? 0.05 : 0.3;

function compressZstd(raw: Uint8Array): Uint8Array {
  if (!zstd) throw new Error('no zstd in this process');
  return zstd.compress(raw, 3);
}

function cpuMicros(fn: () => unknown): number {
  const start = process.cpuUsage();
  fn();
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

async function cpuMicrosAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The in-memory sink: counts records and bytes, stores nothing. */
class CountingStreamSink implements StreamSink {
  records = 0;
  bytes = 0;
  put(records: readonly { data: Uint8Array }[]) {
    this.records += records.length;
    for (const r of records) this.bytes += r.data.byteLength;
    return Promise.resolve({
      kind: 'durable' as const,
      records: records.length,
      bytes: this.bytes,
      attempts: 1,
    });
  }
}

function portsFor(otlp: OtlpRequest, sink: StreamSink): IngestPorts {
  const receivedAtNs = receivedAfter(otlp);
  return {
    tenants: { resolve: () => Promise.resolve({ tenantId: 'bench', keyId: 'k' }) },
    stream: sink,
    nowNs: () => receivedAtNs,
  };
}

interface Case {
  readonly name: string;
  readonly signal: Signal;
  readonly payload: Payload;
  readonly format: 'protobuf' | 'json';
  /** The request's Content-Encoding; gzip at zlib's default level 6, zstd at level 3 (both the Collector's defaults). */
  readonly encoding?: 'gzip' | 'zstd';
}

async function prepareIngest(c: Case) {
  const raw = c.format === 'protobuf' ? c.payload.protobuf : c.payload.json;
  const body = c.encoding === 'gzip' ? gzipSync(raw) : c.encoding === 'zstd' ? compressZstd(raw) : raw;
  const otlp = decodeOtlp(c.signal, c.payload.protobuf, 'protobuf');
  const ingest = createIngest(portsFor(otlp, new CountingStreamSink()));
  const headers = {
    'content-type': c.format === 'protobuf' ? 'application/x-protobuf' : 'application/json',
    authorization: 'Bearer bench-key',
    ...(c.encoding ? { 'content-encoding': c.encoding } : {}),
  };
  const once = () => ingest({ signal: c.signal, headers, body, remainingMs: 30_000 });
  const first = await once();
  if (first.status !== 200 || first.stats.rejected > 0) {
    throw new Error(`${c.name}: ${first.status} ${first.stats.reason ?? ''}`);
  }
  return { c, body, once, first };
}

type Prepared = Awaited<ReturnType<typeof prepareIngest>>;

/** Requests per timed round of a case: enough for MIN_CPU_S of CPU. */
async function repsFor(once: () => Promise<unknown>): Promise<number> {
  let reps = 1;
  while (
    (await cpuMicrosAsync(async () => {
      for (let i = 0; i < reps; i++) await once();
    })) <
    MIN_CPU_S * 1e6
  ) {
    reps *= 2;
  }
  return reps;
}

/**
 * Every case in turn, round after round (not one case's rounds back to back), so a drift of the
 * machine or a collection of earlier garbage lands on all cases alike; the median round per case.
 * `JSON.parse` of the traces request as OTLP/JSON runs in the same rounds as the machine's yardstick:
 * this VM's CPU speed varies by 2x from hour to hour, the ratio to the yardstick far less.
 */
async function measureIngest(prepared: readonly Prepared[], baselineJson: Uint8Array, baselineItems: number) {
  const text = Buffer.from(baselineJson).toString('utf8');
  const baseline = () => Promise.resolve(JSON.parse(text));
  const runs = [...prepared.map((p) => p.once), baseline];
  const items = [...prepared.map((p) => p.c.payload.items), baselineItems];
  const reps: number[] = [];
  for (const once of runs) reps.push(await repsFor(once));
  const perItem: number[][] = runs.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, once] of runs.entries()) {
      const us = await cpuMicrosAsync(async () => {
        for (let i = 0; i < reps[k]!; i++) await once();
      });
      perItem[k]!.push(us / reps[k]! / items[k]!);
    }
  }
  const baselineUs = median(perItem[runs.length - 1]!);
  const rows = prepared.map(({ c, body, first }, k) => {
    const envelopeBytes = first.stats.envelopeBytes;
    const us = median(perItem[k]!);
    return {
      case: c.name,
      items: c.payload.items,
      'request B': body.byteLength,
      'µs/item': Number(us.toFixed(2)),
      'items/CPU-s': Math.round(1e6 / us),
      '× JSON.parse': Number((us / baselineUs).toFixed(2)),
      envelopes: first.stats.envelopes,
      'stream B/item': Number((envelopeBytes / c.payload.items).toFixed(1)),
      'stream/OTLP pb': `${((100 * envelopeBytes) / c.payload.protobuf.byteLength).toFixed(1)}%`,
    };
  });
  return [
    ...rows,
    {
      case: 'yardstick: JSON.parse of traces JSON',
      items: baselineItems,
      'request B': baselineJson.byteLength,
      'µs/item': Number(baselineUs.toFixed(2)),
      'items/CPU-s': Math.round(1e6 / baselineUs),
      '× JSON.parse': 1,
    },
  ];
}

function measurePack(name: string, signal: Signal, payload: Payload) {
  const otlp = decodeOtlp(signal, payload.protobuf, 'protobuf');
  const flat = flatten({ tenant: 'bench', otlp, receivedAtNs: receivedAfter(otlp) });
  const pack = () => {
    for (const [, batches] of groupByService(flat.batches)) packEnvelopes('bench', signal, batches);
  };
  let reps = 1;
  while (cpuMicros(() => Array.from({ length: reps }, pack)) < MIN_CPU_S * 1e6) reps *= 2;
  const perItem: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    perItem.push(cpuMicros(() => Array.from({ length: reps }, pack)) / reps / payload.items);
  }
  return { case: name, items: payload.items, 'pack µs/item': Number(median(perItem).toFixed(2)) };
}

type NamedCodec = [name: string, compress: (b: Uint8Array) => Buffer];

/**
 * The envelope payload (per service, as packed) under other codecs and levels: version 2 (the
 * column encodings of envelope.ts, written now) and version 1 (plain JSON of the column batches).
 * `JSON µs/item` is the CPU to build the uncompressed payload.
 */
function measureCodecs(signal: Signal, payload: Payload) {
  const otlp = decodeOtlp(signal, payload.protobuf, 'protobuf');
  const flat = flatten({ tenant: 'bench', otlp, receivedAtNs: receivedAfter(otlp) });
  const groups = [...groupByService(flat.batches).values()];
  const formats: [string, (batches: ColumnBatch[]) => Uint8Array][] = [
    ['v2', (batches) => encodePayload(batches)],
    ['v1', (batches) => Buffer.from(JSON.stringify({ batches }), 'utf8')],
  ];
  const z = zstd;
  const zstdAt =
    z &&
    ((level: number) =>
      (b: Uint8Array): Buffer =>
        z.compress(b, level));
  const brotli =
    (q: number) =>
    (b: Uint8Array): Buffer =>
      brotliCompressSync(b, {
        params: { [constants.BROTLI_PARAM_QUALITY]: q, [constants.BROTLI_PARAM_SIZE_HINT]: b.byteLength },
      });
  const codecs: NamedCodec[] = [
    ...[1, 2, 3, 4, 5].map((q): NamedCodec => [`brotli q${q}`, brotli(q)]),
    ...(zstdAt ? [1, 3, 6].map((l): NamedCodec => [`zstd ${l}`, zstdAt(l)]) : []),
    ...[1, 6, 9].map((l): NamedCodec => [`gzip ${l}`, (b) => gzipSync(b, { level: l })]),
  ];
  const rounds = quick ? 3 : 7;
  const rows = [];
  for (const [format, encode] of formats) {
    const raws = groups.map(encode);
    const jsonUs: number[] = [];
    for (let r = 0; r < rounds; r++) jsonUs.push(cpuMicros(() => groups.forEach(encode)));
    const rawBytes = raws.reduce((n, b) => n + b.length, 0);
    for (const [name, fn] of codecs) {
      if (format === 'v1' && name !== 'brotli q5') continue;
      const bytes = raws.reduce((n, b) => n + fn(b).length, 0);
      const us: number[] = [];
      for (let r = 0; r < rounds; r++) us.push(cpuMicros(() => raws.forEach(fn)));
      const current = format === 'v2' && name === (DEFAULT_CODEC === 'zstd' ? 'zstd 1' : 'brotli q2');
      rows.push({
        [`${signal} payload`]: format,
        codec: `${name}${current ? ' (current)' : format === 'v1' ? ' (before)' : ''}`,
        'JSON B/item': Math.round(rawBytes / payload.items),
        'JSON µs/item': Number((median(jsonUs) / payload.items).toFixed(2)),
        'B/item': Number((bytes / payload.items).toFixed(1)),
        'of OTLP pb': `${((100 * bytes) / payload.protobuf.byteLength).toFixed(1)}%`,
        'codec µs/item': Number((median(us) / payload.items).toFixed(2)),
      });
    }
  }
  return rows;
}

/** In the child: one request from a file, then peak RSS and heap. */
async function memoryChild(
  file: string,
  format: 'protobuf' | 'json',
  gzip: boolean,
  receivedAtNs: string,
): Promise<void> {
  const body = readFileSync(file);
  const sink = new CountingStreamSink();
  const ingest = createIngest({
    tenants: { resolve: () => Promise.resolve({ tenantId: 'bench', keyId: 'k' }) },
    stream: sink,
    nowNs: () => receivedAtNs,
  });
  const headers = {
    'content-type': format === 'protobuf' ? 'application/x-protobuf' : 'application/json',
    authorization: 'Bearer k',
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  };
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  const res = await ingest({ signal: 'traces', headers, body, remainingMs: 30_000 });
  const after = process.memoryUsage();
  process.stdout.write(
    JSON.stringify({
      status: res.status,
      accepted: res.stats.accepted,
      requestBytes: body.byteLength,
      decompressedBytes: res.stats.decompressedBytes,
      baselineRssMB: before.rss / 2 ** 20,
      peakRssMB: process.resourceUsage().maxRSS / 1024,
      heapAfterMB: after.heapUsed / 2 ** 20,
    }),
  );
}

function measureMemory(): Record<string, unknown>[] {
  const dir = mkdtempSync(join(tmpdir(), 'ingest-bench-'));
  try {
    // ~518 bytes per workload span in protobuf, ~1.1 KB in JSON: just under the 4 MiB cap.
    const cases: {
      name: string;
      format: 'protobuf' | 'json';
      gzip: boolean;
      body: Uint8Array;
      at: string;
    }[] = [];
    const at = (p: Uint8Array) => receivedAfter(decodeOtlp('traces', p, 'protobuf'));
    const pb = traceRequest({ items: 7900 }).protobuf;
    cases.push({ name: '4 MB protobuf', format: 'protobuf', gzip: false, body: pb, at: at(pb) });
    if (!quick) {
      const json = traceRequest({ items: 3600 });
      cases.push({ name: '4 MB JSON', format: 'json', gzip: false, body: json.json, at: at(json.protobuf) });
      // gzip: 2 MB as received, inflating to just under the 16 MiB decompressed cap.
      const big = traceRequest({ items: 30_000 }).protobuf;
      const gz = gzipSync(big);
      cases.push({ name: '16 MB protobuf, gzip', format: 'protobuf', gzip: true, body: gz, at: at(big) });
    }
    return cases.map((c) => {
      const file = join(dir, `${c.name.replace(/\W+/g, '-')}.bin`);
      writeFileSync(file, c.body);
      const r = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '--expose-gc',
          join(here, 'ingest.ts'),
          '--memory-child',
          file,
          c.format,
          String(c.gzip),
          c.at,
        ],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      );
      if (r.status !== 0) throw new Error(`memory child failed: ${r.stderr}`);
      const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
      return {
        case: c.name,
        status: m.status,
        spans: m.accepted,
        'request MB': Number((m.requestBytes! / 2 ** 20).toFixed(2)),
        'inflated MB': Number((m.decompressedBytes! / 2 ** 20).toFixed(2)),
        'baseline RSS MB': Math.round(m.baselineRssMB!),
        'peak RSS MB': Math.round(m.peakRssMB!),
        'heap after MB': Math.round(m.heapAfterMB!),
      };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The handler bundled as the CDK function construct does for ESM (module before main, so packages
 * ship their tree-shakable ES builds), with the AWS SDK inside or left to the Lambda runtime.
 */
async function measureBundle(sdkExternal: boolean) {
  const result = await build({
    ...LAMBDA_ESBUILD_OPTIONS,
    mainFields: [...LAMBDA_ESBUILD_OPTIONS.mainFields],
    entryPoints: [join(here, '../functions/ingest/handler.ts')],
    external: [...LAMBDA_EXTERNAL_MODULES, ...(sdkExternal ? ['@aws-sdk/*', '@smithy/*'] : [])],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const out = result.outputFiles[0]!;
  const byPackage = new Map<string, number>();
  for (const [path, info] of Object.entries(result.metafile.outputs)) {
    if (!path.endsWith('.js')) continue;
    for (const [input, { bytesInOutput }] of Object.entries(info.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const key = m ? m[1]! : 'project code';
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  const top = [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  return { bytes: out.contents.byteLength, gzipBytes: gzipSync(out.contents).byteLength, top };
}

async function main(): Promise<void> {
  const traces = traceRequest({ items: 512 });
  const logs = logsRequest({ items: 512 });
  const metrics = await metricsRequest();

  const cases: Case[] = [
    { name: 'traces protobuf', signal: 'traces', payload: traces, format: 'protobuf' },
    { name: 'traces protobuf gzip', signal: 'traces', payload: traces, format: 'protobuf', encoding: 'gzip' },
    { name: 'traces protobuf zstd', signal: 'traces', payload: traces, format: 'protobuf', encoding: 'zstd' },
    { name: 'traces JSON', signal: 'traces', payload: traces, format: 'json' },
    { name: 'logs protobuf', signal: 'logs', payload: logs, format: 'protobuf' },
    { name: 'logs JSON', signal: 'logs', payload: logs, format: 'json' },
    { name: 'metrics protobuf', signal: 'metrics', payload: metrics, format: 'protobuf' },
  ];
  const prepared = [];
  for (const c of cases) prepared.push(await prepareIngest(c));
  // Warm every path up before timing any, so the first case does not pay for the JIT.
  for (let i = 0; i < (quick ? 10 : 40); i++) for (const p of prepared) await p.once();
  const ingestFigures = await measureIngest(prepared, traces.json, traces.items);
  console.log(
    `Node.js ${process.version}; envelope codec ${DEFAULT_CODEC}${zstd ? ` (${zstd.backend})` : ''}`,
  );
  console.log(
    `whole receiver via createIngest, in-memory counting StreamSink (${quick ? 'quick' : 'full'}; CPU µs per item, median of ${ROUNDS})`,
  );
  console.table(ingestFigures);

  console.log(
    `envelope pack alone (group by service + packEnvelopes: v2 payload, ${DEFAULT_CODEC === 'zstd' ? 'zstd 1' : 'brotli q2'})`,
  );
  console.table([
    measurePack('traces', 'traces', traces),
    measurePack('logs', 'logs', logs),
    measurePack('metrics', 'metrics', metrics),
  ]);

  console.log('envelope payload under other codecs (per-service envelopes, as packed)');
  console.table(measureCodecs('traces', traces));
  if (!quick) {
    console.table(measureCodecs('logs', logs));
    console.table(measureCodecs('metrics', metrics));
  }

  console.log('peak memory of one request (fresh child process each; target <= 256 MB)');
  console.table(measureMemory());

  const bundled = await measureBundle(false);
  const external = quick ? undefined : await measureBundle(true);
  console.log(
    'ingest bundle (esbuild, minified, node22 ESM, mainFields module,main; target <= 500 KB = 500,000 bytes)',
  );
  const sizes = (bundle: string, b: { bytes: number; gzipBytes: number }) => ({
    bundle,
    bytes: b.bytes,
    KiB: Math.round(b.bytes / 1024),
    'gzip KiB': Math.round(b.gzipBytes / 1024),
  });
  console.table([
    sizes('AWS SDK bundled in', bundled),
    ...(external ? [sizes('AWS SDK from runtime', external)] : []),
  ]);
  console.table(
    bundled.top.map(([pkg, bytes]) => ({ 'largest parts (SDK in)': pkg, KiB: Math.round(bytes / 1024) })),
  );
}

const childAt = process.argv.indexOf('--memory-child');
if (childAt >= 0) {
  const [file, format, gzip, at] = process.argv.slice(childAt + 1);
  await memoryChild(file!, format as 'protobuf' | 'json', gzip === 'true', at!);
} else {
  await main();
}
