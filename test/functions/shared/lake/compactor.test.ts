import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packEnvelopes, unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { compactLake, compactPartition } from '../../../../functions/shared/lake/compactor.js';
import { type DecodedRecord, writeToLake } from '../../../../functions/shared/lake/lake-writer.js';
import type { ObjectStore } from '../../../../functions/shared/lake/object-store.js';
import { sampleTraces } from '../parquet/sample-rows.js';
import { decoded, type LakeHarness, queryObjects, records, rewriteWithDuckDB, startLake } from './support.js';

let lake: LakeHarness;
beforeAll(async () => {
  lake = await startLake();
});
afterAll(async () => {
  await lake.close();
});

const HOUR_NS = 3_600_000_000_000n;
const GRACE_MS = 90 * 60_000;
/**
 * Sample rows fall in 2026-11-23 10:00-11:00 UTC: a clock well after that hour closed, and past the
 * grace of files staged now (the store stamps them with the real time; a fixed date here made the
 * suite fail on the day itself).
 */
const LATER = new Date(Math.max(Date.parse('2026-11-23T14:00:00Z'), Date.now() + 2 * GRACE_MS));

/** Twelve lake-writer batches (small staging files) for one tenant within hour 10. */
async function stageSmallFiles(tenant: string): Promise<void> {
  for (let b = 0; b < 12; b++) {
    const envs = Array.from({ length: 3 }, (_, i) => [
      sampleTraces(20, { seed: b * 10 + i, tenant, spreadNs: HOUR_NS }),
    ]);
    const recs = records(tenant, 'traces', envs, { firstSeq: 1_000_000n + BigInt(b) * 1000n });
    await writeToLake(lake.store, decoded(recs));
  }
}

/** Every row (as text), sorted: the multiset a reader of `prefix` sees. */
async function rowsUnder(prefix: string): Promise<string[]> {
  const got = await queryObjects(
    lake.store,
    lake.dir,
    prefix,
    `SELECT SpanId || '|' || epoch_us(Timestamp)::VARCHAR || '|' || ServiceName || '|' || SpanAttributes['url.path']
            || '|' || len(Events)::VARCHAR AS r FROM {files}`,
  );
  return got.map((r) => String(r.r)).sort();
}

