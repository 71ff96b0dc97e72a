import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { ensureTable } from '../dynamo/ensure-table.js';
import {
  type AlertConfigStore,
  type AlertHistoryStore,
  ConfigConflictError,
  type ConfigKind,
  type ConfigVersion,
  type ConfigWrite,
  HistoryCursorError,
  type HistoryEntry,
  type HistoryPage,
  type HistoryQuery,
  type Silence,
  type SilenceSource,
} from './config-store.js';
import { seriesKey } from './queries.js';

/**
 * Alert configuration in DynamoDB, one partition per tenant (`pk` = tenant id):
 *
 * - `sk = v#<kind>#<id>#<version, 10 digits>`: every version of a rule or channel (the audit trail
 *   and the lock: a version is written with `attribute_not_exists`, so of two concurrent writers of
 *   the same next version one fails with a conflict);
 * - `sk = cur#<kind>#<id>`: the current version, written after it (conditional on being newer), which
 *   lists and the evaluator read. A crash between the two leaves the current item one version
 *   behind until the next write of that id, which starts from the newest version item and heals it;
 * - `sk = silence#<id>`: silences.
 *
 * No transactions: dynalite (local mode) has none, and this order needs none.
 * History is a table of its own (DynamoAlertHistoryStore) so the evaluator's scan of the
 * configuration never reads it.
 */

const versionSk = (kind: ConfigKind, id: string, version: number) =>
  `v#${kind}#${id}#${String(version).padStart(10, '0')}`;
const currentSk = (kind: ConfigKind, id: string) => `cur#${kind}#${id}`;

interface ConfigItem {
  readonly pk: string;
  readonly sk: string;
  readonly kind: ConfigKind;
  readonly id: string;
  readonly version: number;
  /** JSON text: DynamoDB's type rules never reshape a rule (empty maps, numbers as strings…). */
  readonly body: string;
  readonly deleted: boolean;
  readonly updatedAt: number;
  readonly updatedBy: string;
}

const fromItem = (item: ConfigItem): ConfigVersion => ({
  tenant: item.pk,
  kind: item.kind,
  id: item.id,
  version: item.version,
  body: JSON.parse(item.body) as Record<string, unknown>,
  deleted: item.deleted,
  updatedAt: item.updatedAt,
  updatedBy: item.updatedBy,
});

export class DynamoAlertConfigStore implements AlertConfigStore, SilenceSource {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  private async queryAll(
    input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName'>,
  ): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({ ...input, TableName: this.tableName, ExclusiveStartKey: start }),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  private async latestVersion(
    tenant: string,
    kind: ConfigKind,
    id: string,
  ): Promise<ConfigVersion | undefined> {
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': tenant, ':prefix': `v#${kind}#${id}#` },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = page.Items?.[0] as ConfigItem | undefined;
    return item ? fromItem(item) : undefined;
  }

  get(tenant: string, kind: ConfigKind, id: string): Promise<ConfigVersion | undefined> {
    return this.latestVersion(tenant, kind, id);
  }

  async list(tenant: string, kind: ConfigKind): Promise<ConfigVersion[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': tenant, ':prefix': `cur#${kind}#` },
      ConsistentRead: true,
    });
    return (items as unknown as ConfigItem[])
      .map(fromItem)
      .filter((v) => !v.deleted)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async listAll(): Promise<ConfigVersion[]> {
    const out: ConfigVersion[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(sk, :cur) AND deleted = :false',
          ExpressionAttributeValues: { ':cur': 'cur#', ':false': false },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      out.push(...((page.Items ?? []) as unknown as ConfigItem[]).map(fromItem));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async versions(tenant: string, kind: ConfigKind, id: string): Promise<ConfigVersion[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': tenant, ':prefix': `v#${kind}#${id}#` },
      ScanIndexForward: false,
      ConsistentRead: true,
    });
    return (items as unknown as ConfigItem[]).map(fromItem);
  }

  async put(write: ConfigWrite): Promise<ConfigVersion> {
    const latest = await this.latestVersion(write.tenant, write.kind, write.id);
    if ((latest?.version ?? 0) !== write.expectedVersion) {
      throw new ConfigConflictError(
        `${write.kind} ${write.id} is at version ${latest?.version ?? 0}, not ${write.expectedVersion}`,
      );
    }
    const version = write.expectedVersion + 1;
    const base = {
      pk: write.tenant,
      kind: write.kind,
      id: write.id,
      version,
      body: JSON.stringify(write.body),
      deleted: write.deleted ?? false,
      updatedAt: write.updatedAt,
      updatedBy: write.updatedBy,
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...base, sk: versionSk(write.kind, write.id, version) },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        throw new ConfigConflictError(`${write.kind} ${write.id} was changed concurrently; read it again`);
      }
      throw err;
    }
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...base, sk: currentSk(write.kind, write.id) },
          ConditionExpression: 'attribute_not_exists(sk) OR version < :v',
          ExpressionAttributeValues: { ':v': version },
        }),
      );
    } catch (err) {
      // A newer version is current already: ours stays in the versions, which is all it needs.
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
    return fromItem({ ...base, sk: '' });
  }

  async putSilence(silence: Silence): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: silence.tenant, sk: `silence#${silence.id}`, silence: JSON.stringify(silence) },
      }),
    );
  }

  async getSilence(tenant: string, id: string): Promise<Silence | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: tenant, sk: `silence#${id}` },
        ConsistentRead: true,
      }),
    );
    const text = out.Item?.silence;
    return typeof text === 'string' ? (JSON.parse(text) as Silence) : undefined;
  }

  async listSilences(tenant: string, endedAfter?: number): Promise<Silence[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': tenant, ':prefix': 'silence#' },
      ConsistentRead: true,
    });
    return items
      .map((i) => JSON.parse(String(i.silence)) as Silence)
      .filter((s) => endedAfter === undefined || s.endsAt > endedAfter)
      .sort((a, b) => b.startsAt - a.startsAt || a.id.localeCompare(b.id));
  }

  async active(tenant: string, now: number): Promise<readonly Silence[]> {
    return (await this.listSilences(tenant, now)).filter((s) => s.startsAt <= now);
  }
}

