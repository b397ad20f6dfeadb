import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import type { OutboundEvent } from '../src/events/out/outbound-event';
import { INTERNAL_MQTT_FILE, type InternalMqttFile } from '../src/events/events-transport';
import { TestMqttClient } from './support/mqtt';
import { connect, driveEveryEvent, EventLog, register } from './support/outbound';
import { TestApp } from './support/test-app';

const OUT = '$webcommunicator/internal/out';

describe('outbound events on the embedded broker (EVENTS_TRANSPORT=mqtt)', () => {
  let t: TestApp;
  let backend: TestMqttClient;
  const log = new EventLog();

  beforeAll(async () => {
    t = await TestApp.start({ env: { EVENTS_TRANSPORT: 'mqtt' } });
    const internal = JSON.parse(readFileSync(join(t.dataDir, INTERNAL_MQTT_FILE), 'utf8')) as InternalMqttFile;
    // A local service with the internal credentials, as docs/events.md shows.
    backend = await TestMqttClient.connect(internal.url, { username: internal.username, password: internal.password, clientId: 'moderation' });
    backend.client.on('message', (topic, payload) => {
      const event = JSON.parse(payload.toString('utf8')) as OutboundEvent;
      expect(topic).toBe(`${OUT}/${event.type}`);
      log.add(event);
    });
    await backend.client.subscribeAsync(`${OUT}/+`, { qos: 1 });
  });

  afterAll(async () => {
    await backend?.end();
    await t?.stop();
  });

  it('publishes every event of API.md section 7 under $webcommunicator/internal/out/{type}', async () => {
    await driveEveryEvent(t, log, 'mq');
  });

  it('no client can read the namespace: not by name, not with a portal wildcard', async () => {
    const eve = 'mq-eve';
    const eveClient = await connect(await register(t, eve), eve);
    expect(await eveClient.subscribe(`${OUT}/client.connected`, `${OUT}/+`, '#', '$webcommunicator/#')).toEqual([128, 128, 128, 128]);
    await eveClient.end();

    const portal = await request(t.url).post('/v1/admin/registrations').set(t.auth('mq-editor', 'admin')).send({ connectionType: 'WEBSOCKET' });
    expect(portal.status).toBe(201);
    const editor = await TestMqttClient.ws(portal.body.url, 'mq-editor', portal.body.connectionToken);
    expect(await editor.subscribe('webcommunicator/dev/#')).toEqual([0]);
    expect(await editor.subscribe(`${OUT}/+`)).toEqual([128]);
    // The editor's own reconnect is an event the backend hears, and the editor doesn't.
    const other = await connect(await register(t, 'mq-frank'), 'mq-frank');
    await log.waitFor('mq-frank', ['client.connected:websocket']);
    await other.end();
    await log.waitFor('mq-frank', ['client.disconnected:client']);
    expect(editor.received.filter((r) => r.topic.startsWith('$'))).toEqual([]);
    await editor.end();
  });
});
