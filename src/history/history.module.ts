import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { StoreModule } from '../store/store.module';
import { HistoryReader } from './history-reader';
import { HistoryController } from './history.controller';
import { HistoryService } from './history.service';

/** Per-channel history: the gapless `Seq` per stream (used by publishing) and listChannelMessages. */
@Module({
  imports: [StoreModule, BrokerModule],
  controllers: [HistoryController],
  providers: [HistoryService, HistoryReader],
  exports: [HistoryService],
})
export class HistoryModule {}
