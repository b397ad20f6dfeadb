import { Logger } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { StoreEngine } from '../store-engine';
import { DynamoChannelRepository } from './dynamo-channel.repository';
import { DynamoClientRepository } from './dynamo-client.repository';
import { DynamoConnection } from './dynamo-connection';
import { DynamoHistoryRepository } from './dynamo-history.repository';
import { DynamoIdempotencyRepository } from './dynamo-idempotency.repository';
import { DynamoStateRepository } from './dynamo-state.repository';
import { ensureTables } from './tables';

/** STORE=dynamodb: Amazon DynamoDB or a DynamoDB-compatible engine (DYNAMODB_ENDPOINT). Reads that a ban depends on are strongly consistent. */
export class DynamoStore extends StoreEngine {
  readonly kind = 'dynamodb' as const;
  readonly clients: DynamoClientRepository;
  readonly channels: DynamoChannelRepository;
  readonly states: DynamoStateRepository;
  readonly history: DynamoHistoryRepository;
  readonly idempotency: DynamoIdempotencyRepository;

  private constructor(readonly connection: DynamoConnection) {
    super();
    this.clients = new DynamoClientRepository(connection);
    this.channels = new DynamoChannelRepository(connection);
    this.states = new DynamoStateRepository(connection);
    this.history = new DynamoHistoryRepository(connection);
    this.idempotency = new DynamoIdempotencyRepository(connection);
  }

  static async open(config: AppConfig): Promise<DynamoStore> {
    const connection = DynamoConnection.open(config);
    if (config.store.createTables) {
      for (const note of await ensureTables(connection)) {
        new Logger('Store').warn(note);
      }
    }
    return new DynamoStore(connection);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
