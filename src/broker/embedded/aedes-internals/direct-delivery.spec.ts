import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { WebSocket, WebSocketServer } from 'ws';
import { installDirectDelivery } from './direct-delivery';
import { streamOutlet, websocketOutlet } from './outlets';
import { mqttStreamFromWebSocket } from './websocket-stream';
import { capBufferedWrites } from './write-cap';


/** A bare Aedes with both listeners wired like EmbeddedBroker.accept, counting what still goes Aedes' own way. */
class Rig {
  /** Calls that reached Aedes' original deliver0 / deliverQoS (the deferred path). */
  viaAedes = 0;
  /** Connections dropped by the slow-reader cap. */
  overflows = 0;
  readonly clients = new Set<Client>();
  private readonly opened: MqttClient[] = [];

  private constructor(
    readonly aedes: Aedes,
    private readonly tcp: Server,
    private readonly wss: WebSocketServer,
  ) {}

  static async start(maxBufferedBytes = 1 << 20, options: Parameters<typeof Aedes.createBroker>[0] = {}): Promise<Rig> {
    const aedes = await Aedes.createBroker(options);
    let rig: Rig | undefined = undefined;
    const accept = (stream: Duplex, ws?: WebSocket): void => {
      const overflow = (): void => {
        rig!.overflows += 1;
        stream.destroy();
      };
      capBufferedWrites(stream, maxBufferedBytes, overflow);
      const client = aedes.handle(stream);
      const internals = client as unknown as { deliver0: (...args: unknown[]) => void; deliverQoS: (...args: unknown[]) => void };
      for (const name of ['deliver0', 'deliverQoS'] as const) {
        const original = internals[name];
        internals[name] = (...args: unknown[]) => {
          rig!.viaAedes += 1;
          original(...args);
        };
      }
      installDirectDelivery(client, ws ? websocketOutlet(ws, stream, maxBufferedBytes, overflow) : streamOutlet(stream));
      rig!.clients.add(client);
    };
    const tcp = createServer((socket: Socket) => accept(socket));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', () => resolve()));
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => accept(mqttStreamFromWebSocket(ws), ws));
    rig = new Rig(aedes, tcp, wss);
    return rig;
  }

  url(kind: 'tcp' | 'ws'): string {
    return kind === 'tcp' ? `mqtt://127.0.0.1:${(this.tcp.address() as AddressInfo).port}` : `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  async connect(kind: 'tcp' | 'ws', clientId: string, protocolVersion: 4 | 5 = 4): Promise<MqttClient> {
    const client = await mqtt.connectAsync(this.url(kind), { clientId, protocolVersion, reconnectPeriod: 0, keepalive: 0 });
    client.on('error', () => undefined);
    this.opened.push(client);
    return client;
  }

  async close(): Promise<void> {
    await Promise.all(this.opened.map((c) => c.endAsync(true)));
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }
}

/** Every raw PUBLISH packet a client receives, as the bytes mqtt-packet would generate for it. */
function rawPublishes(client: MqttClient): Array<{ topic: string; payload: string; qos: number; retain: boolean; bytes: string }> {
  const seen: Array<{ topic: string; payload: string; qos: number; retain: boolean; bytes: string }> = [];
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'publish') {
      const p = packet;
      seen.push({ topic: p.topic, payload: Buffer.from(p.payload).toString(), qos: p.qos, retain: p.retain, bytes: mqttPacket.generate(p).toString('hex') });
    }
  });
  return seen;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function publish(aedes: Aedes, topic: string, payload: Buffer, qos: 0 | 1, retain = false): Promise<void> {
  return new Promise((resolve, reject) =>
    aedes.publish({ cmd: 'publish', topic, payload, qos, retain, dup: false }, (error) => (error ? reject(error) : resolve())),
  );
}

describe('installDirectDelivery', () => {
  let rig: Rig;

  beforeEach(async () => {
    rig = await Rig.start();
  });

  afterEach(async () => {
    await rig.close();
  });

  it('delivers a QoS 0 burst to WebSocket and TCP subscribers in order, byte-identical, without Aedes\' per-subscriber path', async () => {
    const subscribers = await Promise.all(Array.from({ length: 40 }, (_, i) => rig.connect(i % 2 === 0 ? 'ws' : 'tcp', `sub-${i}`)));
    await Promise.all(subscribers.map((s) => s.subscribeAsync('game/news', { qos: 0 })));
    const seen = subscribers.map(rawPublishes);
    rig.viaAedes = 0;

    const count = 300;
    // Several messages per turn, as in a real burst (Aedes runs up to 100 fan-outs at once).
    await Promise.all(Array.from({ length: count }, (_, i) => publish(rig.aedes, 'game/news', Buffer.from(`message ${i} ${'x'.repeat(i % 7 === 0 ? 70_000 : 150)}`), 0)));

    await until(() => seen.every((s) => s.length === count), 'every message at every subscriber');
    for (const messages of seen) {
      expect(messages.map((m) => m.payload.split(' ')[1])).toEqual(Array.from({ length: count }, (_, i) => String(i)));
      for (const m of messages) {
        expect(m).toMatchObject({ topic: 'game/news', qos: 0, retain: false });
      }
    }
    // Same bytes at every subscriber (one shared encoding), and what mqtt-packet itself would send.
    const first = seen[0].map((m) => m.bytes);
    for (const messages of seen) {
      expect(messages.map((m) => m.bytes)).toEqual(first);
    }
    expect(rig.viaAedes).toBe(0);
  });

  it('sends QoS 1 messages to QoS 0 subscriptions directly, downgraded, and QoS 1 subscriptions through Aedes with packet ids', async () => {
    const zero = await rig.connect('ws', 'qos0');
    const one = await rig.connect('ws', 'qos1');
    await zero.subscribeAsync('game/news', { qos: 0 });
    await one.subscribeAsync('game/news', { qos: 1 });
    const seenZero = rawPublishes(zero);
    const seenOne = rawPublishes(one);
    rig.viaAedes = 0;

    await publish(rig.aedes, 'game/news', Buffer.from('hello'), 1);

    await until(() => seenZero.length === 1 && seenOne.length === 1, 'both copies');
    expect(seenZero[0]).toMatchObject({ qos: 0, payload: 'hello' });
    expect(seenOne[0]).toMatchObject({ qos: 1, payload: 'hello' });
    expect(rig.viaAedes).toBe(1); // only the QoS 1 subscriber's copy
  });

  it('loses nothing and keeps each QoS level in order when QoS 1 deliveries (Aedes\' path) and QoS 0 ones (direct) interleave', async () => {
    // Stock Aedes 1.2 drops the QoS 1 messages here: they take their duplicate-check counter before
    // an extra persistence step, so they reach the subscriber behind newer QoS 0 ones.
    const subscriber = await rig.connect('tcp', 'mixed');
    await subscriber.subscribeAsync('game/news', { qos: 1 });
    const seen = rawPublishes(subscriber);
    const wsSubscriber = await rig.connect('ws', 'mixed-ws');
    await wsSubscriber.subscribeAsync('game/news', { qos: 1 });
    const seenWs = rawPublishes(wsSubscriber);

    const count = 200;
    const qosOf = (i: number): 0 | 1 => (i % 3 === 0 ? 1 : 0);
    await Promise.all(Array.from({ length: count }, (_, i) => publish(rig.aedes, 'game/news', Buffer.from(String(i)), qosOf(i))));

    await until(() => seen.length === count && seenWs.length === count, 'every message');
    for (const messages of [seen, seenWs]) {
      for (const qos of [0, 1]) {
        const expected = Array.from({ length: count }, (_, i) => i).filter((i) => qosOf(i) === qos);
        expect(messages.filter((m) => m.qos === qos).map((m) => Number(m.payload))).toEqual(expected);
      }
    }
  });

  it('sends a message matching two of a client\'s subscriptions once, and the next message again', async () => {
    const subscriber = await rig.connect('ws', 'overlap');
    await subscriber.subscribeAsync(['game/#', 'game/news'], { qos: 0 });
    const seen = rawPublishes(subscriber);

    await publish(rig.aedes, 'game/news', Buffer.from('one'), 0);
    await publish(rig.aedes, 'game/news', Buffer.from('two'), 1);
    await publish(rig.aedes, 'game/news', Buffer.from('three'), 0);
    await until(() => seen.length >= 3, 'three messages');
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(seen.map((m) => m.payload)).toEqual(['one', 'two', 'three']);
  });

  it('delivers a message of another cluster instance that carries the same counter as the last local one', async () => {
    const subscriber = await rig.connect('tcp', 'cluster-sub');
    await subscriber.subscribeAsync(['game/news'], { qos: 0 });
    const seen = rawPublishes(subscriber);

    await publish(rig.aedes, 'game/news', Buffer.from('local'), 0);
    // What the cluster emitter hands Aedes for another instance's message: that broker's id and its own counter.
    const aedes = rig.aedes as unknown as { counter: number; mq: { emit(packet: object, done: () => void): void } };
    const remote = { cmd: 'publish', topic: 'game/news', payload: Buffer.from('remote'), qos: 0, retain: false, dup: false, brokerId: 'another-instance', brokerCounter: aedes.counter };
    await new Promise<void>((resolve) => aedes.mq.emit(remote, resolve));
    await until(() => seen.length >= 2, 'both messages');

    expect(seen.map((m) => m.payload)).toEqual(['local', 'remote']);
  });

  it('never answers from another topic\'s or flag\'s encoding of the same payload', async () => {
    const subscriber = await rig.connect('ws', 'topics');
    await subscriber.subscribeAsync(['game/a', 'game/b'], { qos: 0 });
    const seen = rawPublishes(subscriber);
    const payload = Buffer.from('same buffer');

    await Promise.all([publish(rig.aedes, 'game/a', payload, 0), publish(rig.aedes, 'game/b', payload, 0)]);
    await until(() => seen.length === 2, 'both');
    // Reused later with other bytes: a later turn must encode again.
    payload.write('SAME');
    await publish(rig.aedes, 'game/a', payload, 0);
    await until(() => seen.length === 3, 'the third');

    expect(seen.map((m) => `${m.topic} ${m.payload}`)).toEqual(['game/a same buffer', 'game/b same buffer', 'game/a SAME buffer']);
  });
});

describe('installDirectDelivery and the broker\'s authorizeForward', () => {
  it('sends what authorizeForward hands back, a string payload included', async () => {
    const rig = await Rig.start(1 << 20, {
      authorizeForward: (_client, packet) => ({ ...packet, payload: `forwarded ${packet.payload.toString()}` }),
    });
    try {
      const subscriber = await rig.connect('ws', 'forwarded');
      await subscriber.subscribeAsync('game/news', { qos: 0 });
      const seen = rawPublishes(subscriber);
      rig.viaAedes = 0;

      await publish(rig.aedes, 'game/news', Buffer.from('hello'), 0);

      await until(() => seen.length === 1, 'the message');
      expect(seen[0]).toMatchObject({ topic: 'game/news', payload: 'forwarded hello', qos: 0 });
      expect(rig.viaAedes).toBe(0);
    } finally {
      await rig.close();
    }
  });
});

describe('installDirectDelivery and the slow-reader cap', () => {
  it('drops a WebSocket subscriber that stops reading once its socket holds more than the cap, and keeps the others', async () => {
    const rig = await Rig.start(256 * 1024);
    try {
      const healthy = await rig.connect('ws', 'healthy');
      await healthy.subscribeAsync('game/news', { qos: 0 });
      const seen = rawPublishes(healthy);
      // A raw WebSocket client that subscribes, then stops reading.
      const stuck = new WebSocket(rig.url('ws'));
      const frames: Buffer[] = [];
      stuck.on('message', (data) => frames.push(data as Buffer));
      await new Promise<void>((resolve) => stuck.once('open', () => resolve()));
      stuck.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'stuck', clean: true, keepalive: 0 }));
      stuck.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'game/news', qos: 0 }] }));
      await until(() => frames.length >= 2, 'CONNACK and SUBACK');
      stuck.pause();

      const count = 120;
      const big = 'x'.repeat(60_000);
      for (let i = 0; i < count; i++) {
        await publish(rig.aedes, 'game/news', Buffer.from(`${i} ${big}`), 0);
      }
      await until(() => seen.length === count, 'the healthy subscriber\'s messages');
      // A paused client doesn't see the close; the server's side of it does.
      await until(() => [...rig.clients].find((c) => c.id === 'stuck')?.closed === true, 'the stuck client to be dropped');
      stuck.terminate();
      expect(rig.overflows).toBe(1);
    } finally {
      await rig.close();
    }
  });
});
