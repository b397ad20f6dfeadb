import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { JsonObject } from '../../state/state-document';
import { type StateRecord, StateRepository } from '../state.repository';
import type { DynamoConnection } from './dynamo-connection';

/**
 * Item as stored. The document is JSON text: its keys are arbitrary (DynamoDB maps
 * refuse some, e.g. empty names) and JSON numbers must round-trip exactly.
 */
interface StateItem {
  ClientID: string;
  Document: string;
  Version: number;
  UpdatedAt: string;
}

export class DynamoStateRepository extends StateRepository {
  private readonly table: string;

  constructor(private readonly connection: DynamoConnection) {
    super();
    this.table = connection.table('ClientState');
  }

  async get(clientId: string): Promise<StateRecord | undefined> {
    const { Item } = await this.connection.doc.send(
      new GetCommand({ TableName: this.table, Key: { ClientID: clientId }, ConsistentRead: true }),
    );
    if (Item === undefined) {
      return undefined;
    }
    const item = Item as StateItem;
    const document = JSON.parse(item.Document) as { desired: JsonObject; reported: JsonObject };
    return { clientId, desired: document.desired, reported: document.reported, version: item.Version, updatedAt: item.UpdatedAt };
  }

  async save(previous: StateRecord | undefined, next: StateRecord): Promise<StateRecord | undefined> {
    const item: StateItem = {
      ClientID: next.clientId,
      Document: JSON.stringify({ desired: next.desired, reported: next.reported }),
      Version: next.version,
      UpdatedAt: next.updatedAt,
    };
    try {
      await this.connection.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          // The version check is what makes concurrent writers (other instances included) exact.
          ...(previous === undefined
            ? { ConditionExpression: 'attribute_not_exists(ClientID)' }
            : { ConditionExpression: 'Version = :expected', ExpressionAttributeValues: { ':expected': previous.version } }),
        }),
      );
      return next;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return undefined;
      }
      throw error;
    }
  }
}
