import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryObjectStore } from '../../../../functions/shared/lake/memory-object-store.js';
import { checkParquetBytes, checkStoredParquet } from '../../../../functions/shared/lake/quarantine.js';
import { checkParquetFile } from '../../../../functions/shared/parquet/parquet-footer.js';
import { encodeParquet } from '../../../../functions/shared/parquet/parquet-writer.js';
import { rewriteWithDuckDB } from '../lake/support.js';
import { sampleRows, sampleTraces } from './sample-rows.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'footer-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkParquetFile', () => {
  it('accepts complete files of every shape: ours (one and several row groups, no rows) and DuckDB’s', async () => {
    const traces = encodeParquet('otel_traces', [sampleTraces(300)]);
    const groups = encodeParquet('otel_logs', [sampleRows('otel_logs', 500)], { maxRowGroupRows: 64 });
    const empty = encodeParquet('otel_metrics_sum', []);
    const duck = await rewriteWithDuckDB(dir, traces, '*');

    expect(checkParquetBytes(traces)).toMatchObject({ ok: true, rows: 300 });
    expect(checkParquetBytes(groups)).toMatchObject({ ok: true, rows: 500 });
    expect(checkParquetBytes(empty)).toMatchObject({ ok: true, rows: 0 });
    expect(checkParquetBytes(duck)).toMatchObject({ ok: true, rows: 300 });
  });

  it('rejects every truncation of a file, and a 0-byte one, with a reason', () => {
    const file = encodeParquet('otel_traces', [sampleTraces(50)]);
    const accepted: number[] = [];
    for (let len = 0; len < file.length; len++) {
      const check = checkParquetBytes(file.subarray(0, len));
      if (check.ok) accepted.push(len);
      else expect(check.reason.length).toBeGreaterThan(0);
    }

    expect(accepted).toEqual([]);
    expect(checkParquetBytes(new Uint8Array())).toEqual({ ok: false, reason: 'empty object (0 bytes)' });
  });

  it('rejects a footer whose row count disagrees with its row groups, or whose chunks lie outside the file', () => {
    const file = encodeParquet('otel_logs', [sampleRows('otel_logs', 40)]);
    // Cut bytes out of the middle: the footer survives intact but points past the shorter data.
    const holed = new Uint8Array(file.length - 100);
    holed.set(file.subarray(0, 200));
    holed.set(file.subarray(300), 200);
    // Garbage in place of the footer, with the length and magic left as they were.
    const garbled = file.slice();
    const footerLength = new DataView(garbled.buffer).getUint32(garbled.length - 8, true);
    garbled.fill(0xff, garbled.length - 8 - footerLength, garbled.length - 8);

    expect(checkParquetBytes(holed)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/outside the data/),
    });
    expect(checkParquetBytes(garbled)).toMatchObject({ ok: false, reason: expect.stringMatching(/footer/) });
    expect(
      checkParquetFile({ size: file.length, head: file.subarray(0, 4), tail: file.subarray(-8) }),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/only 8 bytes of the end/),
    });
  });
});

describe('checkStoredParquet', () => {
  it('checks an object from its two ends, fetching more of the end when its footer is larger', async () => {
    const store = new InMemoryObjectStore();
    // Many row groups: a footer larger than the 64 KB first read of the end.
    const big = encodeParquet('otel_traces', [sampleTraces(4000)], { maxRowGroupRows: 8 });
    const footerLength = new DataView(big.buffer, big.byteOffset).getUint32(big.length - 8, true);
    await store.put('big', big);
    await store.put('cut', big.subarray(0, big.length - 1));
    await store.put('zero', new Uint8Array());
    const info = async (key: string) => (await store.list(key)).find((o) => o.key === key)!;

    expect(footerLength).toBeGreaterThan(64 * 1024);
    expect(await checkStoredParquet(store, await info('big'))).toMatchObject({ ok: true, rows: 4000 });
    expect(await checkStoredParquet(store, await info('cut'))).toMatchObject({ ok: false });
    expect(await checkStoredParquet(store, await info('zero'))).toMatchObject({ ok: false });
    expect(
      await checkStoredParquet(store, { key: 'gone', size: 10, lastModified: new Date() }),
    ).toBeUndefined();
  });
});
