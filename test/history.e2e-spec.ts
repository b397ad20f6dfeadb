import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { EVENT_PATTERNS } from '../src/events/event-contract';
import { INTERNAL_MQTT_FILE, type InternalMqttFile } from '../src/events/events-transport';
import { MetricsService } from '../src/metrics/metrics.service';
import { Broker } from '../src/broker/broker';
import { BrokerUnavailableError } from '../src/domain/errors';
import { DynaliteProcess, useFakeAwsCredentials } from './support/dynalite';
import { TestMqttClient } from './support/mqtt';
import { expectProblem, type TestChannel, TestApp } from './support/test-app';

const PREFIX = 'webcommunicator/dev';
const CHANNELS: TestChannel[] = [
  { name: 'scores', types: ['BROADCAST', 'PRIVATE'], history: { size: 5, ttlSeconds: 3600 } },
  { name: 'rounds', types: ['BROADCAST'], communicationChannel: 'scores' },
  { name: 'lobby', types: ['BROADCAST'], clientSend: true },
  { name: 'secret', types: ['PRIVATE'], history: { size: 10, ttlSeconds: 60 } },
];

interface Engine {
  name: string;
  env(): Record<string, string>;
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

function embedded(): Engine {
  return { name: 'STORE=embedded', env: () => ({}), setup: async () => undefined, teardown: async () => undefined };
}

function dynamodb(): Engine {
  let dynalite: DynaliteProcess | undefined;
  let restore: (() => void) | undefined;
  return {
    name: 'STORE=dynamodb (dynalite out of process)',
    env: () => ({
      STORE: 'dynamodb',
      DYNAMODB_ENDPOINT: dynalite!.endpoint,
      DYNAMODB_CREATE_TABLES: 'true',
      DYNAMODB_TABLE_PREFIX: 'history-e2e-',
      AUTH_JWT_SECRET: 'a-history-e2e-secret-of-32-characters!',
      AWS_REGION: 'us-east-1',
    }),
    async setup() {
      restore = useFakeAwsCredentials();
      dynalite = await DynaliteProcess.start();
    },
    async teardown() {
      await dynalite?.stop();
      restore?.();
    },
  };
}

describe.each([embedded(), dynamodb()])('history, Seq and idempotent publishing on $name', (engine) => {
  let t: TestApp;
  let service: { Authorization: string };
  const clients: TestMqttClient[] = [];

  async function connect(clientId: string): Promise<TestMqttClient> {
    const reg = await request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
    expect(reg.status).toBe(201);
    const client = await TestMqttClient.ws(reg.body.url, clientId, reg.body.connectionToken);
    clients.push(client);
    return client;
  }

  async function broadcast(channel: string, message: string, headers: Record<string, string> = {}): Promise<request.Response> {
    return request(t.url).post('/v1/messages/broadcast').set(service).set(headers).send({ channel, message });
  }

  async function history(channel: string, query = '', auth = service): Promise<request.Response> {
    return request(t.url).get(`/v1/channels/${channel}/messages${query}`).set(auth);
  }

  beforeAll(async () => {
    await engine.setup();
    t = await TestApp.start({ channels: CHANNELS, env: engine.env() });
    service = t.auth('game-server', 'service');
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
  });

  afterAll(async () => {
    await t?.stop();
    await engine.teardown();
  });

  it('a subscriber sees Seq 1, 2, 3… per stream; a channel riding on a history channel shares its stream; others carry no Seq', async () => {
    const alice = await connect('alice');
    expect(await alice.subscribe(`${PREFIX}/scores`, `${PREFIX}/scores/client/alice`, `${PREFIX}/lobby`)).toEqual([0, 0, 0]);
    expect((await broadcast('scores', 's1')).status).toBe(202);
    expect((await broadcast('rounds', 'r1')).status).toBe(202);
    await Promise.all(['s2', 's3', 's4'].map((m) => broadcast('scores', m)));
    const direct = await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'scores', clientId: 'alice', message: 'd1' });
    expect(direct.status).toBe(202);
    expect((await broadcast('lobby', 'plain')).status).toBe(202);
    const received = await alice.waitFor(7);
    const onScores = received.filter((r) => r.topic === `${PREFIX}/scores`).map((r) => r.payload.Seq);
    expect(onScores).toEqual([1, 2, 3, 4, 5]);
    expect(received.find((r) => r.payload.Message === 'r1')?.payload).toEqual(expect.objectContaining({ Channel: 'rounds', Seq: 2 }));
    expect(received.find((r) => r.topic.endsWith('/client/alice'))?.payload.Seq).toBe(1);
    expect(received.find((r) => r.topic === `${PREFIX}/lobby`)?.payload).not.toHaveProperty('Seq');
  });

