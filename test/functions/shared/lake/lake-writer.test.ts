import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packEnvelopes, unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { compactLake } from '../../../../functions/shared/lake/compactor.js';
import { type DecodedRecord, writeToLake } from '../../../../functions/shared/lake/lake-writer.js';
import type { ColumnBatch } from '../../../../functions/shared/rows/batch.js';
import { nsString, sampleRows, sampleTraces } from '../parquet/sample-rows.js';
import { decoded, type LakeHarness, queryObjects, records, startLake } from './support.js';

let lake: LakeHarness;
beforeAll(async () => {
  lake = await startLake();
});
afterAll(async () => {
  await lake.close();
});

const HOUR = 3_600_000_000_000n;

/** Eight envelopes of 25 spans each, spread over two hours (10:xx and 11:xx UTC). */
function eightEnvelopes(tenant: string, seed: number): ColumnBatch[][] {
  return Array.from({ length: 8 }, (_, i) => [
    sampleTraces(25, { seed: seed + i, tenant, spreadNs: 2n * HOUR }),
  ]);
}

async function spanCounts(tenant: string): Promise<{ rows: number; distinct: number }> {
  const [r] = await queryObjects(
    lake.store,
    lake.dir,
    `staging/otel_traces/tenant=${tenant}/`,
    'SELECT count(*)::INTEGER AS rows, count(DISTINCT SpanId)::INTEGER AS distinct FROM {files}',
  );
  return { rows: Number(r?.rows ?? 0), distinct: Number(r?.distinct ?? 0) };
}

