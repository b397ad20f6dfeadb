import { readFileSync, statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { ClientMqtt, MqttRecordBuilder } from '@nestjs/microservices';
import { Aedes } from 'aedes';
import { lastValueFrom } from 'rxjs';
import request from 'supertest';
import { EVENT_PATTERNS } from '../src/events/event-contract';
import { INTERNAL_MQTT_FILE, type InternalMqttFile } from '../src/events/events-transport';
import { MetricsService } from '../src/metrics/metrics.service';
import { sleep, TestMqttClient } from './support/mqtt';
import { TestApp } from './support/test-app';

const PREFIX = 'webcommunicator/dev';
const { broadcast, direct } = EVENT_PATTERNS;

describe('events over the embedded broker (EVENTS_TRANSPORT=mqtt, the embedded default)', () => {
  let t: TestApp;
  let internal: InternalMqttFile;
  const clients: TestMqttClient[] = [];

  async function registered(clientId: string, topics: string[], admin = false): Promise<TestMqttClient> {
    const path = admin ? '/v1/admin/registrations' : '/v1/registrations';
    const reg = await request(t.url)
      .post(path)
      .set(t.auth(clientId, admin ? 'admin' : []))
      .send({ connectionType: 'WEBSOCKET' });
    expect(reg.status).toBe(201);
    const client = await TestMqttClient.ws(reg.body.url, clientId, reg.body.connectionToken);
    clients.push(client);
    if (topics.length > 0) {
      expect(await client.subscribe(...topics)).toEqual(topics.map(() => 0));
    }
    return client;
  }

  async function internalClient(): Promise<TestMqttClient> {
    const client = await TestMqttClient.connect(internal.url, {
      username: internal.username,
      password: internal.password,
      clientId: 'local-service',
    });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    t = await TestApp.start({ env: { EVENTS_TRANSPORT: 'mqtt' } });
    internal = JSON.parse(readFileSync(join(t.dataDir, INTERNAL_MQTT_FILE), 'utf8')) as InternalMqttFile;
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
  });

  afterAll(async () => {
    // Let the broker finish its disconnect bookkeeping (a lastSeenAt store write) before the store closes.
    await sleep(200);
    await t?.stop();
  });

  it('writes the internal connection for local services to DATA_DIR (0600) and is ready', async () => {
    expect(statSync(join(t.dataDir, INTERNAL_MQTT_FILE)).mode & 0o777).toBe(0o600);
    expect(internal).toEqual({
      url: expect.stringMatching(/^mqtt:\/\/127\.0\.0\.1:\d+$/),
      username: expect.any(String),
      password: expect.any(String),
      eventsTopicPrefix: '$webcommunicator/internal/events/',
      deadLetterTopic: '$webcommunicator/internal/dead-letters/events',
    });
    const ready = await request(t.url).get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.info.events).toEqual({ status: 'up' });
  });

  it('relays events a local service publishes on the internal namespace (plain payload or Nest ClientMqtt)', async () => {
    const erin = await registered('erin', [`${PREFIX}/news`, `${PREFIX}/news/client/erin`]);
    const local = await internalClient();
    await local.client.publishAsync(
      `${internal.eventsTopicPrefix}${broadcast}`,
      JSON.stringify({ id: 'mqtt-1', channel: 'news', message: 'plain' }),
      { qos: 1 },
    );

    // The documented Nest snippet: ClientMqtt.emit sends {"pattern": <topic>, "data": {...}} on the topic.
    const nest = new ClientMqtt({ url: internal.url, username: internal.username, password: internal.password });
    try {
      await lastValueFrom(
        nest.emit(
          `${internal.eventsTopicPrefix}${direct}`,
          new MqttRecordBuilder({ id: 'mqtt-2', channel: 'news', clientId: 'erin', message: 'from nest' }).setQoS(1).build(),
        ),
      );
    } finally {
      await nest.close();
    }
    const received = await erin.waitFor(2);
    expect(received.map((m) => [m.topic, m.payload.Id, m.payload.Message])).toEqual([
      [`${PREFIX}/news`, 'mqtt-1', 'plain'],
      [`${PREFIX}/news/client/erin`, 'mqtt-2', 'from nest'],
    ]);
  });

  it('reports invalid events on the dead-letter topic and keeps consuming; duplicates are published once', async () => {
    const frank = await registered('frank', [`${PREFIX}/news`]);
    const local = await internalClient();
    expect(await local.subscribe(internal.deadLetterTopic)).toEqual([0]);
    const publish = (pattern: string, body: string): Promise<unknown> =>
      local.client.publishAsync(`${internal.eventsTopicPrefix}${pattern}`, body, { qos: 1 });
    await publish(broadcast, 'not json');
    await publish('webcommunicator.shout', JSON.stringify({ channel: 'news', message: 'x' }));
    await publish(broadcast, JSON.stringify({ channel: 'news', message: 'x', extra: true }));
    await publish(broadcast, JSON.stringify({ channel: 'nope', message: 'x' }));
    await publish(direct, JSON.stringify({ channel: 'news', clientId: 'ghost', message: 'x' }));
    await publish(broadcast, JSON.stringify({ id: 'dup', channel: 'news', message: 'once' }));
    await publish(broadcast, JSON.stringify({ id: 'dup', channel: 'news', message: 'twice?' }));
    await publish(broadcast, JSON.stringify({ id: 'last', channel: 'news', message: 'still consuming' }));

    const reports = await local.waitFor(5);
    expect(reports.map((r) => r.payload.reason)).toEqual([
      'MALFORMED_JSON',
      'UNKNOWN_PATTERN',
      'VALIDATION_FAILED',
      'CHANNEL_NOT_FOUND',
      'USER_NOT_FOUND',
    ]);
    expect(reports[0].payload).toEqual(
      expect.objectContaining({ pattern: broadcast, body: 'not json', detail: expect.any(String), deadLetteredAt: expect.any(String) }),
    );
    await frank.waitFor(2);
    await sleep(100);
    expect(frank.received.map((m) => [m.payload.Id, m.payload.Message])).toEqual([
      ['dup', 'once'],
      ['last', 'still consuming'],
    ]);
    const events = await t.app.get(MetricsService).events.get();
    const count = (outcome: string): number => events.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    expect([count('dead_lettered'), count('duplicate')]).toEqual([5, 1]);
  });

  it('no registered client, portal clients included, can subscribe or publish on the internal namespace', async () => {
    const player = await registered('grace', []);
    const portal = await registered('editor', [], true);
    const forbidden = [
      '$webcommunicator/internal/#',
      `${internal.eventsTopicPrefix}+`,
      `${internal.eventsTopicPrefix}${broadcast}`,
      internal.deadLetterTopic,
      '#',
      '+/internal/#',
    ];
    expect(await player.subscribe(...forbidden)).toEqual(forbidden.map(() => 128));
    expect(await portal.subscribe(...forbidden.slice(0, 4))).toEqual([128, 128, 128, 128]);
    // The portal's own wildcard does not reach `$` topics either.
    expect(await portal.subscribe(`${PREFIX}/#`)).toEqual([0]);

    const listener = await registered('heidi', [`${PREFIX}/news`]);
    const portalClosed = portal.closed();
    portal.client.publish(`${internal.eventsTopicPrefix}${broadcast}`, JSON.stringify({ channel: 'news', message: 'forged by a portal' }));
    player.client.publish(`${internal.eventsTopicPrefix}${broadcast}`, JSON.stringify({ channel: 'news', message: 'forged by a player' }));
    await portalClosed; // a denied PUBLISH closes the connection
    await sleep(300);
    expect(listener.received).toHaveLength(0);
    expect(portal.received).toHaveLength(0);
  });

  it('refuses the internal listener without the right credentials', async () => {
    await expect(
      TestMqttClient.connect(internal.url, { username: internal.username, password: 'wrong', clientId: 'intruder' }),
    ).rejects.toThrow();
    await expect(TestMqttClient.connect(internal.url, { clientId: 'grace' })).rejects.toThrow();
  });
});

