import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { RuleSlices } from './stream-partials.js';

/**
 * What the stream evaluator keeps between tumbling windows: the partial aggregates each shard
 * folded in each window (a rule window is the merge of the slices of its last N tumbling windows,
 * from every shard), and per shard the rules it has recently seen data for (so it keeps
 * evaluating them, and resolves their alerts, after their data stops).
 */

/** The slices one shard folded for one rule in one tumbling window (or one early flush of it). */
export interface WindowSlices {
  readonly tenant: string;
  readonly ruleId: string;
  readonly shardId: string;
  /** End of the tumbling window, epoch ms. */
  readonly windowEnd: number;
  /** 'final', or a flush before the window's end (its last sequence number): writes are idempotent. */
  readonly part: string;
  readonly slices: RuleSlices;
}

/** `<tenant>\u0000<rule id>` -> the end of the last window in which this shard saw data for it. */
export type ShardActivity = Record<string, number>;

export interface AlertSliceStore {
  /** Writes (or overwrites, same key) each item. */
  put(items: readonly WindowSlices[]): Promise<void>;
  /** Every shard's slices of a rule from windows ending in (fromMs, toMs]. */
  load(tenant: string, ruleId: string, fromMs: number, toMs: number): Promise<WindowSlices[]>;
  activity(shardId: string): Promise<ShardActivity>;
  saveActivity(shardId: string, activity: ShardActivity): Promise<void>;
}

export class AlertSliceStoreError extends Error {
  override readonly name = 'AlertSliceStoreError';
}

const pad = (ms: number) => String(ms).padStart(15, '0');
/** Slices live beside the alert state, under their own partition keys (`slices#…`, `activity#…`). */
const slicePk = (tenant: string, ruleId: string) => `slices#${tenant}#${ruleId}`;
const activityPk = (shardId: string) => `activity#${shardId}`;
/** Slices are read for at most a rule window (15 min): a day of TTL is ample. */
const SLICE_TTL_SECONDS = 86_400;
const PUT_CONCURRENCY = 16;

/**
 * In the alert state table (pk/sk strings, TTL on `expiresAt`): one item per (tenant, rule,
 * window, shard, part), sk `<window end>#<shard>#<part>` so a rule window is one Query.
 */
export class DynamoAlertSliceStore implements AlertSliceStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async put(items: readonly WindowSlices[]): Promise<void> {
    try {
      // A few writes at a time: a window can carry hundreds of rules.
      for (let i = 0; i < items.length; i += PUT_CONCURRENCY) {
        await this.putAll(items.slice(i, i + PUT_CONCURRENCY));
      }
    } catch (cause) {
      throw new AlertSliceStoreError('writing alert slices failed', { cause });
    }
  }

  private async putAll(items: readonly WindowSlices[]): Promise<void> {
    await Promise.all(
      items.map((w) =>
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk: slicePk(w.tenant, w.ruleId),
              sk: `${pad(w.windowEnd)}#${w.shardId}#${w.part}`,
              // Opaque JSON: DynamoDB's number and map rules never reshape a partial.
              slices: JSON.stringify(w.slices),
              expiresAt: Math.floor(w.windowEnd / 1000) + SLICE_TTL_SECONDS,
            },
          }),
        ),
      ),
    );
  }

  async load(tenant: string, ruleId: string, fromMs: number, toMs: number): Promise<WindowSlices[]> {
    const out: WindowSlices[] = [];
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
            ExpressionAttributeValues: {
              ':pk': slicePk(tenant, ruleId),
              ':from': `${pad(fromMs + 1)}#`,
              ':to': `${pad(toMs)}#\uffff`,
            },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        for (const item of page.Items ?? []) {
          const sk = String(item.sk);
          const [end = '0', shardId = '', ...part] = sk.split('#');
          out.push({
            tenant,
            ruleId,
            shardId,
            windowEnd: Number(end),
            part: part.join('#'),
            slices: JSON.parse(String(item.slices)) as RuleSlices,
          });
        }
        start = page.LastEvaluatedKey;
      } while (start);
    } catch (cause) {
      throw new AlertSliceStoreError(`reading the slices of ${tenant}/${ruleId} failed`, { cause });
    }
    return out;
  }

  async activity(shardId: string): Promise<ShardActivity> {
    try {
      const out = await this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: activityPk(shardId), sk: '-' },
          ConsistentRead: true,
        }),
      );
      return out.Item ? (JSON.parse(String(out.Item.rules)) as ShardActivity) : {};
    } catch (cause) {
      throw new AlertSliceStoreError(`reading the activity of ${shardId} failed`, { cause });
    }
  }

  async saveActivity(shardId: string, activity: ShardActivity): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: activityPk(shardId),
            sk: '-',
            rules: JSON.stringify(activity),
            expiresAt: Math.floor(Date.now() / 1000) + SLICE_TTL_SECONDS,
          },
        }),
      );
    } catch (cause) {
      throw new AlertSliceStoreError(`saving the activity of ${shardId} failed`, { cause });
    }
  }
}
