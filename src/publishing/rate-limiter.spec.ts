import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows a burst of `messages`, then asks to wait, then refills', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(() => now);
    const limit = { messages: 3, perSeconds: 6 };
    expect([limiter.take('a', limit), limiter.take('a', limit), limiter.take('a', limit)]).toEqual([0, 0, 0]);
    expect(limiter.take('a', limit)).toBe(2);
    expect(limiter.take('b', limit)).toBe(0);
    now += 2_000;
    expect(limiter.take('a', limit)).toBe(0);
    expect(limiter.take('a', limit)).toBeGreaterThan(0);
  });
});
