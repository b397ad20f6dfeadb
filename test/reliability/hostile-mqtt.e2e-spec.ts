import type { Server as HttpServer } from 'node:http';
import fc from 'fast-check';
import request from 'supertest';
import { Broker } from '../../src/broker/broker';
import type { EmbeddedBroker } from '../../src/broker/embedded/embedded-broker';
import { sleep, TestMqttClient } from '../support/mqtt';
import { TestApp } from '../support/test-app';
import {
  closesWithin,
  connackCode,
  mqttPacket,
  type RawConnection,
  rawTcp,
  rawTls,
  rawWebSocket,
  type TlsIdentity,
} from './support/raw-mqtt';

/**
 * Hostile MQTT clients against the embedded broker: malformed, truncated and
 * oversized packets over WebSocket and mutual TLS, garbage before CONNECT, a
 * CONNECT flood with bad credentials, slow-loris upgrades and handshakes, and a
 * duplicate-client-id storm. Throughout, a well-behaved subscriber gets every
 * broadcast the API accepted (a ticker publishes every 100 ms for the whole
 * file), HTTP keeps answering, and the broker's connection count and the heap
 * come back to where they started.
 *
 * Covered elsewhere, not repeated here: a subscriber that stops reading is
 * dropped at MQTT_MAX_CLIENT_BUFFER_BYTES while the others keep receiving
 * (src/broker/embedded/embedded-broker.spec.ts, "drops a WebSocket subscriber
 * that stops reading"); a connection announcing a packet over the limit is
 * dropped ("drops a connection announcing a packet larger than the limit").
 */

const NEWS = 'webcommunicator/dev/news';
const CONNACK_BAD_CREDENTIALS = 4;
const CONNACK_NOT_AUTHORIZED = 5;

