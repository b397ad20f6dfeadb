import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { StoreModule } from '../store/store.module';
import { ChannelSeeder } from './channel-seeder';
import { ChannelsAdminController } from './channels-admin.controller';
import { ChannelsController } from './channels.controller';
import { ChannelsService } from './channels.service';
import { MessageSchemas } from './message-schemas';

@Module({
  imports: [StoreModule, BrokerModule],
  controllers: [ChannelsController, ChannelsAdminController],
  providers: [ChannelsService, MessageSchemas, ChannelSeeder],
  exports: [ChannelsService, MessageSchemas],
})
export class ChannelsModule {}
