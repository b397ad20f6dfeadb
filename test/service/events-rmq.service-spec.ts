import { ClientRMQ } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import request from 'supertest';
import { Broker } from '../../src/broker/broker';
import { EVENT_PATTERNS } from '../../src/events/event-contract';
import { DEAD_LETTER_HEADERS } from '../../src/events/rmq/rmq-event.consumer';
import { sleep, type TestMqttClient } from '../support/mqtt';
import { RABBITMQ_URL, Rabbit, eventsQueueOptions, uniqueQueue } from '../support/rabbit';
import { TestApp } from '../support/test-app';
import { PREFIX, eventCounts, eventually, idCounts, subscriber } from './events-helpers';
import { BrokerUnavailableError } from '../../src/domain/errors';

const { broadcast, direct } = EVENT_PATTERNS;

describe('events over RabbitMQ (EVENTS_TRANSPORT=rmq)', () => {
  const rabbit = new Rabbit();
  const queue = uniqueQueue('events');
  const dlq = `${queue}.dlq`;
  let t: TestApp;
  let alice: TestMqttClient;

  beforeAll(async () => {
    rabbit.track(queue);
    t = await TestApp.start({
      env: { EVENTS_TRANSPORT: 'rmq', EVENTS_URL: RABBITMQ_URL, EVENTS_QUEUE: queue, EVENTS_PREFETCH: '50' },
      channels: [
        { name: 'news', types: ['BROADCAST', 'PRIVATE'] },
        { name: 'private-only', types: ['PRIVATE'] },
      ],
    });
    alice = await subscriber(t, 'alice', [`${PREFIX}/news`, `${PREFIX}/news/client/alice`]);
  });

  beforeEach(() => {
    alice.received.length = 0;
  });

  afterAll(async () => {
    await alice?.end();
    // Let the broker finish its disconnect bookkeeping (a lastSeenAt store write) before the store closes.
    await sleep(200);
    await t?.stop();
    await rabbit.close();
  });

  it('declares a durable queue with its dead-letter queue, and is ready', async () => {
    const ch = await rabbit.ch();
    expect((await ch.checkQueue(queue)).consumerCount).toBe(1);
    await ch.checkQueue(dlq);
    // Same arguments as the service's declaration: a mismatch would close the channel (PRECONDITION_FAILED).
    await rabbit.declare(queue);
    const ready = await request(t.url).get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.info.events).toEqual({ status: 'up' });
  });

  it('relays 500 mixed broadcast and direct events to a real subscriber, each exactly once', async () => {
    const events = Array.from({ length: 500 }, (_, i) =>
      i % 2 === 0
        ? { pattern: broadcast, data: { id: `mix-${i}`, channel: 'news', message: `broadcast ${i}` } }
        : { pattern: direct, data: { id: `mix-${i}`, channel: 'news', clientId: 'alice', message: `direct ${i}` } },
    );
    await rabbit.emitMany(queue, events);
    const received = await alice.waitFor(500, 20_000);
    const counts = idCounts(alice);
    expect(counts.size).toBe(500);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const byId = new Map(received.map((m) => [m.payload.Id, m]));
    expect(byId.get('mix-0')).toEqual({
      topic: `${PREFIX}/news`,
      payload: { Channel: 'news', Message: 'broadcast 0', Id: 'mix-0', Time: expect.any(String) },
    });
    expect(byId.get('mix-1')).toEqual({
      topic: `${PREFIX}/news/client/alice`,
      payload: { Channel: 'news', Message: 'direct 1', Id: 'mix-1', Time: expect.any(String) },
    });
    await eventually(async () => (await rabbit.messageCount(queue)) === 0, 30_000, 'an empty queue');
  });

  it('relays events a Nest service emits with ClientProxy (the documented client setup)', async () => {
    const client = new ClientRMQ({ urls: [RABBITMQ_URL], queue, persistent: true, queueOptions: eventsQueueOptions(queue) });
    try {
      await lastValueFrom(client.emit(broadcast, { id: 'nest-1', channel: 'news', message: 'from a ClientProxy' }));
      await lastValueFrom(client.emit(direct, { id: 'nest-2', channel: 'news', clientId: 'alice', message: 'just for alice' }));
    } finally {
      await client.close();
    }
    const received = await alice.waitFor(2);
    expect(received.map((m) => [m.topic, m.payload.Id, m.payload.Message]).sort()).toEqual([
      [`${PREFIX}/news`, 'nest-1', 'from a ClientProxy'],
      [`${PREFIX}/news/client/alice`, 'nest-2', 'just for alice'],
    ]);
  });

  it('publishes an id only once, however often it arrives (concurrently or later)', async () => {
    const before = await eventCounts(t);
    const copies = Array.from({ length: 5 }, () => ({ pattern: broadcast, data: { id: 'dup-1', channel: 'news', message: 'once' } }));
    await rabbit.emitMany(queue, [...copies, { pattern: broadcast, data: { id: 'dup-marker', channel: 'news', message: 'marker' } }]);
    await rabbit.emit(queue, broadcast, { id: 'dup-1', channel: 'news', message: 'once again' });
    await rabbit.emit(queue, broadcast, { id: 'dup-end', channel: 'news', message: 'end' });
    await alice.waitFor(3);
    await eventually(async () => (await eventCounts(t)).duplicate - (before.duplicate ?? 0) === 5, 30_000, '5 duplicates');
    expect(alice.received.map((m) => m.payload.Id).sort()).toEqual(['dup-1', 'dup-end', 'dup-marker']);
    expect(alice.received.find((m) => m.payload.Id === 'dup-1')?.payload.Message).toBe('once');
  });

  it('dead-letters each kind of invalid event with its reason, and keeps consuming', async () => {
    const invalid: Array<{ reason: string; detail: RegExp; body: string; pattern?: string }> = [
      { reason: 'MALFORMED_JSON', detail: /not a JSON object/, body: '{"pattern": "webcommunicator.broadcast", "data": ' },
      {
        reason: 'UNKNOWN_PATTERN',
        detail: /webcommunicator\.shout/,
        pattern: 'webcommunicator.shout',
        body: JSON.stringify({ pattern: 'webcommunicator.shout', data: { channel: 'news', message: 'x' } }),
      },
      {
        reason: 'VALIDATION_FAILED',
        detail: /\/message is required/,
        pattern: broadcast,
        body: JSON.stringify({ pattern: broadcast, data: { channel: 'news' } }),
      },
      {
        reason: 'VALIDATION_FAILED',
        detail: /\/priority is not allowed/,
        pattern: broadcast,
        body: JSON.stringify({ pattern: broadcast, data: { channel: 'news', message: 'x', priority: 1 } }),
      },
      {
        reason: 'VALIDATION_FAILED',
        detail: /\/id must match/,
        pattern: broadcast,
        body: JSON.stringify({ pattern: broadcast, data: { id: 'has spaces', channel: 'news', message: 'x' } }),
      },
      {
        reason: 'VALIDATION_FAILED',
        detail: /emit\(\) the event/,
        pattern: broadcast,
        body: JSON.stringify({ pattern: broadcast, data: { channel: 'news', message: 'x' }, id: 'req-1' }),
      },
      {
        reason: 'CHANNEL_NOT_FOUND',
        detail: /nope/,
        pattern: broadcast,
        body: JSON.stringify({ pattern: broadcast, data: { channel: 'nope', message: 'x' } }),
      },
      {
        reason: 'USER_NOT_FOUND',
        detail: /ghost/,
        pattern: direct,
        body: JSON.stringify({ pattern: direct, data: { channel: 'news', clientId: 'ghost', message: 'x' } }),
      },
      {
        reason: 'CHANNEL_NOT_BROADCAST',
        detail: /private-only/,
        pattern: broadcast,
        body: JSON.stringify({ pattern: broadcast, data: { channel: 'private-only', message: 'x' } }),
      },
    ];
    const before = await eventCounts(t);
    for (const [i, event] of invalid.entries()) {
      await rabbit.publishRaw(queue, event.body, { messageId: `bad-${i}`, headers: { 'x-origin': 'test' } });
      await rabbit.emit(queue, broadcast, { id: `good-${i}`, channel: 'news', message: `still going ${i}` });
    }
    // The consumer kept going: every valid event after an invalid one was delivered.
    await alice.waitFor(invalid.length);
    expect(alice.received.map((m) => m.payload.Id).sort()).toEqual(invalid.map((_, i) => `good-${i}`).sort());

    const dead = await rabbit.take(dlq, invalid.length);
    const byId = new Map(dead.map((m) => [m.properties.messageId as string, m]));
    for (const [i, event] of invalid.entries()) {
      const message = byId.get(`bad-${i}`)!;
      expect({ i, reason: message.properties.headers?.[DEAD_LETTER_HEADERS.reason] }).toEqual({ i, reason: event.reason });
      expect(String(message.properties.headers?.[DEAD_LETTER_HEADERS.detail])).toMatch(event.detail);
      expect(message.properties.headers?.[DEAD_LETTER_HEADERS.queue]).toBe(queue);
      expect(message.properties.headers?.[DEAD_LETTER_HEADERS.pattern]).toBe(event.pattern);
      expect(message.properties.headers?.['x-origin']).toBe('test');
      expect(message.properties.deliveryMode).toBe(2);
      // The original bytes, untouched, so the event can be fixed and replayed.
      expect(message.content.toString('utf8')).toBe(event.body);
    }
    const after = await eventCounts(t);
    expect(after.dead_lettered - (before.dead_lettered ?? 0)).toBe(invalid.length);
    expect(await rabbit.messageCount(dlq)).toBe(0);
    await eventually(async () => (await rabbit.messageCount(queue)) === 0, 30_000, 'an empty queue');
  });

  it('retries while the broker is unavailable, then relays once; the envelope Id is the event id', async () => {
    const broker = t.app.get(Broker);
    const spy = jest
      .spyOn(broker, 'publish')
      .mockRejectedValueOnce(new BrokerUnavailableError('injected'))
      .mockRejectedValueOnce(new BrokerUnavailableError('injected'))
      .mockRejectedValueOnce(new BrokerUnavailableError('injected'));
    try {
      const before = await eventCounts(t);
      await rabbit.emit(queue, broadcast, { id: 'after-outage', channel: 'news', message: 'patience' });
      const [message] = await alice.waitFor(1, 10_000);
      expect(message.payload).toEqual(expect.objectContaining({ Id: 'after-outage', Message: 'patience' }));
      const after = await eventCounts(t);
      expect(after.retried - (before.retried ?? 0)).toBe(3);
      expect(after.dead_lettered).toBe(before.dead_lettered);
    } finally {
      spy.mockRestore();
    }
  });

  it('counts consumed, relayed, dead-lettered and duplicate events in /metrics', async () => {
    const metrics = (await request(t.url).get('/metrics')).text;
    for (const outcome of ['consumed', 'relayed', 'dead_lettered', 'duplicate', 'retried']) {
      expect(metrics).toMatch(new RegExp(`webcommunicator_events_total\\{outcome="${outcome}"\\} [1-9]`));
    }
    expect(metrics).toMatch(/webcommunicator_messages_published_total\{channel="news",source="event"\} [1-9]/);
  });
});
