import { spawnSync } from 'node:child_process';
import request from 'supertest';
import { Broker } from '../../src/broker/broker';
import { EVENT_PATTERNS } from '../../src/events/event-contract';
import { sleep, type TestMqttClient } from '../support/mqtt';
import { RABBITMQ_URL, Rabbit, uniqueQueue } from '../support/rabbit';
import { TestApp } from '../support/test-app';
import { PREFIX, eventually, idCounts, subscriber } from './events-helpers';

function rabbitmqctl(...args: string[]): void {
  const result = spawnSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) {
    throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
  }
}

describe('events over RabbitMQ: a RabbitMQ restart', () => {
  const rabbit = new Rabbit();
  let t: TestApp | undefined;
  let bob: TestMqttClient | undefined;

  afterAll(async () => {
    await bob?.end();
    await sleep(200);
    await t?.stop();
    await rabbit.close();
  });

  it('loses no event when RabbitMQ restarts in the middle of 300 (durable queue, persistent messages, each id seen once)', async () => {
    const queue = uniqueQueue('restart');
    rabbit.track(queue);
    t = await TestApp.start({ env: { EVENTS_TRANSPORT: 'rmq', EVENTS_URL: RABBITMQ_URL, EVENTS_QUEUE: queue, EVENTS_PREFETCH: '10' } });
    bob = await subscriber(t, 'bob', [`${PREFIX}/news`, `${PREFIX}/news/client/bob`]);
    // Slow the relay (~200 events/s) so the restart lands mid-stream.
    const broker = t.app.get(Broker);
    const publish = broker.publish.bind(broker);
    jest.spyOn(broker, 'publish').mockImplementation(async (...args) => {
      await sleep(50);
      return publish(...args);
    });

    const total = 300;
    await rabbit.emitMany(
      queue,
      Array.from({ length: total }, (_, i) =>
        i % 2 === 0
          ? { pattern: EVENT_PATTERNS.direct, data: { id: `restart-${i}`, channel: 'news', clientId: 'bob', message: `m${i}` } }
          : { pattern: EVENT_PATTERNS.broadcast, data: { id: `restart-${i}`, channel: 'news', message: `m${i}` } },
      ),
    );
    await bob.waitFor(30, 20_000);
    rabbitmqctl('stop_app');
    const atStop = idCounts(bob).size;
    rabbitmqctl('start_app');
    rabbitmqctl('await_startup');

    expect(atStop).toBeLessThan(total);
    await bob.waitFor(total, 90_000);
    await sleep(300);
    const counts = idCounts(bob);
    expect(counts.size).toBe(total);
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
    await eventually(async () => (await request(t!.url).get('/health/ready')).status === 200, 20_000, 'ready again');
  }, 180_000);
});
