import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  type ScanCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
// zod/mini: the ingest bundle carries this module, and the full zod is ~90 KB of it.
import * as z from 'zod/mini';
import { ensureTable } from '../dynamo/ensure-table.js';
import {
  DEFAULT_KEY_SCOPES,
  KEY_SCOPES,
  type KeyScope,
  type TenantDirectory,
  TenantDirectoryError,
  type TenantInfo,
  type TenantLimits,
  type TenantQueryLimits,
} from './directory.js';
import {
  assertTenantId,
  generateApiKey,
  hashApiKey,
  isAcceptableKey,
  keyIdFor,
  TenantError,
} from './keys.js';

/**
 * The tenants table: partition key `keyHash` (S, hex SHA-256 of the key), one item per key:
 * `{ keyHash, tenantId, keyId, label, createdAt, revokedAt?, limits?, queryLimits?, scopes? }`
 * (dates ISO 8601). Limits are per tenant but copied onto each of its keys, so the request path
 * needs one GetItem; `setTenantLimits` / `setTenantQueryLimits` update them all and a new key
 * inherits them. `scopes` is per key; an item without it (made before scopes existed) may do both. Admin operations scan, which is
 * fine for a table of API keys (hundreds of items) and spares a GSI.
 */
export const TENANTS_TABLE_KEY = 'keyHash';

const LimitsSchema = z.object({
  itemsPerSecond: z.optional(z.number()),
  burst: z.optional(z.number()),
  bytesPerDay: z.optional(z.number()),
  itemsPerDay: z.optional(z.number()),
  unlimited: z.optional(z.boolean()),
});

const QueryLimitsSchema = z.object({
  requestsPerSecond: z.optional(z.number()),
  burst: z.optional(z.number()),
});

const KeyItemSchema = z.object({
  keyHash: z.string(),
  tenantId: z.string(),
  keyId: z.string(),
  label: z.optional(z.string()),
  createdAt: z.string(),
  revokedAt: z.optional(z.string()),
  limits: z.optional(LimitsSchema),
  queryLimits: z.optional(QueryLimitsSchema),
  // An unknown scope makes the item malformed: it then authorises nothing.
  scopes: z.optional(z.array(z.enum(KEY_SCOPES))),
});
type KeyItem = z.infer<typeof KeyItemSchema>;

/** A key as listed: everything but the key itself (and its hash, which is of no use to an operator). */
export interface KeyRecord {
  readonly tenantId: string;
  readonly keyId: string;
  readonly label: string;
  readonly createdAt: string;
  readonly revokedAt?: string;
  readonly limits?: TenantLimits;
  readonly queryLimits?: TenantQueryLimits;
  /** What the key may do (`ingest`, `query`); keys stored without scopes show both. */
  readonly scopes: readonly KeyScope[];
}

/** A key just made: the plaintext is here and nowhere else, ever. */
export interface CreatedKey extends KeyRecord {
  readonly key: string;
}

function toRecord(item: KeyItem): KeyRecord {
  return {
    tenantId: item.tenantId,
    keyId: item.keyId,
    label: item.label ?? '',
    createdAt: item.createdAt,
    ...(item.revokedAt !== undefined && { revokedAt: item.revokedAt }),
    ...(item.limits !== undefined && { limits: item.limits }),
    ...(item.queryLimits !== undefined && { queryLimits: item.queryLimits }),
    scopes: item.scopes ?? DEFAULT_KEY_SCOPES,
  };
}

function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** Looks keys up by hash in DynamoDB; wrap it in CachedTenantDirectory on the request path. */
export class DynamoTenantDirectory implements TenantDirectory {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = documentClient(client);
  }

  async resolve(apiKey: string): Promise<TenantInfo | undefined> {
    let raw: Record<string, unknown> | undefined;
    try {
      const out = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { [TENANTS_TABLE_KEY]: hashApiKey(apiKey) } }),
      );
      raw = out.Item;
    } catch (cause) {
      throw new TenantDirectoryError(`tenant lookup in ${this.tableName} failed`, { cause });
    }
    if (raw === undefined) return undefined;
    const item = KeyItemSchema.safeParse(raw);
    // A malformed item authorises nothing.
    if (!item.success || item.data.revokedAt !== undefined) return undefined;
    const { tenantId, keyId, limits, queryLimits, scopes } = item.data;
    return {
      tenantId,
      keyId,
      ...(limits !== undefined && { limits }),
      ...(queryLimits !== undefined && { queryLimits }),
      ...(scopes !== undefined && { scopes }),
    };
  }
}

