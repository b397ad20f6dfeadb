import { Logger } from '@nestjs/common';
import { type AmqpConnectionManager, type ChannelWrapper, connect } from 'amqp-connection-manager';
import type { ConfirmChannel } from 'amqplib';
import { errorMessage } from '../../domain/errors';
import type { OutboundSink, QueuedEvent } from './outbound-queue';

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
 */
export class RmqOutboundSink implements OutboundSink {
  readonly drainMs = 5_000;
  private readonly logger = new Logger('OutboundEvents');
  private readonly manager: AmqpConnectionManager;
  private readonly wrapper: ChannelWrapper;
  private channel?: ConfirmChannel;

  constructor(
    private readonly options: RmqOutboundOptions,
    onReady: () => void,
  ) {
    this.manager = connect([options.url], {
      heartbeatIntervalInSeconds: options.heartbeatSeconds,
      reconnectTimeInSeconds: options.reconnectSeconds,
      connectionOptions: { clientProperties: { connection_name: 'webcommunicator-events-out' } },
    });
    this.manager.on('disconnect', ({ err }: { err?: Error }) => {
      this.logger.warn(`outbound events: RabbitMQ connection lost (${err?.message ?? 'closed'}); buffering`);
    });
    this.wrapper = this.manager.createChannel({
      confirm: true,
      json: false,
      setup: async (channel: ConfirmChannel) => {
        await channel.assertExchange(options.exchange, 'topic', { durable: true });
        this.channel = channel;
        channel.once('close', () => {
          if (this.channel === channel) {
            this.channel = undefined;
          }
        });
        this.logger.log(`outbound events go to RabbitMQ exchange ${options.exchange}`);
        onReady();
      },
    });
    this.wrapper.on('error', (error: unknown) => this.logger.error(`outbound events channel setup failed: ${errorMessage(error)}`));
  }

  get ready(): boolean {
    return this.channel !== undefined;
  }

  send(event: QueuedEvent): Promise<void> {
    const channel = this.channel;
    if (channel === undefined) {
      return Promise.reject(new Error('no RabbitMQ channel'));
    }
    return new Promise<void>((resolve, reject) => {
      try {
        channel.publish(
          this.options.exchange,
          event.type,
          event.body,
          { persistent: true, contentType: 'application/json', messageId: event.id, type: event.type },
          (error: unknown) => (error === null || error === undefined ? resolve() : reject(error instanceof Error ? error : new Error('nacked by RabbitMQ'))),
        );
      } catch (error) {
        // amqplib throws when the channel closed under us.
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  async close(): Promise<void> {
    await this.wrapper.close().catch(() => undefined);
    await this.manager.close().catch(() => undefined);
  }
}
