import { existsSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';
import { WRITE_LEDGER_TABLE } from '../functions/shared/clickhouse/ddl.js';
import type { ObjectStore } from '../functions/shared/lake/object-store.js';

/**
 * Aimed crashes for the fault-matrix tests (test/local/faults.test.ts): with `LOCAL_FAULT` set, local
 * mode kills itself with SIGKILL at one exact point of a writer's work, which random kills hit only
 * by luck. The hooks wrap the writers' ports here in the local wiring; the writers know nothing of
 * them. Unset (the default), nothing is wrapped.
 *
 * `LOCAL_FAULT=<point>:<n>` kills at the n-th (1-based) occurrence of the point:
 * - `hot-insert`: a data insert into ClickHouse has returned, before the writer answers (and so
 *   before the batch is checkpointed): the rows are committed, the stream position is not.
 * - `lake-put`: a lake object has been stored, before the writer returns (nothing checkpointed).
 * - `lake-object-created`: the lake object's file has just appeared under the S3 emulator's
 *   directory, while its bytes are being written.
 */
export const FAULT_POINTS = ['hot-insert', 'lake-put', 'lake-object-created'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

export interface FaultPlan {
  readonly point: FaultPoint;
  readonly nth: number;
}

export const FAULT_PLAN_PATTERN = new RegExp(`^(${FAULT_POINTS.join('|')}):([1-9][0-9]{0,6})$`);

/** undefined when unset; the config schema has already checked the form. */
export function parseFaultPlan(value: string | undefined): FaultPlan | undefined {
  if (value === undefined || value === '') return undefined;
  const m = FAULT_PLAN_PATTERN.exec(value);
  if (!m) throw new Error(`LOCAL_FAULT must match ${FAULT_PLAN_PATTERN.source}, got: ${value}`);
  return { point: m[1] as FaultPoint, nth: Number(m[2]) };
}

/**
 * The crash itself: no handler, no flush, no exit hooks run, as with `kill -9`. A lake point names
 * the object's file, so a test can tear it as a non-atomic store would have left it.
 */
function die(point: FaultPoint, file?: string): never {
  process.stderr.write(`LOCAL_FAULT: SIGKILL at ${point}${file ? ` (file ${file})` : ''}\n`);
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered before this line runs in practice; never return into the writer.
  throw new Error('unreachable');
}

function counter(plan: FaultPlan, point: FaultPoint): () => boolean {
  let seen = 0;
  return () => plan.point === point && ++seen === plan.nth;
}

const tableOf = (quoted: string) => (quoted.split('.').pop() ?? quoted).replace(/`/g, '');

/** The client, killing the process right after the n-th data insert returns (`hot-insert`). */
export function withHotInsertFault(client: ClickHouseClient, plan: FaultPlan | undefined): ClickHouseClient {
  if (plan?.point !== 'hot-insert') return client;
  const hit = counter(plan, 'hot-insert');
  const insert: ClickHouseClient['insert'] = async (params) => {
    const result = await client.insert(params);
    if (tableOf(params.table) !== WRITE_LEDGER_TABLE && hit()) die('hot-insert');
    return result;
  };
  return new Proxy(client, {
    get: (target, prop) => {
      if (prop === 'insert') return insert;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * Wraps the lake writer's stores, killing the process at the n-th object put through any of them
 * (one count for all: each shard's lake writer has its own store). `lake-put`: after it is stored;
 * `lake-object-created`: as soon as `objectFile(key)` exists on disk, polled on every turn of the
 * event loop while the put runs, so the kill lands while the emulator writes the bytes.
 */
export function lakePutFault(
  plan: FaultPlan | undefined,
  objectFile: (key: string) => string,
): (store: ObjectStore) => ObjectStore {
  if (plan?.point !== 'lake-put' && plan?.point !== 'lake-object-created') return (store) => store;
  const hit = counter(plan, plan.point);
  return (store) => ({
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    delete: (keys) => store.delete(keys),
    getRange: (key, start, end) => store.getRange(key, start, end),
    copy: (from, to) => store.copy(from, to),
    async put(key, body, contentType) {
      if (!hit()) return store.put(key, body, contentType);
      const file = objectFile(key);
      if (plan.point === 'lake-put') {
        await store.put(key, body, contentType);
        die('lake-put', file);
      }
      let done = false;
      const watch = () => {
        if (existsSync(file)) die('lake-object-created', file);
        if (!done) setImmediate(watch);
      };
      watch();
      try {
        await store.put(key, body, contentType);
      } finally {
        done = true;
      }
      // The put was faster than the watch: the object is there, so this is the moment after it.
      die('lake-object-created', file);
    },
  });
}
