import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Where the local event-source poller remembers how far each shard has been processed, so a restart
 * resumes right after the last completed record (what Lambda's event source mapping keeps for us in AWS).
 */
export interface ShardCheckpoint {
  /** The last record that is done with (processed, or handed to the on-failure destination). */
  readonly sequenceNumber?: string;
  /** The shard is closed and every record in it is done; its children may start. */
  readonly finished?: boolean;
  /**
   * Set when the mapping first started at LATEST and nothing has completed yet: epoch ms from which
   * records count, so a restart before the first checkpoint does not skip what arrived meanwhile.
   */
  readonly latestSinceMs?: number;
}

export interface CheckpointStore {
  /** Every shard checkpoint of this mapping; empty on the very first start. */
  load(): Promise<ReadonlyMap<string, ShardCheckpoint>>;
  /** Replaces one shard's checkpoint; resolves once it is durable. */
  put(shardId: string, checkpoint: ShardCheckpoint): Promise<void>;
}

export class CheckpointStoreError extends Error {
  override readonly name = 'CheckpointStoreError';
}

/** For tests and throwaway runs: forgets everything with the process. */
export class InMemoryCheckpointStore implements CheckpointStore {
  readonly #shards = new Map<string, ShardCheckpoint>();

  async load(): Promise<ReadonlyMap<string, ShardCheckpoint>> {
    return new Map(this.#shards);
  }

  async put(shardId: string, checkpoint: ShardCheckpoint): Promise<void> {
    this.#shards.set(shardId, { ...checkpoint });
  }
}

interface CheckpointFile {
  readonly version: 1;
  readonly shards: Record<string, ShardCheckpoint>;
}

function parseCheckpointFile(text: string, path: string): Map<string, ShardCheckpoint> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new CheckpointStoreError(`checkpoint file ${path} is not JSON`, { cause });
  }
  const file = parsed as Partial<CheckpointFile> | null;
  if (file?.version !== 1 || typeof file.shards !== 'object' || file.shards === null) {
    throw new CheckpointStoreError(`checkpoint file ${path} is not a version-1 checkpoint file`);
  }
  const shards = new Map<string, ShardCheckpoint>();
  for (const [shardId, raw] of Object.entries(file.shards)) {
    const c = raw as Record<string, unknown> | null;
    if (
      !c ||
      typeof c !== 'object' ||
      (c.sequenceNumber !== undefined && typeof c.sequenceNumber !== 'string') ||
      (c.finished !== undefined && typeof c.finished !== 'boolean') ||
      (c.latestSinceMs !== undefined && typeof c.latestSinceMs !== 'number')
    ) {
      throw new CheckpointStoreError(`checkpoint file ${path} has a malformed entry for ${shardId}`);
    }
    shards.set(shardId, c as ShardCheckpoint);
  }
  return shards;
}

/**
 * One JSON file per mapping (e.g. `.data/checkpoints/hot-writer.json`). Every put rewrites the whole
 * file to a temporary name, fsyncs it and renames it over the old one, so a crash leaves either the old
 * or the new checkpoints, never a torn file. Puts are serialised: shards write concurrently.
 */
export class FileCheckpointStore implements CheckpointStore {
  readonly #path: string;
  #shards: Map<string, ShardCheckpoint> | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.#path = path;
  }

  get path(): string {
    return this.#path;
  }

  async load(): Promise<ReadonlyMap<string, ShardCheckpoint>> {
    return new Map(await this.#loaded());
  }

  put(shardId: string, checkpoint: ShardCheckpoint): Promise<void> {
    const write = this.#queue.then(async () => {
      const shards = await this.#loaded();
      shards.set(shardId, { ...checkpoint });
      await this.#write(shards);
    });
    // A failed write must not wedge later ones; the caller still sees its own failure.
    this.#queue = write.catch(() => undefined);
    return write;
  }

  async #loaded(): Promise<Map<string, ShardCheckpoint>> {
    if (this.#shards) return this.#shards;
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new CheckpointStoreError(`cannot read checkpoint file ${this.#path}`, { cause });
      }
      this.#shards = new Map();
      return this.#shards;
    }
    this.#shards = parseCheckpointFile(text, this.#path);
    return this.#shards;
  }

  async #write(shards: ReadonlyMap<string, ShardCheckpoint>): Promise<void> {
    const body: CheckpointFile = { version: 1, shards: Object.fromEntries(shards) };
    const tmp = `${this.#path}.${randomUUID()}.tmp`;
    try {
      await mkdir(dirname(this.#path), { recursive: true });
      const handle = await open(tmp, 'w');
      try {
        await handle.writeFile(`${JSON.stringify(body, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.#path);
    } catch (cause) {
      await rm(tmp, { force: true });
      throw new CheckpointStoreError(`cannot write checkpoint file ${this.#path}`, { cause });
    }
  }
}
