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
  export default class S3rver {
    constructor(options: Record<string, unknown>);
    /** The filesystem store (see atomic-s3rver-puts.ts for the parts we touch). */
    readonly store: unknown;
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
  }
}
