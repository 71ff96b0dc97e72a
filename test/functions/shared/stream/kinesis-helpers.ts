import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type PutRecordsCommandInput,
  type PutRecordsCommandOutput,
  type PutRecordsResultEntry,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';

/** Test helpers over a real (emulated) Kinesis stream. */

export async function createStream(client: KinesisClient, name: string, shardCount: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
  await waitUntilStreamExists({ client, maxWaitTime: 30, minDelay: 1 }, { StreamName: name });
}

export interface ReadRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

/** Every record in the stream, shard by shard from TRIM_HORIZON, in sequence order within a shard. */
export async function readAllRecords(client: KinesisClient, name: string): Promise<ReadRecord[]> {
  const shards = await client.send(new ListShardsCommand({ StreamName: name }));
  const out: ReadRecord[] = [];
  for (const shard of shards.Shards ?? []) {
    const it = await client.send(
      new GetShardIteratorCommand({
        StreamName: name,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    let iterator = it.ShardIterator;
    while (iterator) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        out.push({
          shardId: shard.ShardId!,
          sequenceNumber: r.SequenceNumber!,
          partitionKey: r.PartitionKey!,
          data: r.Data!,
        });
      }
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

export interface PutRecordsCall {
  readonly records: number;
  readonly bytes: number;
}

/**
 * Fault injection over the real emulator: an SDK middleware that, for each PutRecords call, lets
 * `decide` fail chosen entries (they are not sent; their result carries the error code) and records
 * every call's size. kinesalite enforces no throughput limits, so throttling must be injected.
 */
export function instrumentPutRecords(
  client: KinesisClient,
  decide: (partitionKey: string, call: number) => string | undefined = () => undefined,
): PutRecordsCall[] {
  const calls: PutRecordsCall[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutRecordsCommand') return next(args);
      const input = args.input as PutRecordsCommandInput;
      const entries = input.Records ?? [];
      calls.push({
        records: entries.length,
        bytes: entries.reduce(
          (n, e) => n + (e.Data?.byteLength ?? 0) + Buffer.byteLength(e.PartitionKey ?? ''),
          0,
        ),
      });
      const callIndex = calls.length - 1;
      const codes = entries.map((e) => decide(e.PartitionKey ?? '', callIndex));
      const kept = entries.filter((_, i) => codes[i] === undefined);
      let sent: PutRecordsResultEntry[] = [];
      let base: PutRecordsCommandOutput | undefined;
      if (kept.length > 0) {
        const result = await next({ ...args, input: { ...input, Records: kept } });
        base = result.output as PutRecordsCommandOutput;
        sent = base.Records ?? [];
      }
      let k = 0;
      const merged = codes.map(
        (code): PutRecordsResultEntry =>
          code === undefined ? sent[k++]! : { ErrorCode: code, ErrorMessage: `injected ${code}` },
      );
      const failed = merged.filter((r) => r.ErrorCode).length;
      const output: PutRecordsCommandOutput = {
        $metadata: base?.$metadata ?? {},
        ...base,
        Records: merged,
        FailedRecordCount: failed,
      };
      return { output, response: {} } as Awaited<ReturnType<typeof next>>;
    },
    { step: 'initialize', name: 'injectPutRecordsFaults' },
  );
  return calls;
}
