import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGES_1H_TABLE } from '../../../../functions/shared/clickhouse/ddl.js';
import {
  ClickHouseTelemetryReader,
  HotTableSources,
  hotRollups,
} from '../../../../functions/shared/query/clickhouse-reader.js';
import { EDGE_CLOSE_SETTLE_MS, planEdgeHours } from '../../../../functions/shared/query/edge-rollup.js';
import {
  EDGE_PARENT_LOOKAHEAD_MS,
  EDGE_PARENT_LOOKBACK_MS,
  type ServiceEdge,
} from '../../../../functions/shared/query/model.js';
import type { TimeRange } from '../../../../functions/shared/query/time.js';
import { openMigratedClickHouse, type TestClickHouse } from '../../../support/clickhouse.js';
import { batchOf, MINUTE, span, writeHot } from '../../query/support.js';

/**
 * The service map's closed-hour rollup against the query-time join, on embedded ClickHouse. The
 * spans are generated (seeded) with parents in other batches, parents arriving after their hour was
 * closed, children at minute and hour boundaries and parents at the edges of the parent window; the
 * expected edges are computed here from the generated spans by the definition in edge-rollup.ts.
 */

const HOUR = 60 * MINUTE;
const TENANT = 'acme';
/** Six whole hours well in the past, so they are closable; the clock is the real one. */
const H0 = Math.floor(Date.now() / HOUR) * HOUR - 9 * HOUR;
const SERVICES = ['web', 'cart', 'pay', 'stock'] as const;

function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ (t + t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Gen {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  service: string;
  atMs: number;
  durationMs: number;
  error: boolean;
}

/**
 * Traces of a parent and 1-4 children: children start from a few ms to 8 minutes after the parent
 * (so some parents fall before the child's hour, inside or outside the 5-minute margin), some a
 * minute before it (clock skew, inside or outside the 1-minute margin), some of the same service.
 */
function generate(rnd: () => number, count: number): Gen[] {
  const out: Gen[] = [];
  const pick = () => SERVICES[Math.floor(rnd() * SERVICES.length)]!;
  for (let i = 0; i < count; i++) {
    const traceId = `e${i.toString(16).padStart(31, '0')}`;
    // Crowd the hour boundaries: a third of the parents start within 10 minutes of one.
    const hour = H0 + Math.floor(rnd() * 6) * HOUR;
    const at = rnd() < 0.35 ? hour + HOUR - Math.floor(rnd() * 10 * MINUTE) : hour + Math.floor(rnd() * HOUR);
    const parent: Gen = {
      traceId,
      spanId: `p${i.toString(16).padStart(15, '0')}`,
      parentSpanId: '',
      service: pick(),
      atMs: at,
      durationMs: 1 + Math.floor(rnd() * 500),
      error: rnd() < 0.1,
    };
    out.push(parent);
    const kids = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < kids; k++) {
      const shift =
        rnd() < 0.15
          ? -Math.floor(rnd() * 2 * MINUTE)
          : Math.floor(rnd() * (rnd() < 0.3 ? 8 * MINUTE : 1000));
      out.push({
        traceId,
        spanId: `c${i.toString(16).padStart(13, '0')}${k}0`,
        parentSpanId: parent.spanId,
        service: rnd() < 0.3 ? parent.service : pick(),
        atMs: at + shift,
        durationMs: 1 + Math.floor(rnd() * 900),
        error: rnd() < 0.2,
      });
    }
  }
  return out;
}

/** The definition: a parent of another service starting within the child's hour and its margins. */
function expectedEdges(spans: readonly Gen[], range: TimeRange) {
  const byId = new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
  const from = Number(range.fromNs / 1_000_000n);
  const to = Number(range.toNs / 1_000_000n);
  const edges = new Map<string, { calls: number; errors: number }>();
  for (const c of spans) {
    if (!c.parentSpanId || c.atMs < from || c.atMs >= to) continue;
    const p = byId.get(`${c.traceId}/${c.parentSpanId}`);
    if (!p || p.service === c.service) continue;
    const hour = Math.floor(c.atMs / HOUR) * HOUR;
    if (p.atMs < hour - EDGE_PARENT_LOOKBACK_MS || p.atMs >= hour + HOUR + EDGE_PARENT_LOOKAHEAD_MS) continue;
    const key = `${p.service}->${c.service}`;
    const e = edges.get(key) ?? { calls: 0, errors: 0 };
    e.calls++;
    if (c.error) e.errors++;
    edges.set(key, e);
  }
  return Object.fromEntries([...edges].sort(([a], [b]) => (a < b ? -1 : 1)));
}

