import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ChannelRepository } from './channel.repository';
import { ClientRepository } from './client.repository';
import { StateRepository } from './state.repository';
import { DynamoChannelRepository } from './dynamodb/dynamo-channel.repository';
import { DynamoClientRepository } from './dynamodb/dynamo-client.repository';
import { DynamoConnection } from './dynamodb/dynamo-connection';
import { DynamoStateRepository } from './dynamodb/dynamo-state.repository';
import { ensureTables } from './dynamodb/tables';

/**
 * The store: DynamoDB repositories for clients and channels. The same code runs
 * against the embedded dynalite (default), a DYNAMODB_ENDPOINT, or Amazon DynamoDB.
 */
@Global()
@Module({
  providers: [
    {
      provide: DynamoConnection,
      inject: [AppConfig],
      useFactory: async (config: AppConfig) => {
        const connection = await DynamoConnection.open(config);
        if (config.store.createTables) {
          await ensureTables(connection);
        }
        return connection;
      },
    },
    { provide: ClientRepository, inject: [DynamoConnection], useFactory: (c: DynamoConnection) => new DynamoClientRepository(c) },
    { provide: ChannelRepository, inject: [DynamoConnection], useFactory: (c: DynamoConnection) => new DynamoChannelRepository(c) },
    { provide: StateRepository, inject: [DynamoConnection], useFactory: (c: DynamoConnection) => new DynamoStateRepository(c) },
  ],
  exports: [ClientRepository, ChannelRepository, StateRepository],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(DynamoConnection) private readonly connection: DynamoConnection) {}

  async onApplicationShutdown(): Promise<void> {
    await this.connection.close();
  }
}
