import { randomUUID } from 'node:crypto';
import type { OutboundEvent } from '../src/events/out/outbound-event';
import { MosquittoBroker } from './support/mosquitto';
import { TestMqttClient } from './support/mqtt';
import { driveEveryEvent, EventLog } from './support/outbound';
import { TestApp } from './support/test-app';

/**
 * EVENTS_TRANSPORT=mqtt with EVENTS_URL: the events go to an external MQTT broker (a real Mosquitto of the
 * test's own), under `<EVENTS_MQTT_TOPIC_ROOT>/out/{type}`, while clients keep using the embedded broker.
 */
describe('outbound events on an external MQTT broker (EVENTS_URL)', () => {
  const root = `wc-test-${randomUUID().slice(0, 8)}/events`;
  let mosquitto: MosquittoBroker;
  let t: TestApp;
  let backend: TestMqttClient;
  const log = new EventLog();
  const topics: string[] = [];

  beforeAll(async () => {
    mosquitto = await MosquittoBroker.start();
    // A persistent session (clean: false): the broker queues the events while the backend is away.
    backend = await TestMqttClient.connect(mosquitto.url, { clientId: 'backend', clean: false });
    backend.client.on('message', (topic, payload) => {
      const event = JSON.parse(payload.toString('utf8')) as OutboundEvent;
      topics.push(topic);
      log.add(event);
    });
    await backend.client.subscribeAsync(`${root}/out/+`, { qos: 1 });
    t = await TestApp.start({ env: { EVENTS_TRANSPORT: 'mqtt', EVENTS_URL: mosquitto.url, EVENTS_MQTT_TOPIC_ROOT: root } });
  });

  afterAll(async () => {
    await backend?.end();
    await t?.stop();
    await mosquitto?.stop();
  });

  it('publishes every event of API.md section 7 under <root>/out/{type} on that broker', async () => {
    await driveEveryEvent(t, log, 'ext');
    expect(topics.length).toBe(log.events.length);
    log.events.forEach((event, i) => expect(topics[i]).toBe(`${root}/out/${event.type}`));
  });

  it('buffers while the events broker is away and sends in order once it is back', async () => {
    await backend.end();
    await mosquitto.stop();
    // Accepted while the events broker is down: each emits client.registered into the buffer.
    const ids = Array.from({ length: 5 }, (_, i) => `ext-away-${i}`);
    for (const id of ids) {
      const response = await fetch(`${t.url}/v1/registrations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...t.auth(id) },
        body: JSON.stringify({ connectionType: 'WEBSOCKET' }),
      });
      expect(response.status).toBe(201);
    }
    mosquitto = await mosquitto.restart();
    // The backend's session (and subscription) came back with the broker; what the service sends on its
    // reconnect (every 2 s) is queued for it or delivered at once, whichever comes first.
    backend = await TestMqttClient.connect(mosquitto.url, { clientId: 'backend', clean: false });
    expect(backend.sessionPresent).toBe(true);
    const seen = (): string[] => backend.received.map((r) => String(r.payload.clientId)).filter((id) => id.startsWith('ext-away-'));
    const deadline = Date.now() + 30_000;
    while (seen().length < ids.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(seen()).toEqual(ids);
  });
});