const counts = (rows: readonly ServiceEdge[]) =>
  Object.fromEntries(rows.map((e) => [`${e.parent}->${e.child}`, { calls: e.calls, errors: e.errors }]));

let ch: TestClickHouse;
const all = generate(random(18), 600);
// The first batches leave out every fifth trace's parent and every seventh child: they come later.
const late = all.filter(
  (s, i) => (s.parentSpanId === '' && Number.parseInt(s.traceId.slice(-4), 16) % 5 === 0) || i % 7 === 0,
);
const early = all.filter((s) => !late.includes(s));

const write = async (spans: readonly Gen[]) => {
  // Several batches, each cut at a minute boundary the spans straddle.
  const sorted = [...spans].sort((a, b) => a.atMs - b.atMs);
  for (let i = 0; i < sorted.length; i += 97) {
    const rows = sorted.slice(i, i + 97).map((s) =>
      span({
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId,
        service: s.service,
        name: 'op',
        kind: s.parentSpanId ? 'Server' : 'Client',
        atMs: s.atMs,
        durationMs: s.durationMs,
        error: s.error,
      }),
    );
    await writeHot(ch.client, TENANT, [batchOf('otel_traces', rows)]);
  }
};

const budget = () => ({ deadlineMs: Date.now() + 20_000 });
const reader = (opts: { rollups: boolean; close?: boolean }) =>
  new ClickHouseTelemetryReader(ch.client, {
    tier: 'hot',
    engine: 'clickhouse',
    sources: new HotTableSources(),
    ...(opts.rollups && { rollups: hotRollups() }),
    ...(opts.close !== undefined && { closeEdgeHours: opts.close }),
  });
/** Six hours and a half, cut mid-hour at both ends: closed hours, tail minutes at both ends. */
const RANGE: TimeRange = {
  fromNs: BigInt(H0 - 23 * MINUTE) * 1_000_000n,
  toNs: BigInt(H0 + 6 * HOUR + 17 * MINUTE) * 1_000_000n,
};

beforeAll(async () => {
  ch = await openMigratedClickHouse('edge-rollup-');
  await write(early);
}, 120_000);

afterAll(async () => {
  await ch.close();
});

describe('planEdgeHours', () => {
  it('closes only whole hours whose parent window ended the settle time ago', () => {
    const now = H0 + 3 * HOUR + EDGE_PARENT_LOOKAHEAD_MS + EDGE_CLOSE_SETTLE_MS;
    const plan = planEdgeHours(RANGE, now);
    expect(plan.hours).toEqual([H0 / 1000, (H0 + HOUR) / 1000, (H0 + 2 * HOUR) / 1000]);
    expect(plan.tail).toEqual([
      { fromNs: RANGE.fromNs, toNs: BigInt(H0) * 1_000_000n },
      { fromNs: BigInt(H0 + 3 * HOUR) * 1_000_000n, toNs: RANGE.toNs },
    ]);
    // A millisecond earlier the third hour is still open.
    expect(planEdgeHours(RANGE, now - 1).hours).toHaveLength(2);
  });
});

