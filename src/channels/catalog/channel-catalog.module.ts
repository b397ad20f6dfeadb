import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { Topics } from '../../common/topics';
import { ChannelCatalog } from './channel-catalog';

/** The cached channel table and the topic scheme, shared by features and broker drivers. */
@Global()
@Module({
  providers: [ChannelCatalog, { provide: Topics, inject: [AppConfig], useFactory: (config: AppConfig) => new Topics(config.broker.topicPrefix) }],
  exports: [ChannelCatalog, Topics],
})
export class ChannelCatalogModule {}
