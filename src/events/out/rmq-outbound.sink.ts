import { type AmqpConnectionManager, type ChannelWrapper, connect } from 'amqp-connection-manager';
import type { ConfirmChannel } from 'amqplib';
import { errorMessage } from '../../domain/errors';
import { batchFrameWrites } from '../rmq/batched-frame-writes';
import type { OutboundLog, OutboundSink, QueuedEvent } from './outbound-queue';

export interface RmqOutboundOptions {
  url: string;
  exchange: string;
  heartbeatSeconds: number;
  reconnectSeconds: number;
}

/**
 * Outbound events to RabbitMQ: persistent messages with publisher confirms to a durable topic
 * exchange (declared on every connection), routing key = event type. The connection is
 * amqp-connection-manager's (reconnects by itself); the publishing is ours, straight on the
 * confirm channel, because the wrapper's own queue re-sends unconfirmed messages after newer
 * ones (out of order) and has no bound. OutboundQueue keeps order and the bound.
 *
 * It runs on the publisher thread (rmq-outbound.worker.ts), not on the service's event loop.
 */
export class RmqOutboundSink implements OutboundSink {
  private readonly manager: AmqpConnectionManager;
  private readonly wrapper: ChannelWrapper;
  private channel?: ConfirmChannel;

  constructor(
    private readonly options: RmqOutboundOptions,
    onReady: () => void,
    log: OutboundLog,
  ) {
    this.manager = connect([options.url], {
      heartbeatIntervalInSeconds: options.heartbeatSeconds,
      reconnectTimeInSeconds: options.reconnectSeconds,
      connectionOptions: { clientProperties: { connection_name: 'webcommunicator-events-out' } },
    });
    this.manager.on('disconnect', ({ err }: { err?: Error }) => {
      log('warn', `outbound events: RabbitMQ connection lost (${err?.message ?? 'closed'}); buffering`);
    });
    this.wrapper = this.manager.createChannel({
      confirm: true,
      json: false,
      setup: async (channel: ConfirmChannel) => {
        await channel.assertExchange(options.exchange, 'topic', { durable: true });
        // A pass of amqplib's frame multiplexer goes out in one socket write (see batchFrameWrites).
        batchFrameWrites(channel);
        this.channel = channel;
        channel.once('close', () => {
          if (this.channel === channel) {
            this.channel = undefined;
          }
        });
        log('log', `outbound events go to RabbitMQ exchange ${options.exchange}`);
        onReady();
      },
    });
    this.wrapper.on('error', (error: unknown) => log('error', `outbound events channel setup failed: ${errorMessage(error)}`));
  }

  get ready(): boolean {
    return this.channel !== undefined;
  }

  send(event: QueuedEvent, done: (error?: Error) => void): void {
    const channel = this.channel;
    if (channel === undefined) {
      done(new Error('no RabbitMQ channel'));
      return;
    }
    try {
      channel.publish(
        this.options.exchange,
        event.type,
        Buffer.from(event.body, 'utf8'),
        { persistent: true, contentType: 'application/json', messageId: event.id, type: event.type },
        (error: unknown) => done(error === null || error === undefined ? undefined : error instanceof Error ? error : new Error('nacked by RabbitMQ')),
      );
    } catch (error) {
      // amqplib throws when the channel closed under us.
      done(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async close(): Promise<void> {
    await this.wrapper.close().catch(() => undefined);
    await this.manager.close().catch(() => undefined);
  }
}