  it('listChannelMessages: after, limit, latestSeq, complete (size 5 keeps Seq 2..6 of 6); the rider reads the same stream', async () => {
    await broadcast('scores', 's5 ✓ é 🎮');
    const page = await history('scores', '?after=3&limit=2');
    expect(page.status).toBe(200);
    // The page goes out as bytes: JSON, UTF-8, its length in bytes.
    expect(page.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(page.headers['content-length'])).toBe(Buffer.byteLength(page.text, 'utf8'));
    expect(page.body).toEqual({
      channel: 'scores',
      topic: `${PREFIX}/scores`,
      messages: [expect.objectContaining({ Seq: 4, Channel: 'scores', Id: expect.any(String), Time: expect.any(String) }), expect.objectContaining({ Seq: 5 })],
      latestSeq: 6,
      complete: true,
    });
    const dropped = await history('scores', '?after=0');
    expect(dropped.body.messages.map((m: { Seq: number }) => m.Seq)).toEqual([2, 3, 4, 5, 6]);
    expect(dropped.body.complete).toBe(false);
    const rider = await history('rounds', '?after=5', t.auth('alice'));
    expect(rider.body).toEqual(expect.objectContaining({ channel: 'rounds', topic: `${PREFIX}/scores`, latestSeq: 6, complete: true }));
    expect(rider.body.messages.map((m: { Message: string }) => m.Message)).toEqual(['s5 ✓ é 🎮']);
    expect((await history('scores', '?after=6')).body).toEqual(expect.objectContaining({ messages: [], complete: true }));
  });

  it('who may read what: own private stream only (403), 404 unknown channel, 409 HISTORY_DISABLED, 400 naming after / limit', async () => {
    const own = await history('scores', '?clientId=alice', t.auth('alice'));
    expect(own.status).toBe(200);
    expect(own.body).toEqual(expect.objectContaining({ topic: `${PREFIX}/scores/client/alice`, latestSeq: 1, complete: true }));
    expectProblem(await history('scores', '?clientId=bob', t.auth('alice')), 403, 'FORBIDDEN');
    expect((await history('scores', '?clientId=bob', t.auth('root', 'admin'))).status).toBe(200);
    expectProblem(await history('ghost'), 404, 'CHANNEL_NOT_FOUND');
    expectProblem(await history('lobby', '', t.auth('alice')), 409, 'HISTORY_DISABLED');
    expectProblem(await history('secret', '', t.auth('alice')), 422, 'CHANNEL_NOT_BROADCAST');
    for (const [query, field] of [
      ['?after=-1', '/after'],
      ['?after=x', '/after'],
      ['?limit=0', '/limit'],
      ['?limit=1001', '/limit'],
      ['?limit=2.5', '/limit'],
      ['?clientId=a/b', '/clientId'],
    ]) {
      const body = expectProblem(await history('scores', query), 400, 'VALIDATION_FAILED');
      expect((body.errors as Array<{ field: string }>).map((e) => e.field)).toContain(field);
    }
  });

  it('a reconnecting client recovers exactly what it missed, in order, then gets new messages live', async () => {
    const bob = await connect('bob');
    await bob.subscribe(`${PREFIX}/scores`);
    await broadcast('scores', 'before');
    const [seen] = await bob.waitFor(1);
    const lastSeq = seen.payload.Seq as number;
    await bob.end();
    for (const m of ['missed-1', 'missed-2', 'missed-3']) {
      expect((await broadcast('scores', m)).status).toBe(202);
    }
    const back = await connect('bob');
    await back.subscribe(`${PREFIX}/scores`);
    const missed = await history('scores', `?after=${lastSeq}`, t.auth('bob'));
    expect(missed.body.complete).toBe(true);
    expect(missed.body.messages.map((m: { Message: string; Seq: number }) => [m.Seq, m.Message])).toEqual([
      [lastSeq + 1, 'missed-1'],
      [lastSeq + 2, 'missed-2'],
      [lastSeq + 3, 'missed-3'],
    ]);
    await broadcast('scores', 'live');
    expect((await back.waitFor(1))[0].payload).toEqual(expect.objectContaining({ Message: 'live', Seq: lastSeq + 4 }));
  });

