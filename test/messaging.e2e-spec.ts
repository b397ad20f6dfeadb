import request from 'supertest';
import { Broker } from '../src/broker/broker';
import { MosquittoSub, mosquittoPub, writeIdentity } from './support/mosquitto';
import { sleep, TestMqttClient } from './support/mqtt';
import { expectProblem, TestApp } from './support/test-app';
import { BrokerUnavailableError } from '../src/domain/errors';

const PREFIX = 'webcommunicator/dev';

describe('registration, broker and publishing on the embedded default', () => {
  let t: TestApp;
  let admin: { Authorization: string };
  let service: { Authorization: string };
  const clients: TestMqttClient[] = [];
  const subs: MosquittoSub[] = [];

  async function registerWs(clientId: string): Promise<{ url: string; connectionToken: string }> {
    const res = await request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function connect(clientId: string): Promise<TestMqttClient> {
    const reg = await registerWs(clientId);
    const client = await TestMqttClient.ws(reg.url, clientId, reg.connectionToken);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    t = await TestApp.start({
      channels: [
        { name: 'news', types: ['BROADCAST', 'PRIVATE'] },
        { name: 'patches', types: ['BROADCAST', 'PRIVATE'], communicationChannel: 'news' },
        { name: 'chat', types: ['BROADCAST'], clientSend: true, maxMessageBytes: 32, rateLimit: { messages: 3, perSeconds: 60 } },
        { name: 'content', types: ['BROADCAST'], messageSchema: { type: 'object', required: ['pak'], properties: { pak: { type: 'string' } }, additionalProperties: false } },
        { name: 'private-only', types: ['PRIVATE'] },
      ],
    });
    admin = t.auth('root', 'admin');
    service = t.auth('content-service', 'service');
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
    for (const sub of subs.splice(0)) {
      sub.stop();
    }
  });

  afterAll(async () => {
    await t.stop();
  });

  describe('registration', () => {
    it('WEBSOCKET returns a connection token and the broker URL', async () => {
      const reg = await request(t.url).post('/v1/registrations').set(t.auth('reg-ws')).send({ connectionType: 'WEBSOCKET' });
      expect(reg.status).toBe(201);
      expect(reg.body).toEqual({
        clientId: 'reg-ws',
        connectionType: 'WEBSOCKET',
        status: 'REGISTERED',
        endpoint: '127.0.0.1',
        port: t.port,
        url: `ws://127.0.0.1:${t.port}/mqtt`,
        connectionToken: expect.any(String),
        connectionTokenExpiresAt: expect.any(String),
      });
      expect(Date.parse(reg.body.connectionTokenExpiresAt)).toBeGreaterThan(Date.now());
    });

    it('OPENSSL is refused for plain clients (403 OPENSSL_NOT_ENABLED)', async () => {
      expectProblem(await request(t.url).post('/v1/registrations').set(t.auth('reg-ssl')).send({ connectionType: 'OPENSSL' }), 403, 'OPENSSL_NOT_ENABLED');
    });

    it('refuses a bad connection type', async () => {
      expectProblem(await request(t.url).post('/v1/registrations').set(t.auth('reg-x')).send({ connectionType: 'CARRIER_PIGEON' }), 400, 'VALIDATION_FAILED');
      expectProblem(await request(t.url).post('/v1/registrations').set(t.auth('reg-x')).send({ connectionType: 'WEBSOCKET', clientId: 'someone-else' }), 400, 'VALIDATION_FAILED');
    });

    it('admin OPENSSL returns a certificate, its key once and the CA; the key is not stored', async () => {
      const reg = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'device-1' });
      expect(reg.status).toBe(201);
      expect(reg.body).toEqual(
        expect.objectContaining({
          clientId: 'device-1',
          connectionType: 'OPENSSL',
          url: expect.stringMatching(/^mqtts:\/\/127\.0\.0\.1:\d+$/),
          certificatePem: expect.stringContaining('BEGIN CERTIFICATE'),
          privateKeyPem: expect.stringContaining('PRIVATE KEY'),
          caCertificatePem: expect.stringContaining('BEGIN CERTIFICATE'),
          certificateId: expect.any(String),
        }),
      );
      const user = await request(t.url).get('/v1/admin/users/device-1').set(admin);
      expect(user.body).toEqual(expect.objectContaining({ portalClient: false, connectionType: 'OPENSSL', certificateIds: [reg.body.certificateId] }));
      expect(JSON.stringify(user.body)).not.toContain('PRIVATE KEY');
    });

    it('OPENSSL re-registration appends its certificate in the registration write; a banned device gets 403 and nothing is stored', async () => {
      const first = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'device-2' });
      const second = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'device-2' });
      expect([first.status, second.status]).toEqual([201, 201]);
      expect(second.body.certificateId).not.toBe(first.body.certificateId);
      const user = await request(t.url).get('/v1/admin/users/device-2').set(admin);
      expect(user.body.certificateIds).toEqual([first.body.certificateId, second.body.certificateId]);

      expect((await request(t.url).patch('/v1/admin/users/device-2').set(admin).send({ status: 'BANNED' })).status).toBe(200);
      expectProblem(await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'device-2' }), 403, 'CLIENT_BANNED');
      const after = await request(t.url).get('/v1/admin/users/device-2').set(admin);
      expect(after.body).toEqual(expect.objectContaining({ status: 'BANNED', certificateIds: user.body.certificateIds }));
    });

    it('admin registration without a clientId: own id for WEBSOCKET, generated for OPENSSL', async () => {
      const ws = await request(t.url).post('/v1/admin/registrations').set(t.auth('editor-7', 'admin')).send({ connectionType: 'WEBSOCKET' });
      expect(ws.body.clientId).toBe('editor-7');
      expect((await request(t.url).get('/v1/admin/users/editor-7').set(admin)).body.portalClient).toBe(true);
      const ssl = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL' });
      expect(ssl.body.clientId).toMatch(/^device-[0-9a-f-]{36}$/);
    });

    it('plain clients can not use the admin registration', async () => {
      expectProblem(await request(t.url).post('/v1/admin/registrations').set(t.auth('eve')).send({ connectionType: 'WEBSOCKET' }), 403, 'FORBIDDEN');
    });
  });

  describe('delivery', () => {
    it('broadcasts to several clients with the envelope of the contract', async () => {
      const subscribers = await Promise.all(['b1', 'b2', 'b3'].map((id) => connect(id)));
      for (const s of subscribers) {
        expect(await s.subscribe(`${PREFIX}/news`)).toEqual([0]);
      }
      const res = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'new pak available' });
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ messageId: expect.any(String), channel: 'news', topic: `${PREFIX}/news` });
      for (const s of subscribers) {
        const [message] = await s.waitFor(1);
        expect(message.topic).toBe(`${PREFIX}/news`);
        expect(message.payload).toEqual({ Channel: 'news', Message: 'new pak available', Id: res.body.messageId, Time: expect.any(String) });
        expect(Number.isNaN(Date.parse(message.payload.Time as string))).toBe(false);
      }
    });

    it('publishes at MQTT_PUBLISH_QOS (default 1): a QoS 1 subscriber gets QoS 1 packets, a QoS 0 one QoS 0', async () => {
      const q1 = await connect('qos1-sub');
      const q0 = await connect('qos0-sub');
      const packets: Array<{ who: string; topic: string; qos: number; id: unknown }> = [];
      for (const [who, c] of [['q1', q1], ['q0', q0]] as const) {
        c.client.on('message', (topic, payload, packet) => packets.push({ who, topic, qos: packet.qos, id: JSON.parse(payload.toString('utf8')).Id }));
      }
      const granted = await q1.client.subscribeAsync([`${PREFIX}/news`, `${PREFIX}/news/client/qos1-sub`], { qos: 1 });
      expect(granted.map((g) => g.qos)).toEqual([1, 1]);
      expect(await q0.subscribe(`${PREFIX}/news`)).toEqual([0]);
      const broadcast = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'qos' });
      const direct = await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'news', clientId: 'qos1-sub', message: 'qos direct' });
      expect([broadcast.status, direct.status]).toEqual([202, 202]);
      await q1.waitFor(2);
      await q0.waitFor(1);
      expect(packets.sort((a, b) => `${a.who}${a.topic}`.localeCompare(`${b.who}${b.topic}`))).toEqual([
        { who: 'q0', topic: `${PREFIX}/news`, qos: 0, id: broadcast.body.messageId },
        { who: 'q1', topic: `${PREFIX}/news`, qos: 1, id: broadcast.body.messageId },
        { who: 'q1', topic: `${PREFIX}/news/client/qos1-sub`, qos: 1, id: direct.body.messageId },
      ]);
    });

    it('a private message reaches only its target', async () => {
      const alice = await connect('alice');
      const bob = await connect('bob');
      expect(await alice.subscribe(`${PREFIX}/news/client/alice`)).toEqual([0]);
      expect(await bob.subscribe(`${PREFIX}/news/client/bob`, `${PREFIX}/news`)).toEqual([0, 0]);
      const res = await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'news', clientId: 'alice', message: 'for alice' });
      expect(res.status).toBe(202);
      expect(res.body.topic).toBe(`${PREFIX}/news/client/alice`);
      expect((await alice.waitFor(1))[0].payload.Message).toBe('for alice');
      await sleep(200);
      expect(bob.received).toHaveLength(0);
    });

    it('a channel with communicationChannel rides on its carrier\'s topics', async () => {
      const client = await connect('rider');
      expect(await client.subscribe(`${PREFIX}/news`, `${PREFIX}/news/client/rider`)).toEqual([0, 0]);
      expect(await client.subscribe(`${PREFIX}/patches`)).toEqual([128]);
      const broadcast = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'patches', message: 'patch 1.2' });
      expect(broadcast.body.topic).toBe(`${PREFIX}/news`);
      const direct = await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'patches', clientId: 'rider', message: 'your patch' });
      expect(direct.body.topic).toBe(`${PREFIX}/news/client/rider`);
      const received = await client.waitFor(2);
      expect(received.map((m) => [m.topic, m.payload.Channel, m.payload.Message])).toEqual([
        [`${PREFIX}/news`, 'patches', 'patch 1.2'],
        [`${PREFIX}/news/client/rider`, 'patches', 'your patch'],
      ]);
    });

    it('a client send is validated, then broadcast with From', async () => {
      const listener = await connect('listener');
      await listener.subscribe(`${PREFIX}/chat`);
      await registerWs('talker');
      const res = await request(t.url).post('/v1/channels/chat/messages').set(t.auth('talker')).send({ message: 'gg' });
      expect(res.status).toBe(202);
      const [message] = await listener.waitFor(1);
      expect(message.payload).toEqual(expect.objectContaining({ Channel: 'chat', Message: 'gg', From: 'talker' }));
    });
  });

  describe('pipeline refusals', () => {
    it('unknown channel → 404 CHANNEL_NOT_FOUND', async () => {
      expectProblem(await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'nope', message: 'x' }), 404, 'CHANNEL_NOT_FOUND');
      expectProblem(await request(t.url).post('/v1/channels/nope/messages').set(t.auth('talker')).send({ message: 'x' }), 404, 'CHANNEL_NOT_FOUND');
    });

    it('client send to a closed channel → 403 CLIENT_SEND_DISABLED', async () => {
      expectProblem(await request(t.url).post('/v1/channels/news/messages').set(t.auth('talker')).send({ message: 'x' }), 403, 'CLIENT_SEND_DISABLED');
    });

    it('over maxMessageBytes (UTF-8 bytes) → 413 MESSAGE_TOO_LARGE', async () => {
      expectProblem(await request(t.url).post('/v1/channels/chat/messages').set(t.auth('big-talker')).send({ message: 'é'.repeat(17) }), 413, 'MESSAGE_TOO_LARGE');
    });

    it('over MAX_PAYLOAD_BYTES → 413 PAYLOAD_TOO_LARGE, never silently dropped', async () => {
      const res = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'x'.repeat(t.config.broker.maxPayloadBytes) });
      expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('schema mismatch → 422 MESSAGE_SCHEMA_MISMATCH with the errors', async () => {
      const notJson = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'content', message: 'not json' });
      expectProblem(notJson, 422, 'MESSAGE_SCHEMA_MISMATCH');
      const wrong = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'content', message: JSON.stringify({ pak: 3 }) });
      expect(expectProblem(wrong, 422, 'MESSAGE_SCHEMA_MISMATCH').errors).toEqual([expect.objectContaining({ field: '/pak' })]);
      const ok = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'content', message: JSON.stringify({ pak: 'v2.pak' }) });
      expect(ok.status).toBe(202);
    });

    it('rate limit → 429 RATE_LIMITED with Retry-After', async () => {
      const sender = t.auth('spammer');
      for (let i = 0; i < 3; i += 1) {
        expect((await request(t.url).post('/v1/channels/chat/messages').set(sender).send({ message: `m${i}` })).status).toBe(202);
      }
      const limited = await request(t.url).post('/v1/channels/chat/messages').set(sender).send({ message: 'one more' });
      expectProblem(limited, 429, 'RATE_LIMITED');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Another client is not affected.
      expect((await request(t.url).post('/v1/channels/chat/messages').set(t.auth('polite')).send({ message: 'hi' })).status).toBe(202);
    });

    it('direct message to an unregistered client → 404 USER_NOT_FOUND; wrong channel type → 422', async () => {
      expectProblem(await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'news', clientId: 'ghost', message: 'x' }), 404, 'USER_NOT_FOUND');
      await registerWs('typed');
      expectProblem(await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'chat', clientId: 'typed', message: 'x' }), 422, 'CHANNEL_NOT_PRIVATE');
      expectProblem(await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'private-only', message: 'x' }), 422, 'CHANNEL_NOT_BROADCAST');
    });

    it('broker failure → 503 BROKER_UNAVAILABLE with Retry-After; nothing reported as sent', async () => {
      const broker = t.app.get(Broker);
      const spy = jest.spyOn(broker, 'publish').mockRejectedValueOnce(new BrokerUnavailableError('injected'));
      try {
        const res = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'x' });
        expectProblem(res, 503, 'BROKER_UNAVAILABLE');
        expect(res.headers['retry-after']).toBeDefined();
      } finally {
        spy.mockRestore();
      }
    });

    it('counts published and rejected messages in /metrics', async () => {
      const metrics = (await request(t.url).get('/metrics')).text;
      expect(metrics).toMatch(/webcommunicator_messages_published_total\{channel="news",source="service"\} [1-9]/);
      expect(metrics).toMatch(/webcommunicator_messages_rejected_total\{reason="RATE_LIMITED",source="client"\} 1/);
      expect(metrics).toMatch(/webcommunicator_connected_clients\{transport="websocket"\}/);
    });
  });

  describe('broker refusals', () => {
    it('refuses a wrong token and a borrowed client id', async () => {
      const reg = await registerWs('owner');
      await expect(TestMqttClient.ws(reg.url, 'owner', `${reg.connectionToken}x`)).rejects.toThrow();
      await registerWs('thief');
      await expect(TestMqttClient.ws(reg.url, 'thief', reg.connectionToken)).rejects.toThrow();
      await expect(TestMqttClient.ws(reg.url, 'owner', t.token('owner'))).rejects.toThrow();
    });

    it('refuses wildcard, foreign and $SYS subscriptions with SUBACK 0x80', async () => {
      const client = await connect('curious');
      const granted = await client.subscribe(
        `${PREFIX}/#`,
        `${PREFIX}/+`,
        `${PREFIX}/news/client/+`,
        `${PREFIX}/news/client/bob`,
        '$SYS/#',
        '#',
        `${PREFIX}/nope`,
        `${PREFIX}/news`,
      );
      expect(granted).toEqual([128, 128, 128, 128, 128, 128, 128, 0]);
    });

    it('clients are receive-only: a client publish is not delivered', async () => {
      const listener = await connect('quiet-listener');
      await listener.subscribe(`${PREFIX}/news`);
      const publisher = await connect('publisher');
      publisher.client.publish(`${PREFIX}/news`, JSON.stringify({ Channel: 'news', Message: 'forged' }));
      await sleep(300);
      expect(listener.received).toHaveLength(0);
    });

    it('runtime channel creation and deletion apply to new subscriptions at once', async () => {
      const client = await connect('early-adopter');
      expect(await client.subscribe(`${PREFIX}/fresh`)).toEqual([128]);
      expect((await request(t.url).put('/v1/admin/channels/fresh').set(admin).send({ types: ['BROADCAST'] })).status).toBe(201);
      expect(await client.subscribe(`${PREFIX}/fresh`)).toEqual([0]);
      expect((await request(t.url).delete('/v1/admin/channels/fresh').set(admin)).status).toBe(204);
      expect(await client.subscribe(`${PREFIX}/fresh`)).toEqual([128]);
    });
  });

  describe('bans on live connections', () => {
    it('closes the WebSocket and TLS sessions before the ban returns; refuses them after; un-ban restores', async () => {
      const ws = await connect('villain');
      await ws.subscribe(`${PREFIX}/news`);
      const reg = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'villain-device' });
      const files = writeIdentity(reg.body);
      const tls = await MosquittoSub.start(reg.body.port, 'villain-device', files, `${PREFIX}/news`);
      subs.push(tls);

      const wsClosed = ws.closed();
      const started = Date.now();
      const ban = await request(t.url).patch('/v1/admin/users/villain').set(admin).send({ status: 'BANNED', reason: 'griefing' });
      const banDevice = await request(t.url).patch('/v1/admin/users/villain-device').set(admin).send({ status: 'BANNED' });
      const elapsed = Date.now() - started;
      expect([ban.status, banDevice.status]).toEqual([200, 200]);
      // Closed before the responses arrived: the close event is already queued or fired (the bounds are
      // generous for a busy machine, where this process may run the queued events late).
      await Promise.race([wsClosed, sleep(2000).then(() => Promise.reject(new Error('WebSocket session still open after the ban returned')))]);
      await Promise.race([tls.exited, sleep(10_000).then(() => Promise.reject(new Error('TLS session still open after the ban returned')))]);
      expect(elapsed).toBeLessThan(15_000);
      expect((await request(t.url).get('/v1/admin/users/villain').set(admin)).body.connected).toBe(false);

      // Refused afterwards: reconnect (old token), re-registration, TLS reconnect.
      const oldToken = (await request(t.url).get('/v1/admin/users/villain').set(admin)).body;
      expect(oldToken.status).toBe('BANNED');
      expectProblem(await request(t.url).post('/v1/registrations').set(t.auth('villain')).send({ connectionType: 'WEBSOCKET' }), 403, 'CLIENT_BANNED');
      const refused = await mosquittoPub(reg.body.port, 'villain-device', files, `${PREFIX}/news`, 'x');
      expect(refused.status).not.toBe(0);

      // Un-ban restores everything.
      expect((await request(t.url).patch('/v1/admin/users/villain').set(admin).send({ status: 'REGISTERED' })).status).toBe(200);
      expect((await request(t.url).patch('/v1/admin/users/villain-device').set(admin).send({ status: 'REGISTERED' })).status).toBe(200);
      const back = await connect('villain');
      expect(await back.subscribe(`${PREFIX}/news`)).toEqual([0]);
      const tlsBack = await MosquittoSub.start(reg.body.port, 'villain-device', files, `${PREFIX}/news`);
      subs.push(tlsBack);
      await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'welcome back' });
      expect((await back.waitFor(1))[0].payload.Message).toBe('welcome back');
      expect(JSON.parse((await tlsBack.waitForLines(1))[0]).Message).toBe('welcome back');
    });

    it('a ban also refuses an old connection token', async () => {
      const reg = await registerWs('token-holder');
      await request(t.url).patch('/v1/admin/users/token-holder').set(admin).send({ status: 'BANNED' });
      await expect(TestMqttClient.ws(reg.url, 'token-holder', reg.connectionToken)).rejects.toThrow();
    });
  });

  describe('mutual TLS with the mosquitto clients', () => {
    it('a device receives broadcasts and private messages; a device publish is refused', async () => {
      const reg = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'kiosk-1' });
      const files = writeIdentity(reg.body);
      const sub = await MosquittoSub.start(reg.body.port, 'kiosk-1', files, `${PREFIX}/news/client/kiosk-1`);
      subs.push(sub);
      const res = await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'news', clientId: 'kiosk-1', message: 'hello kiosk' });
      expect(res.status).toBe(202);
      const [line] = await sub.waitForLines(1);
      expect(JSON.parse(line)).toEqual(expect.objectContaining({ Channel: 'news', Message: 'hello kiosk' }));

      const other = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'kiosk-2' });
      const otherFiles = writeIdentity(other.body);
      const watcher = await MosquittoSub.start(reg.body.port, 'kiosk-2', otherFiles, `${PREFIX}/news`);
      subs.push(watcher);
      await mosquittoPub(reg.body.port, 'kiosk-1', files, `${PREFIX}/news`, '{"Channel":"news","Message":"forged"}');
      // A broadcast sent after the forged publish was handled arrives alone.
      expect((await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'marker' })).status).toBe(202);
      const lines = await watcher.waitForLines(1);
      expect(lines.map((l) => JSON.parse(l).Message)).toEqual(['marker']);
    });

    it('refuses a certificate whose CN is not the MQTT client id', async () => {
      const reg = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'kiosk-3' });
      const files = writeIdentity(reg.body);
      const result = await mosquittoPub(reg.body.port, 'kiosk-1', files, `${PREFIX}/news`, 'x');
      expect(result.status).not.toBe(0);
    });
  });
});

describe('restart with the same DATA_DIR keeps the CA', () => {
  it('a certificate issued before the restart still connects', async () => {
    const first = await TestApp.start();
    const reg = await request(first.url).post('/v1/admin/registrations').set(first.auth('root', 'admin')).send({ connectionType: 'OPENSSL', clientId: 'survivor' });
    expect(reg.status).toBe(201);
    const dataDir = first.dataDir;
    await first.stop({ keepData: true });
    const second = await TestApp.start({ dataDir, env: {} });
    try {
      const tlsPort = (await request(second.url).post('/v1/admin/registrations').set(second.auth('root', 'admin')).send({ connectionType: 'OPENSSL', clientId: 'probe' })).body.port as number;
      const sub = await MosquittoSub.start(tlsPort, 'survivor', writeIdentity(reg.body), `${PREFIX}/news`);
      try {
        await request(second.url).post('/v1/messages/broadcast').set(second.auth('svc', 'service')).send({ channel: 'news', message: 'still here' });
        expect(JSON.parse((await sub.waitForLines(1))[0]).Message).toBe('still here');
      } finally {
        sub.stop();
      }
    } finally {
      await second.stop();
      const { rmSync } = await import('node:fs');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
