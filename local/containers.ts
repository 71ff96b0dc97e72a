import type { Context, KinesisStreamEvent } from 'aws-lambda';

/** A Kinesis consumer's handler, as local mode composes it (functions.ts). */
type ShardHandler<E extends KinesisStreamEvent, R> = (event: E, context: Context) => R;

/**
 * One handler per shard, made on the shard's first batch, as Lambda gives a shard's invocations a
 * container of their own: Lambda runs one shard's batches one after another and never two
 * invocations at once in one container, while local mode's pollers run the shards side by side in
 * one process. So no per-container state (Powertools' metrics buffer, emitters kept across
 * invocations, caches) is shared by two invocations in flight. Shared, one shard's invocation
 * published the other's metrics, and the other warned "No application metrics to publish".
 */
export function containerPerShard<E extends KinesisStreamEvent, R>(
  make: () => ShardHandler<E, R>,
): ShardHandler<E, R> {
  const containers = new Map<string, ShardHandler<E, R>>();
  return (event, context) => {
    const shard = shardOf(event);
    let handler = containers.get(shard);
    if (handler === undefined) {
      handler = make();
      containers.set(shard, handler);
    }
    return handler(event, context);
  };
}

/**
 * The shard an event comes from: a tumbling-window event names it (its last invocation of a window
 * may hold no record); a plain batch holds at least one record, whose eventID is `shardId:sequence`.
 */
export function shardOf(event: KinesisStreamEvent): string {
  const named = (event as { shardId?: unknown }).shardId;
  if (typeof named === 'string') return named;
  const id = event.Records[0]?.eventID;
  if (id === undefined) throw new Error('a Kinesis event without records or shardId');
  const colon = id.indexOf(':');
  return colon < 0 ? id : id.slice(0, colon);
}
