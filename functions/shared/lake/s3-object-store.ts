import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { type ObjectInfo, type ObjectStore, ObjectStoreError } from './object-store.js';

/** ObjectStore on one S3 bucket (s3rver locally). */
export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
      );
    } catch (cause) {
      throw new ObjectStoreError(`could not put s3://${this.bucket}/${key}`, { cause });
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    } catch (cause) {
      if (cause instanceof NoSuchKey || (cause as { name?: string }).name === 'NoSuchKey') return undefined;
      throw new ObjectStoreError(`could not get s3://${this.bucket}/${key}`, { cause });
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array | undefined> {
    if (end <= start) return new Uint8Array();
    try {
      // An explicit first-last range: s3rver does not understand suffix ranges (`bytes=-N`).
      const out = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }),
      );
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    } catch (cause) {
      const name = (cause as { name?: string }).name;
      if (cause instanceof NoSuchKey || name === 'NoSuchKey') return undefined;
      // A range past the end of a shorter object: nothing of it exists.
      if (name === 'InvalidRange') return new Uint8Array();
      throw new ObjectStoreError(`could not get s3://${this.bucket}/${key} (bytes ${start}-${end - 1})`, {
        cause,
      });
    }
  }

  async copy(source: string, target: string): Promise<void> {
    try {
      await this.s3.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: target,
          // URL-encoded, keeping `/` and `=`: S3 decodes it, s3rver only with decodeURI. Our keys
          // have no `+` or `?` (tenant segments are percent-encoded, and `%` becomes `%25` here).
          CopySource: encodeURI(`${this.bucket}/${source}`),
        }),
      );
    } catch (cause) {
      throw new ObjectStoreError(`could not copy s3://${this.bucket}/${source} to ${target}`, { cause });
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.s3.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          if (o.Key === undefined) continue;
          out.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (cause) {
      throw new ObjectStoreError(`could not list s3://${this.bucket}/${prefix}`, { cause });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: readonly string[]): Promise<void> {
    // DeleteObjects takes at most 1000 keys per request.
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      try {
        const out = await this.s3.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        const failed = out.Errors ?? [];
        if (failed.length > 0) {
          throw new ObjectStoreError(
            `could not delete ${failed.length} objects in s3://${this.bucket}, first: ${failed[0]?.Key} (${failed[0]?.Code})`,
          );
        }
      } catch (cause) {
        if (cause instanceof ObjectStoreError) throw cause;
        throw new ObjectStoreError(`could not delete objects in s3://${this.bucket}`, { cause });
      }
    }
  }
}
