import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import {
  ClickHouseTelemetryWriter,
  MAX_INSERT_BYTES,
  type PositionedEnvelope,
  splitBySize,
} from '../../../../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { batchOf, count, envelopeData, logRow, nsAgo, position } from './support.js';

/**
 * Rows that repeat a large resource (issue #17): the writer streams them and splits a table's
 * insert past MAX_INSERT_BYTES of estimated text into parts deduplicated by `<token>/<part>`.
 * Embedded ClickHouse (chdb) is the oracle for what was stored.
 */

describe('splitBySize', () => {
  it('counts a shared object at every row that carries it, and keeps each part within the limit', () => {
    const shared = { big: 'x'.repeat(1000) };
    const rows = Array.from({ length: 10 }, (_, i) => [`row-${i}`, shared]);
    const parts = splitBySize(rows, 2500);
    expect(parts.map((p) => p.length)).toEqual([2, 2, 2, 2, 2]);
    expect(parts.flat()).toEqual(rows);
  });

  it('keeps a batch under the limit whole, and gives a row larger than the limit a part of its own', () => {
    expect(splitBySize([['a'], ['b']], 1000)).toEqual([[['a'], ['b']]]);
    expect(splitBySize([['a'], ['x'.repeat(100)], ['b']], 50)).toEqual([
      [['a']],
      [['x'.repeat(100)]],
      [['b']],
    ]);
    expect(splitBySize([], 10)).toEqual([[]]);
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
