import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { OutboundEvent } from '../../src/events/out/outbound-event';
import { OutboundEvents } from '../../src/events/out/outbound-events';
import { MetricsService } from '../../src/metrics/metrics.service';
import type { TestMqttClient } from '../support/mqtt';
import { connect, driveEveryEvent, EventLog, register } from '../support/outbound';
import { RABBITMQ_URL, Rabbit, closeAllRabbitConnections, uniqueQueue } from '../support/rabbit';
import { TestApp } from '../support/test-app';
import { eventually } from './events-helpers';

/** A consumer's queue bound to the exchange (every type), read by polling so it survives close_all_connections. */
class BoundQueue {
  readonly log = new EventLog();
  readonly raw: Array<{ routingKey: string; persistent: boolean; type?: string; messageId?: string; event: OutboundEvent }> = [];
  private stopped = false;
  private reading?: Promise<void>;

  constructor(
    private readonly rabbit: Rabbit,
    readonly exchange: string,
    readonly queue: string,
  ) {}

  async start(): Promise<void> {
    const ch = await this.rabbit.ch();
    // The service declares the exchange at start too; both declarations agree (durable topic).
    await ch.assertExchange(this.exchange, 'topic', { durable: true });
    await ch.assertQueue(this.queue, { durable: true });
    await ch.bindQueue(this.queue, this.exchange, 'client.#');
    this.rabbit.track(this.queue);
    this.reading = this.read();
  }

  private async read(): Promise<void> {
    while (!this.stopped) {
      try {
        const ch = await this.rabbit.ch();
        const message = await ch.get(this.queue, { noAck: true });
        if (message === false) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        const event = JSON.parse(message.content.toString('utf8')) as OutboundEvent;
        this.raw.push({
          routingKey: message.fields.routingKey,
          persistent: message.properties.deliveryMode === 2,
          type: message.properties.type as string | undefined,
          messageId: message.properties.messageId as string | undefined,
          event,
        });
        this.log.add(event);
      } catch {
        // Our connection was closed too (close_all_connections): reconnect on the next turn.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.reading;
    const ch = await this.rabbit.ch();
    await ch.deleteExchange(this.exchange).catch(() => undefined);
  }
}

describe('outbound events over RabbitMQ (EVENTS_TRANSPORT=rmq)', () => {
  const rabbit = new Rabbit();
  const exchange = `wc-test-out-${randomUUID().slice(0, 8)}`;
  const bound = new BoundQueue(rabbit, exchange, uniqueQueue('out'));
  let t: TestApp;
  const clients: TestMqttClient[] = [];

  beforeAll(async () => {
    const inbound = uniqueQueue('in');
    rabbit.track(inbound);
    rabbit.track(`${inbound}.dlq`);
    await bound.start();
    t = await TestApp.start({
      env: { EVENTS_TRANSPORT: 'rmq', EVENTS_URL: RABBITMQ_URL, EVENTS_QUEUE: inbound, EVENTS_EXCHANGE: exchange },
      channels: [
        { name: 'news', types: ['BROADCAST', 'PRIVATE'] },
        { name: 'chat', types: ['BROADCAST'], clientSend: true, maxMessageBytes: 64 },
      ],
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
  });

  afterAll(async () => {
    await t?.stop();
    await bound.stop();
    await rabbit.close();
  });

  it('delivers every event of API.md section 7 to a queue bound to the exchange: persistent, routing key = type', async () => {
    await driveEveryEvent(t, bound.log, 'rq');
    expect(bound.raw.length).toBeGreaterThanOrEqual(14);
    for (const { routingKey, persistent, type, messageId, event } of bound.raw) {
      expect(routingKey).toBe(event.type);
      expect(type).toBe(event.type);
      expect(messageId).toBe(event.id);
      expect(persistent).toBe(true);
      expect(Object.keys(event).slice(0, 4)).toEqual(['id', 'type', 'time', 'clientId']);
    }
  });

  it('loses nothing across a RabbitMQ connection loss and keeps the order (at least once: a repeat comes back in order)', async () => {
    const sender = 'rq-sender';
    clients.push(await connect(await register(t, sender), sender));
    await bound.log.waitFor(sender, ['client.connected:websocket']);
    const send = async (i: number): Promise<string> => {
      const response = await request(t.url).post('/v1/channels/chat/messages').set(t.auth(sender)).send({ message: `m${i}` });
      expect(response.status).toBe(202);
      return String(response.body.messageId);
    };
    const sentIds: string[] = [];
    for (let i = 0; i < 150; i++) {
      sentIds.push(await send(i));
    }
    // Every connection dropped, the service's and ours: events now wait in the buffer.
    closeAllRabbitConnections('outbound events test');
    const outbound = t.app.get(OutboundEvents);
    let mostBuffered = 0;
    for (let i = 150; i < 300; i++) {
      sentIds.push(await send(i));
      mostBuffered = Math.max(mostBuffered, outbound.buffered);
    }
    // The sends above didn't wait for RabbitMQ: their events were held while it was away.
    expect(mostBuffered).toBeGreaterThan(0);
    const metrics = t.app.get(MetricsService);
    await eventually(
      () => new Set(bound.log.events.filter((e) => e.clientId === sender && e.type === 'client.message').map((e) => e.id)).size === 300,
      60_000,
      '300 client.message events',
    );
    const firstSeen: string[] = [];
    const seen = new Set<string>();
    for (const event of bound.log.events) {
      if (event.clientId === sender && event.type === 'client.message' && !seen.has(event.id)) {
        seen.add(event.id);
        firstSeen.push((event as OutboundEvent<'client.message'>).message.Id);
      }
    }
    expect(firstSeen).toEqual(sentIds);
    await eventually(() => outbound.buffered === 0, 10_000, 'an empty buffer');
    const dropped = (await metrics.outboundEvents.get()).values.find((v) => v.labels.outcome === 'dropped')?.value ?? 0;
    expect(dropped).toBe(0);
  }, 120_000);
});