describe('hostile MQTT clients against the embedded broker', () => {
  let t: TestApp;
  let watcher: TestMqttClient;
  let service: { Authorization: string };
  let mallory: { clientId: string; token: string };
  let device: TlsIdentity & { clientId: string };
  let tlsPort: number;
  let baseline: number;
  let heapBefore: number;
  const accepted: string[] = [];
  const tickFailures: string[] = [];
  let ticker: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<unknown>>();
  const open = new Set<RawConnection>();

  const connections = (): number => t.app.get<Broker, EmbeddedBroker>(Broker).sessions.connectionCount;

  async function backToBaseline(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (connections() > baseline && Date.now() < deadline) {
      await sleep(50);
    }
    expect(connections()).toBe(baseline);
  }

  /** HTTP answers and a fresh broadcast reaches the well-behaved subscriber. */
  async function stillServing(): Promise<void> {
    expect((await request(t.url).get('/health/ready')).status).toBe(200);
    const res = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'probe' });
    expect(res.status).toBe(202);
    const id = res.body.messageId as string;
    const deadline = Date.now() + 30_000;
    while (!watcher.received.some((m) => m.payload.Id === id)) {
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(20);
    }
  }

  function track<T extends RawConnection>(connection: T): T {
    open.add(connection);
    void connection.closed.then(() => open.delete(connection));
    return connection;
  }

  beforeAll(async () => {
    t = await TestApp.start();
    service = t.auth('svc', 'service');
    const admin = t.auth('root', 'admin');
    const register = async (id: string): Promise<{ clientId: string; token: string; url: string }> => {
      const res = await request(t.url).post('/v1/registrations').set(t.auth(id)).send({ connectionType: 'WEBSOCKET' });
      expect(res.status).toBe(201);
      return { clientId: id, token: res.body.connectionToken as string, url: res.body.url as string };
    };
    const w = await register('watcher');
    mallory = await register('mallory');
    const dev = await request(t.url)
      .post('/v1/admin/registrations')
      .set(admin)
      .send({ connectionType: 'OPENSSL', clientId: 'dev-hostile' });
    expect(dev.status).toBe(201);
    device = { clientId: 'dev-hostile', ...(dev.body as TlsIdentity) };
    tlsPort = dev.body.port as number;

    watcher = await TestMqttClient.ws(w.url, w.clientId, w.token);
    await expect(watcher.subscribe(NEWS)).resolves.toEqual([0]);
    baseline = connections();
    heapBefore = process.memoryUsage().heapUsed;

    let n = 0;
    ticker = setInterval(() => {
      const message = `tick-${n++}`;
      const tick = request(t.url)
        .post('/v1/messages/broadcast')
        .set(service)
        .send({ channel: 'news', message })
        .then(
          (res) => (res.status === 202 ? accepted.push(res.body.messageId as string) : tickFailures.push(`${message}: ${res.status}`)),
          (error: Error) => tickFailures.push(`${message}: ${error.message}`),
        );
      inFlight.add(tick);
      void tick.finally(() => inFlight.delete(tick));
    }, 100);
  });

  afterAll(async () => {
    clearInterval(ticker);
    // A request still in flight when the app closes would meet a closed store.
    await Promise.allSettled([...inFlight]);
    for (const connection of open) {
      connection.destroy();
    }
    await watcher?.end();
    // Closed sessions write their lastSeenAt; dynalite rejects (unhandled, inside dynalite) a write racing its close.
    await sleep(500);
    await t?.stop();
  });

  const viaWebSocket = (): Promise<RawConnection> => rawWebSocket(t.url).then(track);
  const viaTls = (): Promise<RawConnection> => rawTls(tlsPort, device).then(track);
  const transports: Array<[string, () => Promise<RawConnection>, () => Buffer]> = [
    ['WebSocket', viaWebSocket, () => mqttPacket.connect(mallory.clientId, { username: mallory.clientId, password: mallory.token })],
    ['TLS', viaTls, () => mqttPacket.connect(device.clientId)],
  ];

  describe.each(transports)('over %s', (_name, connect, validConnect) => {
    const malformed: Array<[string, () => Buffer[]]> = [
      ['HTTP garbage before CONNECT', () => [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]],
      ['0xFF bytes before CONNECT', () => [Buffer.alloc(64, 0xff), validConnect()]],
      ['a wrong protocol name', () => [mqttPacket.connect(mallory.clientId, { protocol: 'MQTX' })]],
      ['an unknown protocol level', () => [mqttPacket.connect(mallory.clientId, { level: 9 })]],
      ['the reserved CONNECT flag set', () => [mqttPacket.connect(mallory.clientId, { flags: 0x03 })]],
      ['a password without a user name', () => [mqttPacket.connect(mallory.clientId, { flags: 0x42 })]],
      ['a 5-byte remaining length', () => [Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])]],
      ['PUBLISH before CONNECT', () => [mqttPacket.publish(NEWS, 'forged')]],
      ['SUBSCRIBE before CONNECT', () => [mqttPacket.subscribe(1, NEWS)]],
      ['reserved packet type 0', () => [Buffer.from([0x00, 0x00])]],
      ['reserved packet type 15', () => [Buffer.from([0xf0, 0x00])]],
      ['a second CONNECT', () => [validConnect(), validConnect()]],
      ['SUBSCRIBE with QoS 3', () => [validConnect(), mqttPacket.subscribe(1, NEWS, 3)]],
      ['SUBSCRIBE with wrong fixed-header flags', () => [validConnect(), mqttPacket.subscribe(1, NEWS, 0, 0x80)]],
      ['SUBSCRIBE to an empty filter', () => [validConnect(), mqttPacket.subscribe(1, '')]],
      ['PUBLISH with QoS 3', () => [validConnect(), mqttPacket.publish(NEWS, 'x', 0x36, 1)]],
      ['PUBLISH to a wildcard topic', () => [validConnect(), mqttPacket.publish(`${NEWS}/#`, 'x')]],
      ['PUBLISH (clients are receive-only)', () => [validConnect(), mqttPacket.publish(NEWS, 'forged')]],
      ['PUBLISH announcing 200 MB', () => [validConnect(), mqttPacket.header(0x30, 200_000_000), Buffer.alloc(256 * 1024)]],
      ['CONNECT announcing 200 MB', () => [mqttPacket.header(0x10, 200_000_000), Buffer.alloc(256 * 1024)]],
    ];

    it.each(malformed)('drops a connection sending %s; the others are unaffected', async (_what, packets) => {
      const connection = await connect();
      for (const data of packets()) {
        connection.write(data);
      }
      await expect(closesWithin(connection, 30_000)).resolves.toBe(true);
      expect(Buffer.concat(connection.received).includes(Buffer.from('forged'))).toBe(false);
    });

    it('survives 150 generated byte streams (random, or a valid CONNECT followed by random bytes), then serves as before', async () => {
      let cases = 0;
      await fc.assert(
        fc.asyncProperty(fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 512 }), async (afterConnect, bytes) => {
          cases++;
          const connection = await connect();
          if (afterConnect) {
            connection.write(validConnect());
          }
          connection.write(Buffer.from(bytes));
          // Whatever it made of the bytes, the broker answers or waits; we hang up in either case.
          await closesWithin(connection, 20);
          connection.destroy();
        }),
        { numRuns: 150, seed: 4242 },
      );
      expect(cases).toBe(150);
      await backToBaseline();
      await stillServing();
    });

    it('drops a truncated packet when the peer hangs up mid-packet', async () => {
      for (const cut of [1, 2, 5, 10]) {
        const connection = await connect();
        connection.write(validConnect().subarray(0, cut));
        connection.destroy();
      }
      await backToBaseline();
    });
  });

  it('withstands a flood of 300 CONNECTs with bad tokens (30 at a time): each refused with CONNACK 4 and closed', async () => {
    const codes: Array<number | undefined> = [];
    const started = Date.now();
    for (let wave = 0; wave < 10; wave++) {
      codes.push(
        ...(await Promise.all(
          Array.from({ length: 30 }, async (_, i) => {
            const connection = await viaWebSocket();
            connection.write(mqttPacket.connect(mallory.clientId, { username: mallory.clientId, password: `forged-${wave}-${i}` }));
            await closesWithin(connection, 30_000);
            return connackCode(connection.received);
          }),
        )),
      );
    }
    expect(codes.filter((c) => c !== CONNACK_BAD_CREDENTIALS)).toEqual([]);
    // A bound on pathological slowness, generous for a busy 2-core machine.
    expect(Date.now() - started).toBeLessThan(90_000);
    // And 50 over TLS with a valid certificate but someone else's client id.
    const tlsCodes = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const connection = await viaTls();
        connection.write(mqttPacket.connect('watcher'));
        await closesWithin(connection, 30_000);
        return connackCode(connection.received);
      }),
    );
    expect(tlsCodes.filter((c) => c !== CONNACK_NOT_AUTHORIZED)).toEqual([]);
    await backToBaseline();
    await stillServing();
  });

  it('cuts slow-loris connections: silent WebSockets, half CONNECTs and unfinished TLS handshakes close within the timeouts', async () => {
    const silentWs = await Promise.all(Array.from({ length: 40 }, () => viaWebSocket()));
    const halfConnectWs = await Promise.all(Array.from({ length: 20 }, () => viaWebSocket()));
    for (const c of halfConnectWs) {
      c.write(validConnectPrefix(mallory));
    }
    const silentTls = await Promise.all(Array.from({ length: 20 }, () => viaTls()));
    // TCP to the TLS port that never finishes the handshake: nothing at all, or the first bytes of a ClientHello.
    const noHandshake = await Promise.all(Array.from({ length: 20 }, () => rawTcp(tlsPort).then(track)));
    for (const c of noHandshake.slice(0, 10)) {
      c.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    }
    expect(connections()).toBeGreaterThanOrEqual(baseline + 80);
    // Held open, they cost nothing to the others.
    await stillServing();
    await expect(
      TestMqttClient.ws(`ws://127.0.0.1:${t.port}/mqtt`, mallory.clientId, mallory.token).then((c) => c.end()),
    ).resolves.toBeUndefined();

    // Aedes' connect timeout and the TLS handshake timeout are both 10 s (the wait is a ceiling: a busy machine runs them late).
    const groups = { silentWs, halfConnectWs, silentTls, noHandshake };
    const stillOpen = await Promise.all(
      Object.entries(groups).map(
        async ([name, group]) => [name, (await Promise.all(group.map((c) => closesWithin(c, 40_000)))).filter((c) => !c).length] as const,
      ),
    );
    expect(Object.fromEntries(stillOpen)).toEqual({ silentWs: 0, halfConnectWs: 0, silentTls: 0, noHandshake: 0 });
    await backToBaseline();
    await stillServing();
  });

  it('holds 100 partial HTTP upgrade requests without starving anyone; the HTTP server bounds how long headers may take', async () => {
    const partial = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const c = await rawTcp(t.port).then(track);
        c.write(Buffer.from('GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'));
        return c;
      }),
    );
    await sleep(200);
    await stillServing();
    await expect(
      TestMqttClient.ws(`ws://127.0.0.1:${t.port}/mqtt`, mallory.clientId, mallory.token).then((c) => c.end()),
    ).resolves.toBeUndefined();
    // Node cuts a request whose headers never complete after headersTimeout (checked every
    // connectionsCheckingInterval); the bound must exist, whatever its value.
    const server: HttpServer = t.app.getHttpServer();
    expect(server.headersTimeout).toBeGreaterThan(0);
    expect(server.headersTimeout).toBeLessThanOrEqual(60_000);
    expect(partial.every((c) => !c.isClosed())).toBe(true);
    for (const c of partial) {
      c.destroy();
    }
  });

  it('duplicate client ids: of 10 connections racing with one id, exactly one session survives and it receives', async () => {
    const clients = await Promise.allSettled(
      Array.from({ length: 10 }, () => TestMqttClient.ws(`ws://127.0.0.1:${t.port}/mqtt`, mallory.clientId, mallory.token)),
    );
    const connected = clients.filter((c): c is PromiseFulfilledResult<TestMqttClient> => c.status === 'fulfilled').map((c) => c.value);
    expect(connected.length).toBeGreaterThan(0);
    const deadline = Date.now() + 5_000;
    while (connected.filter((c) => c.connected).length > 1 && Date.now() < deadline) {
      await sleep(50);
    }
    const survivors = connected.filter((c) => c.connected);
    expect(survivors).toHaveLength(1);
    expect(connections()).toBe(baseline + 1);

    // Newest wins, sequentially too: a reconnect with the same id takes over.
    const older = survivors[0];
    const newer = await TestMqttClient.ws(`ws://127.0.0.1:${t.port}/mqtt`, mallory.clientId, mallory.token);
    await older.closed();
    await expect(newer.subscribe(NEWS)).resolves.toEqual([0]);
    await stillServing();
    await newer.waitFor(1);
    for (const c of [...connected, newer]) {
      await c.end();
    }
    await backToBaseline();
  });

  it('lost nothing: every broadcast accepted during the attacks reached the well-behaved subscriber; memory came back', async () => {
    clearInterval(ticker);
    await Promise.allSettled([...inFlight]);
    expect(tickFailures).toEqual([]);
    expect(accepted.length).toBeGreaterThan(50);
    const delivered = new Set(watcher.received.map((m) => m.payload.Id as string));
    const deadline = Date.now() + 5_000;
    while (accepted.some((id) => !delivered.has(id)) && Date.now() < deadline) {
      await sleep(50);
      watcher.received.forEach((m) => delivered.add(m.payload.Id as string));
    }
    expect(accepted.filter((id) => !delivered.has(id))).toEqual([]);
    expect(watcher.connected).toBe(true);
    await backToBaseline();
    // Generous: the whole jest process, before any gc; a leak per connection (~1,500 here) would show.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(150 * 1024 * 1024);
    process.stdout.write(
      `hostile-mqtt: ${accepted.length} ticks delivered; heap ${Math.round(heapBefore / 1048576)} → ${Math.round(process.memoryUsage().heapUsed / 1048576)} MB\n`,
    );
  });
});

/** The first half of a valid CONNECT: the broker waits for the rest until its connect timeout. */
function validConnectPrefix(client: { clientId: string; token: string }): Buffer {
  const full = mqttPacket.connect(client.clientId, { username: client.clientId, password: client.token });
  return full.subarray(0, Math.floor(full.length / 2));
}
