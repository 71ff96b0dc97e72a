import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WRITE_LEDGER_TABLE } from '../../../../functions/shared/clickhouse/ddl.js';
import { applyMigrations } from '../../../../functions/shared/clickhouse/migrations.js';
import {
  ClickHouseTelemetryWriter,
  MAX_INSERT_BYTES,
  type PositionedEnvelope,
  splitBySize,
} from '../../../../functions/shared/clickhouse/writer.js';
import { unpackEnvelope } from '../../../../functions/shared/envelope/envelope.js';
import { createEmbeddedClickHouse } from '../../../../local/clickhouse-embedded.js';
import { batchOf, count, envelopeData, logRow, position } from './support.js';

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
  let failLedgerOnce = false;

  beforeAll(async () => {
    const real = createEmbeddedClickHouse({ path: mkdtempSync(join(tmpdir(), 'ch-split-')) });
    await applyMigrations(real, { hotRetentionDays: 7 });
    client = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'insert') {
          return async (params: Parameters<ClickHouseClient['insert']>[0]) => {
            inserts.push(`${params.table} ${params.clickhouse_settings?.insert_deduplication_token ?? ''}`);
            if (failLedgerOnce && params.table.includes(WRITE_LEDGER_TABLE)) {
              failLedgerOnce = false;
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

  it('stores every row once through several deduplicated inserts, also when the batch is retried', async () => {
    // 120 logs under one resource of 50 attributes x 4 KB: ~24 MB of row text, more than one insert.
    const resource = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`big.${i}`, 'v'.repeat(4096)]));
    const rows = Array.from({ length: 120 }, (_, i) => logRow(i, { ResourceAttributes: resource }));
    const { header, batches } = unpackEnvelope(envelopeData('acme', 'logs', [batchOf('otel_logs', rows)]));
    const envelopes: PositionedEnvelope[] = [{ position: position(1), tenant: header.tenant, batches }];
    expect(120 * 50 * 4100).toBeGreaterThan(MAX_INSERT_BYTES);

    // The first attempt inserts the rows, then fails on the ledger: the batch stays pending.
    failLedgerOnce = true;
    const writer = new ClickHouseTelemetryWriter(client, { hotRetentionDays: 7, attempts: 1 });
    const first = await writer.write(envelopes);
    expect(first.pending).toHaveLength(1);
    const logInserts = inserts.filter((i) => /\botel_logs\W*\s/.test(i));
    expect(logInserts.length, inserts.join('\n')).toBeGreaterThanOrEqual(2);
    expect(new Set(logInserts).size).toBe(logInserts.length);
    expect(await count(client, 'otel_logs')).toBe(120);

    // The retry splits alike and every part is deduplicated by its token: still 120 rows.
    const second = await writer.write(envelopes);
    expect(second.written).toHaveLength(1);
    expect(await count(client, 'otel_logs')).toBe(120);
    expect(await count(client, 'otel_logs', `length(ResourceAttributes) = 50`)).toBe(120);
  });
});
