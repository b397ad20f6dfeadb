import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type IdempotencyClaim, type IdempotencyRecord, IdempotencyRepository } from '../idempotency.repository';
import type { DynamoConnection } from './dynamo-connection';

/** Item as stored. `TtlSeconds` is the table's TTL attribute (DynamoDB deletes expired keys where TTL is on). */
interface KeyItem {
  Key: string;
  Fingerprint: string;
  State: 'pending' | 'done';
  Status?: number;
  Result?: string;
  ClaimedAt: number;
  ExpiresAt: number;
  TtlSeconds: number;
}

export class DynamoIdempotencyRepository extends IdempotencyRepository {
  private readonly table: string;

  constructor(private readonly connection: DynamoConnection) {
    super();
    this.table = connection.table('IdempotencyKeys');
  }

  async claim(key: string, claim: IdempotencyClaim): Promise<IdempotencyRecord | undefined> {
    const item: KeyItem = {
      Key: key,
      Fingerprint: claim.fingerprint,
      State: 'pending',
      ClaimedAt: claim.now,
      ExpiresAt: claim.expiresAt,
      TtlSeconds: Math.ceil(claim.expiresAt / 1000),
    };
    // A key deleted between the failed put and the read is tried again.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.connection.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#key) OR ExpiresAt < :now OR (#state = :pending AND ClaimedAt < :stale)',
            ExpressionAttributeNames: { '#key': 'Key', '#state': 'State' },
            ExpressionAttributeValues: { ':now': claim.now, ':pending': 'pending', ':stale': claim.staleBefore },
          }),
        );
        return undefined;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) {
          throw error;
        }
      }
      const { Item } = await this.connection.doc.send(new GetCommand({ TableName: this.table, Key: { Key: key }, ConsistentRead: true }));
      if (Item !== undefined) {
        const held = Item as KeyItem;
        return { fingerprint: held.Fingerprint, state: held.State, status: held.Status, result: held.Result, claimedAt: held.ClaimedAt, expiresAt: held.ExpiresAt };
      }
    }
    throw new Error(`idempotency key kept changing; try again`);
  }

  async complete(key: string, claimedAt: number, status: number, result: string): Promise<void> {
    try {
      await this.connection.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { Key: key },
          UpdateExpression: 'SET #state = :done, #status = :status, #result = :result',
          ConditionExpression: 'ClaimedAt = :claimedAt',
          ExpressionAttributeNames: { '#state': 'State', '#status': 'Status', '#result': 'Result' },
          ExpressionAttributeValues: { ':done': 'done', ':status': status, ':result': result, ':claimedAt': claimedAt },
        }),
      );
    } catch (error) {
      // Taken over as stale meanwhile: the newer claim decides.
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw error;
      }
    }
  }

  async release(key: string, claimedAt: number): Promise<void> {
    try {
      await this.connection.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { Key: key },
          ConditionExpression: 'ClaimedAt = :claimedAt AND #state = :pending',
          ExpressionAttributeNames: { '#state': 'State' },
          ExpressionAttributeValues: { ':claimedAt': claimedAt, ':pending': 'pending' },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw error;
      }
    }
  }
}
