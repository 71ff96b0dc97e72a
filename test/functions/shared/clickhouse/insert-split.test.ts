import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import {
  ClickHouseTelemetryWriter,
  encodeParts,
  MAX_INSERT_BYTES,
  type PositionedEnvelope,
} from '../../../../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { batchOf, count, envelopeData, logRow, nsAgo, position } from './support.js';

/**
 * Rows that repeat a large resource (issue #17): the writer streams them and splits a table's
 * insert past MAX_INSERT_BYTES of row text into parts deduplicated by `<token>/<part>`.
 * encodeParts' own text is held to JSON.stringify and JSON.parse.
 * Embedded ClickHouse (chdb) is the oracle for what was stored.
 */

const partsOf = (rows: unknown[][], maxBytes: number, mayCutBefore?: (row: number) => boolean) =>
  [...encodeParts(rows, maxBytes, mayCutBefore)].map((p) => ({
    rows: [p.start, p.end],
    lines: Buffer.concat(p.chunks)
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as unknown),
  }));

describe('encodeParts', () => {
  it('writes a shared object at every row that carries it, and cuts once a part holds the limit', () => {
    const shared = { big: 'x'.repeat(1000) };
    const rows = Array.from({ length: 10 }, (_, i) => [`row-${i}`, shared]);
    const parts = partsOf(rows, 2000);
    expect(parts.map((p) => p.rows)).toEqual([
      [0, 2],
      [2, 4],
      [4, 6],
      [6, 8],
      [8, 10],
    ]);
    expect(parts.flatMap((p) => p.lines)).toEqual(rows);
  });

  it('keeps a batch under the limit whole, gives a row larger than the limit a part of its own, and cuts only where allowed', () => {
    expect(partsOf([['a'], ['b']], 1000).map((p) => p.rows)).toEqual([[0, 2]]);
    expect(partsOf([['a'], ['x'.repeat(100)], ['b']], 50).map((p) => p.rows)).toEqual([
      [0, 2],
      [2, 3],
    ]);
    expect(partsOf([['x'.repeat(100)], ['b'], ['c']], 50, (r) => r !== 1).map((p) => p.rows)).toEqual([
      [0, 2],
      [2, 3],
    ]);
    expect(partsOf([], 10)).toEqual([{ rows: [0, 0], lines: [] }]);
  });

  it('encodes each value as JSON.stringify does, whether or not it repeats the row above', () => {
    const map = { k: 'v"\n\u0000', é: '' };
    const rows: unknown[][] = [
      ['s', 1, map, [1, 2], true, Number.NaN, undefined, null, '18446744073709551615', -0],
      ['s', 1, map, [1, 2], true, Number.POSITIVE_INFINITY, undefined, null, 't', 0.5],
      ['u', 2, { ...map }, [], false, 1e300, 'x', {}, '', -1.5],
      [
        'lone \ud800 pair \ud83d\ude00',
        3,
        { '\u001f': '\\' },
        [[]],
        false,
        -1e-300,
        '\u007f\u2028',
        [{}],
        'é',
        1,
      ],
    ];
    const text = [...encodeParts(rows, MAX_INSERT_BYTES)].flatMap((p) => p.chunks);
    expect(Buffer.concat(text).toString('utf8')).toBe(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  });
});

describe('ClickHouseTelemetryWriter with rows repeating a large resource', () => {
  let client: ClickHouseClient;
  const inserts: string[] = [];
  /** The n-th otel_logs insert fails once: after committing (its answer lost) or before. */
  let fault: { nth: number; committed: boolean } | undefined;
  let logInsertsSeen = 0;

  beforeAll(async () => {
    const real = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-split-')) });
    await applyMigrations(real, { hotRetentionDays: 7 });
    client = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'insert') {
          return async (params: Parameters<ClickHouseClient['insert']>[0]) => {
            inserts.push(`${params.table} ${params.clickhouse_settings?.insert_deduplication_token ?? ''}`);
            if (fault && /\botel_logs\b/.test(params.table) && ++logInsertsSeen === fault.nth) {
              const { committed } = fault;
              fault = undefined;
              if (committed) await target.insert(params);
              throw Object.assign(new Error('socket hang up (injected)'), { code: 'ECONNRESET' });
            }
            return target.insert(params);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
  });

  afterAll(async () => {
    await client?.close();
  });

  beforeEach(async () => {
    await client.command({ query: 'TRUNCATE TABLE otel_logs' });
    inserts.length = 0;
    logInsertsSeen = 0;
  });

  /**
   * 120 logs under one resource of 50 attributes x 4 KB (~24 MB of row text: more than one insert),
   * spread over 4 cells of event time 20 minutes apart (an insert is cut between cells only).
   */
  function bigEnvelope(): PositionedEnvelope[] {
    const resource = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`big.${i}`, 'v'.repeat(4096)]));
    const rows = Array.from({ length: 120 }, (_, i) =>
      logRow(i, { ResourceAttributes: resource, Timestamp: nsAgo(60_000 + (i % 4) * 20 * 60_000, i) }),
    );
    const { header, batches } = unpackEnvelope(envelopeData('acme', 'logs', [batchOf('otel_logs', rows)]));
    expect(120 * 50 * 4100).toBeGreaterThan(MAX_INSERT_BYTES);
    return [{ position: position(1), tenant: header.tenant, id: header.id, batches }];
  }

  it.each([
    ['committed, its answer lost', true],
    ['failed before committing', false],
  ])(
    'stores every row once when the second of several inserts %s, and the batch is retried',
    async (_, committed) => {
      const envelopes = bigEnvelope();
      fault = { nth: 2, committed };
      const writer = new ClickHouseTelemetryWriter(client, { hotRetentionDays: 7, attempts: 1 });
      const first = await writer.write(envelopes);
      expect(first.pending).toHaveLength(1);
      const logInserts = inserts.filter((i) => /\botel_logs\W*\s/.test(i));
      expect(logInserts.length, inserts.join('\n')).toBeGreaterThanOrEqual(2);
      expect(new Set(logInserts).size).toBe(logInserts.length);

      const second = await writer.write(envelopes);
      expect(second.written).toHaveLength(1);
      expect(await count(client, 'otel_logs')).toBe(120);
      expect(await count(client, 'otel_logs', `length(ResourceAttributes) = 50`)).toBe(120);
    },
  );
});
