import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishedKey } from '../../functions/shared/lake/layout.js';
import { createEmbeddedClickHouse } from '../../local/clickhouse-embedded.js';
import { createLocalColdTier } from '../../local/cold-tier.js';
import { batchOf, span, writeLake } from '../functions/query/support.js';
import { type LakeHarness, rewriteWithDuckDB, startLake } from '../functions/shared/lake/support.js';

let lake: LakeHarness;
let clickhouse: ClickHouseClient;
beforeAll(async () => {
  lake = await startLake();
  clickhouse = createEmbeddedClickHouse({ path: join(lake.dir, 'chdb') });
});
afterAll(async () => {
  await clickhouse.close();
  await lake.close();
});

const AT = Date.parse('2026-11-20T10:15:00Z');
const TRACE = 'a0000000000000000000000000000001';

describe('local cold tier', () => {
  it('reads parts written before a column was added, with the defaults, alongside parts that have it', async () => {
    const spanOf = (spanId: string, atMs: number) =>
      span({
        traceId: TRACE,
        spanId,
        service: 'checkout',
        name: 'GET /cart',
        atMs,
        durationMs: 120,
        error: true,
        attributes: { 'http.route': '/cart' },
        events: [{ atMs: atMs + 1, name: 'exception', attributes: { 'exception.type': 'Error' } }],
        links: [{ traceId: 'b0000000000000000000000000000002', spanId: 'b000000000000002' }],
      });
    const [current] = await writeLake(
      lake.store,
      't1',
      batchOf('otel_traces', [spanOf('c000000000000001', AT)]),
    );
    const [other] = await writeLake(
      lake.store,
      't1',
      batchOf('otel_traces', [spanOf('c000000000000002', AT + 5)]),
    );
    // The second part as an older schema would have it (rewritten by DuckDB): no StatusMessage,
    // Duration, SpanAttributes, Links, nor the Attributes field of Events.
    const older = await rewriteWithDuckDB(
      lake.dir,
      (await lake.store.get(other!))!,
      `* EXCLUDE (StatusMessage, Duration, SpanAttributes, Links, Events),
       list_transform(Events, e -> {'Timestamp': e.Timestamp, 'Name': e.Name}) AS Events`,
    );
    await lake.store.delete([other!]);
    // Named so that it sorts first: schema inference from the first file must not decide.
    await lake.store.put(publishedKey('otel_traces', 'tenant=t1/dt=2026-11-20/hour=10', '000older'), older);
    const cold = createLocalColdTier({
      client: clickhouse,
      store: lake.store,
      s3Endpoint: lake.emulators.s3Endpoint,
      bucket: lake.bucket,
    });

    const got = await cold.trace(
      {
        tenant: 't1',
        traceId: TRACE,
        limit: 10,
        range: { fromNs: BigInt(AT - 3_600_000) * 1_000_000n, toNs: BigInt(AT + 3_600_000) * 1_000_000n },
      },
      { deadlineMs: Date.now() + 30_000 },
    );

    expect(current).toBeDefined();
    const bySpan = new Map(got.rows.map((s) => [s.spanId, s]));
    expect([...bySpan.keys()].sort()).toEqual(['c000000000000001', 'c000000000000002']);
    expect(bySpan.get('c000000000000001')).toMatchObject({
      durationNanos: '120000000',
      statusMessage: 'boom',
      attributes: { 'http.route': '/cart' },
      events: [{ name: 'exception', attributes: { 'exception.type': 'Error' } }],
      links: [{ traceId: 'b0000000000000000000000000000002' }],
    });
    expect(bySpan.get('c000000000000002')).toMatchObject({
      durationNanos: '0',
      statusMessage: '',
      attributes: {},
      events: [{ name: 'exception', attributes: {} }],
      links: [],
    });
  });
});
