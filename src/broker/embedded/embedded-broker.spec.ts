import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import jwt from 'jsonwebtoken';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { CONNECTION_TOKEN_AUDIENCE } from './connection-tokens';
import { INTERNAL_CLIENT_ID_PREFIX, INTERNAL_TOPIC_PREFIX } from './embedded-broker';
import {
  type BrokerHarness,
  closed,
  collect,
  MqttClients,
  PREFIX,
  rawMqtt,
  refusalCode,
  startBroker,
  suback,
  waitFor,
  waitForCount,
} from '../../../test/support/broker/harness';


const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;
const IDENTIFIER_REJECTED = 2;
const REFUSED = 0x80;

const news = `${PREFIX}/news`;
const alerts = `${PREFIX}/alerts`;
const privateTopic = (channel: string, clientId: string): string => `${PREFIX}/${channel}/client/${clientId}`;

describe('EmbeddedBroker', () => {
  let h: BrokerHarness;
  const mqtt = new MqttClients();

  beforeAll(async () => {
    h = await startBroker();
  });

  afterAll(async () => {
    await mqtt.endAll();
    await h.close();
  });

  beforeEach(async () => {
    h.clients.reset();
    h.channels.reset(TEST_CHANNELS_COPY());
    await h.catalog.refresh();
  });

  afterEach(async () => {
    for (const ws of rawSockets) {
      ws.terminate();
    }
    rawSockets.clear();
    await mqtt.endAll();
    // Sessions end asynchronously on the broker side; start every test from zero.
    await waitFor(() => totalSessions(h) === 0);
  });

  async function token(clientId: string): Promise<string> {
    const credentials = await h.broker.issueCredentials(h.clients.seed(clientId), 'WEBSOCKET');
    return credentials.connectionToken!;
  }

  async function wsClient(clientId: string, options: { portal?: boolean } = {}): Promise<MqttClient> {
    const record = h.clients.seed(clientId, { portal: options.portal });
    const { connectionToken } = await h.broker.issueCredentials(record, 'WEBSOCKET');
    return mqtt.ws(h, clientId, connectionToken);
  }

  async function device(
    clientId: string,
  ): Promise<{ client: MqttClient; certificatePem: string; privateKeyPem: string; caCertificatePem: string }> {
    const record = h.clients.seed(clientId, { connectionType: 'OPENSSL' });
    const credentials = await h.broker.issueCredentials(record, 'OPENSSL');
    // The registration service stores the issued certificate with the client; the TLS check requires it.
    await h.clients.addCertificate(clientId, credentials.certificateId!, undefined, new Date().toISOString());
    const issued = {
      certificatePem: credentials.certificatePem!,
      privateKeyPem: credentials.privateKeyPem!,
      caCertificatePem: credentials.caCertificatePem!,
    };
    return { client: await mqtt.tls(h, clientId, issued), ...issued };
  }

  describe('CONNECT over WebSocket', () => {
    it('accepts a registered client with its connection token and tracks the session', async () => {
      const credentials = await h.broker.issueCredentials(h.clients.seed('alice'), 'WEBSOCKET');
      expect(Date.parse(credentials.connectionTokenExpiresAt!) - Date.now()).toBeGreaterThan(
        (h.config.broker.connectionTokenTtlSeconds - 5) * 1000,
      );

      const client = await mqtt.ws(h, 'alice', credentials.connectionToken);

      expect(client.connected).toBe(true);
      expect(h.broker.connectionState('alice')).toEqual({ connected: true, lastSeenAt: expect.any(String) });
      expect(await gauge(h, 'websocket')).toBe(1);
      await waitFor(() => h.clients.peek('alice')?.lastSeenAt !== undefined);
    });

    it('refuses a wrong token', async () => {
      h.clients.seed('alice');
      await expect(refusalCode(mqtt.ws(h, 'alice', 'not-a-token'))).resolves.toBe(BAD_CREDENTIALS);
      await expect(refusalCode(mqtt.ws(h, 'alice', undefined))).resolves.toBe(BAD_CREDENTIALS);
      const forged = jwt.sign({}, 'some-other-secret-that-is-long-enough!!', {
        subject: 'alice',
        audience: CONNECTION_TOKEN_AUDIENCE,
        expiresIn: 60,
      });
      await expect(refusalCode(mqtt.ws(h, 'alice', forged))).resolves.toBe(BAD_CREDENTIALS);
      expect(h.broker.connectionState('alice').connected).toBe(false);
    });

    it("refuses another client's token (a borrowed client id)", async () => {
      const bobToken = await token('bob');
      h.clients.seed('alice');
      await expect(refusalCode(mqtt.ws(h, 'alice', bobToken))).resolves.toBe(BAD_CREDENTIALS);
    });

    it('refuses tokens signed with the right key but without our audience, or expired', async () => {
      h.clients.seed('alice');
      const secret = readFileSync(join(h.dataDir, 'broker-token.secret'), 'utf8').trim();
      const apiLike = jwt.sign({ roles: ['admin'] }, secret, { subject: 'alice', expiresIn: 60 });
      await expect(refusalCode(mqtt.ws(h, 'alice', apiLike))).resolves.toBe(BAD_CREDENTIALS);
      const expired = jwt.sign({ exp: Math.floor(Date.now() / 1000) - 10 }, secret, {
        subject: 'alice',
        audience: CONNECTION_TOKEN_AUDIENCE,
        issuer: 'webcommunicator-embedded-broker',
      });
      await expect(refusalCode(mqtt.ws(h, 'alice', expired))).resolves.toBe(BAD_CREDENTIALS);
    });

    it('refuses unregistered and banned clients, and client ids outside the id pattern', async () => {
      const ghostToken = await token('ghost');
      h.clients.reset();
      await expect(refusalCode(mqtt.ws(h, 'ghost', ghostToken))).resolves.toBe(NOT_AUTHORIZED);

      const malloryToken = await token('mallory');
      h.clients.seed('mallory', { status: 'BANNED' });
      await expect(refusalCode(mqtt.ws(h, 'mallory', malloryToken))).resolves.toBe(NOT_AUTHORIZED);

      await expect(refusalCode(mqtt.ws(h, 'a/b', 'x'))).resolves.toBe(IDENTIFIER_REJECTED);
    });

    it('answers "server unavailable" when the store is down', async () => {
      const aliceToken = await token('alice');
      h.clients.failReads = true;
      await expect(refusalCode(mqtt.ws(h, 'alice', aliceToken))).resolves.toBe(3);
    });

    it('lets the newest connection win on a duplicate client id', async () => {
      const aliceToken = await token('alice');
      const first = await mqtt.ws(h, 'alice', aliceToken);
      const second = await mqtt.ws(h, 'alice', aliceToken);

      await closed(first);
      expect(second.connected).toBe(true);
      await waitFor(() => sessionCount(h, 'alice') === 1);
      expect(h.broker.connectionState('alice').connected).toBe(true);
    });

    it('answers other upgrade paths with 404 and keeps serving HTTP', async () => {
      const ws = new WebSocket(h.wsUrl.replace('/mqtt', '/elsewhere'));
      const status = await new Promise<number | undefined>((resolve) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
        ws.on('error', () => resolve(undefined));
      });
      ws.terminate();
      expect(status).toBe(404);
      await expect(httpGet(h, '/ping')).resolves.toBe('pong');
    });
  });

  describe('CONNECT over TLS', () => {
    it('accepts a device whose certificate CN is its client id', async () => {
      const { client } = await device('dev-1');
      expect(client.connected).toBe(true);
      expect(h.broker.connectionState('dev-1').connected).toBe(true);
      expect(await gauge(h, 'tls')).toBe(1);
    });

    it('refuses a certificate used with another client id', async () => {
      const issued = await h.broker.issueCredentials(h.clients.seed('dev-1', { connectionType: 'OPENSSL' }), 'OPENSSL');
      h.clients.seed('dev-2', { connectionType: 'OPENSSL' });
      await expect(refusalCode(mqtt.tls(h, 'dev-2', issued))).resolves.toBe(NOT_AUTHORIZED);
    });

    it('refuses a TLS client without a certificate at the handshake', async () => {
      const { caCertificatePem } = await h.broker.issueCredentials(h.clients.seed('dev-1'), 'OPENSSL');
      const code = await refusalCode(mqtt.tls(h, 'dev-1', { caCertificatePem }));
      expect(code).not.toBe(0);
      expect(h.broker.connectionState('dev-1').connected).toBe(false);
    });

    it('refuses a banned device', async () => {
      const issued = await h.broker.issueCredentials(h.clients.seed('dev-1', { connectionType: 'OPENSSL' }), 'OPENSSL');
      h.clients.seed('dev-1', { status: 'BANNED' });
      // Its certificate is live: the ban alone refuses it.
      await h.clients.addCertificate('dev-1', issued.certificateId!, undefined, new Date().toISOString());
      await expect(refusalCode(mqtt.tls(h, 'dev-1', issued))).resolves.toBe(NOT_AUTHORIZED);
    });
  });

  describe('SUBSCRIBE', () => {
    it('grants a plain client exactly the broadcast topics and its own private topics', async () => {
      const alice = await wsClient('alice');
      const cases: Array<[string, number]> = [
        [news, 0],
        [alerts, 0],
        [privateTopic('news', 'alice'), 0],
        [privateTopic('inbox', 'alice'), 0],
        ['#', REFUSED],
        ['+', REFUSED],
        [`${PREFIX}/#`, REFUSED],
        [`${PREFIX}/+`, REFUSED],
        ['+/test/news', REFUSED],
        ['webcommunicator/+/news', REFUSED],
        [`${PREFIX}/news/#`, REFUSED],
        [`${PREFIX}/news/client/+`, REFUSED],
        [`${PREFIX}/news/client/#`, REFUSED],
        [`${PREFIX}/news/+/alice`, REFUSED],
        [`${PREFIX}/+/client/alice`, REFUSED],
        ['$SYS/#', REFUSED],
        ['$SYS/+/heartbeat', REFUSED],
        [privateTopic('news', 'bob'), REFUSED],
        [`${PREFIX}/unknown`, REFUSED],
        [privateTopic('unknown', 'alice'), REFUSED],
        [`${PREFIX}/inbox`, REFUSED],
        [privateTopic('alerts', 'alice'), REFUSED],
        [`${PREFIX}/digest`, REFUSED],
        [privateTopic('digest', 'alice'), REFUSED],
        [`${PREFIX}/news/extra`, REFUSED],
        [`${INTERNAL_TOPIC_PREFIX}/#`, REFUSED],
        [`${INTERNAL_TOPIC_PREFIX}/events`, REFUSED],
      ];

      const granted = await suback(
        alice,
        cases.map(([topic]) => topic),
      );

      expect(Object.fromEntries(cases.map(([topic], i) => [topic, granted[i]]))).toEqual(Object.fromEntries(cases));
      expect(alice.connected).toBe(true);
    });

    it('grants QoS 1 when asked on an allowed topic', async () => {
      const alice = await wsClient('alice');
      await expect(suback(alice, news, 1)).resolves.toEqual([1]);
    });

    it('grants a portal client everything under the prefix, and nothing outside it', async () => {
      const portal = await wsClient('editor', { portal: true });
      const cases: Array<[string, number]> = [
        [`${PREFIX}/#`, 0],
        [`${PREFIX}/+/client/+`, 0],
        [privateTopic('news', 'bob'), 0],
        ['#', REFUSED],
        ['+/test/#', REFUSED],
        ['$SYS/#', REFUSED],
        [`${INTERNAL_TOPIC_PREFIX}/#`, REFUSED],
      ];
      const granted = await suback(
        portal,
        cases.map(([topic]) => topic),
      );
      expect(Object.fromEntries(cases.map(([topic], i) => [topic, granted[i]]))).toEqual(Object.fromEntries(cases));
    });

    it('applies channel edits to the next subscription', async () => {
      const alice = await wsClient('alice');
      await expect(suback(alice, `${PREFIX}/fresh`)).resolves.toEqual([REFUSED]);

      await h.channels.put({ name: 'fresh', types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024 });
      await h.catalog.refresh();
      await expect(suback(alice, `${PREFIX}/fresh`)).resolves.toEqual([0]);

      await h.channels.delete('alerts');
      await h.catalog.refresh();
      await expect(suback(alice, alerts)).resolves.toEqual([REFUSED]);
    });

    it('re-checks the status: a client banned in the store gets nothing more', async () => {
      const alice = await wsClient('alice');
      await expect(suback(alice, news)).resolves.toEqual([0]);
      await h.clients.setStatus('alice', { status: 'BANNED', now: new Date().toISOString() });
      await expect(suback(alice, alerts)).resolves.toEqual([REFUSED]);
    });
  });

  describe('PUBLISH', () => {
    it('drops a plain client that publishes, without delivering its message', async () => {
      const watcher = await wsClient('editor', { portal: true });
      await expect(suback(watcher, `${PREFIX}/#`)).resolves.toEqual([0]);
      const seen = collect(watcher);
      const alice = await wsClient('alice');

      alice.publish(news, 'forged', { qos: 0 });
      await closed(alice);

      await h.broker.publish(news, Buffer.from('marker'));
      await waitForCount(seen, 1);
      expect(seen.map((m) => m.payload)).toEqual(['marker']);
    });

    it('drops a device that publishes over TLS', async () => {
      const { client } = await device('dev-1');
      client.publish(news, 'forged', { qos: 1 });
      await closed(client);
    });

    it('lets a portal client publish to channel topics, without retaining', async () => {
      const alice = await wsClient('alice');
      await expect(suback(alice, [news, privateTopic('news', 'alice')])).resolves.toEqual([0, 0]);
      const seen = collect(alice);
      const portal = await wsClient('editor', { portal: true });

      await portal.publishAsync(news, 'hello', { qos: 1, retain: true });
      await portal.publishAsync(privateTopic('news', 'alice'), 'psst', { qos: 0 });
      await waitForCount(seen, 2);
      expect(seen).toEqual([
        { topic: news, payload: 'hello', retain: false },
        { topic: privateTopic('news', 'alice'), payload: 'psst', retain: false },
      ]);

      const bob = await wsClient('bob');
      const bobSeen = collect(bob);
      await expect(suback(bob, news)).resolves.toEqual([0]);
      await h.broker.publish(news, Buffer.from('marker'));
      await waitForCount(bobSeen, 1);
      expect(bobSeen.map((m) => m.payload)).toEqual(['marker']);
    });

    it('drops a portal client that publishes outside the channel topics', async () => {
      for (const topic of [`${PREFIX}/unknown`, `${PREFIX}/digest`, `${INTERNAL_TOPIC_PREFIX}/events`, 'elsewhere']) {
        const portal = await wsClient('editor', { portal: true });
        portal.publish(topic, 'x');
        await closed(portal);
      }
    });
  });

  describe('delivery', () => {
    it('fans a broadcast out to every subscriber on both transports', async () => {
      const subscribers = await Promise.all(['a', 'b', 'c'].map((id) => wsClient(id)));
      const { client: dev } = await device('dev-1');
      const all = [...subscribers, dev];
      for (const client of all) {
        await expect(suback(client, news)).resolves.toEqual([0]);
      }
      const seen = all.map((client) => collect(client));

      await h.broker.publish(news, Buffer.from('{"Channel":"news"}'), { qos: 1 });

      for (const list of seen) {
        await waitForCount(list, 1);
        expect(list).toEqual([{ topic: news, payload: '{"Channel":"news"}', retain: false }]);
      }
    });

    it('delivers a private message only to its target', async () => {
      const alice = await wsClient('alice');
      const bob = await wsClient('bob');
      await expect(suback(alice, [news, privateTopic('news', 'alice')])).resolves.toEqual([0, 0]);
      await expect(suback(bob, [news, privateTopic('news', 'bob')])).resolves.toEqual([0, 0]);
      const aliceSeen = collect(alice);
      const bobSeen = collect(bob);

      await h.broker.publish(privateTopic('news', 'alice'), Buffer.from('for alice'));
      await h.broker.publish(news, Buffer.from('for all'));

      await waitForCount(aliceSeen, 2);
      await waitForCount(bobSeen, 1);
      expect(aliceSeen.map((m) => m.payload)).toEqual(['for alice', 'for all']);
      expect(bobSeen.map((m) => m.payload)).toEqual(['for all']);
    });

    it('drops a WebSocket subscriber that stops reading, and keeps serving the others', async () => {
      const reader = await wsClient('reader');
      await expect(suback(reader, news)).resolves.toEqual([0]);
      const seen = collect(reader);
      const stalled = await rawWebSocket(h, 'stalled', await token('stalled'));
      stalled.send(rawMqtt.subscribe(1, news));
      await waitFor(
        () => stalled.received.length >= 2,
        5_000,
        () => 'no SUBACK',
      ); // CONNACK, SUBACK
      stalled.ws.pause();

      const payload = Buffer.alloc(100_000, 'x');
      const count = 150; // ~15 MB: far beyond the socket buffers and the 1 MiB default cap
      const started = Date.now();
      for (let i = 0; i < count; i++) {
        await h.broker.publish(news, payload);
      }
      // Aedes' own drain timeout is 10 s: a fan-out that waited on the stalled reader would show here.
      expect(Date.now() - started).toBeLessThan(3_000);

      await waitFor(
        () => !h.broker.connectionState('stalled').connected,
        5_000,
        () => 'the stalled client is still connected',
      );
      await waitForCount(seen, count, 30_000);
    });

    it('sends each MQTT packet to a WebSocket client as one frame', async () => {
      const raw = await rawWebSocket(h, 'framed', await token('framed'));
      raw.send(rawMqtt.subscribe(7, news));
      await waitFor(
        () => raw.received.length >= 2,
        5_000,
        () => 'no SUBACK',
      );
      expect([...raw.received[1]]).toEqual([0x90, 3, 0, 7, 0]);

      await h.broker.publish(news, Buffer.from('hi'));

      await waitFor(
        () => raw.received.length >= 3,
        5_000,
        () => 'no PUBLISH',
      );
      expect(raw.received[2]).toEqual(
        Buffer.concat([Buffer.from([0x30, 2 + news.length + 2, 0, news.length]), Buffer.from(news), Buffer.from('hi')]),
      );
    });

    it('drops a connection announcing a packet larger than the limit', async () => {
      const { certificatePem, privateKeyPem, caCertificatePem } = await h.broker.issueCredentials(h.clients.seed('dev-9'), 'OPENSSL');
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: h.tlsPort,
        servername: 'localhost',
        ca: caCertificatePem,
        cert: certificatePem,
        key: privateKeyPem,
      });
      const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));

      socket.write(rawMqtt.header(0x10, 50_000_000));
      const chunk = Buffer.alloc(64 * 1024);
      for (let i = 0; i < 8 && !socket.destroyed; i++) {
        socket.write(chunk);
      }

      await waitFor(
        () => socket.destroyed,
        3_000,
        () => 'the connection stayed open',
      );
      await socketClosed;
    });
  });

  describe('revoke and grant', () => {
    it('closes the WebSocket and TLS sessions before revoke resolves, then refuses reconnects and subscriptions', async () => {
      const aliceToken = await token('alice');
      const alice = await mqtt.ws(h, 'alice', aliceToken);
      const dev = await device('dev-1');
      const before = await counter(h);

      await h.clients.setStatus('alice', { status: 'BANNED', now: new Date().toISOString() });
      await h.clients.setStatus('dev-1', { status: 'BANNED', now: new Date().toISOString() });
      await Promise.all([h.broker.revoke(h.clients.peek('alice')!), h.broker.revoke(h.clients.peek('dev-1')!)]);

      expect(h.broker.connectionState('alice').connected).toBe(false);
      expect(h.broker.connectionState('dev-1').connected).toBe(false);
      expect(await counter(h)).toBe(before + 2);
      expect(await gauge(h, 'websocket')).toBe(0);
      expect(await gauge(h, 'tls')).toBe(0);
      await closed(alice);
      await closed(dev.client);

      await expect(refusalCode(mqtt.ws(h, 'alice', aliceToken))).resolves.toBe(NOT_AUTHORIZED);
      await expect(refusalCode(mqtt.tls(h, 'dev-1', dev))).resolves.toBe(NOT_AUTHORIZED);
    });

    it('refuses a CONNECT that read the store before the ban landed', async () => {
      const aliceToken = await token('alice');
      h.clients.hold();
      const connecting = refusalCode(mqtt.ws(h, 'alice', aliceToken));
      await waitFor(() => h.clients.reads.includes('alice'));

      await h.clients.setStatus('alice', { status: 'BANNED', now: new Date().toISOString() });
      await h.broker.revoke(h.clients.peek('alice')!);
      h.clients.release();

      await expect(connecting).resolves.toBe(NOT_AUTHORIZED);
      expect(h.broker.connectionState('alice').connected).toBe(false);
    });

    it('restores the rights after grant', async () => {
      const aliceToken = await token('alice');
      await h.clients.setStatus('alice', { status: 'BANNED', now: new Date().toISOString() });
      await h.broker.revoke(h.clients.peek('alice')!);
      await expect(refusalCode(mqtt.ws(h, 'alice', aliceToken))).resolves.toBe(NOT_AUTHORIZED);

      await h.clients.setStatus('alice', { status: 'REGISTERED', now: new Date().toISOString() });
      await h.broker.grant(h.clients.peek('alice')!);

      const alice = await mqtt.ws(h, 'alice', aliceToken);
      await expect(suback(alice, news)).resolves.toEqual([0]);
    });

    it('resolves at once for a client without sessions', async () => {
      await expect(h.broker.revoke(h.clients.seed('nobody'))).resolves.toEqual({ unconfirmed: [] });
    });
  });

  describe('internal principal', () => {
    it('is loopback-only and confined to the internal namespace', async () => {
      const internal = h.broker.internalConnection();
      expect(internal.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
      const consumer = await mqtt.url(internal.url, {
        username: internal.username,
        password: internal.password,
        clientId: 'events-consumer',
      });
      const producer = await mqtt.url(internal.url, {
        username: internal.username,
        password: internal.password,
        clientId: 'events-producer',
      });

      await expect(suback(consumer, [`${INTERNAL_TOPIC_PREFIX}/#`, `${PREFIX}/#`, news, '$SYS/#', '#'])).resolves.toEqual([
        0,
        REFUSED,
        REFUSED,
        REFUSED,
        REFUSED,
      ]);
      const seen = collect(consumer);
      await producer.publishAsync(`${INTERNAL_TOPIC_PREFIX}/webcommunicator.broadcast`, '{"channel":"news"}', { qos: 1 });
      await waitForCount(seen, 1);
      expect(seen[0].topic).toBe(`${INTERNAL_TOPIC_PREFIX}/webcommunicator.broadcast`);

      producer.publish(news, 'not here');
      await closed(producer);
    });

    it('refuses wrong internal credentials, and internal credentials on the public listener', async () => {
      const internal = h.broker.internalConnection();
      await expect(refusalCode(mqtt.url(internal.url, { username: internal.username, password: 'wrong', clientId: 'x' }))).resolves.toBe(
        BAD_CREDENTIALS,
      );
      await expect(refusalCode(mqtt.url(internal.url, { clientId: 'x' }))).resolves.toBe(BAD_CREDENTIALS);
      h.clients.seed('x');
      await expect(
        refusalCode(mqtt.url(h.wsUrl, { username: internal.username, password: internal.password, clientId: 'x' })),
      ).resolves.toBe(BAD_CREDENTIALS);
    });

    it('cannot take over a registered client session with the same id (ids are namespaced)', async () => {
      const alice = await wsClient('alice');
      const internal = h.broker.internalConnection();
      const impostor = await mqtt.url(internal.url, { username: internal.username, password: internal.password, clientId: 'alice' });
      await delay(100);
      expect(alice.connected).toBe(true);
      expect(impostor.connected).toBe(true);
      expect(INTERNAL_CLIENT_ID_PREFIX.startsWith('$')).toBe(true);
    });

    it('keeps public clients out of the internal namespace', async () => {
      const internal = h.broker.internalConnection();
      const consumer = await mqtt.url(internal.url, {
        username: internal.username,
        password: internal.password,
        clientId: 'events-consumer',
      });
      await expect(suback(consumer, `${INTERNAL_TOPIC_PREFIX}/#`)).resolves.toEqual([0]);
      const seen = collect(consumer);
      const portal = await wsClient('editor', { portal: true });

      portal.publish(`${INTERNAL_TOPIC_PREFIX}/webcommunicator.broadcast`, 'forged');
      await closed(portal);
      const producer = await mqtt.url(internal.url, {
        username: internal.username,
        password: internal.password,
        clientId: 'events-producer',
      });
      await producer.publishAsync(`${INTERNAL_TOPIC_PREFIX}/marker`, 'marker');
      await waitForCount(seen, 1);
      expect(seen.map((m) => m.payload)).toEqual(['marker']);
    });
  });

  describe('endpoint and health', () => {
    it('describes both listeners with their real ports', async () => {
      const port = (h.http.server.address() as { port: number }).port;
      await expect(h.broker.endpoint('WEBSOCKET')).resolves.toEqual({ endpoint: 'localhost', port, url: `ws://localhost:${port}/mqtt` });
      const tls = await h.broker.endpoint('OPENSSL');
      expect(tls).toEqual({ endpoint: 'localhost', port: h.tlsPort, url: `mqtts://localhost:${h.tlsPort}` });
      expect(tls.port).toBeGreaterThan(0);
      await expect(h.broker.checkHealth()).resolves.toBeUndefined();
      await expect(h.broker.channelsChanged([])).resolves.toBeUndefined();
    });
  });
});

