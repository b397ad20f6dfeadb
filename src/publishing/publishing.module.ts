import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { ChannelsModule } from '../channels/channels.module';
import { StoreModule } from '../store/store.module';
import { PublishingController } from './publishing.controller';
import { PublishingService } from './publishing.service';

@Module({
  imports: [StoreModule, BrokerModule, ChannelsModule],
  controllers: [PublishingController],
  providers: [PublishingService],
  exports: [PublishingService],
})
export class PublishingModule {}
