import request from 'supertest';
import { TestMqttClient } from './support/mqtt';
import { TestApp } from './support/test-app';

const PREFIX = 'webcommunicator/dev';
const NEWS = `${PREFIX}/news`;
const privateNews = (clientId: string): string => `${PREFIX}/news/client/${clientId}`;

/** Polls until `check` holds: tests wait for conditions, never for a fixed time. */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The value of one series on /metrics (0 when absent). */
async function metric(t: TestApp, series: string): Promise<number> {
  const text = (await request(t.url).get('/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const DROPPED = 'webcommunicator_mqtt_session_queue_dropped_total';
const discarded = (reason: string): string => `webcommunicator_mqtt_sessions_discarded_total{reason="${reason}"}`;

/**
 * Persistent sessions on the embedded broker (API.md section 4): real mqtt.js clients
 * over WebSocket, clean session off, QoS 1 subscriptions.
 */
describe('persistent sessions (embedded broker)', () => {
  const clients: TestMqttClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
  });

  /** Registers (once per test app and id) and connects over WebSocket. */
  function connector(t: TestApp): (clientId: string, clean: boolean) => Promise<TestMqttClient> {
    const tokens = new Map<string, { url: string; connectionToken: string }>();
    return async (clientId, clean) => {
      let reg = tokens.get(clientId);
      if (reg === undefined) {
        const res = await request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
        expect(res.status).toBe(201);
        reg = res.body as { url: string; connectionToken: string };
        tokens.set(clientId, reg);
      }
      const client = await TestMqttClient.ws(reg.url, clientId, reg.connectionToken, { clean });
      clients.push(client);
      return client;
    };
  }

  async function leave(client: TestMqttClient): Promise<void> {
    clients.splice(clients.indexOf(client), 1);
    await client.end();
  }

  describe('queueing, bound, ban and clean session', () => {
    let t: TestApp;
    let connect: (clientId: string, clean: boolean) => Promise<TestMqttClient>;
    let service: { Authorization: string };
    let admin: { Authorization: string };

    beforeAll(async () => {
      t = await TestApp.start({ env: { MQTT_SESSION_QUEUE_MAX: '3' } });
      connect = connector(t);
      service = t.auth('game-server', 'service');
      admin = t.auth('root', 'admin');
    });

    afterAll(async () => {
      await t.stop();
    });

    async function broadcast(message: string): Promise<void> {
      const res = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message });
      expect(res.status).toBe(202);
    }

    async function direct(clientId: string, message: string): Promise<void> {
      const res = await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'news', clientId, message });
      expect(res.status).toBe(202);
    }

    /** A marker through a fresh QoS 1 subscription: once it is in, anything queued before it would be too. */
    async function expectOnlyMarker(client: TestMqttClient, clientId: string): Promise<void> {
      expect(await client.subscribeAt(1, privateNews(clientId))).toEqual([1]);
      await direct(clientId, 'marker');
      const received = await client.waitFor(1);
      expect(received.map((r) => r.payload.Message)).toEqual(['marker']);
    }

    it('delivers what was published while the client was away, in order, then live messages', async () => {
      const first = await connect('phone-1', false);
      expect(first.sessionPresent).toBe(false);
      expect(await first.subscribeAt(1, NEWS, privateNews('phone-1'))).toEqual([1, 1]);
      await broadcast('live');
      await first.waitFor(1);
      await leave(first);

      await broadcast('missed 1');
      await direct('phone-1', 'missed 2');
      await broadcast('missed 3');

      const back = await connect('phone-1', false);
      expect(back.sessionPresent).toBe(true);
      const queued = await back.waitFor(3);
      expect(queued.map((r) => [r.topic, r.payload.Message])).toEqual([
        [NEWS, 'missed 1'],
        [privateNews('phone-1'), 'missed 2'],
        [NEWS, 'missed 3'],
      ]);
      // The session's subscriptions are live again without a SUBSCRIBE.
      await broadcast('after');
      expect((await back.waitFor(4)).map((r) => r.payload.Message)).toEqual(['missed 1', 'missed 2', 'missed 3', 'after']);

      // Delivered and acknowledged: a further resume replays nothing.
      await leave(back);
      const again = await connect('phone-1', false);
      expect(again.sessionPresent).toBe(true);
      await expectOnlyMarker(again, 'phone-1');
    });

    it('keeps at most MQTT_SESSION_QUEUE_MAX messages, drops the oldest and counts the drops', async () => {
      const before = await metric(t, DROPPED);
      const first = await connect('phone-2', false);
      expect(await first.subscribeAt(1, privateNews('phone-2'))).toEqual([1]);
      await leave(first);

      for (let i = 1; i <= 5; i += 1) {
        await direct('phone-2', `m${i}`);
      }
      expect(await metric(t, DROPPED)).toBe(before + 2);

      const back = await connect('phone-2', false);
      expect((await back.waitFor(3)).map((r) => r.payload.Message)).toEqual(['m3', 'm4', 'm5']);
      await direct('phone-2', 'm6');
      expect((await back.waitFor(4)).map((r) => r.payload.Message)).toEqual(['m3', 'm4', 'm5', 'm6']);
    });

    it('a ban discards the session: after the un-ban nothing from before is replayed', async () => {
      const before = await metric(t, discarded('ban'));
      const first = await connect('phone-3', false);
      expect(await first.subscribeAt(1, NEWS, privateNews('phone-3'))).toEqual([1, 1]);
      await leave(first);
      await direct('phone-3', 'before the ban');

      expect((await request(t.url).patch('/v1/admin/users/phone-3').set(admin).send({ status: 'BANNED' })).status).toBe(200);
      expect(await metric(t, discarded('ban'))).toBe(before + 1);
      await broadcast('during the ban');
      expect((await request(t.url).patch('/v1/admin/users/phone-3').set(admin).send({ status: 'REGISTERED' })).status).toBe(200);

      const back = await connect('phone-3', false);
      expect(back.sessionPresent).toBe(false);
      await expectOnlyMarker(back, 'phone-3');
    });

    it('a ban of a connected persistent client closes it and discards its session', async () => {
      const live = await connect('phone-4', false);
      expect(await live.subscribeAt(1, NEWS, privateNews('phone-4'))).toEqual([1, 1]);
      const closed = live.closed();
      expect((await request(t.url).patch('/v1/admin/users/phone-4').set(admin).send({ status: 'BANNED' })).status).toBe(200);
      await closed;
      await broadcast('during the ban');
      expect((await request(t.url).patch('/v1/admin/users/phone-4').set(admin).send({ status: 'REGISTERED' })).status).toBe(200);
      const back = await connect('phone-4', false);
      expect(back.sessionPresent).toBe(false);
      await expectOnlyMarker(back, 'phone-4');
    });

    it('a clean-session CONNECT discards the session', async () => {
      const first = await connect('phone-5', false);
      expect(await first.subscribeAt(1, privateNews('phone-5'))).toEqual([1]);
      await leave(first);
      await direct('phone-5', 'queued');

      const clean = await connect('phone-5', true);
      expect(clean.sessionPresent).toBe(false);
      await expectOnlyMarker(clean, 'phone-5');
      await leave(clean);

      const back = await connect('phone-5', false);
      expect(back.sessionPresent).toBe(false);
      await expectOnlyMarker(back, 'phone-5');
    });

    it('never replays a topic refused in the same SUBSCRIBE as an allowed one (another client’s private topic)', async () => {
      const victim = await connect('phone-6', true);
      expect(await victim.subscribeAt(1, privateNews('phone-6'))).toEqual([1]);
      const snoop = await connect('snoop-1', false);
      expect(await snoop.subscribeAt(1, privateNews('snoop-1'), privateNews('phone-6'))).toEqual([1, 128]);
      await leave(snoop);

      await direct('phone-6', 'secret');
      await victim.waitFor(1);
      const back = await connect('snoop-1', false);
      expect(back.sessionPresent).toBe(true);
      await direct('snoop-1', 'marker');
      expect((await back.waitFor(1)).map((r) => r.payload.Message)).toEqual(['marker']);
    });

    it('a persistent session with a QoS 0 subscription gets QoS 1 messages live and keeps its connection', async () => {
      const client = await connect('phone-7', false);
      expect(await client.subscribeAt(0, privateNews('phone-7'))).toEqual([0]);
      await direct('phone-7', 'one');
      await direct('phone-7', 'two');
      expect((await client.waitFor(2)).map((r) => r.payload.Message)).toEqual(['one', 'two']);
      expect(client.connected).toBe(true);
    });

    it('a newer connection with the same id takes the session over', async () => {
      const older = await connect('phone-8', false);
      expect(await older.subscribeAt(1, privateNews('phone-8'))).toEqual([1]);
      const olderClosed = older.closed();
      const newer = await connect('phone-8', false);
      await olderClosed;
      expect(newer.sessionPresent).toBe(true);
      await direct('phone-8', 'to the newer');
      expect((await newer.waitFor(1)).map((r) => r.payload.Message)).toEqual(['to the newer']);
      expect(older.received).toEqual([]);
    });
  });

  describe('expiry', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await TestApp.start({ env: { MQTT_SESSION_EXPIRY_SECONDS: '1' } });
    });

    afterAll(async () => {
      await t.stop();
    });

    it('drops a session whose client stays away MQTT_SESSION_EXPIRY_SECONDS', async () => {
      const connect = connector(t);
      const service = t.auth('game-server', 'service');
      const first = await connect('phone-9', false);
      expect(await first.subscribeAt(1, privateNews('phone-9'))).toEqual([1]);
      await leave(first);

      await until('the session to expire', async () => (await metric(t, discarded('expired'))) === 1);
      expect((await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'news', clientId: 'phone-9', message: 'too late' })).status).toBe(202);

      const back = await connect('phone-9', false);
      expect(back.sessionPresent).toBe(false);
      expect(await back.subscribeAt(1, privateNews('phone-9'))).toEqual([1]);
      expect((await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'news', clientId: 'phone-9', message: 'marker' })).status).toBe(202);
      expect((await back.waitFor(1)).map((r) => r.payload.Message)).toEqual(['marker']);
    });
  });
});
