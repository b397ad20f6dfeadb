import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ChannelCatalog } from './channel-catalog';
import { ChannelRepository } from './channel.repository';
import { ClientRepository } from './client.repository';
import { DynamoStore } from './dynamodb/dynamo-store';
import { HistoryRepository } from './history.repository';
import { IdempotencyRepository } from './idempotency.repository';
import { SqliteStore } from './sqlite/sqlite-store';
import { StateRepository } from './state.repository';
import { StoreEngine } from './store-engine';

/**
 * The store: the repositories of the engine chosen by STORE: `embedded` = SQLite in-process (a file
 * under DATA_DIR, no listener), `dynamodb` = Amazon DynamoDB or a DYNAMODB_ENDPOINT; and the channel
 * table's read cache. Not global: a module that reads or writes the store imports this one, so the
 * wiring shows who does.
 */
@Module({
  providers: [
    {
      provide: StoreEngine,
      inject: [AppConfig],
      useFactory: (config: AppConfig): Promise<StoreEngine> =>
        config.store.driver === 'embedded' ? SqliteStore.open(config) : DynamoStore.open(config),
    },
    { provide: ClientRepository, inject: [StoreEngine], useFactory: (engine: StoreEngine) => engine.clients },
    { provide: ChannelRepository, inject: [StoreEngine], useFactory: (engine: StoreEngine) => engine.channels },
    { provide: StateRepository, inject: [StoreEngine], useFactory: (engine: StoreEngine) => engine.states },
    { provide: HistoryRepository, inject: [StoreEngine], useFactory: (engine: StoreEngine) => engine.history },
    { provide: IdempotencyRepository, inject: [StoreEngine], useFactory: (engine: StoreEngine) => engine.idempotency },
    ChannelCatalog,
  ],
  exports: [ClientRepository, ChannelRepository, StateRepository, HistoryRepository, IdempotencyRepository, ChannelCatalog],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(StoreEngine) private readonly engine: StoreEngine) {}

  async onApplicationShutdown(): Promise<void> {
    await this.engine.close();
  }
}
