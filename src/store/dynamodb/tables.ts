import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
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

/** The table definitions, for operators creating the tables themselves (README, deploy/). */
export function tableDefinitions(connection: DynamoConnection): CreateTableCommandInput[] {
  return definitions(connection);
}

/** Creates the tables that don't exist yet and waits until they are active. */
export async function ensureTables(connection: DynamoConnection): Promise<void> {
  for (const input of definitions(connection)) {
    try {
      await connection.client.send(new DescribeTableCommand({ TableName: input.TableName }));
      continue;
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
}
