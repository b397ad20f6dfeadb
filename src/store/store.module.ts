import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ChannelCatalog } from './channel-catalog';
import { ChannelRepository } from './channel.repository';
import { ClientRepository } from './client.repository';
import { DynamoChannelRepository } from './dynamodb/dynamo-channel.repository';
import { DynamoClientRepository } from './dynamodb/dynamo-client.repository';
import { DynamoConnection } from './dynamodb/dynamo-connection';
import { ensureTables } from './dynamodb/tables';

/**
 * The store: DynamoDB repositories for clients and channels, and the channel
 * table's read cache. The same code runs against the embedded dynalite
 * (default), a DYNAMODB_ENDPOINT, or Amazon DynamoDB. Not global: a module that
 * reads or writes the store imports this one, so the wiring shows who does.
 */
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
    ChannelCatalog,
  ],
  exports: [ClientRepository, ChannelRepository, ChannelCatalog],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(DynamoConnection) private readonly connection: DynamoConnection) {}

  async onApplicationShutdown(): Promise<void> {
    await this.connection.close();
  }
}