describe('compactor', () => {
  it('publishes many small staging files as one part with the same rows, once each', async () => {
    await stageSmallFiles('c1');
    const staged = await rowsUnder('staging/otel_traces/tenant=c1/');
    const stagedFiles = await lake.store.list('staging/otel_traces/tenant=c1/');

    // Staging files are only "old" relative to a clock set after the grace.
    const result = await compactLake(lake.store, {
      now: LATER,
      graceMs: GRACE_MS,
      targetBytes: 128 * 1024 * 1024,
    });

    expect(stagedFiles).toHaveLength(12);
    expect(staged).toHaveLength(720);
    expect(result.published).toHaveLength(1);
    expect(result.published[0]).toMatch(
      /^otel_traces\/tenant=c1\/dt=2026-11-23\/hour=10\/part-[0-9a-f]{24}\.parquet$/,
    );
    expect(await rowsUnder('otel_traces/tenant=c1/')).toEqual(staged);
    expect(await lake.store.list('staging/otel_traces/tenant=c1/')).toEqual([]);
    expect(await lake.store.list('_published/')).toEqual([]);
  });

  it('changes nothing when run again', async () => {
    const before = await lake.store.list('otel_traces/tenant=c1/');

    const again = await compactLake(lake.store, {
      now: LATER,
      graceMs: GRACE_MS,
      targetBytes: 128 * 1024 * 1024,
    });

    expect(again.published).toEqual([]);
    expect(await lake.store.list('otel_traces/tenant=c1/')).toEqual(before);
    expect(await rowsUnder('otel_traces/tenant=c1/')).toHaveLength(720);
  });

  it('leaves hours that are still open, and files younger than the grace, in staging', async () => {
    await stageSmallFiles('c2');

    // Just after the hour ended: within the grace.
    const early = await compactLake(lake.store, {
      now: new Date('2026-11-23T11:30:00Z'),
      graceMs: GRACE_MS,
      targetBytes: 1 << 30,
    });
    // Hour long closed, but the files were written moments ago (a retry may still rewrite them).
    const fresh = await compactPartition(lake.store, {
      table: 'otel_traces',
      partition: 'tenant=c2/dt=2026-11-23/hour=10',
      targetBytes: 1 << 30,
      stagedBefore: new Date(Date.now() - GRACE_MS),
    });

    expect(early.published).toEqual([]);
    expect(fresh.published).toEqual([]);
    expect(await lake.store.list('otel_traces/tenant=c2/')).toEqual([]);
    expect(await lake.store.list('staging/otel_traces/tenant=c2/')).toHaveLength(12);
  });

  it('splits a partition into parts of about the target size', async () => {
    const files = await lake.store.list('staging/otel_traces/tenant=c2/');
    const target = files.slice(0, 4).reduce((n, f) => n + f.size, 0);
    const staged = await rowsUnder('staging/otel_traces/tenant=c2/');

    const result = await compactLake(lake.store, { now: LATER, graceMs: GRACE_MS, targetBytes: target });

    expect(result.published.length).toBeGreaterThanOrEqual(3);
    expect(result.published.length).toBeLessThanOrEqual(4);
    expect(await rowsUnder('otel_traces/tenant=c2/')).toEqual(staged);
  });

  it('does not publish rows twice after a crash between publishing and deleting staging files', async () => {
    await stageSmallFiles('c3');
    const staged = await rowsUnder('staging/otel_traces/tenant=c3/');
    const options = {
      table: 'otel_traces' as const,
      partition: 'tenant=c3/dt=2026-11-23/hour=10',
      targetBytes: 1 << 30,
      stagedBefore: new Date(Date.now() + 60_000),
    };

    await expect(
      compactPartition(lake.store, {
        ...options,
        onStep: (step) => {
          if (step === 'published') throw new Error('crash');
        },
      }),
    ).rejects.toThrow('crash');
    const afterCrash = await rowsUnder('otel_traces/tenant=c3/');
    const recovered = await compactPartition(lake.store, options);

    // Readers saw every row once right after the crash, and still do after the rerun finished it.
    expect(afterCrash).toEqual(staged);
    expect(recovered.published).toEqual([]);
    expect(recovered.consumed).toBe(12);
    expect(await rowsUnder('otel_traces/tenant=c3/')).toEqual(staged);
    expect(await lake.store.list('staging/otel_traces/tenant=c3/')).toEqual([]);
    expect(await lake.store.list('_published/otel_traces/tenant=c3/')).toEqual([]);
  });

  it('publishes afresh after a crash before the part was written', async () => {
    await stageSmallFiles('c4');
    const staged = await rowsUnder('staging/otel_traces/tenant=c4/');
    const options = {
      table: 'otel_traces' as const,
      partition: 'tenant=c4/dt=2026-11-23/hour=10',
      targetBytes: 1 << 30,
      stagedBefore: new Date(Date.now() + 60_000),
    };

    await expect(
      compactPartition(lake.store, {
        ...options,
        onStep: (step) => {
          if (step === 'manifest') throw new Error('crash');
        },
      }),
    ).rejects.toThrow('crash');
    const visibleAfterCrash = await rowsUnder('otel_traces/tenant=c4/');
    const recovered = await compactPartition(lake.store, options);

    expect(visibleAfterCrash).toEqual([]);
    expect(recovered.published).toHaveLength(1);
    expect(await rowsUnder('otel_traces/tenant=c4/')).toEqual(staged);
  });

  it('quarantines a truncated and an empty staging file, with their reasons, and publishes the rest', async () => {
    await stageSmallFiles('c5');
    const files = (await lake.store.list('staging/otel_traces/tenant=c5/')).map((f) => f.key);
    const [cut, empty] = files as [string, string];
    const whole = (await lake.store.get(cut))!;
    await lake.store.put(cut, whole.subarray(0, whole.length - 100));
    await lake.store.put(empty, new Uint8Array());
    const expected = (await Promise.all(files.slice(2).map((k) => rowsUnder(k)))).flat().sort();

    const result = await compactLake(lake.store, { now: LATER, graceMs: GRACE_MS, targetBytes: 1 << 30 });
    const sidecar = JSON.parse(
      Buffer.from((await lake.store.get(`_quarantine/${cut}.json`))!).toString('utf8'),
    );

    expect(result.failed).toEqual([]);
    expect(result.quarantined).toEqual([
      { key: cut, reason: expect.stringMatching(/PAR1/) },
      { key: empty, reason: 'empty object (0 bytes)' },
    ]);
    expect(sidecar).toMatchObject({ key: cut, by: 'compactor', size: whole.length - 100 });
    expect((await lake.store.get(`_quarantine/${cut}`))!.length).toBe(whole.length - 100);
    expect(await lake.store.list(`_quarantine/${empty}`)).toHaveLength(2);
    expect(await rowsUnder('otel_traces/tenant=c5/')).toEqual(expected);
    expect(expected).toHaveLength(600);
    expect(await lake.store.list('staging/otel_traces/tenant=c5/')).toEqual([]);
    // The next run has nothing left to trip over.
    expect(
      await compactLake(lake.store, { now: LATER, graceMs: GRACE_MS, targetBytes: 1 << 30 }),
    ).toMatchObject({ published: [], quarantined: [], failed: [] });
  });

  it('reports a partition it cannot compact and goes on with the others', async () => {
    await stageSmallFiles('c6');
    await stageSmallFiles('c7');
    const staged = await rowsUnder('staging/otel_traces/tenant=c7/');
    // Reads in tenant c6 fail (an outage or a permission error on that prefix).
    const flaky: ObjectStore = {
      put: (k, b, t) => lake.store.put(k, b, t),
      get: async (k) => {
        if (k.includes('tenant=c6/')) throw new Error('AccessDenied');
        return lake.store.get(k);
      },
      getRange: (k, a, b) => lake.store.getRange(k, a, b),
      copy: (a, b) => lake.store.copy(a, b),
      list: (p) => lake.store.list(p),
      delete: (keys) => lake.store.delete(keys),
    };

    const result = await compactLake(flaky, { now: LATER, graceMs: GRACE_MS, targetBytes: 1 << 30 });

    expect(result.failed).toEqual([
      {
        table: 'otel_traces',
        partition: 'tenant=c6/dt=2026-11-23/hour=10',
        error: expect.stringContaining('AccessDenied'),
      },
    ]);
    expect(await rowsUnder('otel_traces/tenant=c7/')).toEqual(staged);
    expect(await lake.store.list('staging/otel_traces/tenant=c6/')).toHaveLength(12);
    // Once reads work again, the next run resumes the partition.
    const next = await compactLake(lake.store, { now: LATER, graceMs: GRACE_MS, targetBytes: 1 << 30 });
    expect(next).toMatchObject({ failed: [], consumed: 12, rows: 720 });
    expect(await lake.store.list('staging/otel_traces/tenant=c6/')).toEqual([]);
  });

  it('compacts staging files written before a column was added, reading the column as its default', async () => {
    await stageSmallFiles('c8');
    const files = (await lake.store.list('staging/otel_traces/tenant=c8/')).map((f) => f.key);
    // Files from before the deploy, made by another writer (DuckDB): without StatusMessage (string),
    // Duration (uint64), SpanAttributes (map), Links (a whole nested column) and Events.Attributes
    // (a field of a nested column).
    const old = files.slice(0, 5);
    const oldSpans = new Set<string>();
    for (const k of old) {
      for (const r of await rowsUnder(k)) oldSpans.add(r.split('|')[0]!);
      const reduced = await rewriteWithDuckDB(
        lake.dir,
        (await lake.store.get(k))!,
        `* EXCLUDE (StatusMessage, Duration, SpanAttributes, Links, Events),
         list_transform(Events, e -> {'Timestamp': e.Timestamp, 'Name': e.Name}) AS Events`,
      );
      await lake.store.put(k, reduced);
    }
    const view = `SELECT SpanId AS s, StatusMessage AS m, Duration::VARCHAR AS d, cardinality(SpanAttributes) AS a,
            len(Links) AS l, len(Events) AS e, list_transform(Events, x -> cardinality(x.Attributes)) AS ea FROM {files}`;
    const result = await compactPartition(lake.store, {
      table: 'otel_traces',
      partition: 'tenant=c8/dt=2026-11-23/hour=10',
      targetBytes: 1 << 30,
      stagedBefore: new Date(Date.now() + 60_000),
    });
    const after = await queryObjects(lake.store, lake.dir, 'otel_traces/tenant=c8/', view);

    expect(result).toMatchObject({ quarantined: [], consumed: 12, rows: 720 });
    expect(oldSpans.size).toBe(300);
    const fromOld = after.filter((r) => oldSpans.has(String(r.s)));
    const fromNew = after.filter((r) => !oldSpans.has(String(r.s)));
    expect(fromOld).toHaveLength(300);
    for (const r of fromOld) {
      expect({ m: r.m, d: r.d, a: Number(r.a), l: Number(r.l) }).toEqual({ m: '', d: '0', a: 0, l: 0 });
      expect((r.ea as unknown[]).map(Number)).toEqual(Array.from({ length: Number(r.e) }, () => 0));
    }
    // Rows of files with every column keep their values.
    expect(fromNew.some((r) => Number(r.d) > 0 && Number(r.a) > 0 && Number(r.l) > 0)).toBe(true);
    expect(fromOld.some((r) => Number(r.e) > 0)).toBe(true);
  });

  describe('each (table, partition, envelope id) once', () => {
    /** Envelope k of a request: content ids as ingest gives them, so a resend carries the same ones. */
    const envelope = (tenant: string, k: number) => {
      const [env] = packEnvelopes(
        tenant,
        'traces',
        [sampleTraces(10, { seed: 500 + k, tenant, spreadNs: HOUR_NS })],
        {},
        { request: 'feedc0de'.repeat(4), firstOrdinal: k, receivedAtNs: '1' },
      );
      return env!.data;
    };
    /** One lake-writer batch: these envelopes at consecutive sequence numbers from `firstSeq`. */
    const batch = (tenant: string, ks: number[], firstSeq: bigint): DecodedRecord[] =>
      ks.map((k, i) => ({
        shardId: 'shardId-000000000000',
        sequenceNumber: (firstSeq + BigInt(i)).toString(),
        envelope: unpackEnvelope(envelope(tenant, k)),
      }));
    const partition = (tenant: string) => `tenant=${tenant}/dt=2026-11-23/hour=10`;
    const run = (store: ObjectStore = lake.store) =>
      compactLake(store, { now: LATER, graceMs: GRACE_MS, targetBytes: 128 * 1024 * 1024 });
    const spanIds = async (tenant: string) => {
      const got = await queryObjects(
        lake.store,
        lake.dir,
        `otel_traces/tenant=${tenant}/`,
        `SELECT SpanId, EnvelopeId FROM {files} ORDER BY SpanId`,
      );
      return got;
    };

    it('publishes once an envelope that two staging files hold (a resend in a later batch)', async () => {
      await writeToLake(lake.store, batch('d1', [0, 1], 10_000n));
      // The client resent the request: envelope 1 again under new sequence numbers, with 2.
      await writeToLake(lake.store, batch('d1', [1, 2], 20_000n));
      expect(await lake.store.list(`staging/otel_traces/${partition('d1')}/`)).toHaveLength(2);

      const result = await run();

      expect(result.duplicates).toBe(10);
      expect(result.rows).toBe(30);
      const rows = await spanIds('d1');
      expect(rows).toHaveLength(30);
      expect(new Set(rows.map((r) => r.SpanId)).size).toBe(30);
      expect(new Set(rows.map((r) => r.EnvelopeId))).toEqual(
        new Set([0, 1, 2].map((k) => `${'feedc0de'.repeat(4)}-${k}`)),
      );
    });

    it("drops a resend that arrives after its original's partition was published", async () => {
      await writeToLake(lake.store, batch('d2', [0, 1], 10_000n));
      await run();
      await writeToLake(lake.store, batch('d2', [0, 1, 2], 30_000n));

      const second = await run();

      expect(second.duplicates).toBe(20);
      expect(second.rows).toBe(10);
      expect((await spanIds('d2')).length).toBe(30);
      expect(new Set((await spanIds('d2')).map((r) => r.SpanId)).size).toBe(30);
      expect(await lake.store.list(`staging/otel_traces/tenant=d2/`)).toEqual([]);
    });

    it('loses nothing when it crashed after putting the id index and before the part', async () => {
      await writeToLake(lake.store, batch('d3', [0, 1], 10_000n));
      let failPart = true;
      const crashing: ObjectStore = {
        put: async (key, body, type) => {
          if (failPart && key.startsWith('otel_traces/')) {
            failPart = false;
            throw new Error('crash before the part');
          }
          return lake.store.put(key, body, type);
        },
        get: (key) => lake.store.get(key),
        getRange: (key, from, to) => lake.store.getRange(key, from, to),
        copy: (from, to) => lake.store.copy(from, to),
        list: (prefix) => lake.store.list(prefix),
        delete: (keys) => lake.store.delete(keys),
      };
      // The run reports the partition and goes on (the next run resumes it).
      expect((await run(crashing)).failed).toEqual([
        expect.objectContaining({
          partition: partition('d3'),
          error: expect.stringContaining('crash before the part'),
        }),
      ]);
      // The index of the part that never came is there, and must not count.
      expect(await lake.store.list(`_envelope-ids/otel_traces/${partition('d3')}/`)).toHaveLength(1);

      const rerun = await run();

      expect(rerun.duplicates).toBe(0);
      expect((await spanIds('d3')).length).toBe(20);
      // And a resend after that is still recognised.
      await writeToLake(lake.store, batch('d3', [1], 40_000n));
      expect((await run()).duplicates).toBe(10);
      expect((await spanIds('d3')).length).toBe(20);
    });

    it("keeps every row of staging files from before EnvelopeId: '' is no id, not one shared by all", async () => {
      await writeToLake(lake.store, batch('d4', [0, 1], 10_000n));
      await writeToLake(lake.store, batch('d4', [2, 3], 20_000n));
      // Both files as they were before the column existed (rewritten by DuckDB without it).
      for (const { key } of await lake.store.list(`staging/otel_traces/${partition('d4')}/`)) {
        await lake.store.put(
          key,
          await rewriteWithDuckDB(lake.dir, (await lake.store.get(key))!, '* EXCLUDE (EnvelopeId)'),
        );
      }
      // Then files with ids: envelope 4 and a resend of it.
      await writeToLake(lake.store, batch('d4', [4], 30_000n));
      await writeToLake(lake.store, batch('d4', [4], 40_000n));

      const result = await run();

      expect(result).toMatchObject({ duplicates: 10, rows: 50, quarantined: [], failed: [] });
      const rows = await spanIds('d4');
      expect(rows).toHaveLength(50);
      expect(new Set(rows.map((r) => r.SpanId)).size).toBe(50);
      expect(rows.filter((r) => r.EnvelopeId === '')).toHaveLength(40);
    });

    it('dedups and quarantines in one pass over a set: a bad file is moved aside, a resent envelope dropped', async () => {
      await writeToLake(lake.store, batch('d5', [0, 1], 10_000n));
      await writeToLake(lake.store, batch('d5', [1, 2], 20_000n));
      await writeToLake(lake.store, batch('d5', [3], 30_000n));
      const [, , cut] = (await lake.store.list(`staging/otel_traces/${partition('d5')}/`)).map((f) => f.key);
      const whole = (await lake.store.get(cut!))!;
      await lake.store.put(cut!, whole.subarray(0, whole.length - 50));

      const first = await run();

      expect(first).toMatchObject({ duplicates: 10, rows: 30, consumed: 2, failed: [] });
      expect(first.quarantined.map((q) => q.key)).toEqual([cut]);
      expect(new Set((await spanIds('d5')).map((r) => r.SpanId)).size).toBe(30);

      // A later set whose readable rows were all published, beside another bad file: the resend is
      // retired without a part, the bad file quarantined.
      await writeToLake(lake.store, batch('d5', [0, 2], 50_000n));
      await writeToLake(lake.store, batch('d5', [5], 60_000n));
      const [, bad] = (await lake.store.list(`staging/otel_traces/${partition('d5')}/`)).map((f) => f.key);
      await lake.store.put(bad!, new Uint8Array());
      const parts = await lake.store.list(`otel_traces/${partition('d5')}/`);

      const second = await run();

      expect(second).toMatchObject({ published: [], duplicates: 20, rows: 0, consumed: 1, failed: [] });
      expect(second.quarantined).toEqual([{ key: bad, reason: 'empty object (0 bytes)' }]);
      expect(await lake.store.list(`otel_traces/${partition('d5')}/`)).toEqual(parts);
      expect(await lake.store.list(`staging/otel_traces/${partition('d5')}/`)).toEqual([]);
      expect((await spanIds('d5')).length).toBe(30);
    });
  });
});
