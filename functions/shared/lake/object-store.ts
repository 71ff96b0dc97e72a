/**
 * The lake's storage port: whole-object put/get/list/delete, which S3 (and s3rver locally) offer.
 * A put is atomic (readers see the old object or the new one, never a part), which the lake's
 * exactly-once reasoning relies on; nothing else is assumed (no rename, no multi-object commit).
 */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

export interface ObjectStore {
  put(key: string, body: Uint8Array, contentType?: string): Promise<void>;
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Bytes `start` (inclusive) to `end` (exclusive) of the object, fewer if it is shorter, or
   * undefined when there is no such key. Lets the lake writer check a file from its two ends.
   */
  getRange(key: string, start: number, end: number): Promise<Uint8Array | undefined>;
  /** Server-side copy; the target's content type is the source's. */
  copy(source: string, target: string): Promise<void>;
  /** Every object under `prefix`, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Deletes the keys; keys that do not exist are not an error. */
  delete(keys: readonly string[]): Promise<void>;
}

export class ObjectStoreError extends Error {
  override readonly name = 'ObjectStoreError';
}
