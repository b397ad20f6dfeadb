/** RedisRateLimits (REDIS_URL): one limit across instances, and each instance's own while Redis is unreachable. */
import { RedisLink } from '../../src/cluster/redis-link';
import { RedisRateLimits } from '../../src/cluster/redis-rate-limits';
import { eventually, RedisServer } from './cluster-harness';

describe('RedisRateLimits (a real Redis)', () => {
  let redis: RedisServer;
  const links: RedisLink[] = [];
  const prefix = `rate-test-${Date.now()}:`;

  function limits(id: string): RedisRateLimits {
    const link = redis.link(id, prefix);
    links.push(link);
    return new RedisRateLimits(link);
  }

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    await Promise.all(links.map((link) => link.onApplicationShutdown()));
    await redis.stop();
  });

  it('holds one limit per client across instances, and falls back on each instance\'s own count without Redis', async () => {
    const [a, b] = [limits('a'), limits('b')];
    await eventually('both connected', () => links.every((link) => link.up));
    const limit = { messages: 2, perSeconds: 600 };
    expect(await a.take('chat\u0000alice', limit)).toBe(0);
    expect(await b.take('chat\u0000alice', limit)).toBe(0);
    const wait = await a.take('chat\u0000alice', limit);
    expect(wait).toBeGreaterThan(500);
    expect(await b.take('chat\u0000alice', limit)).toBeGreaterThan(0);
    expect(await b.take('chat\u0000bob', limit)).toBe(0);

    await redis.stop();
    await eventually('Redis gone', () => links.every((link) => !link.up));
    const started = Date.now();
    // Each instance counts on its own now: a limit per instance, and no call waits for Redis.
    expect([await a.take('chat\u0000carol', limit), await a.take('chat\u0000carol', limit)]).toEqual([0, 0]);
    expect(await a.take('chat\u0000carol', limit)).toBeGreaterThan(0);
    expect(await b.take('chat\u0000carol', limit)).toBe(0);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
