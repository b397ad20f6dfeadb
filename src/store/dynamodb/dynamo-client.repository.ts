import { ConditionalCheckFailedException, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type ClientPage, type ClientPresence, ClientRepository, type ListClientsQuery, type RegisterInput, type StatusChange } from '../client.repository';
import { ClientBannedError, TooManyCertificatesError } from '../../domain/errors';
import { decodeCursor, encodeCursor } from '../cursor';
import type { DynamoConnection } from './dynamo-connection';
import { STATUS_INDEX } from './tables';
import type { ClientRecord } from '../../domain/client';

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
  BanExpiresAt?: string;
  CertificateIds?: string[];
  CertificateARNs?: string[];
  LastSeenAt?: string;
  /** Presence: a live session now. */
  Connected?: boolean;
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
    banExpiresAt: item.BanExpiresAt,
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
    let condition = 'attribute_not_exists(ClientID) OR RegistrationStatus <> :banned';
    if (input.certificate !== undefined) {
      update += ', ' + appendCertificate(values, input.certificate.id, input.certificate.arn);
      if (input.maxCertificates !== undefined) {
        condition = `(${condition}) AND ${CERTIFICATE_ROOM}`;
        values[':maxCerts'] = input.maxCertificates;
      }
    }
    try {
      const { Attributes } = await this.connection.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { ClientID: input.clientId },
          ConditionExpression: condition,
          UpdateExpression: update,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRecord(Attributes as ClientItem);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        // Which condition failed: read back (a banned client is reported as banned first).
        const current = await this.get(input.clientId);
        if (current?.status !== 'BANNED' && input.maxCertificates !== undefined && (current?.certificateIds?.length ?? 0) >= input.maxCertificates) {
          throw new TooManyCertificatesError(input.clientId, input.maxCertificates);
        }
        throw new ClientBannedError(input.clientId);
      }
      throw error;
    }
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
      if (change.expiresAt !== undefined) {
        update += ', BanExpiresAt = :expiresAt';
        values[':expiresAt'] = change.expiresAt;
      } else {
        // A ban without an end replaces a timed one.
        update += ' REMOVE BanExpiresAt';
      }
    } else {
      update += ' REMOVE BannedAt, BanReason, BanExpiresAt';
    }
    const item = await this.updateIf(clientId, EXISTS, update, values);
    return item === undefined ? undefined : toRecord(item);
  }

  async addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined, now: string, maxCertificates?: number): Promise<void> {
    const values: Record<string, unknown> = { ':now': now };
    const update = `SET UpdatedAt = :now, ${appendCertificate(values, certificateId, certificateArn)}`;
    let condition = 'attribute_exists(ClientID)';
    if (maxCertificates !== undefined) {
      condition += ` AND ${CERTIFICATE_ROOM}`;
      values[':maxCerts'] = maxCertificates;
    }
    try {
      await this.connection.doc.send(
        new UpdateCommand({ TableName: this.table, Key: { ClientID: clientId }, ConditionExpression: condition, UpdateExpression: update, ExpressionAttributeValues: values }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw error;
      }
      // An unknown client gets no record (as on SQLite); a known one is at its maximum.
      if (maxCertificates !== undefined && (await this.get(clientId)) !== undefined) {
        throw new TooManyCertificatesError(clientId, maxCertificates);
      }
    }
  }

  async removeCertificate(clientId: string, certificateId: string, now: string): Promise<{ record: ClientRecord; arn?: string } | undefined> {
    // A list element is removed by index: the condition pins the index to this id, so a concurrent change
    // to the list fails the write instead of removing the wrong certificate; then read again and retry.
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.get(clientId);
      const index = current?.certificateIds?.indexOf(certificateId) ?? -1;
      if (current === undefined || index < 0) {
        return undefined;
      }
      const arn = current.certificateArns?.[index];
      const remove = arn === undefined ? `CertificateIds[${index}]` : `CertificateIds[${index}], CertificateARNs[${index}]`;
      try {
        const { Attributes } = await this.connection.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { ClientID: clientId },
            ConditionExpression: `CertificateIds[${index}] = :id`,
            UpdateExpression: `SET UpdatedAt = :now REMOVE ${remove}`,
            ExpressionAttributeValues: { ':id': certificateId, ':now': now },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return { record: toRecord(Attributes as ClientItem), arn };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) {
          throw error;
        }
      }
    }
    throw new Error(`certificate list of ${clientId} kept changing; try again`);
  }

  async listExpiredBans(now: string, limit: number): Promise<ClientRecord[]> {
    const items: ClientItem[] = [];
    let lastKey: Record<string, unknown> | undefined;
    // The filter applies after the read: keep paging through banned clients until enough expired ones are found.
    do {
      const page = await this.connection.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: STATUS_INDEX,
          KeyConditionExpression: 'RegistrationStatus = :banned',
          FilterExpression: 'BanExpiresAt <= :now',
          ExpressionAttributeValues: { ':banned': 'BANNED', ':now': now },
          ExclusiveStartKey: lastKey,
        }),
      );
      items.push(...((page.Items ?? []) as ClientItem[]));
      lastKey = page.LastEvaluatedKey;
    } while (lastKey !== undefined && items.length < limit);
    return items.slice(0, limit).map(toRecord);
  }

  async expireBan(clientId: string, banExpiresAt: string, now: string): Promise<ClientRecord | undefined> {
    try {
      const { Attributes } = await this.connection.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { ClientID: clientId },
          ConditionExpression: 'RegistrationStatus = :banned AND BanExpiresAt = :expiresAt',
          UpdateExpression: 'SET RegistrationStatus = :registered, UpdatedAt = :now REMOVE BannedAt, BanReason, BanExpiresAt',
          ExpressionAttributeValues: { ':banned': 'BANNED', ':registered': 'REGISTERED', ':expiresAt': banExpiresAt, ':now': now },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRecord(Attributes as ClientItem);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return undefined;
      }
      throw error;
    }
  }

  /** A client that doesn't exist (any more) has nothing to touch. */
  async touchLastSeen(clientId: string, now: string): Promise<void> {
    await this.updateIf(clientId, EXISTS, 'SET LastSeenAt = :now', { ':now': now });
  }

  async setConnected(clientId: string, connected: boolean, now: string): Promise<void> {
    await this.updateIf(clientId, EXISTS, 'SET Connected = :connected, LastSeenAt = :now', { ':connected': connected, ':now': now });
  }

  /** One BatchGetItem (100 keys at most, DynamoDB's limit too), again for any keys it left unprocessed. */
  async presence(clientIds: string[]): Promise<ClientPresence[]> {
    const found: ClientPresence[] = [];
    let keys: Array<Record<string, unknown>> = clientIds.map((clientId) => ({ ClientID: clientId }));
    for (let attempt = 0; keys.length > 0; attempt += 1) {
      if (attempt > 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      }
      const { Responses, UnprocessedKeys } = await this.connection.doc.send(
        new BatchGetCommand({
          RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true, ProjectionExpression: 'ClientID, Connected, LastSeenAt' } },
        }),
      );
      for (const item of (Responses?.[this.table] ?? []) as Array<Pick<ClientItem, 'ClientID' | 'Connected' | 'LastSeenAt'>>) {
        found.push(item.LastSeenAt === undefined ? { clientId: item.ClientID, connected: item.Connected === true } : { clientId: item.ClientID, connected: item.Connected === true, lastSeenAt: item.LastSeenAt });
      }
      keys = (UnprocessedKeys?.[this.table]?.Keys ?? []) as Array<Record<string, unknown>>;
    }
    return found;
  }

  async clearConnected(): Promise<number> {
    let cleared = 0;
    let lastKey: Record<string, unknown> | undefined;
    do {
      const page = await this.connection.doc.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'Connected = :true',
          ProjectionExpression: 'ClientID',
          ExpressionAttributeValues: { ':true': true },
          ExclusiveStartKey: lastKey,
        }),
      );
      for (const item of (page.Items ?? []) as Array<Pick<ClientItem, 'ClientID'>>) {
        if ((await this.updateIf(item.ClientID, `${EXISTS} AND Connected = :true`, 'SET Connected = :false', { ':true': true, ':false': false })) !== undefined) {
          cleared += 1;
        }
      }
      lastKey = page.LastEvaluatedKey;
    } while (lastKey !== undefined);
    return cleared;
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

/** Room for one more certificate under `:maxCerts`. */
const CERTIFICATE_ROOM = '(attribute_not_exists(CertificateIds) OR size(CertificateIds) < :maxCerts)';
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
