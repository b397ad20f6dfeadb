import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ChannelRepository } from '../channel.repository';
import type { DynamoConnection } from './dynamo-connection';
import type { ChannelDefinition } from '../../domain/channel';

/** Item as stored: `Channel`, `Types` and `CommunicationChannel` follow the original's ChannelData table. */
export interface ChannelItem {
  Channel: string;
  Types: ChannelDefinition['types'];
  CommunicationChannel?: string;
  ClientSend: boolean;
  MaxMessageBytes: number;
  /** JSON text: a schema's keys are arbitrary and DynamoDB maps reject some of them (empty names). */
  MessageSchema?: string;
  RateLimit?: { messages: number; perSeconds: number };
  History?: { size: number; ttlSeconds: number };
}

function toItem(channel: ChannelDefinition): ChannelItem {
  return {
    Channel: channel.name,
    Types: channel.types,
    CommunicationChannel: channel.communicationChannel,
    ClientSend: channel.clientSend,
    MaxMessageBytes: channel.maxMessageBytes,
    MessageSchema: channel.messageSchema === undefined ? undefined : JSON.stringify(channel.messageSchema),
    RateLimit: channel.rateLimit,
    History: channel.history,
  };
}

export function toDefinition(item: ChannelItem): ChannelDefinition {
  const channel: ChannelDefinition = {
    name: item.Channel,
    types: item.Types,
    clientSend: item.ClientSend === true,
    maxMessageBytes: item.MaxMessageBytes,
  };
  // Absent optional members stay absent (not `undefined`), as the SQLite engine returns them.
  if (item.CommunicationChannel !== undefined) {
    channel.communicationChannel = item.CommunicationChannel;
  }
  if (item.MessageSchema !== undefined) {
    channel.messageSchema = JSON.parse(item.MessageSchema) as Record<string, unknown>;
  }
  if (item.RateLimit !== undefined) {
    channel.rateLimit = item.RateLimit;
  }
  if (item.History !== undefined) {
    channel.history = { size: item.History.size, ttlSeconds: item.History.ttlSeconds };
  }
  return channel;
}

/**
 * The table's revision marker (see ChannelRepository.revision): an item whose key can't be a channel
 * name (names match ^[A-Za-z0-9_-]{1,64}$), counting puts and deletes. One small item: a consistent
 * GetItem costs one read unit, where a Scan costs one per 4 KB of the whole table.
 */
export const REVISION_KEY = '#revision';

/** The channels among items of the table, whatever it holds besides (the revision marker). */
export function toDefinitions(items: ChannelItem[]): ChannelDefinition[] {
  return items.filter((item) => item.Channel !== REVISION_KEY).map(toDefinition);
}

export class DynamoChannelRepository extends ChannelRepository {
  private readonly table: string;

  constructor(private readonly connection: DynamoConnection) {
    super();
    this.table = connection.table('ChannelData');
  }

  async list(): Promise<ChannelDefinition[]> {
    const channels: ChannelDefinition[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.connection.doc.send(
        new ScanCommand({ TableName: this.table, ExclusiveStartKey: startKey, ConsistentRead: true }),
      );
      channels.push(...toDefinitions((page.Items ?? []) as ChannelItem[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return channels.sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<ChannelDefinition | undefined> {
    if (name === REVISION_KEY) {
      return undefined;
    }
    const { Item } = await this.connection.doc.send(
      new GetCommand({ TableName: this.table, Key: { Channel: name }, ConsistentRead: true }),
    );
    return Item ? toDefinition(Item as ChannelItem) : undefined;
  }

  async put(channel: ChannelDefinition): Promise<boolean> {
    const { Attributes } = await this.connection.doc.send(
      new PutCommand({ TableName: this.table, Item: toItem(channel), ReturnValues: 'ALL_OLD' }),
    );
    await this.bumpRevision();
    return Attributes === undefined;
  }

  async delete(name: string): Promise<boolean> {
    try {
      await this.connection.doc.send(
        new DeleteCommand({ TableName: this.table, Key: { Channel: name }, ConditionExpression: 'attribute_exists(Channel)' }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return false;
      }
      throw error;
    }
    await this.bumpRevision();
    return true;
  }

  override async revision(): Promise<string> {
    const { Item } = await this.connection.doc.send(
      new GetCommand({ TableName: this.table, Key: { Channel: REVISION_KEY }, ConsistentRead: true, ProjectionExpression: 'Revision' }),
    );
    return String((Item as { Revision?: number } | undefined)?.Revision ?? 0);
  }

  /** After the write: a reader that sees the new revision then lists a table that has the write. */
  private async bumpRevision(): Promise<void> {
    await this.connection.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { Channel: REVISION_KEY },
        UpdateExpression: 'ADD Revision :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }
}
