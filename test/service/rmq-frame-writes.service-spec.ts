import type { Socket } from 'node:net';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { batchFrameWrites } from '../../src/events/rmq/batched-frame-writes';
import { RABBITMQ_URL, uniqueQueue } from '../support/rabbit';

/** batchFrameWrites on a real RabbitMQ connection: the same messages, in order, in far fewer socket writes. */
describe('batched AMQP frame writes', () => {
  let connection: ChannelModel;
  let channel: ConfirmChannel;
  const queue = uniqueQueue('frames');

  beforeAll(async () => {
    connection = await amqp.connect(RABBITMQ_URL);
    channel = await connection.createConfirmChannel();
    await channel.assertQueue(queue, { durable: false });
  });

  afterAll(async () => {
    await channel.deleteQueue(queue).catch(() => undefined);
    await connection.close();
  });

  /** Publishes `count` messages in one turn; returns the socket writes (write or writev calls) they took. */
  async function publishBurst(count: number, from: number): Promise<number> {
    const socket = (channel as unknown as { connection: { stream: Socket & { _write: unknown; _writev: unknown } } }).connection.stream;
    let writes = 0;
    const write = socket._write as (...args: unknown[]) => void;
    const writev = socket._writev as (...args: unknown[]) => void;
    socket._write = function (this: Socket, ...args: unknown[]) {
      writes += 1;
      return write.apply(this, args);
    };
    socket._writev = function (this: Socket, ...args: unknown[]) {
      writes += 1;
      return writev.apply(this, args);
    };
    try {
      for (let i = from; i < from + count; i++) {
        channel.sendToQueue(queue, Buffer.from(String(i)));
      }
      await channel.waitForConfirms();
    } finally {
      socket._write = write;
      socket._writev = writev;
    }
    return writes;
  }

  it('one pass of the multiplexer goes out in one write; nothing is lost or reordered', async () => {
    const unbatched = await publishBurst(200, 0);
    expect(batchFrameWrites(channel)).toBe(true);
    expect(batchFrameWrites(channel)).toBe(true); // twice is once
    const batched = await publishBurst(200, 200);
    expect(unbatched).toBeGreaterThanOrEqual(100);
    expect(batched).toBeLessThanOrEqual(10);
    const got: string[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) {
        break;
      }
      got.push(message.content.toString());
    }
    expect(got).toEqual(Array.from({ length: 400 }, (_, i) => String(i)));
  });

  it('leaves a channel it does not recognize alone', () => {
    expect(batchFrameWrites({})).toBe(false);
    expect(batchFrameWrites({ connection: { muxer: { out: {} } } })).toBe(false);
  });
});
