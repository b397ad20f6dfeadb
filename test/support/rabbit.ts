import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage, type Options } from 'amqplib';

/** The RabbitMQ the service tests use (scripts/ensure-test-services.sh starts one on 127.0.0.1:5672). */
export const RABBITMQ_URL = process.env.TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A queue name no other run uses. */
export function uniqueQueue(label: string): string {
  return `wc-test-${label}-${randomUUID().slice(0, 8)}`;
}

/** The service's declaration of its queue; a publisher declaring it too must use the same arguments. */
export function eventsQueueOptions(queue: string): Options.AssertQueue {
  return { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${queue}.dlq` } };
}

/**
 * A test's own RabbitMQ connection (publisher, DLQ reader, cleanup). It
 * reconnects lazily, so it survives `rabbitmqctl close_all_connections`.
 */
export class Rabbit {
  private connection?: ChannelModel;
  private channel?: ConfirmChannel;
  private readonly queues = new Set<string>();

  async ch(): Promise<ConfirmChannel> {
    if (this.channel === undefined) {
      const connection = await amqp.connect(RABBITMQ_URL);
      // A forced close emits 'error' first; unhandled, it would fail the test run.
      connection.on('error', () => undefined);
      connection.on('close', () => {
        this.connection = undefined;
        this.channel = undefined;
      });
      const channel = await connection.createConfirmChannel();
      channel.on('error', () => undefined);
      channel.on('close', () => {
        if (this.channel === channel) {
          this.channel = undefined;
        }
      });
      this.connection = connection;
      this.channel = channel;
    }
    return this.channel;
  }

  /** Declares the events queue (and its DLQ) the way the service does; both are deleted by close(). */
  async declare(queue: string): Promise<void> {
    const ch = await this.ch();
    await ch.assertQueue(`${queue}.dlq`, { durable: true });
    await ch.assertQueue(queue, eventsQueueOptions(queue));
    this.track(queue);
  }

  /** Deletes the queue and its DLQ when the test ends. */
  track(queue: string): void {
    this.queues.add(queue);
    this.queues.add(`${queue}.dlq`);
  }

  /** Publishes raw bytes, persistent, and waits for RabbitMQ's confirm. */
  async publishRaw(queue: string, content: Buffer | string, options: Options.Publish = {}): Promise<void> {
    const ch = await this.ch();
    await new Promise<void>((resolve, reject) => {
      ch.sendToQueue(
        queue,
        Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8'),
        { persistent: true, contentType: 'application/json', ...options },
        (error: unknown) => (error ? reject(error instanceof Error ? error : new Error('publish not confirmed')) : resolve()),
      );
    });
  }

  /** Publishes in Nest's RMQ wire format, as `ClientProxy.emit(pattern, data)` does. */
  async emit(queue: string, pattern: string, data: unknown): Promise<void> {
    await this.publishRaw(queue, JSON.stringify({ pattern, data }));
  }

  /** Many events, confirms awaited once at the end (fast). */
  async emitMany(queue: string, events: Array<{ pattern: string; data: unknown }>): Promise<void> {
    const ch = await this.ch();
    for (const event of events) {
      ch.sendToQueue(queue, Buffer.from(JSON.stringify(event), 'utf8'), { persistent: true, contentType: 'application/json' });
    }
    await ch.waitForConfirms();
  }

  /** Takes (and acks) up to `count` messages from a queue, waiting up to timeoutMs for them. */
  async take(queue: string, count: number, timeoutMs = 10_000): Promise<GetMessage[]> {
    const taken: GetMessage[] = [];
    const deadline = Date.now() + timeoutMs;
    while (taken.length < count) {
      const ch = await this.ch();
      const message = await ch.get(queue, { noAck: true });
      if (message === false) {
        if (Date.now() > deadline) {
          throw new Error(`expected ${count} messages in ${queue}, got ${taken.length}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      taken.push(message);
    }
    return taken;
  }

  async messageCount(queue: string): Promise<number> {
    const ch = await this.ch();
    return (await ch.checkQueue(queue)).messageCount;
  }

  async close(): Promise<void> {
    try {
      const ch = await this.ch();
      for (const queue of this.queues) {
        await ch.deleteQueue(queue);
      }
    } finally {
      await this.connection?.close().catch(() => undefined);
    }
  }
}

/** `rabbitmqctl close_all_connections`: drops every client connection, ours included. */
export function closeAllRabbitConnections(reason = 'test'): void {
  const result = spawnSync('rabbitmqctl', ['close_all_connections', reason], { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) {
    throw new Error(`rabbitmqctl close_all_connections failed: ${result.stderr || result.stdout}`);
  }
}
