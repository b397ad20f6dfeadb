import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type HistoryEntry, type HistoryPage, type HistoryReadQuery, HistoryRepository, type HistoryReservation } from '../history.repository';
import type { DynamoConnection } from './dynamo-connection';

/**
 * Items as stored: one entry per (Stream, Seq ≥ 1); the stream's head is the item at Seq 0 (`LastSeq`,
 * no TTL, so the sequence outlives retention). `ExpiresAt` (epoch seconds) is the table's TTL attribute:
 * where DynamoDB's TTL is enabled it deletes expired entries itself; the service prunes as well (engines
 * without TTL, e.g. dynalite), and readers never see an expired entry either way.
 */
interface EntryItem {
  Stream: string;
  Seq: number;
  Payload: string;
  At: number;
  ExpiresAt: number;
}

interface HeadItem {
  Stream: string;
  Seq: 0;
  LastSeq: number;
}

const HEAD_SEQ = 0;
/** BatchWriteItem takes at most 25 requests. */
const BATCH = 25;

function toEntry(item: EntryItem): HistoryEntry {
  return { seq: item.Seq, payload: item.Payload, at: item.At };
}

export class DynamoHistoryRepository extends HistoryRepository {
  private readonly table: string;

  constructor(private readonly connection: DynamoConnection) {
    super();
    this.table = connection.table('History');
  }

  async head(stream: string): Promise<number> {
    const { Item } = await this.connection.doc.send(new GetCommand({ TableName: this.table, Key: { Stream: stream, Seq: HEAD_SEQ }, ConsistentRead: true }));
    return (Item as HeadItem | undefined)?.LastSeq ?? 0;
  }

  async reserve(stream: string, entry: HistoryReservation): Promise<boolean> {
    const item: EntryItem = { Stream: stream, Seq: entry.seq, Payload: entry.payload, At: entry.at, ExpiresAt: entry.expiresAtSeconds };
    try {
      // The conditional put on (Stream, Seq) is what makes the sequence exact across instances: one writer wins a Seq.
      await this.connection.doc.send(new PutCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(Seq)' }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return false;
      }
      throw error;
    }
  }

  async reservation(stream: string, seq: number): Promise<HistoryEntry | undefined> {
    const [head, { Item }] = await Promise.all([
      this.head(stream),
      this.connection.doc.send(new GetCommand({ TableName: this.table, Key: { Stream: stream, Seq: seq }, ConsistentRead: true })),
    ]);
    return Item !== undefined && seq > head ? toEntry(Item as EntryItem) : undefined;
  }

  async abort(stream: string, seq: number, at: number): Promise<boolean> {
    // Only a reservation: a committed entry is never taken back (its writer alone commits it, and is the one aborting).
    if (seq <= (await this.head(stream))) {
      return false;
    }
    try {
      await this.connection.doc.send(
        new DeleteCommand({ TableName: this.table, Key: { Stream: stream, Seq: seq }, ConditionExpression: '#at = :at', ExpressionAttributeNames: { '#at': 'At' }, ExpressionAttributeValues: { ':at': at } }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return false;
      }
      throw error;
    }
  }

  async commit(stream: string, seq: number): Promise<void> {
    try {
      await this.connection.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { Stream: stream, Seq: HEAD_SEQ },
          UpdateExpression: 'SET LastSeq = :seq',
          ConditionExpression: 'attribute_not_exists(LastSeq) OR LastSeq < :seq',
          ExpressionAttributeValues: { ':seq': seq },
        }),
      );
    } catch (error) {
      // Already at or past it: the head never moves backwards.
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw error;
      }
    }
  }

  async read(stream: string, query: HistoryReadQuery): Promise<HistoryPage> {
    const latestSeq = await this.head(stream);
    const from = Math.max(query.after, latestSeq - query.size);
    const entries: HistoryEntry[] = [];
    let startKey: Record<string, unknown> | undefined;
    while (from < latestSeq && entries.length < query.limit) {
      const page = await this.connection.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#stream = :stream AND Seq BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#stream': 'Stream' },
          ExpressionAttributeValues: { ':stream': stream, ':from': from + 1, ':to': latestSeq },
          ConsistentRead: true,
          Limit: query.limit - entries.length,
          ExclusiveStartKey: startKey,
        }),
      );
      // Expired entries not pruned yet are skipped here rather than filtered by the query (a filter applies after Limit).
      entries.push(...((page.Items ?? []) as EntryItem[]).filter((item) => item.At >= query.notBefore).map(toEntry));
      startKey = page.LastEvaluatedKey;
      if (startKey === undefined) {
        break;
      }
    }
    return { latestSeq, entries };
  }

  async prune(stream: string, keepFrom: number, notBefore?: number): Promise<void> {
    if (keepFrom <= 1 && notBefore === undefined) {
      return;
    }
    const doomed: number[] = [];
    let startKey: Record<string, unknown> | undefined;
    // Oldest first; the entries to go are at the start (by seq, and by time since `At` grows with seq).
    do {
      const page = await this.connection.doc.send(
        new QueryCommand({
          TableName: this.table,
          // Without a TTL sweep only the entries below keepFrom are read (usually the one that just fell out).
          KeyConditionExpression: '#stream = :stream AND Seq BETWEEN :first AND :last',
          ExpressionAttributeNames: { '#stream': 'Stream', '#at': 'At' },
          ExpressionAttributeValues: { ':stream': stream, ':first': 1, ':last': notBefore === undefined ? keepFrom - 1 : Number.MAX_SAFE_INTEGER },
          ProjectionExpression: 'Seq, #at',
          ConsistentRead: true,
          Limit: 100,
          ExclusiveStartKey: startKey,
        }),
      );
      const items = (page.Items ?? []) as Array<Pick<EntryItem, 'Seq' | 'At'>>;
      const old = items.filter((item) => item.Seq < keepFrom || (notBefore !== undefined && item.At < notBefore));
      doomed.push(...old.map((item) => item.Seq));
      startKey = old.length === items.length ? page.LastEvaluatedKey : undefined;
    } while (startKey !== undefined);
    for (let i = 0; i < doomed.length; i += BATCH) {
      await this.connection.doc.send(
        new BatchWriteCommand({
          RequestItems: { [this.table]: doomed.slice(i, i + BATCH).map((seq) => ({ DeleteRequest: { Key: { Stream: stream, Seq: seq } } })) },
        }),
      );
    }
  }
}
