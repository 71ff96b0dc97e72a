import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../functions/shared/lake/s3-object-store.js';
import { type Emulators, startEmulators } from '../../local/emulators.js';

let dir: string;
let emulators: Emulators;
let s3: S3Client;
let store: S3ObjectStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atomic-s3rver-'));
  emulators = await startEmulators({ dataDir: join(dir, 'emulators') });
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: emulators.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    // A plain streamed body (no aws-chunked trailer), as s3rver understands it.
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'bkt' }));
  store = new S3ObjectStore(s3, 'bkt');
});
afterAll(async () => {
  s3.destroy();
  await emulators.close();
  await rm(dir, { recursive: true, force: true });
});

/** Files under the bucket's folder whose name ends with `suffix` (s3rver's own layout). */
async function filesEndingWith(suffix: string): Promise<string[]> {
  const all = await readdir(join(dir, 'emulators', 's3', 'bkt'), { recursive: true });
  return all.filter((f) => f.endsWith(suffix));
}

describe('local s3rver puts', () => {
  it('show the old object or the new one while a put is under way, never a part of it', async () => {
    await store.put('dir/k', Buffer.from('old'));
    const half = Buffer.alloc(100_000, 1);
    const streamed = (key: string) => {
      const body = new PassThrough();
      const done = s3.send(
        new PutObjectCommand({ Bucket: 'bkt', Key: key, Body: body, ContentLength: half.length * 2 }),
      );
      body.write(half);
      return { body, done };
    };
    const replacing = streamed('dir/k');
    const creating = streamed('dir/new');
    // Wait until s3rver holds the first half of both bodies on disk.
    for (let i = 0; i < 200 && (await filesEndingWith('.partial')).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }

    const partials = await filesEndingWith('.partial');
    const during = await store.get('dir/k');
    const listedDuring = (await store.list('dir/')).map((o) => [o.key, o.size]);
    replacing.body.end(half);
    creating.body.end(half);
    await Promise.all([replacing.done, creating.done]);

    expect(Buffer.from(during!).toString()).toBe('old');
    expect(listedDuring).toEqual([['dir/k', 3]]);
    expect(partials).toHaveLength(2);
    expect((await store.list('dir/')).map((o) => [o.key, o.size])).toEqual([
      ['dir/k', 200_000],
      ['dir/new', 200_000],
    ]);
    expect(await filesEndingWith('.partial')).toEqual([]);
  });
});
