import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Makes s3rver's puts atomic, as S3's are. Its filesystem store opens the object file in place and
 * answers before the bytes are written, so a kill -9 (of local mode, which runs s3rver in-process)
 * left 0-byte or truncated objects under keys the lake writer then trusted. Here a put writes a
 * temporary file beside the object (a name s3rver's listing skips), then renames it over the
 * object: a reader sees the old object or the new one, never a part. The metadata is written just
 * before the rename (a reader in between sees the old bytes with the new ETag; nothing reads it).
 * A crash leaves at most a `.partial` file, which no listing shows. No fsync: a killed process
 * loses no completed write; surviving power loss is not a goal of local mode.
 */

/** The parts of s3rver's FilesystemStore used here (lib/stores/filesystem.js, s3rver 3.x). */
export interface S3rverFilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
}

interface S3rverObject {
  readonly bucket: string;
  readonly key: string;
  readonly metadata: unknown;
  readonly content: Buffer | Readable;
}

export function makePutsAtomic(store: S3rverFilesystemStore): void {
  store.putObject = async (object) => {
    const target = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.${process.pid}-${randomBytes(6).toString('hex')}.partial`;
    const md5 = createHash('md5');
    let size = 0;
    const file = await open(temp, 'w');
    try {
      const chunks: AsyncIterable<unknown> | Buffer[] = Buffer.isBuffer(object.content)
        ? [object.content]
        : object.content;
      for await (const chunk of chunks) {
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        md5.update(bytes);
        size += bytes.length;
        await file.write(bytes);
      }
      await file.close();
    } catch (e) {
      await file.close().catch(() => {});
      await rm(temp, { force: true });
      throw e;
    }
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    await rename(temp, target);
    return { size, md5: digest };
  };
}