  it('a publish the broker refuses is a 503 that uses no Seq and leaves nothing in history', async () => {
    const before = (await history('scores')).body.latestSeq as number;
    const broker = t.app.get(Broker);
    const publish = broker.publish.bind(broker);
    broker.publish = async () => {
      throw new BrokerUnavailableError();
    };
    try {
      expectProblem(await broadcast('scores', 'refused'), 503, 'BROKER_UNAVAILABLE');
    } finally {
      broker.publish = publish;
    }
    expect((await history('scores')).body.latestSeq).toBe(before);
    expect((await broadcast('scores', 'accepted')).status).toBe(202);
    const after = await history('scores', `?after=${before}`);
    expect(after.body.messages.map((m: { Seq: number; Message: string }) => [m.Seq, m.Message])).toEqual([[before + 1, 'accepted']]);
  });

  it('putChannel takes history (both members, in range) and 400s naming the field', async () => {
    const admin = t.auth('root', 'admin');
    const put = (body: object): request.Test => request(t.url).put('/v1/admin/channels/replays').set(admin).send(body);
    for (const [history, field] of [
      [{ size: 10 }, '/history/ttlSeconds'],
      [{ ttlSeconds: 10 }, '/history/size'],
      [{ size: 0, ttlSeconds: 10 }, '/history/size'],
      [{ size: 10_001, ttlSeconds: 10 }, '/history/size'],
      [{ size: 10, ttlSeconds: 604_801 }, '/history/ttlSeconds'],
      [{ size: 10, ttlSeconds: 10, extra: 1 }, '/history/extra'],
    ] as const) {
      const body = expectProblem(await put({ types: ['BROADCAST'], history }), 400, 'VALIDATION_FAILED');
      expect((body.errors as Array<{ field: string }>).map((e) => e.field)).toContain(field);
    }
    const created = await put({ types: ['BROADCAST'], history: { size: 10_000, ttlSeconds: 604_800 } });
    expect(created.status).toBe(201);
    expect(created.body.history).toEqual({ size: 10_000, ttlSeconds: 604_800 });
    const listed = await request(t.url).get('/v1/admin/channels').set(admin);
    expect(listed.body.channels.find((c: { name: string }) => c.name === 'replays').history).toEqual({ size: 10_000, ttlSeconds: 604_800 });
    expect((await broadcast('replays', 'first')).status).toBe(202);
    expect((await history('replays')).body).toEqual(expect.objectContaining({ latestSeq: 1, messages: [expect.objectContaining({ Seq: 1, Message: 'first' })] }));
  });

  describe('Idempotency-Key', () => {
    it('a retried publish with the same key is delivered once and answers the first result', async () => {
      const carol = await connect('carol');
      await carol.subscribe(`${PREFIX}/scores`, `${PREFIX}/lobby`);
      const key = { 'Idempotency-Key': 'retry:1.a_b-c' };
      const first = await broadcast('scores', 'once', key);
      const again = await broadcast('scores', 'once', key);
      expect(first.status).toBe(202);
      expect(again.status).toBe(202);
      expect(again.body).toEqual(first.body);
      // Concurrent duplicates: exactly one publishes.
      const concurrent = await Promise.all([1, 2, 3, 4].map(() => broadcast('lobby', 'together', { 'Idempotency-Key': 'burst-1' })));
      expect(concurrent.map((r) => r.status)).toEqual([202, 202, 202, 202]);
      expect(new Set(concurrent.map((r) => r.body.messageId)).size).toBe(1);
      await broadcast('lobby', 'marker');
      const received = await carol.waitFor(3);
      expect(received.map((r) => r.payload.Message)).toEqual(['once', 'together', 'marker']);
      expect(received[0].payload.Id).toBe(first.body.messageId);
    });

    it('422 for the same key with another body or route; 400 for an invalid key; keys are per caller', async () => {
      const key = { 'Idempotency-Key': 'k-422' };
      expect((await broadcast('lobby', 'a', key)).status).toBe(202);
      expectProblem(await broadcast('lobby', 'b', key), 422, 'IDEMPOTENCY_KEY_REUSED');
      expectProblem(await request(t.url).post('/v1/messages/direct').set(service).set(key).send({ channel: 'scores', clientId: 'alice', message: 'a' }), 422, 'IDEMPOTENCY_KEY_REUSED');
      for (const bad of ['', 'has space', 'x'.repeat(129), 'slash/no']) {
        const body = expectProblem(await broadcast('lobby', 'a', { 'Idempotency-Key': bad }), 400, 'VALIDATION_FAILED');
        expect(body.errors).toEqual([expect.objectContaining({ field: 'Idempotency-Key' })]);
      }
      // Another caller's key of the same name is another key.
      const other = await request(t.url).post('/v1/messages/broadcast').set(t.auth('other-service', 'service')).set(key).send({ channel: 'lobby', message: 'b' });
      expect(other.status).toBe(202);
      // A client send takes the header too.
      const send = (message: string): request.Test => request(t.url).post('/v1/channels/lobby/messages').set(t.auth('dave')).set({ 'Idempotency-Key': 'dave-1' }).send({ message });
      const sent = await send('hi');
      expect(sent.status).toBe(202);
      expect((await send('hi')).body).toEqual(sent.body);
      expectProblem(await send('other'), 422, 'IDEMPOTENCY_KEY_REUSED');
    });

    it('a failed call releases its key: the retry publishes', async () => {
      const broker = t.app.get(Broker);
      const publish = broker.publish.bind(broker);
      broker.publish = async () => {
        throw new BrokerUnavailableError();
      };
      const key = { 'Idempotency-Key': 'after-outage' };
      try {
        expectProblem(await broadcast('lobby', 'x', key), 503, 'BROKER_UNAVAILABLE');
      } finally {
        broker.publish = publish;
      }
      const retried = await broadcast('lobby', 'x', key);
      expect(retried.status).toBe(202);
      expect((await broadcast('lobby', 'x', key)).body).toEqual(retried.body);
    });
  });
});

