import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';
import S3rver from 's3rver';
import { makePutsAtomic, type S3rverFilesystemStore } from './atomic-s3rver-puts.js';

/**
 * The local stand-ins for AWS: kinesalite (Kinesis), dynalite (DynamoDB) and s3rver (S3), each a
 * real HTTP server on loopback that the real AWS SDK clients talk to. Local mode and the tests
 * start them through here; nothing assumes one is already running.
 */
export interface Emulators {
  readonly kinesisEndpoint: string;
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
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

export async function startEmulators(options: EmulatorOptions): Promise<Emulators> {
  const host = options.host ?? '127.0.0.1';
  const dirs = ['kinesis', 'dynamodb', 's3'].map((d) => join(options.dataDir, d));
  await Promise.all(dirs.map((d) => mkdir(d, { recursive: true })));
  const [kDir, dDir, sDir] = dirs as [string, string, string];

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
  // S3 puts are atomic; s3rver's are not until this (a killed process left 0-byte objects).
  makePutsAtomic(s3.store as S3rverFilesystemStore);
  const s3Addr = await s3.run();
  const s3Endpoint = `http://${host}:${s3Addr.port}`;

  return {
    kinesisEndpoint,
    dynamoEndpoint,
    s3Endpoint,
    async close() {
      await Promise.all([
        new Promise<void>((r) => (kinesis as Listener).close(() => r())),
        new Promise<void>((r) => (dynamo as Listener).close(() => r())),
        s3.close(),
      ]);
    },
  };
}