describe('writeToLake', () => {
  it('writes envelopes as exactly their rows, one file per table, partition and shard', async () => {
    const gauge = sampleRows('otel_metrics_gauge', 4, { tenant: 't1', spreadNs: 1n });
    gauge.columns.Value = ['NaN', 2.5, '-Infinity', 0];
    const sum = sampleRows('otel_metrics_sum', 3, { tenant: 't1', spreadNs: 1n, startNs: HOUR });
    const recs = records('t1', 'metrics', [[gauge], [sum]]);

    const result = await writeToLake(lake.store, decoded(recs));

    const [, second] = recs;
    expect(result.files).toEqual([
      `staging/otel_metrics_gauge/tenant=t1/dt=2026-11-23/hour=10/shardId-000000000000-${recs[0]!.sequenceNumber}-${recs[0]!.sequenceNumber}.parquet`,
      `staging/otel_metrics_sum/tenant=t1/dt=2026-11-23/hour=11/shardId-000000000000-${second!.sequenceNumber}-${second!.sequenceNumber}.parquet`,
    ]);
    const values = await queryObjects(
      lake.store,
      lake.dir,
      'staging/otel_metrics_gauge/tenant=t1/',
      `SELECT Value::VARCHAR AS v, epoch_ns(TimeUnix)::VARCHAR AS t, Attributes['k1'] AS k1, TenantId FROM {files} ORDER BY Value`,
    );
    expect(values.map((r) => r.v)).toEqual(['-inf', '0.0', '2.5', 'nan']);
    expect(values.every((r) => r.t === `${nsString(0n).slice(0, -3)}000` && r.TenantId === 't1')).toBe(true);
    expect(values.map((r) => r.k1).sort()).toEqual(['a0', 'a1', 'a2', 'a3']);
  });

  it('writes the same batch three times as one set of rows', async () => {
    const recs = records('t2', 'traces', eightEnvelopes('t2', 100));
    const batch = decoded(recs);

    const first = await writeToLake(lake.store, batch);
    const again = await writeToLake(lake.store, batch);
    const third = await writeToLake(lake.store, batch);

    expect(first.rowsWritten).toBe(200);
    expect([again.rowsWritten, third.rowsWritten]).toEqual([0, 0]);
    expect(third.rowsSkipped).toBe(200);
    expect(await spanCounts('t2')).toEqual({ rows: 200, distinct: 200 });
  });

  it('writes a bisected retry after a partial success without repeating rows', async () => {
    const recs = decoded(records('t3', 'traces', eightEnvelopes('t3', 200)));

    // Bisect on error: the first half succeeded, the second failed; then the ESM restarts from a
    // checkpoint inside the first half with a different composition, and later the whole batch.
    await writeToLake(lake.store, recs.slice(0, 4));
    await writeToLake(lake.store, recs.slice(2, 6));
    await writeToLake(lake.store, recs.slice(5, 8));
    await writeToLake(lake.store, recs);

    expect(await spanCounts('t3')).toEqual({ rows: 200, distinct: 200 });
  });

  it('keeps shards apart: the same sequence numbers on another shard are new rows', async () => {
    const a = decoded(
      records('t4', 'traces', eightEnvelopes('t4', 300), { shardId: 'shardId-000000000001' }),
    );
    const b = decoded(
      records('t4', 'traces', eightEnvelopes('t4', 400), { shardId: 'shardId-000000000002' }),
    );

    await writeToLake(lake.store, a);
    await writeToLake(lake.store, b);

    expect(await spanCounts('t4')).toEqual({ rows: 400, distinct: 400 });
  });

  it('rewrites a redelivered batch whose earlier files are 0 bytes or truncated, so every item reaches the lake', async () => {
    const recs = decoded(records('t5', 'traces', eightEnvelopes('t5', 500)));
    const first = await writeToLake(lake.store, recs);
    // What a kill -9 during s3rver's put leaves: one object empty, the other cut short.
    const [f10, f11] = first.files as [string, string];
    await lake.store.put(f10, new Uint8Array());
    const whole = (await lake.store.get(f11))!;
    await lake.store.put(f11, whole.subarray(0, Math.floor(whole.length / 2)));

    const redelivered = await writeToLake(lake.store, recs);
    const again = await writeToLake(lake.store, recs);
    const compacted = await compactLake(lake.store, {
      now: new Date(Date.now() + 24 * 3_600_000),
      graceMs: 0,
      targetBytes: 1 << 30,
    });
    const [published] = await queryObjects(
      lake.store,
      lake.dir,
      'otel_traces/tenant=t5/',
      'SELECT count(*)::INTEGER AS rows, count(DISTINCT SpanId)::INTEGER AS distinct FROM {files}',
    );

    expect(redelivered).toMatchObject({
      files: [f10, f11],
      rowsWritten: 200,
      rowsSkipped: 0,
      replaced: [f10, f11],
    });
    expect(again).toMatchObject({ rowsWritten: 0, rowsSkipped: 200, replaced: [] });
    expect(compacted.quarantined).toEqual([]);
    expect(published).toEqual({ rows: 200, distinct: 200 });
  });

  it('moves a broken file aside, with the key of its rewrite, when the retry is bisected', async () => {
    const recs = decoded(records('t6', 'traces', eightEnvelopes('t6', 600)));
    const first = await writeToLake(lake.store, recs);
    const [f10, f11] = first.files as [string, string];
    const whole = (await lake.store.get(f10))!;
    await lake.store.put(f10, whole.subarray(0, whole.length - 9));

    // The ESM bisects the failed batch: each half is written on its own.
    const halves = [
      await writeToLake(lake.store, recs.slice(0, 4)),
      await writeToLake(lake.store, recs.slice(4)),
    ];
    const sidecar = JSON.parse(
      Buffer.from((await lake.store.get(`_quarantine/${f10}.json`))!).toString('utf8'),
    );
    const compacted = await compactLake(lake.store, {
      now: new Date(Date.now() + 24 * 3_600_000),
      graceMs: 0,
      targetBytes: 1 << 30,
    });
    const [published] = await queryObjects(
      lake.store,
      lake.dir,
      'otel_traces/tenant=t6/',
      'SELECT count(*)::INTEGER AS rows, count(DISTINCT SpanId)::INTEGER AS distinct FROM {files}',
    );

    expect(halves[0]!.replaced).toEqual([f10]);
    expect(halves[1]!.replaced).toEqual([]);
    expect(halves[0]!.files).not.toContain(f10);
    expect(sidecar).toMatchObject({
      key: f10,
      by: 'lake-writer',
      replacedBy: halves[0]!.files.find((k) => k.includes('/hour=10/')),
      reason: expect.stringMatching(/PAR1/),
    });
    expect((await lake.store.get(`_quarantine/${f10}`))!.length).toBe(whole.length - 9);
    // The intact hour-11 file still covers its records: only hour 10 was written again.
    expect(halves.flatMap((h) => h.files).every((k) => k.includes('/hour=10/'))).toBe(true);
    expect(f11).toContain('/hour=11/');
    expect(compacted.quarantined).toEqual([]);
    expect(published).toEqual({ rows: 200, distinct: 200 });
  });

  it("writes every row's EnvelopeId from the header, and an id seen twice in one batch once", async () => {
    const ids = { request: '0123456789abcdef'.repeat(2), firstOrdinal: 0, receivedAtNs: '1' };
    const datas = eightEnvelopes('t9', 900)
      .slice(0, 3)
      .map((batches, k) => packEnvelopes('t9', 'traces', batches, {}, { ...ids, firstOrdinal: k })[0]!.data);
    // The third envelope is an old one without an id: its stream position stands in.
    const legacy = packEnvelopes('t9', 'traces', eightEnvelopes('t9', 950)[0]!)[0]!.data;
    const at = (data: Uint8Array, seq: number): DecodedRecord => ({
      shardId: 'shardId-000000000007',
      sequenceNumber: String(seq),
      envelope: unpackEnvelope(data),
    });
    // Envelope 1 twice: its original and a client's resend, in one batch.
    const result = await writeToLake(lake.store, [
      at(datas[0]!, 100),
      at(datas[1]!, 101),
      at(legacy, 102),
      at(datas[1]!, 103),
    ]);

    expect(result.rowsSkipped).toBe(25);
    const got = await queryObjects(
      lake.store,
      lake.dir,
      'staging/otel_traces/tenant=t9/',
      'SELECT EnvelopeId AS id, count(*)::INTEGER AS n FROM {files} GROUP BY id ORDER BY id',
    );
    expect(got).toEqual([
      { id: `${ids.request}-0`, n: 25 },
      { id: `${ids.request}-1`, n: 25 },
      { id: 'pos:shardId-000000000007:102', n: 25 },
    ]);
  });
});
