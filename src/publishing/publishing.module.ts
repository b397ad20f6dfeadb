import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { ChannelsModule } from '../channels/channels.module';
import { HistoryModule } from '../history/history.module';
import { StoreModule } from '../store/store.module';
import { PublishingController } from './publishing.controller';
import { PublishingService } from './publishing.service';

@Module({
  imports: [StoreModule, BrokerModule, ChannelsModule, HistoryModule],
  controllers: [PublishingController],
  providers: [PublishingService],
  exports: [PublishingService],
})
export class PublishingModule {}
