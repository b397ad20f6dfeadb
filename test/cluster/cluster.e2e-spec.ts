/**
 * An embedded cluster (API.md section 9) of three built services (`node dist/main.js`): one
 * Redis of the test's own (restarted by the last test), dynalite out of process as the shared
 * store. Each test waits for conditions; instance numbers are indexes into `cluster.nodes`.
 */
import request from 'supertest';
import { sleep, TestMqttClient } from '../support/mqtt';
import { eventually, metric, TestCluster } from './cluster-harness';

const PREFIX = 'webcommunicator/dev';
const CHANNELS = [
  { name: 'news', types: ['BROADCAST', 'PRIVATE'] },
  { name: 'chat', types: ['BROADCAST'], clientSend: true, rateLimit: { messages: 3, perSeconds: 600 } },
];

describe('embedded cluster: three instances over Redis, a shared DynamoDB store', () => {
  let cluster: TestCluster;
  const clients: TestMqttClient[] = [];
  const service = (): { Authorization: string } => cluster.auth('game-server', ['service']);
  const admin = (): { Authorization: string } => cluster.auth('ops', ['admin']);

  async function connect(clientId: string, index: number, token?: string): Promise<TestMqttClient> {
    const client = await cluster.connect(clientId, index, token);
    clients.push(client);
    return client;
  }

  async function broadcast(via: number, message: string, headers: Record<string, string> = {}): Promise<request.Response> {
    return request(cluster.nodes[via].url).post('/v1/messages/broadcast').set(service()).set(headers).send({ channel: 'news', message });
  }

  /** Ids received on `topic`, after a marker broadcast through `via` arrived (so anything sent before it had its chance to arrive twice). */
  async function idsAfterMarker(subscribers: TestMqttClient[], via: number): Promise<string[][]> {
    const marker = `marker-${Math.random()}`;
    expect((await broadcast(via, marker)).status).toBe(202);
    await Promise.all(subscribers.map((s) => eventually(`the marker at ${s.client.options.clientId}`, () => s.received.some((m) => m.payload.Message === marker))));
    return subscribers.map((s) => s.received.filter((m) => m.payload.Message !== marker).map((m) => String(m.payload.Id)));
  }

  function reset(subscribers: TestMqttClient[]): void {
    for (const s of subscribers) {
      s.received.length = 0;
    }
  }

  beforeAll(async () => {
    cluster = await TestCluster.start({ instances: 3, channels: CHANNELS });
  }, 400_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await cluster?.stop();
  });

  it('a client registered through one instance connects to another', async () => {
    const token = await cluster.register('roamer', 0);
    const roamer = await connect('roamer', 2, token);
    expect(await roamer.subscribe(`${PREFIX}/news`)).toEqual([0]);
    // Presence is cluster-wide: instance 1 knows the client is connected on instance 2.
    await eventually('presence of roamer through node1', async () => {
      const response = await request(cluster.nodes[1].url).get('/v1/presence?clientId=roamer').set(service());
      return response.status === 200 && response.body.clients[0].connected === true;
    });
  });

  it('a broadcast sent through any instance reaches the subscribers of every instance exactly once', async () => {
    const subscribers = await Promise.all([0, 1, 2].map((i) => connect(`fan-${i}`, i)));
    for (const s of subscribers) {
      expect(await s.subscribe(`${PREFIX}/news`)).toEqual([0]);
    }
    const sent: string[] = [];
    for (let round = 0; round < 5; round += 1) {
      for (const via of [0, 1, 2]) {
        const response = await broadcast(via, `m-${round}-${via}`);
        expect(response.status).toBe(202);
        sent.push(response.body.messageId as string);
      }
    }
    const received = await idsAfterMarker(subscribers, 2);
    for (const ids of received) {
      expect([...ids].sort()).toEqual([...sent].sort());
    }
  });

  it('a direct message sent through one instance reaches its client on another', async () => {
    const target = await connect('direct-target', 1);
    expect(await target.subscribe(`${PREFIX}/news/client/direct-target`)).toEqual([0]);
    const response = await request(cluster.nodes[0].url).post('/v1/messages/direct').set(service()).send({ channel: 'news', clientId: 'direct-target', message: 'psst' });
    expect(response.status).toBe(202);
    const [message] = await target.waitFor(1);
    expect(message.payload).toEqual(expect.objectContaining({ Id: response.body.messageId, Message: 'psst' }));
  });

  it('a ban through one instance closes the session on another before its response', async () => {
    const token = await cluster.register('victim', 2);
    const victim = await connect('victim', 2, token);
    const closed = victim.closed();
    const before = await metric(cluster.nodes[2], 'webcommunicator_forced_disconnects_total');
    const response = await request(cluster.nodes[0].url).patch('/v1/admin/users/victim').set(admin()).send({ status: 'BANNED', reason: 'cheating' });
    expect(response.status).toBe(200);
    expect(response.body.connected).toBe(false);
    expect(response.headers['x-unconfirmed-instances']).toBeUndefined();
    // Counted by instance 2 once the socket was closed, before it confirmed: so before the response.
    expect(await metric(cluster.nodes[2], 'webcommunicator_forced_disconnects_total')).toBe(before + 1);
    expect(await metric(cluster.nodes[0], 'webcommunicator_cluster_unconfirmed_total')).toBe(0);
    await closed;
    // Its token is still well signed, but no instance lets it back in.
    await expect(cluster.connect('victim', 1, token)).rejects.toThrow(/Not authorized/i);
  });

  it('a channel rate limit holds across instances', async () => {
    const auth = cluster.auth('chatty');
    const send = (via: number): Promise<request.Response> => request(cluster.nodes[via].url).post('/v1/channels/chat/messages').set(auth).send({ message: `hi from ${via}` });
    expect((await send(0)).status).toBe(202);
    expect((await send(1)).status).toBe(202);
    expect((await send(2)).status).toBe(202);
    for (const via of [0, 1, 2]) {
      const refused = await send(via);
      expect(refused.status).toBe(429);
      expect(refused.body.code).toBe('RATE_LIMITED');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    }
  });

  it('an Idempotency-Key repeated on another instance publishes nothing', async () => {
    const watcher = await connect('idem-watcher', 1);
    expect(await watcher.subscribe(`${PREFIX}/news`)).toEqual([0]);
    const key = { 'Idempotency-Key': `cluster-${Date.now()}` };
    const first = await broadcast(0, 'once', key);
    expect(first.status).toBe(202);
    const again = await broadcast(2, 'once', key);
    expect(again.status).toBe(202);
    expect(again.body.messageId).toBe(first.body.messageId);
    const [ids] = await idsAfterMarker([watcher], 1);
    expect(ids).toEqual([first.body.messageId]);
  });

  it('a newer connection with the same client id wins, on whichever instance it is', async () => {
    const token = await cluster.register('twin', 0);
    const older = await connect('twin', 0, token);
    const olderClosed = older.closed();
    const newer = await connect('twin', 1, token);
    await olderClosed;
    expect(await newer.subscribe(`${PREFIX}/news`)).toEqual([0]);
    const [ids] = await idsAfterMarker([newer], 2);
    expect(ids).toEqual([]);
    expect(newer.connected).toBe(true);
  });

  it('a certificate revocation and a portal demotion through one instance close the sessions on another before the response', async () => {
    // A device on instance 1 (its TLS listener), its certificate revoked through instance 0.
    const device = await request(cluster.nodes[1].url).post('/v1/admin/registrations').set(admin()).send({ connectionType: 'OPENSSL', clientId: 'sensor-9' });
    expect(device.status).toBe(201);
    const tls = await TestMqttClient.connect(device.body.url as string, {
      clientId: 'sensor-9',
      ca: device.body.caCertificatePem as string,
      cert: device.body.certificatePem as string,
      key: device.body.privateKeyPem as string,
      rejectUnauthorized: true,
    });
    clients.push(tls);
    const tlsClosed = tls.closed();
    let before = await metric(cluster.nodes[1], 'webcommunicator_forced_disconnects_total');
    const revoked = await request(cluster.nodes[0].url).delete(`/v1/admin/users/sensor-9/certificates/${device.body.certificateId as string}`).set(admin());
    expect(revoked.status).toBe(204);
    expect(await metric(cluster.nodes[1], 'webcommunicator_forced_disconnects_total')).toBe(before + 1);
    await tlsClosed;

    // A portal session on instance 2, demoted by a plain re-registration through instance 0.
    const portal = await request(cluster.nodes[2].url).post('/v1/admin/registrations').set(cluster.auth('editor-1', ['admin'])).send({ connectionType: 'WEBSOCKET' });
    expect(portal.status).toBe(201);
    const editor = await connect('editor-1', 2, portal.body.connectionToken as string);
    expect(await editor.subscribe(`${PREFIX}/#`)).toEqual([0]);
    const editorClosed = editor.closed();
    before = await metric(cluster.nodes[2], 'webcommunicator_forced_disconnects_total');
    const plain = await request(cluster.nodes[0].url).post('/v1/registrations').set(cluster.auth('editor-1')).send({ connectionType: 'WEBSOCKET' });
    expect(plain.status).toBe(201);
    expect(await metric(cluster.nodes[2], 'webcommunicator_forced_disconnects_total')).toBe(before + 1);
    await editorClosed;
    expect(await metric(cluster.nodes[0], 'webcommunicator_cluster_unconfirmed_total')).toBe(0);
  });

  it('a persistent session queues what any instance publishes; it stays with its instance (a move starts afresh)', async () => {
    const token = await cluster.register('keeper', 0);
    const first = await TestMqttClient.ws(cluster.wsUrl(0), 'keeper', token, { clean: false });
    expect(await first.subscribeAt(1, `${PREFIX}/news`)).toEqual([1]);
    await first.end();
    const sent = await broadcast(1, 'while away');
    expect(sent.status).toBe(202);
    // Queued on instance 0 for its offline session, though published on instance 1 (MQTT_PUBLISH_QOS 1):
    // instance 0 keeps the topic subscribed in Redis while the session is away.
    const back = await TestMqttClient.ws(cluster.wsUrl(0), 'keeper', token, { clean: false });
    clients.push(back);
    expect(back.sessionPresent).toBe(true);
    const [message] = await back.waitFor(1);
    expect(message.payload.Id).toBe(sent.body.messageId);
    await back.end();

    const discarded = await metric(cluster.nodes[0], 'webcommunicator_mqtt_sessions_discarded_total');
    const moved = await TestMqttClient.ws(cluster.wsUrl(2), 'keeper', token, { clean: false });
    clients.push(moved);
    expect(moved.sessionPresent).toBe(false);
    await eventually('instance 0 discarded the moved session', async () => (await metric(cluster.nodes[0], 'webcommunicator_mqtt_sessions_discarded_total')) === discarded + 1);
  });

  it('kill -9 of one instance: its clients reconnect to the others and keep receiving', async () => {
    const token = await cluster.register('survivor', 2);
    const survivor = await connect('survivor', 2, token);
    expect(await survivor.subscribe(`${PREFIX}/news`)).toEqual([0]);
    const listeners = [await connect('steady-0', 0), await connect('steady-1', 1)];
    for (const s of listeners) {
      expect(await s.subscribe(`${PREFIX}/news`)).toEqual([0]);
    }
    const banned = await connect('banned-after-crash', 0);
    const gone = survivor.closed();
    cluster.nodes[2].kill('SIGKILL');
    const killedAt = Date.now();
    await cluster.nodes[2].exited;
    await gone;

    // A ban while the dead instance still counts as alive (its entry lasts 5 s): the response comes at the
    // bound (2 s), succeeds, and names the instance that did not confirm.
    const response = await request(cluster.nodes[1].url).patch('/v1/admin/users/banned-after-crash').set(admin()).send({ status: 'BANNED' });
    expect(response.status).toBe(200);
    expect(response.headers['x-unconfirmed-instances']).toBe('node2');
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2000);
    await banned.closed();
    expect(await metric(cluster.nodes[1], 'webcommunicator_cluster_unconfirmed_total')).toBe(1);
    await eventually('the warning naming node2', () => /ban of banned-after-crash: instance\(s\) node2 did not confirm within 2000 ms/.test(cluster.nodes[1].logs), 10_000);

    // Reconnects (same token: the broker keys are shared) to another instance.
    const back = await connect('survivor', 0, token);
    expect(await back.subscribe(`${PREFIX}/news`)).toEqual([0]);
    reset(listeners);
    const sent = (await broadcast(1, 'after the crash')).body.messageId as string;
    const received = await idsAfterMarker([back, ...listeners], 0);
    for (const ids of received) {
      expect(ids).toEqual([sent]);
    }
    // The dead instance's presence entries expire with it; the survivor is connected through node0.
    const roamerGone = async (): Promise<boolean> => {
      const response = await request(cluster.nodes[1].url).get('/v1/presence?clientId=roamer&clientId=survivor').set(service());
      return response.body.clients[0].connected === false && response.body.clients[1].connected === true;
    };
    await eventually('presence of the dead instance expired', roamerGone, 30_000);
  });

  it('Redis restarted mid-stream: every message accepted reaches every connected subscriber once Redis is back', async () => {
    const subscribers = [await connect('stream-0', 0), await connect('stream-1', 1)];
    for (const s of subscribers) {
      expect(await s.subscribe(`${PREFIX}/news`)).toEqual([0]);
    }
    const accepted: string[] = [];
    let refused = 0;
    const publish = async (i: number): Promise<void> => {
      const response = await broadcast(i % 2, `stream-${i}`);
      if (response.status === 202) {
        accepted.push(response.body.messageId as string);
      } else {
        expect(response.status).toBe(503);
        refused += 1;
      }
    };
    let i = 0;
    for (; i < 20; i += 1) {
      await publish(i);
      await sleep(20);
    }
    await cluster.redis.stop();
    const outageEnds = Date.now() + 1500;
    while (Date.now() < outageEnds) {
      await publish(i++);
      await sleep(20);
    }
    // Both instances still served their own clients: readiness stays 200 and says they are isolated.
    const ready = await request(cluster.nodes[0].url).get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.details.redis).toEqual(expect.objectContaining({ redis: 'unreachable', cluster: 'isolated' }));
    expect(await metric(cluster.nodes[0], 'webcommunicator_redis_up')).toBe(0);

    await cluster.redis.restart();
    for (const end = i + 20; i < end; i += 1) {
      await publish(i);
      await sleep(20);
    }
    await Promise.all(
      subscribers.map((s) => eventually(`all ${accepted.length} accepted messages at ${s.client.options.clientId}`, () => s.received.length >= accepted.length, 60_000)),
    );
    const received = await idsAfterMarker(subscribers, 1);
    for (const ids of received) {
      expect([...ids].sort()).toEqual([...accepted].sort());
    }
    expect(refused).toBe(0);
    await eventually('node0 back in the cluster', async () => (await request(cluster.nodes[0].url).get('/health/ready')).body.details?.redis?.cluster === 'connected');
  });

  it('an instance started while Redis is unreachable serves its own clients, and joins the cluster once Redis is back', async () => {
    await cluster.redis.stop();
    const late = await cluster.addNode();
    const index = cluster.nodes.indexOf(late);
    const ready = await request(late.url).get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.details.redis).toEqual(expect.objectContaining({ redis: 'unreachable', cluster: 'isolated' }));
    const local = await connect('late-local', index);
    expect(await local.subscribe(`${PREFIX}/news`)).toEqual([0]);
    const alone = await broadcast(index, 'served alone');
    expect(alone.status).toBe(202);
    expect((await local.waitFor(1))[0].payload.Id).toBe(alone.body.messageId);

    await cluster.redis.restart();
    await eventually('the late instance in the cluster', async () => (await request(late.url).get('/health/ready')).body.details?.redis?.cluster === 'connected', 60_000);
    const other = await connect('late-other', 0);
    expect(await other.subscribe(`${PREFIX}/news`)).toEqual([0]);
    reset([local]);
    // Instance 0's marker reaches the late instance's client: messages cross both ways again.
    const [atLate, atOther] = await idsAfterMarker([local, other], 0);
    expect(atLate).toEqual([]);
    expect(atOther).toEqual([]);
    reset([local, other]);
    const fromLate = (await broadcast(index, 'from the late one')).body.messageId as string;
    const [lateIds, otherIds] = await idsAfterMarker([local, other], index);
    expect(lateIds).toEqual([fromLate]);
    expect(otherIds).toEqual([fromLate]);
  });

  it('SIGTERM: an instance leaves the cluster at once (bans stop waiting for it) and exits 0', async () => {
    const leaving = cluster.nodes[1];
    const client = await connect('after-sigterm', 0);
    leaving.kill('SIGTERM');
    expect(await leaving.exited).toBe(0);
    const started = Date.now();
    const response = await request(cluster.nodes[0].url).patch('/v1/admin/users/after-sigterm').set(admin()).send({ status: 'BANNED' });
    expect(response.status).toBe(200);
    await client.closed();
    // No wait for the bound (2 s), nobody unconfirmed: the stopped instance had removed itself.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await metric(cluster.nodes[0], 'webcommunicator_cluster_unconfirmed_total')).toBe(0);
  });
});
