import { Logger } from '@nestjs/common';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimit } from '../domain/channel';
import { RateLimits } from '../publishing/rate-limiter';
import type { RedisLink } from './redis-link';

/**
 * Channel rate limits shared by every instance (REDIS_URL): rate-limiter-flexible's Redis
 * limiter, one counter per (channel, client) and window of `perSeconds`, so a client gets
 * `messages` per window across the cluster, whichever instance it calls. While Redis is
 * unreachable, each instance falls back on its own in-memory limiter (the library's insurance
 * limiter): a client then gets up to the rate per instance, and no call waits for Redis.
 */
export class RedisRateLimits extends RateLimits {
  private readonly logger = new Logger('RateLimits');
  private readonly limiters = new Map<string, RateLimiterRedis>();

  constructor(private readonly link: RedisLink) {
    super();
  }

  async take(key: string, limit: RateLimit): Promise<number> {
    try {
      await this.limiter(limit).consume(key, 1);
      return 0;
    } catch (refusal) {
      if (refusal instanceof RateLimiterRes) {
        return Math.max(1, Math.ceil(refusal.msBeforeNext / 1000));
      }
      // Neither Redis nor the insurance limiter answered: let the message through rather than fail the call.
      this.logger.warn(`rate limit not checked: ${String(refusal)}`);
      return 0;
    }
  }

  private limiter(limit: RateLimit): RateLimiterRedis {
    const name = `${limit.messages}/${limit.perSeconds}`;
    let limiter = this.limiters.get(name);
    if (limiter === undefined) {
      limiter = new RateLimiterRedis({
        storeClient: this.link.client,
        // The connection already puts REDIS_KEY_PREFIX before every key.
        keyPrefix: `rate:${name}`,
        points: limit.messages,
        duration: limit.perSeconds,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({ points: limit.messages, duration: limit.perSeconds }),
      });
      this.limiters.set(name, limiter);
    }
    return limiter;
  }
}
