import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';
import S3rver, { type S3rverStore } from 's3rver';

/**
 * The local stand-ins for AWS: kinesalite (Kinesis), dynalite (DynamoDB) and s3rver (S3), each a
 * real HTTP server on loopback that the real AWS SDK clients talk to. Local mode and the tests
 * start them through here; nothing assumes one is already running.
 */
export interface Emulators {
  readonly kinesisEndpoint: string;
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
  /** The file that holds an object's bytes under s3rver's directory. */
  s3ObjectFile(bucket: string, key: string): string;
  close(): Promise<void>;
}

export interface EmulatorOptions {
  /** Where their state lives; reused across restarts. */
  readonly dataDir: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly kinesisPort?: number;
  readonly dynamoPort?: number;
  readonly s3Port?: number;
}

interface Listener {
  listen(port: number, host: string, cb: (err?: Error) => void): void;
  address(): AddressInfo | string | null;
  close(cb?: () => void): void;
}

async function listen(server: Listener, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.listen(port, host, (err?: Error) => (err ? reject(err) : resolve()));
  });
  const addr = server.address() as AddressInfo;
  return `http://${host}:${addr.port}`;
}

async function readAll(content: Buffer | NodeJS.ReadableStream): Promise<Buffer> {
  if (Buffer.isBuffer(content)) return content;
  const parts: Buffer[] = [];
  for await (const chunk of content) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(parts);
}

/**
 * s3rver writes an object straight into its final file and answers before the bytes are flushed,
 * with no listener for a write error: a crash mid-write leaves a torn (often 0-byte) object that
 * was acknowledged, and a full disk throws an uncaught ENOSPC. S3 stores a PUT whole or not at
 * all, so here the bytes go to a temporary file that is fsynced and renamed into place before the
 * PUT is answered, and a write error fails that PUT (a 500 the SDK retries) instead of the process.
 */
function makeObjectPutsAtomic(store: S3rverStore, tmpDir: string): void {
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    const content = await readAll(object.content);
    const md5 = createHash('md5').update(content).digest('hex');
    const tmp = join(tmpDir, `${randomUUID()}.tmp`);
    try {
      await mkdir(dirname(objectPath), { recursive: true });
      const handle = await open(tmp, 'w');
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, objectPath);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size: content.length, md5 };
  };
}

type LevelCallback = (
  err?: (Error & { statusCode?: number; body?: unknown }) | null,
  ...rest: unknown[]
) => void;
type LevelMethod = (this: unknown, ...args: unknown[]) => unknown;
let storeErrorsAnswered = false;

/** Gives a store's write error what the emulators' request handlers answer as a 500. */
function asInternalFailure(err: { statusCode?: number; body?: unknown; message: string }): void {
  if (err.statusCode !== undefined) return;
  err.statusCode = 500;
  err.body = { __type: 'InternalFailure', message: `emulator store write failed: ${err.message}` };
}

/**
 * kinesalite and dynalite answer an error of their store (LevelDB under DATA_DIR) by throwing it
 * from a callback (`if (err) throw err` in their request handlers): an ENOSPC from a full disk
 * ended the whole process. Both handlers answer any error that carries `statusCode` and `body`, so
 * the stores' writes are given those here: the client gets a 500 InternalFailure, which the SDK
 * retries and ingest turns into 503 with Retry-After. kinesalite writes through `levelup`
 * (callbacks), dynalite through `level`'s promises.
 */
function answerStoreWriteErrors(): void {
  if (storeErrorsAnswered) return;
  storeErrorsAnswered = true;
  const fromKinesalite = createRequire(createRequire(import.meta.url).resolve('kinesalite'));
  const proto = (fromKinesalite('levelup') as { prototype: Record<string, LevelMethod> }).prototype;
  for (const name of ['put', 'del', 'batch']) {
    const original = proto[name];
    if (typeof original !== 'function') continue;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      let at = args.length - 1;
      while (at >= 0 && typeof args[at] !== 'function') at--;
      if (at >= 0) {
        const callback = args[at] as LevelCallback;
        args[at] = ((err, ...rest) => {
          if (err) asInternalFailure(err);
          callback(err, ...rest);
        }) satisfies LevelCallback;
      }
      return original.apply(this, args);
    };
  }
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const level = (fromDynalite('level') as { Level: { prototype: Record<string, LevelMethod> } }).Level
    .prototype;
  for (const name of ['put', 'del', 'batch']) {
    const original = level[name];
    if (typeof original !== 'function') continue;
    level[name] = function (this: unknown, ...args: unknown[]) {
      const out = original.apply(this, args);
      // A chained batch (no arguments) is not a promise: its write goes through `batch` above it.
      if (out instanceof Promise) {
        return out.catch((err: { statusCode?: number; body?: unknown; message: string }) => {
          asInternalFailure(err);
          throw err;
        });
      }
      return out;
    };
  }
}

export async function startEmulators(options: EmulatorOptions): Promise<Emulators> {
  const host = options.host ?? '127.0.0.1';
  // s3-tmp sits beside s3/, not in it: s3rver would list a folder in its root as a bucket.
  const dirs = ['kinesis', 'dynamodb', 's3', 's3-tmp'].map((d) => join(options.dataDir, d));
  await Promise.all(dirs.map((d) => mkdir(d, { recursive: true })));
  const [kDir, dDir, sDir, sTmp] = dirs as [string, string, string, string];

  answerStoreWriteErrors();
  const kinesis = kinesalite({
    path: kDir,
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 50,
  });
  const kinesisEndpoint = await listen(kinesis as Listener, options.kinesisPort ?? 0, host);
  const dynamo = dynalite({ path: dDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dynamoEndpoint = await listen(dynamo as Listener, options.dynamoPort ?? 0, host);
  const s3 = new S3rver({ port: options.s3Port ?? 0, address: host, directory: sDir, silent: true });
  makeObjectPutsAtomic(s3.store, sTmp);
  const s3Addr = await s3.run();
  const s3Endpoint = `http://${host}:${s3Addr.port}`;

  return {
    kinesisEndpoint,
    dynamoEndpoint,
    s3Endpoint,
    s3ObjectFile: (bucket, key) => s3.store.getResourcePath(bucket, key, 'object'),
    async close() {
      await Promise.all([
        new Promise<void>((r) => (kinesis as Listener).close(() => r())),
        new Promise<void>((r) => (dynamo as Listener).close(() => r())),
        s3.close(),
      ]);
    },
  };
}
