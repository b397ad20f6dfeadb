/**
 * Event throughput: RabbitMQ → service (manual ack, validation, dedupe, publishing
 * pipeline, embedded broker) → one real MQTT subscriber, next to a raw amqplib
 * consume-and-ack loop on the same RabbitMQ with the same prefetch, in one run.
 *
 * Every event has an `id`, so each relay also claims and records it in the store (the store-backed
 * dedupe of API.md section 5: SQLite, the embedded default).
 *
 * Both queues are filled first and then drained, so the numbers are consumer
 * throughput, not publisher throughput.
 *
 *   npm run bench:events   (ts-node; RabbitMQ on TEST_RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672)
 *   BENCH_EVENTS=20000 EVENTS_PREFETCH=50 npm run bench:events
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import jwt from 'jsonwebtoken';
import mqtt from 'mqtt';
import { createApp } from '../src/app.factory';
import { resolveJwtSecret } from '../src/common/auth/auth-keys';
import { loadConfig } from '../src/config/app-config';
import { startEvents } from '../src/events/start-events';
import { MetricsService } from '../src/metrics/metrics.service';
import { loopbackEnv } from '../test/support/loopback-env';

const RABBITMQ_URL = process.env.TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const PREFETCH = Number(process.env.EVENTS_PREFETCH ?? 50);

function queueOptions(queue: string): amqp.Options.AssertQueue {
  return { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${queue}.dlq` } };
}

async function fill(channel: amqp.ConfirmChannel, queue: string, run: string): Promise<void> {
  for (let i = 0; i < EVENTS; i += 1) {
    const data = { id: `${run}-${i}`, channel: 'news', message: JSON.stringify({ n: i, text: 'bench event payload' }) };
    if (!channel.sendToQueue(queue, Buffer.from(JSON.stringify({ pattern: 'webcommunicator.broadcast', data })), { persistent: true })) {
      await new Promise((resolve) => channel.once('drain', resolve));
    }
  }
  await channel.waitForConfirms();
}

/** The floor: consume, parse, ack, nothing else. */
async function rawConsume(connection: amqp.ChannelModel, queue: string): Promise<number> {
  const channel = await connection.createChannel();
  await channel.prefetch(PREFETCH);
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    let seen = 0;
    void channel.consume(queue, (message) => {
      if (message === null) {
        return;
      }
      JSON.parse(message.content.toString('utf8'));
      channel.ack(message);
      seen += 1;
      if (seen === EVENTS) {
        resolve();
      }
    });
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await channel.close();
  return EVENTS / seconds;
}

async function serviceConsume(queue: string): Promise<{ rate: number; delivered: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wc-bench-'));
  const config = loadConfig({
    ...loopbackEnv(dataDir, [{ name: 'news', types: ['BROADCAST', 'PRIVATE'] }]),
    LOG_LEVEL: 'error',
    EVENTS_TRANSPORT: 'rmq',
    EVENTS_URL: RABBITMQ_URL,
    EVENTS_QUEUE: queue,
    EVENTS_PREFETCH: String(PREFETCH),
  });
  const app = await createApp(config);
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = await app.getUrl();
    const token = jwt.sign({ sub: 'bench-subscriber' }, resolveJwtSecret(config)!, { algorithm: 'HS256', expiresIn: 600 });
    const registration = (await (
      await fetch(`${base}/v1/registrations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ connectionType: 'WEBSOCKET' }),
      })
    ).json()) as { url: string; connectionToken: string };
    const subscriber = await mqtt.connectAsync(registration.url, {
      clientId: 'bench-subscriber',
      username: 'bench-subscriber',
      password: registration.connectionToken,
      reconnectPeriod: 0,
    });
    await subscriber.subscribeAsync(`${config.broker.topicPrefix}/news`, { qos: 0 });
    let delivered = 0;
    const all = new Promise<void>((resolve) => {
      subscriber.on('message', () => {
        delivered += 1;
        if (delivered === EVENTS) {
          resolve();
        }
      });
    });
    const started = process.hrtime.bigint();
    await startEvents(app);
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 120_000))]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const relayed = (await app.get(MetricsService).events.get()).values.find((v) => v.labels.outcome === 'relayed')?.value ?? 0;
    await subscriber.endAsync();
    return { rate: relayed / seconds, delivered };
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const run = randomUUID().slice(0, 8);
  const rawQueue = `wc-bench-raw-${run}`;
  const serviceQueue = `wc-bench-service-${run}`;
  const connection = await amqp.connect(RABBITMQ_URL);
  const channel = await connection.createConfirmChannel();
  try {
    for (const queue of [rawQueue, serviceQueue]) {
      await channel.assertQueue(`${queue}.dlq`, { durable: true });
      await channel.assertQueue(queue, queueOptions(queue));
    }
    console.log(`filling 2 queues with ${EVENTS} persistent events each (prefetch ${PREFETCH})…`);
    await fill(channel, rawQueue, 'raw');
    await fill(channel, serviceQueue, 'svc');

    const raw = await rawConsume(connection, rawQueue);
    const service = await serviceConsume(serviceQueue);
    console.log(`raw amqplib consume+ack:               ${raw.toFixed(0)} events/s`);
    console.log(
      `service (validate, dedupe, publish, ack): ${service.rate.toFixed(0)} events/s (${service.delivered}/${EVENTS} delivered to the MQTT subscriber)`,
    );
    console.log(`ratio service/raw:                     ${(service.rate / raw).toFixed(2)}`);
  } finally {
    for (const queue of [rawQueue, serviceQueue]) {
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.deleteQueue(`${queue}.dlq`).catch(() => undefined);
    }
    await connection.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