/** How long transitions stay queryable. */
export const HISTORY_RETENTION_DAYS = 30;

const pad = (ms: number) => String(Math.max(0, Math.trunc(ms))).padStart(15, '0');
const CURSOR = /^[0-9]{15}#[A-Za-z0-9._#-]{1,400}$/;

/**
 * The transition history in DynamoDB: `pk` = tenant, `sk` = `<at ms, 15 digits>#<rule>#<series hash>#<to>`,
 * so one Query reads a tenant's range newest first; `expiresAt` (TTL) drops entries after
 * HISTORY_RETENTION_DAYS. Writes are idempotent (the key is the transition), so a retried evaluation
 * does not duplicate an entry. Cursors are the last sort key returned, used only inside the
 * caller's own partition: a forged cursor cannot reach another tenant.
 */
export class DynamoAlertHistoryStore implements AlertHistoryStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly retentionDays = HISTORY_RETENTION_DAYS,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async record(entries: readonly HistoryEntry[]): Promise<void> {
    await Promise.all(
      entries.map((e) => {
        const seriesHash = createHash('sha256').update(seriesKey(e.series)).digest('hex').slice(0, 16);
        return this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk: e.tenant,
              sk: `${pad(e.at)}#${e.ruleId}#${seriesHash}#${e.to}`,
              ruleId: e.ruleId,
              entry: JSON.stringify(e),
              expiresAt: Math.floor(e.at / 1000) + this.retentionDays * 86_400,
            },
          }),
        );
      }),
    );
  }

  async query(q: HistoryQuery): Promise<HistoryPage> {
    if (q.cursor !== undefined && !CURSOR.test(q.cursor)) throw new HistoryCursorError('invalid cursor');
    const entries: HistoryEntry[] = [];
    let start: Record<string, unknown> | undefined = q.cursor ? { pk: q.tenant, sk: q.cursor } : undefined;
    let lastSk: string | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ...(q.ruleId !== undefined && { FilterExpression: 'ruleId = :rule' }),
          ExpressionAttributeValues: {
            ':pk': q.tenant,
            ':lo': pad(q.fromMs),
            // '~' sorts after every character a key holds: the whole last millisecond is in range.
            ':hi': `${pad(q.toMs)}~`,
            ...(q.ruleId !== undefined && { ':rule': q.ruleId }),
          },
          ScanIndexForward: false,
          Limit: Math.max(q.limit - entries.length, 25),
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        if (entries.length >= q.limit) break;
        entries.push(JSON.parse(String(item.entry)) as HistoryEntry);
        lastSk = String(item.sk);
      }
      start = page.LastEvaluatedKey;
      if (entries.length >= q.limit) {
        // Cut inside a page: continue after the last entry returned.
        return { entries, nextCursor: lastSk ?? null };
      }
    } while (start);
    return { entries, nextCursor: null };
  }
}

/** Creates the configuration and history tables unless they exist (local mode and tests; CDK in AWS). */
export async function ensureAlertConfigTables(
  client: DynamoDBClient,
  configTable: string,
  historyTable: string,
): Promise<void> {
  await ensureTable(client, configTable, 'pk', 'sk');
  await ensureTable(client, historyTable, 'pk', 'sk');
}
