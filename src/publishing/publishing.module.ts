import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { ChannelsModule } from '../channels/channels.module';
import { HistoryModule } from '../history/history.module';
import { StoreModule } from '../store/store.module';
import { PublishingController } from './publishing.controller';
import { IdempotencyService } from './idempotency.service';
import { PublishingService } from './publishing.service';

@Module({
  imports: [StoreModule, BrokerModule, ChannelsModule, HistoryModule],
  controllers: [PublishingController],
  providers: [PublishingService, IdempotencyService],
  exports: [PublishingService, IdempotencyService],
})
export class PublishingModule {}
