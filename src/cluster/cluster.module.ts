import { Module } from '@nestjs/common';
import { RedisLink } from './redis-link';

/**
 * The door to Redis (REDIS_URL), shared by the instances of a deployment: the embedded
 * cluster (broker), cross-instance rate limits (publishing) and readiness import it.
 * Without REDIS_URL, RedisLink is there but disabled.
 */
@Module({
  providers: [RedisLink],
  exports: [RedisLink],
})
export class ClusterModule {}