/** Creates the tenants table if missing (local mode and tests; in AWS the CDK owns it). */
export function ensureTenantsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureTable(client, tableName, TENANTS_TABLE_KEY);
}

export interface CreateKeyInput {
  readonly tenantId: string;
  readonly label?: string;
  /** @default the limits the tenant's other keys carry, else none */
  readonly limits?: TenantLimits;
  /** @default DEFAULT_KEY_SCOPES (ingest and query) */
  readonly scopes?: readonly KeyScope[];
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Generates a key for a tenant and stores its hash. The returned `key` cannot be recovered later. */
export async function createKey(
  client: DynamoDBClient,
  tableName: string,
  input: CreateKeyInput,
): Promise<CreatedKey> {
  assertTenantId(input.tenantId);
  const key = generateApiKey();
  const doc = documentClient(client);
  const item = await newItem(doc, tableName, input.tenantId, key, input);
  try {
    await putIfAbsent(doc, tableName, item);
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) {
      throw new TenantError('generated key collided with an existing one; try again', 'conflict', {
        cause: err,
      });
    }
    throw err;
  }
  return { ...toRecord(item), key };
}

export interface RegisterKeyInput {
  readonly tenantId: string;
  /** The plaintext key to accept, e.g. local mode's `local-dev-key`. */
  readonly key: string;
  readonly label?: string;
  readonly limits?: TenantLimits;
  /** @default DEFAULT_KEY_SCOPES (ingest and query) */
  readonly scopes?: readonly KeyScope[];
  readonly now?: () => Date;
}

/**
 * Registers a key chosen elsewhere. Idempotent: registering a key again for the same tenant returns
 * the stored record unchanged (a revoked key stays revoked); for another tenant it is a conflict.
 */
export async function registerKey(
  client: DynamoDBClient,
  tableName: string,
  input: RegisterKeyInput,
): Promise<KeyRecord> {
  assertTenantId(input.tenantId);
  if (!isAcceptableKey(input.key)) {
    throw new TenantError(
      'a key must be 8-256 characters from A-Z a-z 0-9 - . _ ~ + / (optionally ending in =)',
      'invalid',
    );
  }
  const doc = documentClient(client);
  const item = await newItem(doc, tableName, input.tenantId, input.key, input);
  try {
    await putIfAbsent(doc, tableName, item);
    return toRecord(item);
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
  }
  const out = await doc.send(
    new GetCommand({
      TableName: tableName,
      Key: { [TENANTS_TABLE_KEY]: item.keyHash },
      ConsistentRead: true,
    }),
  );
  const existing = KeyItemSchema.parse(out.Item);
  if (existing.tenantId !== input.tenantId) {
    throw new TenantError(`this key is already registered to another tenant`, 'conflict');
  }
  return toRecord(existing);
}

/** Lists keys (never the keys themselves), oldest first, optionally of one tenant. */
export async function listKeys(
  client: DynamoDBClient,
  tableName: string,
  tenantId?: string,
): Promise<KeyRecord[]> {
  if (tenantId !== undefined) assertTenantId(tenantId);
  const items = await scanKeys(documentClient(client), tableName, tenantId === undefined ? {} : { tenantId });
  return items
    .map(toRecord)
    .sort((a, b) => a.tenantId.localeCompare(b.tenantId) || a.createdAt.localeCompare(b.createdAt));
}

/**
 * Marks a key revoked (kept for the audit trail; resolve ignores it). Revoking twice keeps the first
 * time. Lambda instances that cached the key keep accepting it for up to the cache's positive TTL.
 */
