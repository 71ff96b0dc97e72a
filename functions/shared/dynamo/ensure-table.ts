import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';

/**
 * Creates an on-demand table keyed by a string partition key (and optional string sort key) unless
 * it exists. For local mode and tests only: in AWS the tables belong to the CDK stacks.
 */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  partitionKey: string,
  sortKey?: string,
): Promise<void> {
  const keys = [
    { name: partitionKey, type: 'HASH' as const },
    ...(sortKey ? [{ name: sortKey, type: 'RANGE' as const }] : []),
  ];
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
  }
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: keys.map((k) => ({ AttributeName: k.name, AttributeType: 'S' as const })),
        KeySchema: keys.map((k) => ({ AttributeName: k.name, KeyType: k.type })),
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (err) {
    // Another process created it between our describe and create.
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  // Our own poll: the SDK waiter sleeps at least 20 s once it sees CREATING, which an emulator under
  // load reports for a few milliseconds.
  const deadline = Date.now() + 60_000;
  for (let delayMs = 25; ; delayMs = Math.min(delayMs * 2, 1000)) {
    try {
      const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (out.Table?.TableStatus === 'ACTIVE') return;
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
    }
    if (Date.now() > deadline) throw new Error(`table ${tableName} did not become ACTIVE within 60 s`);
    await new Promise((r) => setTimeout(r, delayMs));
  }
}
