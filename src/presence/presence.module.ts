import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { StoreModule } from '../store/store.module';
import { PresenceController } from './presence.controller';
import { PresenceService } from './presence.service';

/** Presence (API.md section 7): who is connected, from the broker's sessions, kept in the store. */
@Module({
  imports: [StoreModule, BrokerModule],
  controllers: [PresenceController],
  providers: [PresenceService],
})
export class PresenceModule {}
