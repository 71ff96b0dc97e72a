import { describe, expect, it } from 'vitest';
import { type InsertObservation, observeInserts } from '../../../functions/hot-writer/handler.js';
import { WRITE_LEDGER_TABLE } from '../../../functions/shared/clickhouse/ddl.js';
import type { ClickHouseRequests } from '../../../functions/shared/clickhouse/requests.js';

// The insert-latency metric's source: the wrapper's own rule over the writer's port. A recording
// port stands in for ClickHouse (the wrapper does no I/O; the writer and handler tests run it over
// the real engine).
function recordingPort(failTables: ReadonlySet<string> = new Set()) {
  const calls: string[] = [];
  const port: ClickHouseRequests = {
    rows: async <T>() => {
      calls.push('rows');
      return [] as T[];
    },
    command: async () => {
      calls.push('command');
    },
    insertText: async (r) => {
      calls.push(`text ${r.table}`);
      if (failTables.has(r.table)) throw new Error('refused');
    },
    insertObjects: async (r) => {
      calls.push(`objects ${r.table}`);
      if (failTables.has(r.table)) throw new Error('refused');
    },
  };
  return { port, calls };
}

describe('observeInserts', () => {
  it('observes data inserts by table name, not the write ledger, lookups, commands or failed inserts', async () => {
    const { port, calls } = recordingPort(new Set(['`db`.`otel_logs`']));
    const seen: InsertObservation[] = [];
    const observed = observeInserts(port, (o) => seen.push(o));

    await observed.rows({ query: 'SELECT 1' });
    await observed.command({ query: 'SELECT 1' });
    await observed.insertText({ table: '`db`.`otel_traces`', format: 'CustomSeparated', chunks: [] });
    await observed.insertObjects({ table: `\`db\`.\`${WRITE_LEDGER_TABLE}\``, objects: [{ a: 1 }] });
    await expect(
      observed.insertText({ table: '`db`.`otel_logs`', format: 'CustomSeparated', chunks: [] }),
    ).rejects.toThrow('refused');

    expect(calls).toEqual([
      'rows',
      'command',
      'text `db`.`otel_traces`',
      `objects \`db\`.\`${WRITE_LEDGER_TABLE}\``,
      'text `db`.`otel_logs`',
    ]);
    expect(seen.map((o) => o.table)).toEqual(['otel_traces']);
    expect(seen[0]!.ms).toBeGreaterThanOrEqual(0);
  });
});
