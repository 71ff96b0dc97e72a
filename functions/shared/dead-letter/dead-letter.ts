/**
 * Where records go that can never be processed (a poison envelope, a batch that exhausted its
 * retries), each with the reason, so nothing is dropped silently and an operator can replay it.
 * In AWS and locally this is a prefix of the lake bucket (`dead-letter/…`); adapters live beside.
 */
export interface DeadLetter {
  /** Which consumer gave up: 'hot-writer', 'lake-writer', 'ingest', … */
  readonly source: string;
  /** Why, in words an operator understands. */
  readonly reason: string;
  /** The stream position, when the record came from the stream. */
  readonly shardId?: string;
  readonly sequenceNumber?: string;
  /** The record's bytes as received. */
  readonly data: Uint8Array;
}

export interface DeadLetterSink {
  put(letters: readonly DeadLetter[]): Promise<void>;
}