export async function revokeKey(
  client: DynamoDBClient,
  tableName: string,
  keyId: string,
  options: { now?: () => Date } = {},
): Promise<KeyRecord> {
  const now = (options.now ?? (() => new Date()))();
  return updateKey(client, tableName, keyId, 'revoked', 'SET revokedAt = if_not_exists(revokedAt, :v)', {
    ':v': now.toISOString(),
  });
}

/** Applies `update` to the one key with `keyId` (its id must be unique) and returns the new record. */
async function updateKey(
  client: DynamoDBClient,
  tableName: string,
  keyId: string,
  verb: string,
  update: string,
  values: Record<string, unknown>,
): Promise<KeyRecord> {
  const doc = documentClient(client);
  const matches = await scanKeys(doc, tableName, { keyId });
  const [match, ...others] = matches;
  if (match === undefined) throw new TenantError(`no key with id ${JSON.stringify(keyId)}`, 'not-found');
  if (others.length > 0) {
    throw new TenantError(
      `${matches.length} keys share id ${JSON.stringify(keyId)}; none ${verb}`,
      'conflict',
    );
  }
  const out = await doc.send(
    new UpdateCommand({
      TableName: tableName,
      Key: { [TENANTS_TABLE_KEY]: match.keyHash },
      UpdateExpression: update,
      ConditionExpression: `attribute_exists(${TENANTS_TABLE_KEY})`,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    }),
  );
  return toRecord(KeyItemSchema.parse(out.Attributes));
}

/**
 * Sets (or, with `undefined`, removes) a tenant's limits on all its keys. Returns how many keys were
 * updated; a tenant without keys is an error, since limits live on keys.
 */
export async function setTenantLimits(
  client: DynamoDBClient,
  tableName: string,
  tenantId: string,
  limits: TenantLimits | undefined,
): Promise<number> {
  assertTenantId(tenantId);
  if (limits !== undefined) validateLimits(limits);
  return setOnTenantKeys(client, tableName, tenantId, 'limits', limits);
}

/**
 * Sets what one key may do. Returns the updated record. Lambda instances that cached the key keep
 * its old scopes for up to the cache's positive TTL (60 s).
 */
export async function setKeyScopes(
  client: DynamoDBClient,
  tableName: string,
  keyId: string,
  scopes: readonly KeyScope[],
): Promise<KeyRecord> {
  validateScopes(scopes);
  return updateKey(client, tableName, keyId, 'changed', 'SET scopes = :v', { ':v': [...scopes] });
}

/**
 * Sets (or, with `undefined`, removes: the deployment default applies) a tenant's query API rate on
 * all its keys. Returns how many keys were updated.
 */
export async function setTenantQueryLimits(
  client: DynamoDBClient,
  tableName: string,
  tenantId: string,
  limits: TenantQueryLimits | undefined,
): Promise<number> {
  assertTenantId(tenantId);
  if (limits !== undefined) validateQueryLimits(limits);
  return setOnTenantKeys(client, tableName, tenantId, 'queryLimits', limits);
}

/**
 * Sets (or, with `undefined`, removes) a per-tenant attribute on every key of the tenant: such
 * settings live on keys. Returns how many keys were updated; a tenant without keys is an error.
 */
async function setOnTenantKeys(
  client: DynamoDBClient,
  tableName: string,
  tenantId: string,
  attribute: 'limits' | 'queryLimits',
  value: object | undefined,
): Promise<number> {
  const doc = documentClient(client);
  const keys = await scanKeys(doc, tableName, { tenantId });
  if (keys.length === 0) throw new TenantError(`tenant ${tenantId} has no keys`, 'not-found');
  for (const key of keys) {
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { [TENANTS_TABLE_KEY]: key.keyHash },
        ConditionExpression: `attribute_exists(${TENANTS_TABLE_KEY})`,
        ...(value === undefined
          ? { UpdateExpression: `REMOVE ${attribute}` }
          : {
              UpdateExpression: `SET ${attribute} = :value`,
              ExpressionAttributeValues: { ':value': value },
            }),
      }),
    );
  }
  return keys.length;
}

export function validateScopes(scopes: readonly KeyScope[]): void {
  if (scopes.length === 0 || scopes.some((s) => !KEY_SCOPES.includes(s))) {
    throw new TenantError(
      `scopes must be ingest, query or ingest+query, got: ${scopes.join('+')}`,
      'invalid',
    );
  }
}

