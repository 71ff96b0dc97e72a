import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ensureTable } from '../dynamo/ensure-table.js';
import type { AlertEvent } from './events.js';
import {
  type AlertStateStore,
  AlertStateStoreError,
  type StateKey,
  type StoredAlertState,
} from './state-store.js';

/**
 * Alert state in DynamoDB: partition key `pk` (S) = `<tenant>#<rule id>`, sort key `sk` (S) = the
 * series key, so one Query reads a rule's series. `expiresAt` (N, epoch seconds) is refreshed on
 * every write; enable TTL on it so series that stopped existing (a retired service) go away.
 */
export const ALERT_STATE_KEYS = { partition: 'pk', sort: 'sk' } as const;

/** A series untouched this long is forgotten (TTL): well past any `for` or `keepFiringFor`. */
const EXPIRY_SECONDS = 8 * 86_400;

interface Item extends Omit<StoredAlertState, 'outbox'> {
  readonly pk: string;
  readonly sk: string;
  readonly expiresAt: number;
  /** The outbox event as JSON text: kept opaque so DynamoDB's type rules never reshape it. */
  readonly outbox?: string;
}

const pk = (tenant: string, ruleId: string) => `${tenant}#${ruleId}`;

export class DynamoAlertStateStore implements AlertStateStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async load(tenant: string, ruleId: string): Promise<StoredAlertState[]> {
    const out: StoredAlertState[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk(tenant, ruleId) },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const raw of page.Items ?? []) {
        const { pk: _pk, sk: _sk, expiresAt: _e, outbox, ...rest } = raw as Item;
        out.push({ ...rest, ...(outbox ? { outbox: JSON.parse(outbox) as AlertEvent } : {}) });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async save(next: StoredAlertState): Promise<boolean> {
    const { outbox, ...rest } = next;
    const item: Item = {
      ...rest,
      pk: pk(next.tenant, next.ruleId),
      sk: next.seriesKey,
      expiresAt: Math.floor(next.evaluatedAt / 1000) + EXPIRY_SECONDS,
      ...(outbox ? { outbox: JSON.stringify(outbox) } : {}),
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression:
            next.version === 1
              ? 'attribute_not_exists(pk)'
              : '#version = :previous AND evaluatedAt < :evaluatedAt',
          ...(next.version === 1
            ? {}
            : {
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: {
                  ':previous': next.version - 1,
                  ':evaluatedAt': next.evaluatedAt,
                },
              }),
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw new AlertStateStoreError(`saving alert state ${item.pk} ${item.sk} failed`, { cause: err });
    }
  }

  async clearOutbox(key: StateKey, transitionId: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pk(key.tenant, key.ruleId), sk: key.seriesKey },
          UpdateExpression: 'REMOVE outbox',
          ConditionExpression: 'contains(outbox, :tid)',
          ExpressionAttributeValues: { ':tid': `"transitionId":"${transitionId}"` },
        }),
      );
    } catch (err) {
      // Already cleared, or a newer transition replaced it: that one is its writer's to clear.
      if (err instanceof ConditionalCheckFailedException) return;
      throw new AlertStateStoreError(`clearing the outbox of ${key.tenant}#${key.ruleId} failed`, {
        cause: err,
      });
    }
  }
}

/** Creates the state table unless it exists. Local mode and tests only: in AWS the CDK stack owns it. */
export function ensureAlertStateTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureTable(client, tableName, ALERT_STATE_KEYS.partition, ALERT_STATE_KEYS.sort);
}