describe('history across a restart (STORE=embedded, same DATA_DIR)', () => {
  it('continues the sequence and keeps what was published', async () => {
    let t = await TestApp.start({ channels: CHANNELS });
    const dataDir = t.dataDir;
    const service = t.auth('game-server', 'service');
    for (const m of ['a', 'b', 'c']) {
      await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'scores', message: m });
    }
    const key = { 'Idempotency-Key': 'across-restart' };
    const first = await request(t.url).post('/v1/messages/broadcast').set(service).set(key).send({ channel: 'scores', message: 'd' });
    await t.stop({ keepData: true });
    t = await TestApp.start({ channels: CHANNELS, dataDir });
    try {
      const again = await request(t.url).post('/v1/messages/broadcast').set(service).set(key).send({ channel: 'scores', message: 'd' });
      expect(again.body).toEqual(first.body);
      await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'scores', message: 'e' });
      const page = await request(t.url).get('/v1/channels/scores/messages').set(service);
      expect(page.body.messages.map((m: { Seq: number; Message: string }) => [m.Seq, m.Message])).toEqual([
        [1, 'a'],
        [2, 'b'],
        [3, 'c'],
        [4, 'd'],
        [5, 'e'],
      ]);
    } finally {
      await t.stop();
    }
  });

  it('an event id relayed before a restart is not published again after it (relayed ids live in the store)', async () => {
    const sendEvent = async (app: TestApp, id: string, message: string): Promise<void> => {
      const internal = JSON.parse(readFileSync(join(app.dataDir, INTERNAL_MQTT_FILE), 'utf8')) as InternalMqttFile;
      const local = await TestMqttClient.connect(internal.url, { username: internal.username, password: internal.password, clientId: 'local-service' });
      await local.client.publishAsync(`${internal.eventsTopicPrefix}${EVENT_PATTERNS.broadcast}`, JSON.stringify({ id, channel: 'lobby', message }), { qos: 1 });
      await local.end();
    };
    const watch = async (app: TestApp): Promise<TestMqttClient> => {
      const reg = await request(app.url).post('/v1/registrations').set(app.auth('watcher')).send({ connectionType: 'WEBSOCKET' });
      const client = await TestMqttClient.ws(reg.body.url, 'watcher', reg.body.connectionToken);
      await client.subscribe(`${PREFIX}/lobby`);
      return client;
    };
    let t = await TestApp.start({ channels: CHANNELS, env: { EVENTS_TRANSPORT: 'mqtt' } });
    const dataDir = t.dataDir;
    let watcher = await watch(t);
    await sendEvent(t, 'evt-restart-1', 'first');
    expect((await watcher.waitFor(1)).map((r) => r.payload.Id)).toEqual(['evt-restart-1']);
    await watcher.end();
    await t.stop({ keepData: true });
    t = await TestApp.start({ channels: CHANNELS, env: { EVENTS_TRANSPORT: 'mqtt' }, dataDir });
    try {
      watcher = await watch(t);
      await sendEvent(t, 'evt-restart-1', 'first');
      await sendEvent(t, 'evt-restart-2', 'second');
      await watcher.waitFor(1);
      const metrics = t.app.get(MetricsService);
      const duplicates = async (): Promise<number> => (await metrics.events.get()).values.find((v) => v.labels.outcome === 'duplicate')?.value ?? 0;
      const deadline = Date.now() + 30_000;
      while ((await duplicates()) < 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await duplicates()).toBe(1);
      expect(watcher.received.map((r) => r.payload.Id)).toEqual(['evt-restart-2']);
      await watcher.end();
    } finally {
      await t.stop();
    }
  });
});