export function validateQueryLimits(limits: TenantQueryLimits): void {
  const { requestsPerSecond, burst } = limits;
  if (requestsPerSecond !== undefined && !(Number.isFinite(requestsPerSecond) && requestsPerSecond > 0)) {
    throw new TenantError(
      `requestsPerSecond must be a positive number, got: ${requestsPerSecond}`,
      'invalid',
    );
  }
  if (burst !== undefined && !(Number.isFinite(burst) && burst >= 1)) {
    throw new TenantError(`burst must be a number ≥ 1, got: ${burst}`, 'invalid');
  }
}

export function validateLimits(limits: TenantLimits): void {
  const { itemsPerSecond, burst } = limits;
  if (itemsPerSecond !== undefined && !(Number.isFinite(itemsPerSecond) && itemsPerSecond > 0)) {
    throw new TenantError(`itemsPerSecond must be a positive number, got: ${itemsPerSecond}`, 'invalid');
  }
  if (burst !== undefined && !(Number.isFinite(burst) && burst >= 1)) {
    throw new TenantError(`burst must be a number ≥ 1, got: ${burst}`, 'invalid');
  }
  for (const field of ['bytesPerDay', 'itemsPerDay'] as const) {
    const n = limits[field];
    if (n !== undefined && !(Number.isFinite(n) && n >= 1)) {
      throw new TenantError(`${field} must be a number ≥ 1, got: ${n}`, 'invalid');
    }
  }
}

async function newItem(
  doc: DynamoDBDocumentClient,
  tableName: string,
  tenantId: string,
  key: string,
  input: { label?: string; limits?: TenantLimits; scopes?: readonly KeyScope[]; now?: () => Date },
): Promise<KeyItem> {
  if (input.limits !== undefined) validateLimits(input.limits);
  const scopes = [...(input.scopes ?? DEFAULT_KEY_SCOPES)];
  validateScopes(scopes);
  // A new key must not be a way around the tenant's limits.
  const siblings = await scanKeys(doc, tableName, { tenantId });
  const limits = input.limits ?? siblings.find((k) => k.limits)?.limits;
  const queryLimits = siblings.find((k) => k.queryLimits)?.queryLimits;
  return {
    keyHash: hashApiKey(key),
    tenantId,
    keyId: keyIdFor(key),
    // Omitted rather than '' when empty; toRecord restores ''.
    ...(input.label !== undefined && input.label !== '' && { label: input.label }),
    createdAt: (input.now ?? (() => new Date()))().toISOString(),
    ...(limits !== undefined && { limits }),
    ...(queryLimits !== undefined && { queryLimits }),
    scopes,
  };
}

async function putIfAbsent(doc: DynamoDBDocumentClient, tableName: string, item: KeyItem): Promise<void> {
  await doc.send(
    new PutCommand({
      TableName: tableName,
      Item: item,
      ConditionExpression: `attribute_not_exists(${TENANTS_TABLE_KEY})`,
    }),
  );
}

async function scanKeys(
  doc: DynamoDBDocumentClient,
  tableName: string,
  where: { tenantId?: string; keyId?: string },
): Promise<KeyItem[]> {
  const conditions = ['attribute_exists(keyId)'];
  const values: Record<string, string> = {};
  if (where.tenantId !== undefined) {
    conditions.push('tenantId = :tenantId');
    values[':tenantId'] = where.tenantId;
  }
  if (where.keyId !== undefined) {
    conditions.push('keyId = :keyId');
    values[':keyId'] = where.keyId;
  }
  const items: KeyItem[] = [];
  let startKey: ScanCommandInput['ExclusiveStartKey'];
  do {
    const out = await doc.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: conditions.join(' AND '),
        ...(Object.keys(values).length > 0 && { ExpressionAttributeValues: values }),
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const raw of out.Items ?? []) {
      const parsed = KeyItemSchema.safeParse(raw);
      if (parsed.success) items.push(parsed.data);
    }
    startKey = out.LastEvaluatedKey;
  } while (startKey !== undefined);
  return items;
}
