import { rmSync } from 'node:fs';
import request from 'supertest';
import { Broker } from '../../src/broker/broker';
import { EVENT_PATTERNS } from '../../src/events/event-contract';
import { startEvents } from '../../src/events/start-events';
import { sleep, type TestMqttClient } from '../support/mqtt';
import { RABBITMQ_URL, Rabbit, closeAllRabbitConnections, uniqueQueue } from '../support/rabbit';
import { TestApp } from '../support/test-app';
import { PREFIX, eventCounts, eventually, idCounts, subscriber } from './events-helpers';
import { BrokerUnavailableError } from '../../src/domain/errors';

const { broadcast, direct } = EVENT_PATTERNS;

function rmqEnv(queue: string, extra: Record<string, string> = {}): Record<string, string> {
  return { EVENTS_TRANSPORT: 'rmq', EVENTS_URL: RABBITMQ_URL, EVENTS_QUEUE: queue, ...extra };
}

describe('events over RabbitMQ: connection loss, restarts, outages', () => {
  const rabbit = new Rabbit();
  const apps: TestApp[] = [];
  const clients: TestMqttClient[] = [];
  const dataDirs: string[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
    // Let the broker finish its disconnect bookkeeping (a lastSeenAt store write) before the store closes.
    await sleep(200);
    for (const app of apps.splice(0)) {
      await app.stop();
    }
    for (const dir of dataDirs.splice(0)) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  afterAll(async () => {
    await rabbit.close();
  });

  it('loses no event when RabbitMQ drops every connection in the middle of 1,000 (at-least-once + dedupe: each id seen once)', async () => {
    const queue = uniqueQueue('drop');
    rabbit.track(queue);
    const t = await TestApp.start({ env: rmqEnv(queue, { EVENTS_PREFETCH: '10' }) });
    apps.push(t);
    const bob = await subscriber(t, 'bob', [`${PREFIX}/news`, `${PREFIX}/news/client/bob`]);
    clients.push(bob);
    // Slow the broker down (~250 events/s) so the drop lands mid-stream, with deliveries in flight.
    const broker = t.app.get(Broker);
    const publish = broker.publish.bind(broker);
    jest.spyOn(broker, 'publish').mockImplementation(async (...args) => {
      await sleep(40);
      return publish(...args);
    });

    const total = 1000;
    const events = Array.from({ length: total }, (_, i) =>
      i % 3 === 0
        ? { pattern: direct, data: { id: `drop-${i}`, channel: 'news', clientId: 'bob', message: `m${i}` } }
        : { pattern: broadcast, data: { id: `drop-${i}`, channel: 'news', message: `m${i}` } },
    );
    await rabbit.emitMany(queue, events);
    await bob.waitFor(100, 20_000);
    closeAllRabbitConnections('test');
    const atDrop = idCounts(bob).size;
    expect(atDrop).toBeLessThan(total);

    await bob.waitFor(total, 40_000);
    await sleep(300);
    const counts = idCounts(bob);
    expect(counts.size).toBe(total);
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
    const outcomes = await eventCounts(t);
    // Deliveries unacked at the drop came back (redelivered) and were not published twice.
    expect(outcomes.redelivered).toBeGreaterThan(0);
    expect(outcomes.relayed).toBe(total);
    expect(outcomes.consumed).toBe(total + outcomes.redelivered);
    expect((await request(t.url).get('/health/ready')).status).toBe(200);
  }, 60_000);

  it('consumes events published while the service was stopped once it starts', async () => {
    const queue = uniqueQueue('offline');
    rabbit.track(queue);
    const first = await TestApp.start({ env: rmqEnv(queue) });
    const dataDir = first.dataDir;
    dataDirs.push(dataDir);
    const carol = await subscriber(first, 'carol', [`${PREFIX}/news/client/carol`]);
    await rabbit.emit(queue, direct, { id: 'online-1', channel: 'news', clientId: 'carol', message: 'hello' });
    await carol.waitFor(1);
    await carol.end();
    await sleep(200);
    await first.stop({ keepData: true });

    await rabbit.emitMany(
      queue,
      Array.from({ length: 100 }, (_, i) => ({
        pattern: direct,
        data: { id: `offline-${i}`, channel: 'news', clientId: 'carol', message: `while stopped ${i}` },
      })),
    );
    expect(await rabbit.messageCount(queue)).toBe(100);

    // Same data (carol is registered), events started only once she listens again.
    const second = await TestApp.start({ dataDir, env: rmqEnv(queue), deferEvents: true });
    apps.push(second);
    const back = await subscriber(second, 'carol', [`${PREFIX}/news/client/carol`]);
    clients.push(back);
    await startEvents(second.app);
    await back.waitFor(100, 15_000);
    expect(idCounts(back).size).toBe(100);
    await eventually(async () => (await rabbit.messageCount(queue)) === 0, 30_000, 'an empty queue');
  });

  it('holds an event unacknowledged through a broker outage: a stop leaves it queued, the next start relays it', async () => {
    const queue = uniqueQueue('outage');
    rabbit.track(queue);
    const first = await TestApp.start({ env: rmqEnv(queue) });
    const dataDir = first.dataDir;
    dataDirs.push(dataDir);
    jest.spyOn(first.app.get(Broker), 'publish').mockRejectedValue(new BrokerUnavailableError('injected outage'));
    await rabbit.emit(queue, broadcast, { id: 'held-1', channel: 'news', message: 'eventually' });
    await eventually(async () => ((await eventCounts(first)).retried ?? 0) >= 2, 10_000, 'two retries');
    const ready = await rabbit.messageCount(queue);
    expect(ready).toBe(0); // delivered to the consumer, held unacked
    await first.stop({ keepData: true });
    expect(await rabbit.messageCount(queue)).toBe(1);

    const second = await TestApp.start({ dataDir, env: rmqEnv(queue), deferEvents: true });
    apps.push(second);
    const dave = await subscriber(second, 'dave', [`${PREFIX}/news`]);
    clients.push(dave);
    await startEvents(second.app);
    const [message] = await dave.waitFor(1);
    expect(message.payload).toEqual(expect.objectContaining({ Id: 'held-1', Message: 'eventually' }));
    const outcomes = await eventCounts(second);
    expect(outcomes.redelivered).toBe(1);
    expect(outcomes.dead_lettered ?? 0).toBe(0);
  });
});
