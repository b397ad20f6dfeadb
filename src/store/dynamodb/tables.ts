import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { DynamoConnection } from './dynamo-connection';

export const STATUS_INDEX = 'ByStatus';

function definitions(connection: DynamoConnection): CreateTableCommandInput[] {
  return [
    {
      TableName: connection.table('ClientRegistry'),
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'ClientID', AttributeType: 'S' },
        { AttributeName: 'RegistrationStatus', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'ClientID', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: STATUS_INDEX,
          KeySchema: [
            { AttributeName: 'RegistrationStatus', KeyType: 'HASH' },
            { AttributeName: 'ClientID', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    },
    {
      TableName: connection.table('ChannelData'),
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'Channel', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'Channel', KeyType: 'HASH' }],
    },
    {
      // History: one item per (stream, Seq); Seq 0 is the stream's head. TTL attribute: ExpiresAt.
      TableName: connection.table('History'),
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'Stream', AttributeType: 'S' },
        { AttributeName: 'Seq', AttributeType: 'N' },
      ],
      KeySchema: [
        { AttributeName: 'Stream', KeyType: 'HASH' },
        { AttributeName: 'Seq', KeyType: 'RANGE' },
      ],
    },
    {
      // Idempotency keys and relayed event ids, 24 h. TTL attribute: TtlSeconds.
      TableName: connection.table('IdempotencyKeys'),
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'Key', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'Key', KeyType: 'HASH' }],
    },
    {
      TableName: connection.table('ClientState'),
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'ClientID', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'ClientID', KeyType: 'HASH' }],
    },
  ];
}

/** The tables whose items expire by DynamoDB's TTL, and the attribute (epoch seconds) it reads. */
const TTL_ATTRIBUTES: Readonly<Record<'History' | 'IdempotencyKeys', string>> = { History: 'ExpiresAt', IdempotencyKeys: 'TtlSeconds' };

/** The table definitions, for operators creating the tables themselves (README, deploy/). */
export function tableDefinitions(connection: DynamoConnection): CreateTableCommandInput[] {
  return definitions(connection);
}

/**
 * Creates the tables that don't exist yet and waits until they are active, then turns on TTL where a
 * table has a TTL attribute (the service prunes those tables itself too; TTL also clears streams and
 * keys nobody touches any more). Returns what could not be done and is not fatal: a DynamoDB-compatible
 * engine without TTL (dynalite) keeps working on the service's own pruning.
 */
export async function ensureTables(connection: DynamoConnection): Promise<string[]> {
  const notes: string[] = [];
  const ttl = new Map(Object.entries(TTL_ATTRIBUTES).map(([name, attribute]) => [connection.table(name as keyof typeof TTL_ATTRIBUTES), attribute]));
  for (const input of definitions(connection)) {
    await ensureTable(connection, input);
    const attribute = ttl.get(input.TableName!);
    if (attribute !== undefined) {
      const note = await ensureTtl(connection, input.TableName!, attribute);
      if (note !== undefined) {
        notes.push(note);
      }
    }
  }
  return notes;
}

async function ensureTable(connection: DynamoConnection, input: CreateTableCommandInput): Promise<void> {
  try {
    await connection.client.send(new DescribeTableCommand({ TableName: input.TableName }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) {
      throw error;
    }
  }
  try {
    await connection.client.send(new CreateTableCommand(input));
  } catch (error) {
    // Another instance created it first.
    if (!(error instanceof ResourceInUseException)) {
      throw error;
    }
  }
  await waitUntilTableExists({ client: connection.client, maxWaitTime: 120, minDelay: 1 }, { TableName: input.TableName });
}

async function ensureTtl(connection: DynamoConnection, table: string, attribute: string): Promise<string | undefined> {
  try {
    const { TimeToLiveDescription: current } = await connection.client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    if ((current?.TimeToLiveStatus === 'ENABLED' || current?.TimeToLiveStatus === 'ENABLING') && current.AttributeName === attribute) {
      return undefined;
    }
    await connection.client.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { Enabled: true, AttributeName: attribute } }));
    return undefined;
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    // Not fatal: an engine without TTL (UnknownOperationException), or another instance enabling it at the same time.
    return `TTL on ${table} (${attribute}) not turned on: ${name}${error instanceof Error && error.message !== '' ? `: ${error.message.slice(0, 200)}` : ''}`;
  }
}
