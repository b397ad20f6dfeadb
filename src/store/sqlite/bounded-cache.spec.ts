import { BoundedCache } from './bounded-cache';

describe('BoundedCache', () => {
  it('keeps at most its weight, dropping what was set longest ago; a set again counts as new', () => {
    const cache = new BoundedCache<string>(10);
    cache.set('a', 'A', 4);
    cache.set('b', 'B', 4);
    cache.set('a', 'A2', 4); // now the newest
    cache.set('c', 'C', 4); // 12 > 10: 'b' goes
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual(['A2', undefined, 'C']);
    cache.delete('a');
    cache.set('d', 'D', 6); // 4 + 6 = 10: nothing goes
    expect([cache.has('c'), cache.has('d')]).toEqual([true, true]);
    cache.set('e', 'E', 20); // heavier than the bound alone: not kept either
    expect([cache.has('c'), cache.has('d'), cache.get('e')]).toEqual([false, false, undefined]);
  });
});
