import type { Client } from 'aedes';
import { MetricsService } from '../../metrics/metrics.service';
import { SessionPersistence } from './aedes-internals/session-persistence';
import { PersistentSessions, topicMatches } from './persistent-sessions';

const client = (id: string, extra: Record<string, unknown> = {}): Client => ({ id, ...extra }) as unknown as Client;
const packet = (counter: number, topic = 'game/news') =>
  ({ cmd: 'publish', topic, payload: Buffer.from(String(counter)), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: counter }) as never;

async function queued(persistence: SessionPersistence, id: string): Promise<number[]> {
  const counters: number[] = [];
  for await (const p of persistence.outgoingStream(client(id)) as AsyncIterable<{ brokerCounter: number }>) {
    counters.push(p.brokerCounter);
  }
  return counters;
}

describe('SessionPersistence (aedes-persistence memory, bounded)', () => {
  it('keeps the newest maxQueued per client, oldest (sent or not) dropped first and reported', async () => {
    const dropped: string[] = [];
    const persistence = new SessionPersistence({ maxQueued: 2, onDropped: (id) => dropped.push(id) });
    await persistence.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }], packet(1));
    // Sent to `a` (a message id now), still its oldest.
    await persistence.outgoingUpdate(client('a'), { ...(packet(1) as object), messageId: 9 } as never);
    await persistence.outgoingEnqueueCombi([{ clientId: 'a' }], packet(2));
    await persistence.outgoingEnqueueCombi([{ clientId: 'a' }], packet(3));
    expect(await queued(persistence, 'a')).toEqual([2, 3]);
    expect(await queued(persistence, 'b')).toEqual([1]);
    expect(dropped).toEqual(['a']);
    expect([persistence.queuedFor('a'), persistence.queuedFor('b')]).toEqual([2, 1]);
  });

  it('counts acknowledgements, and an update of a message no longer queued does not fail', async () => {
    const persistence = new SessionPersistence({ maxQueued: 10, onDropped: () => undefined });
    await persistence.outgoingEnqueue({ clientId: 'a' }, packet(1));
    await persistence.outgoingUpdate(client('a'), { ...(packet(1) as object), messageId: 4 } as never);
    await persistence.outgoingClearMessageId(client('a'), { messageId: 4 } as never);
    expect(persistence.queuedFor('a')).toBe(0);
    await expect(persistence.outgoingUpdate(client('a'), packet(7))).resolves.toBeUndefined();
  });

  it('discard drops subscriptions, queue, QoS 2 state and will of that client only', async () => {
    const persistence = new SessionPersistence({ maxQueued: 10, onDropped: () => undefined });
    await persistence.setup({ id: 'broker' });
    for (const id of ['a', 'b']) {
      await persistence.addSubscriptions(client(id), [{ topic: 'game/news', qos: 1 }] as never);
      await persistence.outgoingEnqueue({ clientId: id }, packet(1));
      await persistence.incomingStorePacket(client(id), { ...(packet(2) as object), qos: 2, messageId: 5 } as never);
    }
    await persistence.discard('a');
    expect(await persistence.subscriptionsByClient(client('a'))).toEqual([]);
    expect((await persistence.subscriptionsByTopic('game/news')).map((s) => s.clientId)).toEqual(['b']);
    expect(await queued(persistence, 'a')).toEqual([]);
    expect(persistence.queuedFor('a')).toBe(0);
    await expect(persistence.incomingGetPacket(client('a'), { messageId: 5 } as never)).rejects.toThrow();
    expect(await queued(persistence, 'b')).toEqual([1]);
  });
});

describe('PersistentSessions.authorizeForward', () => {
  const sessions = new PersistentSessions({ queueMax: 10, expirySeconds: 60, metrics: new MetricsService() });
  const forward = (subscriptions: Record<string, unknown>, clean: boolean, topic: string): boolean =>
    Boolean(sessions.authorizeForward(client('a', { clean, subscriptions }), packet(1, topic)));

  it('lets everything through to clean sessions, and to persistent ones only through a subscription they hold', () => {
    expect(forward({}, true, 'p/news')).toBe(true);
    expect(forward({ 'p/news': {} }, false, 'p/news')).toBe(true);
    expect(forward({ 'p/#': {} }, false, 'p/news/client/x')).toBe(true);
    expect(forward({ 'p/news': {} }, false, 'p/news/client/x')).toBe(false);
    expect(forward({}, false, 'p/news')).toBe(false);
  });
});

describe('topicMatches', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/b', 'a/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['a/b/c', 'a/b', false],
  ])('%s against %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});
