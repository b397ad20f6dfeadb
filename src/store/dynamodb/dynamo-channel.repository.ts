import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
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
      channels.push(...((page.Items ?? []) as ChannelItem[]).map(toDefinition));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return channels.sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<ChannelDefinition | undefined> {
    const { Item } = await this.connection.doc.send(
      new GetCommand({ TableName: this.table, Key: { Channel: name }, ConsistentRead: true }),
    );
    return Item ? toDefinition(Item as ChannelItem) : undefined;
  }

  async put(channel: ChannelDefinition): Promise<boolean> {
    const { Attributes } = await this.connection.doc.send(
      new PutCommand({ TableName: this.table, Item: toItem(channel), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes === undefined;
  }

  async delete(name: string): Promise<boolean> {
    try {
      await this.connection.doc.send(
        new DeleteCommand({ TableName: this.table, Key: { Channel: name }, ConditionExpression: 'attribute_exists(Channel)' }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return false;
      }
      throw error;
    }
  }
}
