import { DedupeWindow } from './dedupe-window';

describe('DedupeWindow', () => {
  it('remembers ids up to its capacity, evicting the least recently seen', () => {
    const window = new DedupeWindow(3);
    for (const id of ['a', 'b', 'c']) {
      window.add(id);
    }
    expect(window.has('a')).toBe(true); // now the most recent: b is the oldest
    window.add('d');
    expect(window.size).toBe(3);
    expect(window.has('b')).toBe(false);
    expect(['a', 'c', 'd'].map((id) => window.has(id))).toEqual([true, true, true]);
  });

  it('re-adding an id does not grow the window', () => {
    const window = new DedupeWindow(2);
    window.add('x');
    window.add('x');
    expect(window.size).toBe(1);
  });

  it('capacity 0 disables it', () => {
    const window = new DedupeWindow(0);
    window.add('x');
    expect(window.has('x')).toBe(false);
    expect(window.size).toBe(0);
  });
});
