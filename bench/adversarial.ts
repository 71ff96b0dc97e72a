/**
 * Adversarial requests: what one hostile or careless request costs the ingest function and the hot
 * writer. Each request runs in a fresh child process (its peak RSS is that request's), through
 * `createIngest` with the default caps and limiter, a counting stream sink and a static tenant;
 * the bodies are built here in the parent and handed over as files, so building them does not
 * count. The hot writer cases turn the request into envelopes first (caps lifted, as before they
 * existed), then measure one `ClickHouseTelemetryWriter.write` over HTTP to ClickHouse served by
 * another process (local/clickhouse-http-process.ts), as a Lambda writes to ClickHouse Cloud.
 *
 *   npx tsx bench/adversarial.ts [--quick] [--only <case>]
 *
 * Targets: ingest peak <= 256 MB for every request within the caps (over the caps: refused fast);
 * hot writer peak <= 512 MB for the 291 KB request whose logs share 63 resource attributes of 4 KB.
 * Peak RSS includes the tsx loader's baseline (~100 MB, which Lambda does not have): both columns
 * are printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { PositionedEnvelope } from '../functions/shared/clickhouse/writer.js';
import type { Signal } from '../functions/shared/schema/columns.js';
import type { StreamRecord, StreamSink } from '../functions/shared/stream/stream-sink.js';

// Everything else is imported where used: an ingest child must not load chdb or the SDK, whose
// size would hide the request's own memory in the baseline.

const here = dirname(fileURLToPath(import.meta.url));
const MIB = 1024 * 1024;
const BODY_BUDGET = 16 * MIB - 64; // under the 16 MiB decompressed cap, room for the envelopes

// ---- protobuf building blocks (wire format by hand: the point is bodies no SDK would send) ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A length-delimited field: tag, length, bytes. */
function field(num: number, body: Uint8Array): Uint8Array {
  const head = [...varint((num << 3) | 2), ...varint(body.length)];
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** KeyValue { key, value: AnyValue } with an int value (the smallest attribute that carries one). */
function tinyIntAttribute(key: string): Uint8Array {
  return concat([field(1, utf8(key)), field(2, new Uint8Array([0x18, 0x01]))]);
}

function stringAttribute(key: string, value: string): Uint8Array {
  return concat([field(1, utf8(key)), field(2, field(1, utf8(value)))]);
}

/** `repeat` copies of one chunk, without building a JS array of them. */
function repeated(chunk: Uint8Array, repeat: number): Uint8Array {
  const out = new Uint8Array(chunk.length * repeat);
  for (let i = 0; i < repeat; i++) out.set(chunk, i * chunk.length);
  return out;
}

/** A whole export request around one ScopeSpans/ScopeLogs body (the children already encoded). */
function request(scopeChildren: Uint8Array, resourceAttributes: Uint8Array = new Uint8Array(0)): Uint8Array {
  const resource = resourceAttributes.length > 0 ? field(1, resourceAttributes) : new Uint8Array(0);
  return field(1, concat([resource, field(2, scopeChildren)]));
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function fixed64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

/** A span with ids, a name, times and the given attributes (each already a KeyValue). */
function span(i: number, attributes: Uint8Array[]): Uint8Array {
  const trace = new Uint8Array(16);
  new DataView(trace.buffer).setUint32(12, i + 1);
  const sid = new Uint8Array(8);
  new DataView(sid.buffer).setUint32(4, i + 1);
  const start = nowNs() - 1_000_000_000n;
  return concat([
    field(1, trace),
    field(2, sid),
    field(5, utf8('op')),
    new Uint8Array([0x39]),
    fixed64(start),
    new Uint8Array([0x41]),
    fixed64(start + 1_000_000n),
    ...attributes.map((a) => field(9, a)),
  ]);
}

// ---- the cases ----

interface Case {
  readonly name: string;
  readonly signal: Signal;
  readonly format: 'protobuf' | 'json';
  /** Decompressed body; sent gzip'd. */
  readonly build: () => Uint8Array | Promise<Uint8Array>;
  /** Also measure the hot writer on this request's envelopes. */
  readonly writer?: boolean;
  /** In the quick run too. */
  readonly quick?: boolean;
  /** Receive time (ns) for items stamped in the past (the shared workload's fixed dates). */
  readonly receivedAtNs?: string;
}

function emptySpans(): Uint8Array {
  const n = Math.floor(BODY_BUDGET / 2);
  return request(repeated(new Uint8Array([0x12, 0x00]), n));
}

function emptySpansJson(): Uint8Array {
  const head = '{"resourceSpans":[{"scopeSpans":[{"spans":[';
  const tail = ']}]}]}';
  const n = Math.floor((BODY_BUDGET - head.length - tail.length) / 3);
  return utf8(`${head}${'{},'.repeat(n - 1)}{}${tail}`);
}

/** One span with `count` attributes `a<n>`: 1, in spans of at most 1000 attributes each. */
function tinyAttributes(count: number): Uint8Array {
  const spans: Uint8Array[] = [];
  for (let done = 0, i = 0; done < count; i++) {
    const k = Math.min(1000, count - done);
    const attrs: Uint8Array[] = [];
    for (let j = 0; j < k; j++) attrs.push(tinyIntAttribute(`a${j}`));
    spans.push(field(2, span(i, attrs)));
    done += k;
  }
  return request(concat(spans));
}

/** Tiny attributes filling the body budget (far past the attribute cap). */
function tinyAttributesFull(): Uint8Array {
  const one = field(9, tinyIntAttribute('a'));
  const perSpan = 10_000;
  const s = field(2, concat([span(0, []), repeated(one, perSpan)]));
  return request(repeated(s, Math.floor(BODY_BUDGET / s.length)));
}

/** An attribute nested `depth` levels deep (arrays in arrays), ending in an int. */
function nested(depth: number): Uint8Array {
  let value: Uint8Array = new Uint8Array([0x18, 0x01]); // AnyValue{int_value: 1}
  for (let d = 0; d < depth; d++) value = field(5, field(1, value)); // AnyValue{array_value{values: value}}
  return concat([field(1, utf8('deep')), field(2, value)]);
}

/** Attributes nested to the decoder's depth cap (32), as many as fit. */
function deepWithinDepth(): Uint8Array {
  const one = field(9, nested(31));
  const s = field(2, concat([span(0, []), repeated(one, 2000)]));
  return request(repeated(s, Math.floor(BODY_BUDGET / s.length)));
}

/** One attribute nested as deep as 16 MiB allows (over the depth cap). */
function deepOverDepth(): Uint8Array {
  // Built inside out with growing prefixes; ~100k levels stays well under the budget.
  return request(field(2, span(0, [nested(100_000)])));
}

/** One span with 8 million empty events. */
function emptyEvents(): Uint8Array {
  const events = repeated(new Uint8Array([0x5a, 0x00]), Math.floor((BODY_BUDGET - 100) / 2));
  return request(field(2, concat([span(0, []), events])));
}

/** JSON: spans of tiny attributes filling the body (past the value cap). */
function tinyAttributesJson(): Uint8Array {
  const attr = '{"key":"a","value":{"intValue":1}},';
  const head = '{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","attributes":[';
  const tail = '{"key":"b","value":{"intValue":1}}]}]}]}]}';
  const n = Math.floor((BODY_BUDGET - head.length - tail.length) / attr.length);
  return utf8(head + attr.repeat(n) + tail);
}

/** JSON: 990k empty objects in a field the decoder ignores (1.98M values: just under the cap). */
function emptyObjectsJson(): Uint8Array {
  return utf8(`{"resourceSpans":[],"x":[${'{},'.repeat(990_000)}{}]}`);
}

/** Realistic spans (10 attributes each, the shared workload) up to the body cap. */
async function realistic(): Promise<Uint8Array> {
  const { traceRequest } = await import('./workload.js');
  return traceRequest({ items: 30_000 }).protobuf;
}

/**
 * Issue #17's case: 1,000 log records under one resource carrying 63 attributes of 4 KB each
 * (random, so they do not compress away): 291 KB gzip'd.
 */
function resourceExpansion(): Uint8Array {
  // mulberry32: random enough that gzip cannot fold the values away.
  let seed = 17;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const value = () => Array.from({ length: 4096 }, () => alphabet[rand() % 64]).join('');
  const resourceAttrs = concat([
    field(1, stringAttribute('service.name', 'expander')),
    ...Array.from({ length: 62 }, (_, i) => field(1, stringAttribute(`big.${i}`, value()))),
  ]);
  const t = nowNs() - 1_000_000_000n;
  const logs: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    // LogRecord { time_unix_nano (1, fixed64), body (5) = AnyValue{string} }
    logs.push(
      field(
        2,
        concat([new Uint8Array([0x09]), fixed64(t + BigInt(i)), field(5, field(1, utf8(`log ${i}`)))]),
      ),
    );
  }
  return request(concat(logs), resourceAttrs);
}

/** An exponential histogram data point with 16 million packed bucket counts. */
function bucketFlood(): Uint8Array {
  const counts = repeated(new Uint8Array([0x01]), BODY_BUDGET - 200);
  const positive = field(9 /* positive */, field(2 /* bucket_counts */, counts));
  const point = concat([new Uint8Array([0x19]), fixed64(nowNs() - 1_000_000_000n), positive]);
  const metric = concat([field(1, utf8('m')), field(10, field(1, point))]);
  // ResourceMetrics { scope_metrics (2) { metrics (2) } }
  return field(1, field(2, field(2, metric)));
}

const CASES: Case[] = [
  { name: 'empty spans, 16 MiB', signal: 'traces', format: 'protobuf', build: emptySpans, quick: true },
  { name: 'empty spans, 16 MiB JSON', signal: 'traces', format: 'json', build: emptySpansJson, quick: true },
  { name: '8M empty span events', signal: 'traces', format: 'protobuf', build: emptyEvents },
  {
    name: '100k tiny attributes',
    signal: 'traces',
    format: 'protobuf',
    build: () => tinyAttributes(100_000),
    quick: true,
  },
  {
    name: '490k tiny attributes (under cap)',
    signal: 'traces',
    format: 'protobuf',
    build: () => tinyAttributes(490_000),
  },
  { name: 'tiny attributes, 16 MiB', signal: 'traces', format: 'protobuf', build: tinyAttributesFull },
  { name: 'tiny attributes, 16 MiB JSON', signal: 'traces', format: 'json', build: tinyAttributesJson },
  { name: '990k empty JSON objects (under cap)', signal: 'traces', format: 'json', build: emptyObjectsJson },
  { name: 'nesting 31 deep, 16 MiB', signal: 'traces', format: 'protobuf', build: deepWithinDepth },
  { name: 'nesting 100k deep', signal: 'traces', format: 'protobuf', build: deepOverDepth },
  { name: 'exp. histogram, 16M buckets', signal: 'metrics', format: 'protobuf', build: bucketFlood },
  {
    name: '30k realistic spans',
    signal: 'traces',
    format: 'protobuf',
    build: realistic,
    // bench/workload.ts stamps its spans from 1,763,900,000 s on.
    receivedAtNs: '1763990000000000000',
  },
  {
    name: '291 KB: 1k logs x 63 resource attrs of 4 KB',
    signal: 'logs',
    format: 'protobuf',
    build: resourceExpansion,
    writer: true,
    quick: true,
  },
];

// ---- the child: one request ----

class CapturingSink implements StreamSink {
  readonly records: StreamRecord[] = [];
  constructor(private readonly keep: boolean) {}
  put(records: readonly StreamRecord[]) {
    if (this.keep) this.records.push(...records);
    return Promise.resolve({ kind: 'durable' as const, records: records.length, bytes: 0, attempts: 1 });
  }
}

const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function ingestOnce(
  c: Case,
  body: Uint8Array,
  sink: StreamSink,
  lifted: boolean,
): Promise<{ status: number; reason?: string | undefined; accepted: number }> {
  const { createIngest } = await import('../functions/ingest/ingest.js');
  const { TokenBucketRateLimiter } = await import('../functions/shared/tenants/rate-limiter.js');
  const huge = Number.MAX_SAFE_INTEGER;
  const ingest = createIngest({
    tenants: { resolve: () => Promise.resolve({ tenantId: 'bench', keyId: 'k' }) },
    rateLimiter: lifted ? { take: () => Promise.resolve({ allowed: true }) } : new TokenBucketRateLimiter(),
    stream: sink,
    ...(c.receivedAtNs !== undefined && { nowNs: () => c.receivedAtNs! }),
    ...(lifted && {
      requestCaps: {
        maxItems: huge,
        maxAttributes: huge,
        maxJsonValues: huge,
        maxExpandedAttributeBytes: huge,
      },
    }),
  } as Parameters<typeof createIngest>[0]);
  const headers = {
    'content-type': c.format === 'protobuf' ? 'application/x-protobuf' : 'application/json',
    'content-encoding': 'gzip',
    authorization: 'Bearer k',
  };
  const res = await ingest({ signal: c.signal, headers, body, remainingMs: 60_000 });
  return { status: res.status, reason: res.stats.reason, accepted: res.stats.accepted };
}

async function child(index: number, file: string, mode: 'ingest' | 'writer'): Promise<void> {
  const c = CASES[index]!;
  const body = readFileSync(file);
  if (mode === 'ingest') {
    // Load the modules before the baseline.
    await import('../functions/ingest/ingest.js');
    gc();
    const baseline = process.memoryUsage().rss;
    const cpu = process.cpuUsage();
    const wall = performance.now();
    const r = await ingestOnce(c, body, new CapturingSink(false), false);
    const d = process.cpuUsage(cpu);
    process.stdout.write(
      `${JSON.stringify({
        ...r,
        cpuMs: (d.user + d.system) / 1000,
        wallMs: performance.now() - wall,
        baselineRssMB: baseline / MIB,
        peakRssMB: process.resourceUsage().maxRSS / 1024,
      })}\n`,
    );
    return;
  }
  // The writer: the request's envelopes as the consumer decodes them (caps lifted to get them).
  // ClickHouse in another process, reached over HTTP with the production client: in Lambda the
  // engine is ClickHouse Cloud, not in the writer's memory.
  const { createRemoteClickHouse } = await import('../functions/shared/clickhouse/connect.js');
  const { ClickHouseTelemetryWriter } = await import('../functions/shared/clickhouse/writer.js');
  const { unpackEnvelope } = await import('../functions/shared/envelope/envelope.js');
  const { spawnClickHouseHttp } = await import('../local/clickhouse-http-process.js');
  const dir = mkdtempSync(join(tmpdir(), 'bench-adversarial-'));
  const server = await spawnClickHouseHttp({ path: dir, hotRetentionDays: 7 });
  const client = createRemoteClickHouse({
    url: server.url,
    username: 'default',
    password: '',
    database: 'default',
  });
  try {
    const writer = new ClickHouseTelemetryWriter(client, { hotRetentionDays: 7 });
    const sink = new CapturingSink(true);
    const r = await ingestOnce(c, body, sink, true);
    if (r.status !== 200) throw new Error(`could not build envelopes: ${r.status} ${r.reason}`);
    let envelopes: PositionedEnvelope[] | undefined = sink.records.map((rec, i) => {
      const { header, batches } = unpackEnvelope(rec.data);
      return {
        position: { stream: 'bench', shardId: 'shardId-0', sequenceNumber: String(1000 + i) },
        tenant: header.tenant,
        batches,
      };
    });
    sink.records.length = 0;
    gc();
    const baseline = process.memoryUsage().rss;
    // Fresh high-water mark for the write alone (Linux: writing 5 to clear_refs resets VmHWM).
    try {
      writeFileSync('/proc/self/clear_refs', '5');
    } catch {}
    const cpu = process.cpuUsage();
    const wall = performance.now();
    const result = await writer.write(envelopes);
    envelopes = undefined;
    const d = process.cpuUsage(cpu);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    process.stdout.write(
      `${JSON.stringify({
        status: result.pending.length === 0 && result.rejected.length === 0 ? 200 : 500,
        reason: result.error?.message,
        accepted: result.stats.rowsInserted,
        cpuMs: (d.user + d.system) / 1000,
        wallMs: performance.now() - wall,
        baselineRssMB: baseline / MIB,
        peakRssMB: hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024,
      })}\n`,
    );
  } finally {
    await client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the parent ----

async function parent(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt > 0 ? process.argv[onlyAt + 1] : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'adversarial-'));
  const rows: Record<string, unknown>[] = [];
  try {
    for (const [index, c] of CASES.entries()) {
      if (quick && !c.quick) continue;
      if (only !== undefined && !c.name.includes(only)) continue;
      const raw = await c.build();
      const gz = gzipSync(raw);
      const file = join(dir, `${index}.bin`);
      writeFileSync(file, gz);
      for (const mode of c.writer ? (['ingest', 'writer'] as const) : (['ingest'] as const)) {
        const r = spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            '--expose-gc',
            join(here, 'adversarial.ts'),
            '--child',
            String(index),
            file,
            mode,
          ],
          { encoding: 'utf8', maxBuffer: 1 << 20, timeout: 300_000 },
        );
        const line = r.stdout?.trim().split('\n').pop();
        let m: Record<string, unknown> = {};
        try {
          m = line ? (JSON.parse(line) as Record<string, unknown>) : {};
        } catch {}
        const num = (k: string) => (typeof m[k] === 'number' ? (m[k] as number) : Number.NaN);
        rows.push({
          case: c.name,
          part: mode,
          'sent KB': Math.round(gz.byteLength / 1024),
          'inflated MB': Number((raw.byteLength / MIB).toFixed(1)),
          status: m.status ?? `died (${r.signal ?? r.status}) ${r.stderr?.slice(-200)}`,
          accepted: m.accepted,
          'CPU ms': Math.round(num('cpuMs')),
          'baseline MB': Math.round(num('baselineRssMB')),
          'peak RSS MB': Math.round(num('peakRssMB')),
          reason: typeof m.reason === 'string' ? m.reason.slice(0, 60) : '',
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    'one adversarial request per fresh child process (ingest target: peak <= 256 MB within the caps)',
  );
  console.table(rows);
}

const childAt = process.argv.indexOf('--child');
if (childAt > 0) {
  await child(
    Number(process.argv[childAt + 1]),
    process.argv[childAt + 2]!,
    process.argv[childAt + 3] as 'ingest' | 'writer',
  );
} else {
  await parent();
}
