import { createHash } from 'node:crypto';
import type { ColumnBatch } from '../shared/rows/batch.js';

/** Kinesis partition keys are at most 256 Unicode characters. */
const MAX_PARTITION_KEY_CHARS = 256;

/**
 * `${tenant}:${service}`: one tenant's service stays on one shard (in order), while tenants and
 * services spread over shards. A key that would be too long keeps the tenant and a hash of the
 * service, which is just as stable.
 */
export function partitionKey(tenant: string, service: string): string {
  const key = `${tenant}:${service}`;
  if (key.length <= MAX_PARTITION_KEY_CHARS) return key;
  return `${tenant}:#${createHash('sha256').update(service, 'utf8').digest('hex').slice(0, 32)}`;
}

/**
 * The rows at `indexes` (ascending) of a batch. Every column is a packed array of its final size,
 * for the envelope's JSON.stringify (see packedNulls in envelope.ts): a slice when the rows are one
 * run (a service's items come together in a request, one resource after another), else a copy of
 * a packed template filled in place (a push per row grew each column several times over).
 */
function select(batch: ColumnBatch, indexes: readonly number[]): ColumnBatch {
  const n = indexes.length;
  const from = indexes[0]!;
  const run = indexes[n - 1]! - from + 1 === n;
  const columns: Record<string, unknown[]> = {};
  for (const [name, values] of Object.entries(batch.columns)) {
    if (run) {
      columns[name] = values.slice(from, from + n);
      continue;
    }
    const picked = packedOfLength(n);
    for (let i = 0; i < n; i++) picked[i] = values[indexes[i]!];
    columns[name] = picked;
  }
  return { table: batch.table, rowCount: n, columns };
}

let template: null[] = [];
function packedOfLength(n: number): unknown[] {
  if (template.length < n) {
    template = [];
    for (let i = 0; i < n; i++) template.push(null);
  }
  return template.slice(0, n);
}

/**
 * Groups rows by their `ServiceName`, keeping row order within each service and services in order of
 * first appearance, so the same batches always give the same groups (packing stays deterministic).
 * A batch with one service (the usual case) is passed on without copying.
 */
export function groupByService(batches: readonly ColumnBatch[]): Map<string, ColumnBatch[]> {
  const groups = new Map<string, ColumnBatch[]>();
  const add = (service: string, batch: ColumnBatch) => {
    const list = groups.get(service);
    if (list) list.push(batch);
    else groups.set(service, [batch]);
  };
  for (const batch of batches) {
    if (batch.rowCount === 0) continue;
    const services = batch.columns.ServiceName;
    if (!services) {
      add('', batch);
      continue;
    }
    const first = String(services[0] ?? '');
    let uniform = true;
    for (let i = 1; i < batch.rowCount; i++) {
      if (services[i] !== first) {
        uniform = false;
        break;
      }
    }
    if (uniform) {
      add(first, batch);
      continue;
    }
    const rowsByService = new Map<string, number[]>();
    for (let i = 0; i < batch.rowCount; i++) {
      const service = String(services[i] ?? '');
      const list = rowsByService.get(service);
      if (list) list.push(i);
      else rowsByService.set(service, [i]);
    }
    for (const [service, indexes] of rowsByService) add(service, select(batch, indexes));
  }
  return groups;
}
