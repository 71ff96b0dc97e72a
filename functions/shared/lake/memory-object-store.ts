import type { ObjectInfo, ObjectStore } from './object-store.js';

/** An ObjectStore in memory, for the benchmark and for experiments; tests use s3rver. */
export class InMemoryObjectStore implements ObjectStore {
  private readonly objects = new Map<string, { body: Uint8Array; lastModified: Date }>();

  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, { body: body.slice(), lastModified: new Date() });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.objects.get(key)?.body;
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array | undefined> {
    return this.objects.get(key)?.body.slice(start, end);
  }

  async copy(source: string, target: string): Promise<void> {
    const o = this.objects.get(source);
    if (o) this.objects.set(target, { body: o.body, lastModified: new Date() });
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, o]) => ({ key, size: o.body.length, lastModified: o.lastModified }));
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
  }

  /** Ages every object, as if written at `at` (the compactor only takes files older than its grace). */
  setAllLastModified(at: Date): void {
    for (const o of this.objects.values()) o.lastModified = at;
  }
}
