import { OutboundQueue, type OutboundSink, type QueuedEvent } from './outbound-queue';

/** A sink whose sends the test settles by hand. */
class ManualSink implements OutboundSink {
  ready = true;
  readonly sends: Array<{ id: string; resolve: () => void; reject: (error: Error) => void }> = [];

  send(event: QueuedEvent, done: (error?: Error) => void): void {
    this.sends.push({ id: event.id, resolve: () => done(), reject: (error) => done(error) });
  }
}

function event(id: string): QueuedEvent {
  return { id, type: 'client.connected', body: JSON.stringify({ id }) };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('OutboundQueue', () => {
  let sink: ManualSink;
  let counts: { sent: number; dropped: number };
  let queue: OutboundQueue;

  beforeEach(() => {
    sink = new ManualSink();
    counts = { sent: 0, dropped: 0 };
    queue = new OutboundQueue(sink, {
      capacity: 4,
      window: 2,
      retryMs: 10,
      onSent: (n) => (counts.sent += n),
      onDropped: () => (counts.dropped += 1),
      onSize: () => undefined,
    });
  });

  afterEach(() => queue.stop());

  it('sends in order within the window and frees a place only once confirmed', async () => {
    ['a', 'b', 'c'].forEach((id) => queue.push(event(id)));
    expect(sink.sends.map((s) => s.id)).toEqual(['a', 'b']);
    sink.sends[0].resolve();
    await flush();
    expect(sink.sends.map((s) => s.id)).toEqual(['a', 'b', 'c']);
    expect(queue.size).toBe(2);
    expect(counts.sent).toBe(1);
  });

  it('drops new events when full (counted), never blocks, and takes events again once there is room', async () => {
    sink.ready = false;
    ['a', 'b', 'c', 'd', 'e', 'f'].forEach((id) => queue.push(event(id)));
    expect(queue.size).toBe(4);
    expect(counts.dropped).toBe(2);
    sink.ready = true;
    queue.wake();
    sink.sends.forEach((s) => s.resolve());
    await flush();
    sink.sends.slice(2).forEach((s) => s.resolve());
    await flush();
    expect(queue.size).toBe(0);
    queue.push(event('g'));
    expect(sink.sends.map((s) => s.id)).toEqual(['a', 'b', 'c', 'd', 'g']);
  });

  it('after a failed send, sends every unconfirmed event again from the oldest, in order', async () => {
    ['a', 'b', 'c'].forEach((id) => queue.push(event(id)));
    sink.sends[0].reject(new Error('connection lost'));
    sink.sends[1].reject(new Error('connection lost'));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(sink.sends.map((s) => s.id)).toEqual(['a', 'b', 'a', 'b']);
    sink.sends[2].resolve();
    sink.sends[3].resolve();
    await flush();
    expect(sink.sends.map((s) => s.id)).toEqual(['a', 'b', 'a', 'b', 'c']);
    sink.sends[4].resolve();
    await flush();
    expect(queue.size).toBe(0);
    expect(counts.sent).toBe(3);
  });

  it('drain resolves once empty', async () => {
    queue.push(event('a'));
    const drained = queue.drain(5_000);
    sink.sends[0].resolve();
    await expect(drained).resolves.toBe(0);
  });
});
