// The emulators ship no type declarations; these are the parts we use.
declare module 'kinesalite' {
  import type { Server } from 'node:http';

  function kinesalite(options?: Record<string, unknown>): Server;
  export default kinesalite;
}
declare module 'dynalite' {
  import type { Server } from 'node:http';

  function dynalite(options?: Record<string, unknown>): Server;
  export default dynalite;
}
declare module 's3rver' {
  import type { AddressInfo } from 'node:net';
  /** s3rver's FilesystemStore (lib/stores/filesystem.js). */
  export interface S3rverObject {
    readonly bucket: string;
    readonly key: string;
    readonly metadata: Record<string, string>;
    readonly content: Buffer | NodeJS.ReadableStream;
  }
  export interface S3rverStore {
    getResourcePath(bucket: string, key: string | undefined, resource: string): string;
    putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
    putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  }
  export default class S3rver {
    constructor(options: Record<string, unknown>);
    readonly store: S3rverStore;
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
  }
}