describe('service map edges: closed hours from the rollup, the rest joined', () => {
  it('equals the query-time join and the definition, then again after late parents and children', async () => {
    const exact = reader({ rollups: false });
    const rolled = reader({ rollups: true });
    for (const round of ['early batches', 'late spans added'] as const) {
      if (round === 'late spans added') await write(late);
      const spans = round === 'early batches' ? early : all;
      const joined = await exact.serviceEdges({ tenant: TENANT, range: RANGE }, budget());
      // First read closes the hours (or re-closes those the late spans changed), second reads them.
      const closing = await rolled.serviceEdges({ tenant: TENANT, range: RANGE }, budget());
      const stored = await rolled.serviceEdges({ tenant: TENANT, range: RANGE }, budget());
      expect(counts(joined.rows), round).toEqual(expectedEdges(spans, RANGE));
      expect(counts(closing.rows), round).toEqual(counts(joined.rows));
      expect(counts(stored.rows), round).toEqual(counts(joined.rows));
      // Counts query and the answer: nothing left to close.
      expect(stored.stats.queries, round).toBe(2);
      expect(closing.stats.queries, round).toBe(3);
      // Quantiles of merged per-hour digests: t-digest keeps these few hundred values nearly exact.
      for (const e of stored.rows) {
        const j = joined.rows.find((x) => x.parent === e.parent && x.child === e.child)!;
        for (let q = 0; q < 3; q++) {
          expect(Math.abs(e.quantilesNs![q]! - j.quantilesNs![q]!)).toBeLessThanOrEqual(
            0.02 * j.quantilesNs![q]! + 1e6,
          );
        }
      }
    }
  }, 120_000);

  it('answers the same without storing (a read-only user joins the closed hours instead)', async () => {
    const joined = await reader({ rollups: false }).serviceEdges({ tenant: TENANT, range: RANGE }, budget());
    const readOnly = await reader({ rollups: true, close: false }).serviceEdges(
      { tenant: TENANT, range: RANGE },
      budget(),
    );
    expect(counts(readOnly.rows)).toEqual(counts(joined.rows));
  });

  it('joins the hours when storing them fails (no INSERT right), and does not retry on every request', async () => {
    let inserts = 0;
    const readOnly = new Proxy(ch.client, {
      get(target, prop, receiver) {
        if (prop !== 'command') return Reflect.get(target, prop, receiver);
        return async () => {
          inserts++;
          throw new Error('Code: 164. DB::Exception: readonly: Cannot execute query in readonly mode');
        };
      },
    });
    const r = new ClickHouseTelemetryReader(readOnly, {
      tier: 'hot',
      engine: 'clickhouse',
      sources: new HotTableSources(),
      rollups: hotRollups(),
    });
    // Hours no earlier query has stored: a range before the generated data's.
    const range: TimeRange = {
      fromNs: BigInt(H0 - 3 * HOUR) * 1_000_000n,
      toNs: BigInt(H0 + 6 * HOUR) * 1_000_000n,
    };
    await write([
      {
        traceId: 'r'.repeat(32),
        spanId: 'rp'.padEnd(16, '0'),
        parentSpanId: '',
        service: 'web',
        atMs: H0 - 2 * HOUR,
        durationMs: 5,
        error: false,
      },
      {
        traceId: 'r'.repeat(32),
        spanId: 'rc'.padEnd(16, '0'),
        parentSpanId: 'rp'.padEnd(16, '0'),
        service: 'pay',
        atMs: H0 - 2 * HOUR + 10,
        durationMs: 3,
        error: true,
      },
    ]);
    const joined = await reader({ rollups: false }).serviceEdges({ tenant: TENANT, range }, budget());
    const first = await r.serviceEdges({ tenant: TENANT, range }, budget());
    const second = await r.serviceEdges({ tenant: TENANT, range }, budget());
    expect(counts(first.rows)).toEqual(counts(joined.rows));
    expect(counts(second.rows)).toEqual(counts(joined.rows));
    expect(counts(joined.rows)['web->pay']?.calls).toBeGreaterThan(0);
    expect(inserts).toBe(1);
  });

  it('answers a range of whole closed hours from the rollup alone, and keeps tenants apart', async () => {
    const range: TimeRange = { fromNs: BigInt(H0) * 1_000_000n, toNs: BigInt(H0 + 4 * HOUR) * 1_000_000n };
    const r = await reader({ rollups: true }).serviceEdges({ tenant: TENANT, range }, budget());
    expect(counts(r.rows)).toEqual(expectedEdges(all, range));
    const other = await reader({ rollups: true }).serviceEdges({ tenant: 'globex', range }, budget());
    expect(other.rows).toEqual([]);
    const rs = await ch.client.query({
      query: `SELECT DISTINCT TenantId FROM ${EDGES_1H_TABLE}`,
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ TenantId: TENANT }]);
  });
});