/** Fresh copies, since tests edit channels. */
function TEST_CHANNELS_COPY(): Parameters<BrokerHarness['channels']['reset']>[0] {
  return [
    { name: 'news', types: ['BROADCAST', 'PRIVATE'], clientSend: false, maxMessageBytes: 1024 },
    { name: 'alerts', types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024 },
    { name: 'inbox', types: ['PRIVATE'], clientSend: false, maxMessageBytes: 1024 },
    { name: 'digest', types: ['BROADCAST', 'PRIVATE'], communicationChannel: 'news', clientSend: false, maxMessageBytes: 1024 },
  ];
}

function totalSessions(h: BrokerHarness): number {
  return h.broker.sessions.list().length;
}

function sessionCount(h: BrokerHarness, clientId: string): number {
  return h.broker.sessions.list(clientId).length;
}

async function gauge(h: BrokerHarness, transport: 'websocket' | 'tls'): Promise<number> {
  const metric = await h.metrics.connectedClients.get();
  return metric.values.find((v) => v.labels.transport === transport)?.value ?? 0;
}

async function counter(h: BrokerHarness): Promise<number> {
  const metric = await h.metrics.forcedDisconnects.get();
  return metric.values[0]?.value ?? 0;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function httpGet(h: BrokerHarness, path: string): Promise<string> {
  const port = (h.http.server.address() as { port: number }).port;
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

const rawSockets = new Set<WebSocket>();

/** A hand-driven MQTT-over-WebSocket client (it can stop reading, which mqtt.js can't). */
async function rawWebSocket(
  h: BrokerHarness,
  clientId: string,
  password: string,
): Promise<{ ws: WebSocket; received: Buffer[]; send(data: Buffer): void }> {
  const ws = new WebSocket(h.wsUrl, 'mqtt');
  rawSockets.add(ws);
  ws.on('error', () => undefined);
  const received: Buffer[] = [];
  ws.on('message', (data: Buffer) => received.push(data));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(rawMqtt.connect(clientId, { username: clientId, password }));
  await waitFor(
    () => received.length >= 1,
    5_000,
    () => 'no CONNACK',
  );
  expect([...received[0]]).toEqual([0x20, 2, 0, 0]);
  return { ws, received, send: (data) => ws.send(data) };
}
