import { ConditionalCheckFailedException, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type ClientPage, ClientRepository, type ListClientsQuery, type RegisterInput, type StatusChange } from '../client.repository';
import { decodeCursor, encodeCursor } from '../cursor';
import type { DynamoConnection } from './dynamo-connection';
import { STATUS_INDEX } from './tables';
import type { ClientRecord } from '../../domain/client';
import { ClientBannedError } from '../../domain/errors';

/** Item as stored: attribute names follow the original's ClientRegistry table. */
export interface ClientItem {
  ClientID: string;
  RegistrationStatus: ClientRecord['status'];
  ConnectionType: ClientRecord['connectionType'];
  CGPClient: boolean;
  RegistrationDate: string;
  UpdatedAt: string;
  BannedAt?: string;
  BanReason?: string;
  CertificateIds?: string[];
  CertificateARNs?: string[];
  LastSeenAt?: string;
}

export function toRecord(item: ClientItem): ClientRecord {
  return {
    clientId: item.ClientID,
    status: item.RegistrationStatus,
    connectionType: item.ConnectionType,
    portalClient: item.CGPClient === true,
    registeredAt: item.RegistrationDate,
    updatedAt: item.UpdatedAt,
    bannedAt: item.BannedAt,
    banReason: item.BanReason,
    certificateIds: item.CertificateIds,
    certificateArns: item.CertificateARNs,
    lastSeenAt: item.LastSeenAt,
  };
}

export class DynamoClientRepository extends ClientRepository {
  private readonly table: string;

  constructor(private readonly connection: DynamoConnection) {
    super();
    this.table = connection.table('ClientRegistry');
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const { Item } = await this.connection.doc.send(
      new GetCommand({ TableName: this.table, Key: { ClientID: clientId }, ConsistentRead: true }),
    );
    return Item ? toRecord(Item as ClientItem) : undefined;
  }

  async register(input: RegisterInput): Promise<ClientRecord> {
    const values: Record<string, unknown> = {
      ':banned': 'BANNED',
      ':registered': 'REGISTERED',
      ':type': input.connectionType,
      ':portal': input.portalClient,
      ':now': input.now,
    };
    let update =
      'SET RegistrationStatus = :registered, ConnectionType = :type, CGPClient = :portal, ' +
      'RegistrationDate = if_not_exists(RegistrationDate, :now), UpdatedAt = :now';
    if (input.certificate !== undefined) {
      update += ', ' + appendCertificate(values, input.certificate.id, input.certificate.arn);
    }
    const item = await this.updateIf(input.clientId, 'attribute_not_exists(ClientID) OR RegistrationStatus <> :banned', update, values);
    if (item === undefined) {
      throw new ClientBannedError(input.clientId);
    }
    return toRecord(item);
  }

  async setStatus(clientId: string, change: StatusChange): Promise<ClientRecord | undefined> {
    const banned = change.status === 'BANNED';
    const values: Record<string, unknown> = { ':status': change.status, ':now': change.now };
    let update = 'SET RegistrationStatus = :status, UpdatedAt = :now';
    if (banned) {
      // Banning twice keeps the first ban time: the call is idempotent.
      update += ', BannedAt = if_not_exists(BannedAt, :now)';
      if (change.reason !== undefined) {
        update += ', BanReason = :reason';
        values[':reason'] = change.reason;
      }
    } else {
      update += ' REMOVE BannedAt, BanReason';
    }
    const item = await this.updateIf(clientId, EXISTS, update, values);
    return item === undefined ? undefined : toRecord(item);
  }

  async addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined, now: string): Promise<void> {
    const values: Record<string, unknown> = { ':now': now };
    const update = `SET UpdatedAt = :now, ${appendCertificate(values, certificateId, certificateArn)}`;
    // An unknown client gets no record (as on SQLite).
    await this.updateIf(clientId, EXISTS, update, values);
  }

  /** A client that doesn't exist (any more) has nothing to touch. */
  async touchLastSeen(clientId: string, now: string): Promise<void> {
    await this.updateIf(clientId, EXISTS, 'SET LastSeenAt = :now', { ':now': now });
  }

  async list(query: ListClientsQuery): Promise<ClientPage> {
    const startKey = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const items: ClientItem[] = [];
    let lastKey = startKey;
    // A page may come back short (DynamoDB stops at 1 MB); keep reading until it is full or the table ends.
    do {
      const page = await this.connection.doc.send(
        query.status === undefined
          ? new ScanCommand({ TableName: this.table, Limit: query.limit - items.length, ExclusiveStartKey: lastKey })
          : new QueryCommand({
              TableName: this.table,
              IndexName: STATUS_INDEX,
              KeyConditionExpression: 'RegistrationStatus = :status',
              ExpressionAttributeValues: { ':status': query.status },
              Limit: query.limit - items.length,
              ExclusiveStartKey: lastKey,
            }),
      );
      items.push(...((page.Items ?? []) as ClientItem[]));
      lastKey = page.LastEvaluatedKey;
    } while (lastKey !== undefined && items.length < query.limit);
    return { items: items.map(toRecord), nextCursor: lastKey === undefined ? undefined : encodeCursor(lastKey) };
  }

  async ping(): Promise<void> {
    await this.connection.client.send(new DescribeTableCommand({ TableName: this.table }));
  }

  /** One conditional UpdateItem on a client: the item as written, or undefined when the condition did not hold. */
  private async updateIf(clientId: string, condition: string, update: string, values: Record<string, unknown>): Promise<ClientItem | undefined> {
    try {
      const { Attributes } = await this.connection.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { ClientID: clientId },
          ConditionExpression: condition,
          UpdateExpression: update,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes as ClientItem;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return undefined;
      }
      throw error;
    }
  }
}

const EXISTS = 'attribute_exists(ClientID)';

/** The SET clauses that append a certificate id (and ARN) to the record; fills in their values. */
function appendCertificate(values: Record<string, unknown>, certificateId: string, certificateArn: string | undefined): string {
  values[':certId'] = [certificateId];
  values[':empty'] = [];
  let clauses = 'CertificateIds = list_append(if_not_exists(CertificateIds, :empty), :certId)';
  if (certificateArn !== undefined) {
    clauses += ', CertificateARNs = list_append(if_not_exists(CertificateARNs, :empty), :certArn)';
    values[':certArn'] = [certificateArn];
  }
  return clauses;
}
