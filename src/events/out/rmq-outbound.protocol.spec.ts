import { eventLine, eventLines } from './rmq-outbound.protocol';

describe('the publisher thread batch (eventLine, eventLines)', () => {
  it('gives back every event of a batch, in order, bodies untouched (escaped line breaks, text beyond ASCII)', () => {
    const events = [
      { type: 'client.message', id: '6f1c7a52-9b0e-4c3d-8a2f-1e5b7c9d0a11', body: JSON.stringify({ message: { Message: 'two\nlines "quoted" ✓ 🎮' } }) },
      { type: 'client.connected', id: '0b7d2e44-3a1f-4e6c-9d58-2c4b6a8e0f22', body: JSON.stringify({ transport: 'websocket' }) },
      { type: 'client.state', id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c33', body: '{}' },
    ];
    expect(events.every((e) => !e.body.includes('\n'))).toBe(true);
    const lines = events.map(eventLine).join('');
    expect([...eventLines(lines)]).toEqual(events);
    expect([...eventLines('')]).toEqual([]);
    // A cut batch (never sent so) yields the whole events only.
    expect([...eventLines(lines.slice(0, -3))]).toEqual(events.slice(0, 2));
  });
});