describe('events over an external MQTT broker (EVENTS_TRANSPORT=mqtt with EVENTS_URL)', () => {
  it('consumes <EVENTS_MQTT_TOPIC_ROOT>/events/<pattern> from the broker at EVENTS_URL', async () => {
    // Any MQTT broker will do; a bare Aedes on a loopback port stands in for it.
    const external = await Aedes.createBroker();
    const server = createServer((socket) => external.handle(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const t = await TestApp.start({
      env: { EVENTS_TRANSPORT: 'mqtt', EVENTS_URL: `mqtt://127.0.0.1:${port}`, EVENTS_MQTT_TOPIC_ROOT: 'game/internal' },
    });
    const publisher = await TestMqttClient.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'external-service' });
    let listener: TestMqttClient | undefined;
    try {
      const reg = await request(t.url).post('/v1/registrations').set(t.auth('ivan')).send({ connectionType: 'WEBSOCKET' });
      listener = await TestMqttClient.ws(reg.body.url, 'ivan', reg.body.connectionToken);
      await listener.subscribe(`${PREFIX}/news`);
      await publisher.client.publishAsync(
        `game/internal/events/${broadcast}`,
        JSON.stringify({ id: 'ext-1', channel: 'news', message: 'from afar' }),
        { qos: 1 },
      );
      const [message] = await listener.waitFor(1);
      expect(message.payload).toEqual(expect.objectContaining({ Id: 'ext-1', Message: 'from afar' }));
      expect((await request(t.url).get('/health/ready')).body.info.events).toEqual({ status: 'up' });
    } finally {
      await listener?.end();
      await publisher.end();
      await sleep(200); // as in afterAll above
      await t.stop();
      await new Promise<void>((resolve) => external.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
