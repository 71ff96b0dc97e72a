import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SecretNotFoundError, type SecretSource } from './secrets.js';

/**
 * Where the secrets of channels made through the API go: written once, never returned. The channel
 * keeps only the reference (`secret`), which notifiers resolve through a SecretSource. In AWS a
 * Secrets Manager secret per channel under the alert secret prefix
 * (secrets-manager-channel-secret-store.ts); locally a file under the data directory.
 */
export interface ChannelSecretStore {
  /** Stores (or replaces) the secret of a tenant's channel; resolves its reference. */
  put(tenant: string, channelId: string, value: string): Promise<string>;
}

/** References of the local store: not an ARN and not `env:`, so a rule file cannot name one. */
export const LOCAL_SECRET_PREFIX = 'local-secret:';

/**
 * Local mode: one JSON file (mode 0600) of reference -> value under the data directory; it is also
 * the SecretSource for its own references.
 */
export class FileChannelSecretStore implements ChannelSecretStore, SecretSource {
  private writing: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: string) {}

  private async read(): Promise<Record<string, string>> {
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as Record<string, string>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }

  put(tenant: string, channelId: string, value: string): Promise<string> {
    const ref = `${LOCAL_SECRET_PREFIX}${tenant}/${channelId}`;
    // One writer at a time: a read-modify-write of the whole file.
    const done = this.writing.then(async () => {
      const all = await this.read();
      all[ref] = value;
      await mkdir(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      await writeFile(tmp, JSON.stringify(all), { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, this.file);
      return ref;
    });
    this.writing = done.catch(() => undefined);
    return done;
  }

  async get(ref: string): Promise<string> {
    const value = (await this.read())[ref];
    if (value === undefined || value === '') throw new SecretNotFoundError(`no value for secret ${ref}`);
    return value;
  }
}

/** Local mode's notifiers: the store's references from the file, everything else from `fallback`. */
export class RoutingSecretSource implements SecretSource {
  constructor(
    private readonly local: SecretSource,
    private readonly fallback: SecretSource,
  ) {}

  get(ref: string): Promise<string> {
    return ref.startsWith(LOCAL_SECRET_PREFIX) ? this.local.get(ref) : this.fallback.get(ref);
  }
}
