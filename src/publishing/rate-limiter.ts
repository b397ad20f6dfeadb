import type { RateLimit } from '../domain/channel';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const MAX_BUCKETS = 100_000;

/**
 * Channel rate limits per (channel, client): `take` uses up one message of the client's
 * allowance and resolves with 0, or with the seconds to wait when none is left.
 * In-memory on one instance; shared by every instance through Redis with REDIS_URL
 * (src/cluster/redis-rate-limits.ts).
 */
export abstract class RateLimits {
  abstract take(key: string, limit: RateLimit): Promise<number>;
}

/** RateLimits of one instance (no REDIS_URL): with N instances and no Redis, a client would get up to N times the rate. */
export class MemoryRateLimits extends RateLimits {
  private readonly limiter = new RateLimiter();

  async take(key: string, limit: RateLimit): Promise<number> {
    return this.limiter.take(key, limit);
  }
}

/**
 * Token buckets per (channel, client): `messages` per `perSeconds`, refilled
 * continuously, so bursts up to `messages` pass and the sustained rate holds.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Takes a token; returns 0 when allowed, else the seconds to wait. */
  take(key: string, limit: RateLimit): number {
    const now = this.now();
    const perMs = limit.messages / (limit.perSeconds * 1000);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) {
        // Oldest first (Map keeps insertion order); a dropped bucket only forgets a client's recent use.
        this.buckets.delete(this.buckets.keys().next().value!);
      }
      bucket = { tokens: limit.messages, updatedAt: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(limit.messages, bucket.tokens + (now - bucket.updatedAt) * perMs);
      bucket.updatedAt = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
  }
}
