import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { ChannelsModule } from '../channels/channels.module';
import { ClusterModule } from '../cluster/cluster.module';
import { RedisLink } from '../cluster/redis-link';
import { RedisRateLimits } from '../cluster/redis-rate-limits';
import { HistoryModule } from '../history/history.module';
import { StoreModule } from '../store/store.module';
import { PublishingController } from './publishing.controller';
import { IdempotencyService } from './idempotency.service';
import { PublishingService } from './publishing.service';
import { MemoryRateLimits, RateLimits } from './rate-limiter';

@Module({
  imports: [StoreModule, BrokerModule, ChannelsModule, HistoryModule, ClusterModule],
  controllers: [PublishingController],
  providers: [
    PublishingService,
    IdempotencyService,
    // Shared by every instance through Redis with REDIS_URL; this instance's own otherwise.
    { provide: RateLimits, inject: [RedisLink], useFactory: (redis: RedisLink) => (redis.enabled ? new RedisRateLimits(redis) : new MemoryRateLimits()) },
  ],
  exports: [PublishingService, IdempotencyService],
})
export class PublishingModule {}
