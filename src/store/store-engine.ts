import type { ChannelRepository } from './channel.repository';
import type { ClientRepository } from './client.repository';
import type { HistoryRepository } from './history.repository';
import type { IdempotencyRepository } from './idempotency.repository';
import type { StateRepository } from './state.repository';

/**
 * The repositories of one engine (SQLite or DynamoDB), opened once; also the injection token of the
 * open engine. The store module exposes each repository under its abstract class; the contract suite
 * (test/store/contract/) runs against both engines through this. A new table adds its repository
 * here and to both engines.
 */
export abstract class StoreEngine {
  abstract readonly kind: 'embedded' | 'dynamodb';
  abstract readonly clients: ClientRepository;
  abstract readonly channels: ChannelRepository;
  abstract readonly states: StateRepository;
  abstract readonly history: HistoryRepository;
  abstract readonly idempotency: IdempotencyRepository;
  abstract close(): Promise<void>;
}
