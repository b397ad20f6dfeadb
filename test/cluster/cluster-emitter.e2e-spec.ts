/**
 * ClusterEmitter (Aedes' emitter in an embedded cluster) and ClusterBus against a real
 * redis-server of the test's own: local first, once per instance, the outbox across a Redis
 * restart, request / acknowledge.
 */
import { ClusterEmitter, type MqPacket } from '../../src/broker/embedded/aedes-internals/cluster-emitter';
import { ClusterBus } from '../../src/cluster/cluster-bus';
import { ClusterInstances } from '../../src/cluster/cluster-instances';
import { RedisLink } from '../../src/cluster/redis-link';
import { MetricsService } from '../../src/metrics/metrics.service';
import { eventually, RedisServer } from './cluster-harness';

interface Instance {
  link: RedisLink;
  emitter: ClusterEmitter;
  received: string[];
  packets: MqPacket[];
}

describe('ClusterEmitter and ClusterBus (a real Redis)', () => {
  let redis: RedisServer;
  const instances: Instance[] = [];

  const link = (id: string): RedisLink => redis.link(id, 'emitter-test:');

  async function instance(id: string): Promise<Instance> {
    const l = link(id);
    const emitter = new ClusterEmitter({
      link: l,
      brokerId: id,
      metrics: new MetricsService(),
      outboxMax: 1000,
      outboxMaxBytes: 1 << 20,
      localOnly: (packet) => packet.topic.startsWith('$internal'),
      // What the cluster's gate does (ClusterInstances.waitFor): wait until the others hear again.
      afterOutage: () => eventually('every instance hearing', () => instances.every((i) => i.emitter.hearing)),
    });
    const received: string[] = [];
    const packets: MqPacket[] = [];
    const subscribed = new Promise<void>((resolve) => emitter.on('game/news', (packet: MqPacket, done) => {
      received.push(String(packet.payload));
      packets.push(packet);
      done();
    }, resolve));
    await subscribed;
    const result = { link: l, emitter, received, packets };
    instances.push(result);
    await eventually(`${id} hearing`, () => emitter.hearing);
    return result;
  }

  function emit(from: Instance, payload: string, topic = 'game/news'): Promise<void> {
    return new Promise((resolve, reject) =>
      from.emitter.emit({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false, brokerId: from.link.instanceId, brokerCounter: 1 }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    for (const i of instances) {
      await new Promise<void>((resolve) => i.emitter.close(resolve));
      await i.link.onApplicationShutdown();
    }
    await redis.stop();
  });

  it('delivers locally at once, and once on each other instance', async () => {
    const [a, b] = [await instance('a'), await instance('b')];
    // A second listener on B through a pattern: Redis sends B the message twice (channel and pattern), B delivers it once per listener.
    const wildcard: string[] = [];
    await new Promise<void>((resolve) => b.emitter.on('game/#', (packet: MqPacket, done) => {
      wildcard.push(String(packet.payload));
      done();
    }, resolve));
    await emit(a, 'one');
    // Delivered on A before emit's callback: no round trip through Redis.
    expect(a.received).toEqual(['one']);
    await emit(b, 'two');
    await eventually('both messages on both instances', () => a.received.length === 2 && b.received.length === 2 && wildcard.length === 2);
    await emit(a, 'marker');
    await eventually('the marker', () => b.received.includes('marker') && a.received.includes('marker'));
    expect(a.received).toEqual(['one', 'two', 'marker']);
    expect([...b.received].sort()).toEqual(['marker', 'one', 'two']);
    expect([...wildcard].sort()).toEqual(['marker', 'one', 'two']);
    // What the direct-delivery fast path needs of a message from another instance: a Buffer payload, that
    // instance's id and counter, and no field msgpack turned into null (`properties` must be undefined).
    const fromA = b.packets.find((p) => String(p.payload) === 'one')!;
    expect(Buffer.isBuffer(fromA.payload)).toBe(true);
    expect(fromA).toEqual(expect.objectContaining({ topic: 'game/news', brokerId: 'a', brokerCounter: 1, qos: 0 }));
    expect(Object.values(fromA).includes(null)).toBe(false);
    expect('properties' in fromA).toBe(false);
    // The internal namespace stays on its instance.
    await emit(a, 'internal', '$internal/x');
  });

  it('keeps serving locally while Redis is down, and sends what waited once it is back', async () => {
    const [a, b] = instances;
    a.received.length = 0;
    b.received.length = 0;
    await redis.stop();
    await eventually('A cut off', () => !a.emitter.hearing);
    await emit(a, 'during-1');
    await emit(a, 'during-2');
    expect(a.received).toEqual(['during-1', 'during-2']);
    expect(a.emitter.waiting).toBe(2);
    await redis.restart();
    await eventually('B got what waited', () => b.received.length === 2, 30_000);
    expect(b.received).toEqual(['during-1', 'during-2']);
    expect(a.emitter.waiting).toBe(0);
    expect(a.received).toEqual(['during-1', 'during-2']);
  });

  it("an Aedes announcement ($SYS) goes out at once while older messages still wait in the outbox (a takeover is not held back)", async () => {
    const [a, b] = instances;
    const announced: string[] = [];
    await new Promise<void>((resolve) => b.emitter.on('$SYS/+/new/clients', (packet: MqPacket, done) => {
      announced.push(String(packet.payload));
      done();
    }, resolve));
    // Redis is up and the others hear, but a message still waits in A's outbox (as while it is being sent).
    const internals = a.emitter as unknown as { hold(message: { id: string; packet: MqPacket }): void };
    internals.hold({ id: 'held-1', packet: { cmd: 'publish', topic: 'game/news', payload: Buffer.from('held'), qos: 0, retain: false, dup: false, brokerId: 'a', brokerCounter: 9 } });
    expect(a.emitter.waiting).toBe(1);
    await emit(a, 'twin', '$SYS/a/new/clients');
    await eventually('the announcement on B', () => announced.includes('twin'));
    expect(b.received).not.toContain('held');
    // The held message still goes, once the outbox is sent.
    await (a.emitter as unknown as { flush(): Promise<void> }).flush();
    await eventually('the held message on B', () => b.received.includes('held') && a.emitter.waiting === 0);
  });

  it('asks every other instance and names the one that does not answer', async () => {
    const [a, b] = instances;
    const heard: unknown[] = [];
    const bus = (i: Instance, ids: ClusterInstances): ClusterBus => new ClusterBus(i.link, ids);
    const registry = (i: Instance): ClusterInstances => new ClusterInstances(i.link, new MetricsService(), { heartbeatMs: 200, ttlMs: 2000, ready: () => true });
    const [ra, rb] = [registry(a), registry(b)];
    const [busA, busB] = [bus(a, ra), bus(b, rb)];
    busB.handle('close-sessions', async (body) => {
      heard.push(body);
    });
    await Promise.all([busA.start(5000), busB.start(5000)]);
    ra.start();
    rb.start();
    await eventually('b registered', async () => (await ra.others()).includes('b'));
    expect(await busA.request('close-sessions', { clientId: 'x' }, 2000)).toEqual({ confirmed: ['b'], missing: [] });
    expect(heard).toEqual([{ clientId: 'x' }]);
    // An instance that is alive but does not answer in time is named.
    busB.handle('close-sessions', () => new Promise((resolve) => setTimeout(resolve, 1000)));
    expect(await busA.request('close-sessions', { clientId: 'y' }, 200)).toEqual({ confirmed: [], missing: ['b'] });
    await Promise.all([ra.stop(), rb.stop()]);
  });
});
