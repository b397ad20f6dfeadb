import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { DynamoConnection } from './dynamo-connection';
import { ensureTables } from './tables';

describe('ensureTables (DYNAMODB_CREATE_TABLES=true)', () => {
  const dynamo = mockClient(DynamoDBClient);
  const connection = {
    client: new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
    table: (name: string) => `p-${name}`,
  } as unknown as DynamoConnection;

  beforeEach(() => {
    dynamo.reset();
    // Every table exists already: only TTL is left to do.
    dynamo.on(DescribeTableCommand).resolves({ Table: { TableStatus: 'ACTIVE' } });
  });

  it('turns on TTL for the history (ExpiresAt) and idempotency (TtlSeconds) tables, and only those', async () => {
    dynamo.on(DescribeTimeToLiveCommand).resolves({ TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } });
    dynamo.on(UpdateTimeToLiveCommand).resolves({});
    await expect(ensureTables(connection)).resolves.toEqual([]);
    expect(dynamo).toHaveReceivedCommandTimes(UpdateTimeToLiveCommand, 2);
    expect(dynamo).toHaveReceivedCommandWith(UpdateTimeToLiveCommand, { TableName: 'p-History', TimeToLiveSpecification: { Enabled: true, AttributeName: 'ExpiresAt' } });
    expect(dynamo).toHaveReceivedCommandWith(UpdateTimeToLiveCommand, {
      TableName: 'p-IdempotencyKeys',
      TimeToLiveSpecification: { Enabled: true, AttributeName: 'TtlSeconds' },
    });
  });

  it('leaves TTL alone where it is on already', async () => {
    dynamo.on(DescribeTimeToLiveCommand, { TableName: 'p-History' }).resolves({ TimeToLiveDescription: { TimeToLiveStatus: 'ENABLED', AttributeName: 'ExpiresAt' } });
    dynamo.on(DescribeTimeToLiveCommand, { TableName: 'p-IdempotencyKeys' }).resolves({ TimeToLiveDescription: { TimeToLiveStatus: 'ENABLING', AttributeName: 'TtlSeconds' } });
    await expect(ensureTables(connection)).resolves.toEqual([]);
    expect(dynamo).toHaveReceivedCommandTimes(UpdateTimeToLiveCommand, 0);
  });

  it('an engine without TTL (dynalite) is a note, not a failed start', async () => {
    dynamo.on(DescribeTimeToLiveCommand).resolves({ TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } });
    dynamo.on(UpdateTimeToLiveCommand).rejects(Object.assign(new Error('An unknown operation was requested.'), { name: 'UnknownOperationException' }));
    const notes = await ensureTables(connection);
    expect(notes).toEqual([expect.stringContaining('TTL on p-History (ExpiresAt) not turned on: UnknownOperationException'), expect.stringContaining('p-IdempotencyKeys')]);
  });
});
