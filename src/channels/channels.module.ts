import { Module } from '@nestjs/common';
import { ChannelSeeder } from './channel-seeder';
import { ChannelsAdminController } from './channels-admin.controller';
import { ChannelsController } from './channels.controller';
import { ChannelsService } from './channels.service';
import { MessageSchemas } from './message-schemas';

@Module({
  controllers: [ChannelsController, ChannelsAdminController],
  providers: [ChannelsService, MessageSchemas, ChannelSeeder],
  exports: [ChannelsService, MessageSchemas],
})
export class ChannelsModule {}
