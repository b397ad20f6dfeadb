import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ChannelRepository } from './channel.repository';
import { ClientRepository } from './client.repository';
import { DynamoStore } from './dynamodb/dynamo-store';
import { SqliteStore } from './sqlite/sqlite-store';
import { StoreEngine } from './store-engine';
import { StateRepository } from './state.repository';

/**
 * The store: the repositories of the engine chosen by STORE: `embedded` = SQLite in-process (a file
 * under DATA_DIR, no listener), `dynamodb` = Amazon DynamoDB or a DYNAMODB_ENDPOINT.
 */
@Global()
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
  ],
  exports: [ClientRepository, ChannelRepository, StateRepository],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(StoreEngine) private readonly engine: StoreEngine) {}

  async onApplicationShutdown(): Promise<void> {
    await this.engine.close();
  }
}
