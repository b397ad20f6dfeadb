import type { Aedes } from 'aedes';
import request from 'supertest';
import { Broker } from '../../src/broker/broker';
import type { EmbeddedBroker } from '../../src/broker/embedded/embedded-broker';
import { sleep, TestMqttClient } from '../support/mqtt';
import { expectProblem, TestApp } from '../support/test-app';

/**
 * Real broker faults on the embedded driver (no mocks): the Aedes instance is really
 * closed, either through the driver's own shutdown path or behind the driver's back
 * (as if Aedes died on its own). The API must then refuse with 503 BROKER_UNAVAILABLE
 * and Retry-After, readiness must say why, /metrics must count the refusal, and
 * nothing may be counted or delivered as sent.
 *
 * The store-down fault is test/aws-mode.e2e-spec.ts; an injected publish rejection is
 * test/messaging.e2e-spec.ts ("broker failure → 503 ...").
 */

const NEWS = 'webcommunicator/dev/news';

function counter(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

const PUBLISHED = 'webcommunicator_messages_published_total';
const REJECTED = 'webcommunicator_messages_rejected_total';

describe.each([
  {
    how: "the driver's own shutdown path (onApplicationShutdown)",
    kill: async (broker: EmbeddedBroker): Promise<void> => broker.onApplicationShutdown(),
  },
  {
    how: 'Aedes closed behind the driver (the broker died on its own)',
    kill: async (broker: EmbeddedBroker): Promise<void> => {
      const aedes = (broker as unknown as { aedes: Aedes }).aedes;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  },
])('embedded broker really down: $how', ({ kill }) => {
  let t: TestApp;
  let service: { Authorization: string };
  let subscriber: TestMqttClient;

  beforeAll(async () => {
    t = await TestApp.start();
    service = t.auth('content-service', 'service');
    const reg = await request(t.url).post('/v1/registrations').set(t.auth('watcher')).send({ connectionType: 'WEBSOCKET' });
    expect(reg.status).toBe(201);
    subscriber = await TestMqttClient.ws(reg.body.url, 'watcher', reg.body.connectionToken);
    expect(await subscriber.subscribe(NEWS, `${NEWS}/client/watcher`)).toEqual([0, 0]);
  });

  afterAll(async () => {
    await subscriber.end();
    await t.stop();
  });

  it('works before the fault (control)', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'before' });
    expect(res.status).toBe(202);
    expect((await subscriber.waitFor(1))[0].payload.Id).toBe(res.body.messageId);
    expect((await request(t.url).get('/health/ready')).status).toBe(200);
  });

  it('then: broadcast and direct → 503 BROKER_UNAVAILABLE with Retry-After, readiness 503, refusals counted, nothing sent', async () => {
    const metricsBefore = (await request(t.url).get('/metrics')).text;
    const publishedBefore = counter(metricsBefore, PUBLISHED, 'channel="news",source="service"');
    const received = subscriber.received.length;

    await kill(t.app.get<Broker, EmbeddedBroker>(Broker));

    const broadcast = await request(t.url).post('/v1/messages/broadcast').set(service).send({ channel: 'news', message: 'during' });
    expectProblem(broadcast, 503, 'BROKER_UNAVAILABLE');
    expect(Number(broadcast.headers['retry-after'])).toBeGreaterThan(0);
    expect(broadcast.body.messageId).toBeUndefined();

    const direct = await request(t.url).post('/v1/messages/direct').set(service).send({ channel: 'news', clientId: 'watcher', message: 'during' });
    expectProblem(direct, 503, 'BROKER_UNAVAILABLE');
    expect(Number(direct.headers['retry-after'])).toBeGreaterThan(0);

    const ready = await request(t.url).get('/health/ready');
    expectProblem(ready, 503, 'BROKER_UNAVAILABLE');
    expect(Number(ready.headers['retry-after'])).toBeGreaterThan(0);
    expect(ready.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'broker' })]));
    // Liveness is about the process, not its dependencies.
    expect((await request(t.url).get('/health/live')).status).toBe(200);

    const metricsAfter = (await request(t.url).get('/metrics')).text;
    expect(counter(metricsAfter, PUBLISHED, 'channel="news",source="service"')).toBe(publishedBefore);
    const rejected = metricsAfter.split('\n').filter((l) => l.startsWith(`${REJECTED}{`) && /reason="(BrokerUnavailableError|BROKER_UNAVAILABLE)"/.test(l));
    expect(rejected.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0)).toBe(2);

    await sleep(200);
    expect(subscriber.received).toHaveLength(received);
  });
});
