import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClickHouseTelemetryReader,
  HotTableSources,
  hotRollups,
} from '../../../../functions/shared/query/clickhouse-reader.js';
import type {
  LogSearchQuery,
  TraceSearchQuery,
  TraceSummary,
} from '../../../../functions/shared/query/model.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { batchOf, log, MINUTE, span, writeHot } from '../../query/support.js';

/**
 * The hot trace and log searches answered from the newest window of their range (then wider ones)
 * against the search over the whole range, on embedded ClickHouse: traces whose spans straddle the
 * window boundaries, filters that match only some of a trace's spans, records tied on the boundary,
 * pages after a cursor and pages cut for size.
 */

const HOUR = 60 * MINUTE;
const TO = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const FROM = TO - 48 * HOUR;
const TENANT = 'acme';
const SERVICES = ['web', 'cart', 'pay'] as const;

function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ (t + t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let ch: TestClickHouse;

beforeAll(async () => {
  ch = await openMigratedClickHouse('trace-window-');
  const rnd = random(22);
  const rows: Record<string, unknown>[] = [];
  // Crowd the windows' boundaries (1 h, 6 h, 36 h before TO): spans up to 20 minutes apart.
  const anchors = [TO - HOUR, TO - 6 * HOUR, TO - 36 * HOUR];
  for (let i = 0; i < 900; i++) {
    const anchor = anchors[i % 3]!;
    const at = i % 2 === 0 ? anchor - 15 * MINUTE + rnd() * 30 * MINUTE : FROM + rnd() * (TO - FROM);
    const spans = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < spans; k++) {
      rows.push(
        span({
          traceId: `w${i.toString(16).padStart(31, '0')}`,
          spanId: `s${i.toString(16).padStart(13, '0')}${k}0`,
          ...(k > 0 && { parentSpanId: `s${i.toString(16).padStart(13, '0')}00` }),
          service: SERVICES[(i + k) % 3]!,
          name: k === 0 ? 'GET /' : 'call',
          atMs: Math.round(at + k * rnd() * 20 * MINUTE),
          durationMs: 1 + Math.floor(rnd() * 300),
          error: rnd() < 0.2,
        }),
      );
    }
  }
  for (let i = 0; i < rows.length; i += 500) {
    await writeHot(ch.client, TENANT, [batchOf('otel_traces', rows.slice(i, i + 500))]);
  }
  // Logs: bunches of records on the same instant, some exactly on a window's first nanosecond.
  const logs: Record<string, unknown>[] = [];
  const severities: [string, number][] = [
    ['INFO', 9],
    ['WARN', 13],
    ['ERROR', 17],
  ];
  for (let i = 0; i < 1500; i++) {
    const anchor = anchors[i % 3]!;
    const at =
      i % 4 === 0
        ? anchor
        : i % 2 === 0
          ? anchor - 5 * MINUTE + rnd() * 10 * MINUTE
          : FROM + rnd() * (TO - FROM);
    const body = `record ${i} ${'x'.repeat(Math.floor(rnd() * 400))}`;
    logs.push(log(Math.round(at), SERVICES[i % 3]!, severities[i % 3]!, body));
  }
  for (let i = 0; i < logs.length; i += 500) {
    await writeHot(ch.client, TENANT, [batchOf('otel_logs', logs.slice(i, i + 500))]);
  }
}, 120_000);

afterAll(async () => {
  await ch.close();
});

/** The `from_ns` of every statement the readers ran: a window's start is after the range's. */
const fromsAsked: bigint[] = [];
const recording = () =>
  new Proxy(ch.client, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver);
      return (params: Parameters<typeof target.query>[0]) => {
        const from = (params.query_params as Record<string, unknown> | undefined)?.from_ns;
        if (typeof from === 'string') fromsAsked.push(BigInt(from));
        return target.query(params);
      };
    },
  });
const windowsAsked = () => fromsAsked.filter((f) => f > BigInt(FROM) * 1_000_000n).length;

const reader = (rollups: boolean, maxPageBytes?: number) =>
  new ClickHouseTelemetryReader(recording(), {
    tier: 'hot',
    engine: 'clickhouse',
    sources: new HotTableSources(),
    ...(rollups && { rollups: hotRollups() }),
    ...(maxPageBytes !== undefined && { maxPageBytes }),
  });
const budget = () => ({ deadlineMs: Date.now() + 20_000 });

describe('hot trace search from the newest window', () => {
  const filters: [string, Partial<TraceSearchQuery>][] = [
    ['no filter', {}],
    ['service', { service: 'cart' }],
    ['errors', { status: 'error' }],
    ['slow spans', { minDurationNs: 200_000_000n }],
    ['operation and service', { operation: 'call', service: 'pay' }],
  ];
  for (const [label, f] of filters) {
    it(`pages through the same traces as the whole-range search: ${label}`, async () => {
      let windowed = 0;
      for (const limit of [5, 40]) {
        let after: TraceSearchQuery['after'];
        for (let page = 0; page < 4; page++) {
          const q: TraceSearchQuery = {
            tenant: TENANT,
            range: { fromNs: BigInt(FROM) * 1_000_000n, toNs: BigInt(TO) * 1_000_000n },
            limit,
            ...f,
            ...(after && { after }),
          };
          const fast = await reader(true).searchTraces(q, budget());
          const whole = await reader(false).searchTraces(q, budget());
          expect(fast.rows).toEqual(whole.rows);
          // A window statement and the check by trace id, and no whole-range statement after them.
          if (fast.stats.queries === 2) windowed++;
          const last: TraceSummary | undefined = whole.rows[whole.rows.length - 1];
          if (!last) break;
          after = { startNs: BigInt(last.startTimeUnixNano), traceId: last.traceId };
        }
      }
      if (label === 'no filter' || label === 'service') expect(windowed).toBeGreaterThan(0);
    });
  }
});

describe('hot log search from the newest window', () => {
  const filters: [string, Partial<LogSearchQuery>][] = [
    ['no filter', {}],
    ['service', { service: 'cart' }],
    ['severity', { minSeverity: 13 }],
    ['text', { text: 'RECORD 1' }],
  ];
  for (const [label, f] of filters) {
    it(`pages through the same records as the whole-range search: ${label}`, async () => {
      const before = windowsAsked();
      for (const [limit, maxPageBytes] of [
        [5, undefined],
        [60, undefined],
        [60, 6_000],
        [30, Number.POSITIVE_INFINITY],
      ] as const) {
        let atOrBeforeNs: bigint | undefined;
        for (let page = 0; page < 4; page++) {
          const q: LogSearchQuery = {
            tenant: TENANT,
            range: { fromNs: BigInt(FROM) * 1_000_000n, toNs: BigInt(TO) * 1_000_000n },
            limit,
            ...f,
            ...(atOrBeforeNs !== undefined && { atOrBeforeNs }),
          };
          const fast = await reader(true, maxPageBytes).searchLogs(q, budget());
          const whole = await reader(false, maxPageBytes).searchLogs(q, budget());
          expect(fast.rows).toEqual(whole.rows);
          expect(fast.cut).toEqual(whole.cut);
          const last = whole.rows[whole.rows.length - 1];
          if (!last) break;
          // The next page starts before the last record's instant (the API skips ties; not needed here).
          atOrBeforeNs = BigInt(last.timeUnixNano) - 1n;
        }
      }
      // The windows were used where they can be (no text filter), and the pages still agree.
      if (label !== 'text') expect(windowsAsked()).toBeGreaterThan(before);
      else expect(windowsAsked()).toBe(before);
    });
  }
});
