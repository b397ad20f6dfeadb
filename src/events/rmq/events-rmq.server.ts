import { Logger } from '@nestjs/common';
import { type RmqOptions, ServerRMQ } from '@nestjs/microservices';
import type { Channel, ConsumeMessage } from 'amqplib';
import { errorMessage } from '../../domain/errors';
import { watchChannel } from './channel-state';
import { deliveryReceived } from './channel-acks';
import { InFlight, withTimeout } from '../in-flight';

export type RmqServerOptions = NonNullable<RmqOptions['options']>;

/** How long close() waits for deliveries being relayed before closing the channel (their retries stop at shutdown). */
const DRAIN_TIMEOUT_MS = 5_000;
const SETUP_RETRY_MS = 5_000;
/** How long stopConsuming() waits for RabbitMQ's cancel-ok (the channel may be dead). */
const CANCEL_TIMEOUT_MS = 2_000;

/** The part of amqp-connection-manager's connection we use (ServerRMQ types it `any`). */
interface ConnectionManager {
  isConnected(): boolean;
  reconnect(): void;
}

/**
 * Nest's RabbitMQ server plus what a consumer with manual acks needs:
 *
 * - declares the dead-letter queue (durable) before the main queue on every
 *   (re)connection;
 * - knows whether it is consuming right now (readiness);
 * - recovers a channel that closed under a live connection: amqp-connection-manager
 *   only reopens channels when the connection comes back, so a channel error
 *   (a failed declaration, say) would otherwise stop consumption for good;
 * - stopConsuming() (the first step of a graceful shutdown) cancels the
 *   consumer, so a stopping service takes no new event while HTTP drains;
 *   a reconnection after it doesn't consume again;
 * - on close, also cancels the consumer and lets deliveries being relayed
 *   finish before closing the channel (unacked ones go back to the queue).
 *
 * Reconnection itself is ServerRMQ's: amqp-connection-manager reconnects, and
 * its channel wrapper runs setupChannel again, which consumes again.
 */
export class EventsRmqServer extends ServerRMQ {
  private readonly log = new Logger('EventsRmqServer');
  private readonly inFlight = new InFlight();
  private consumingOn?: Channel;
  private lastSetupError?: string;
  private stopped = false;
  private stopping?: Promise<void>;
  private closing?: Promise<void>;

  constructor(
    options: RmqServerOptions,
    private readonly deadLetterQueue: string,
  ) {
    super(options);
  }

  /** True while a channel consumes from the queue. */
  get consuming(): boolean {
    return this.consumingOn !== undefined;
  }

  /** Why it isn't consuming, for readiness. */
  get problem(): string {
    return this.lastSetupError ?? `not connected to RabbitMQ (queue ${this.queue})`;
  }

  override async setupChannel(channel: Channel, callback: () => void): Promise<void> {
    // Before consuming starts, so every delivery's channel is tracked.
    watchChannel(channel);
    if (this.stopped) {
      // Stopping: a (re)connection must not start consuming again.
      callback();
      return;
    }
    try {
      await channel.assertQueue(this.deadLetterQueue, { durable: true });
      await super.setupChannel(channel, callback);
    } catch (error) {
      // Swallowed on purpose: the channel wrapper would emit an 'error' nobody listens to.
      this.lastSetupError = `queue setup failed: ${errorMessage(error)}`;
      this.log.error(`${this.lastSetupError}; retrying in ${SETUP_RETRY_MS / 1000} s`);
      this.reconnectLater(SETUP_RETRY_MS, 'retrying the queue setup');
      return;
    }
    this.lastSetupError = undefined;
    this.consumingOn = channel;
    channel.once('close', () => {
      if (this.consumingOn === channel) {
        this.consumingOn = undefined;
      }
      // A closed connection closes its channels too; that case reconnects by itself.
      this.reconnectLater(
        500,
        'the events channel closed under a live connection',
        () => this.consumingOn === undefined && this.manager()?.isConnected() === true,
      );
    });
    this.log.log(`consuming events from queue ${this.queue} (dead letters: ${this.deadLetterQueue})`);
  }

  override handleMessage(message: Record<string, unknown>, channel: unknown): Promise<void> {
    if (message !== null && message !== undefined) {
      // As it arrives, before any handling: a coalesced ack never covers a delivery still being handled.
      deliveryReceived(channel as Channel, message as unknown as ConsumeMessage);
    }
    return this.inFlight.track(super.handleMessage(message, channel));
  }

  override close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * Takes no new delivery from now on: cancels the consumer (RabbitMQ keeps the
   * queue's messages for another instance). Deliveries already being relayed
   * go on; close() waits for them.
   */
  stopConsuming(): Promise<void> {
    this.stopping ??= this.cancelConsumer();
    return this.stopping;
  }

  private async cancelConsumer(): Promise<void> {
    this.stopped = true;
    const channel = this.consumingOn;
    const consumerTag = this.getOptionsProp<RmqServerOptions, 'consumerTag'>(this.options, 'consumerTag');
    if (channel !== undefined && consumerTag !== undefined) {
      await withTimeout(channel.cancel(consumerTag), CANCEL_TIMEOUT_MS);
    }
  }

  private async shutdown(): Promise<void> {
    await this.stopConsuming();
    await this.inFlight.drain(DRAIN_TIMEOUT_MS);
    this.consumingOn = undefined;
    await super.close();
  }

  private manager(): ConnectionManager | undefined {
    return (this.server ?? undefined) as ConnectionManager | undefined;
  }

  /** Forces a new connection (hence a new channel and setup) after `ms`, if still needed then. */
  private reconnectLater(ms: number, why: string, stillNeeded: () => boolean = () => true): void {
    setTimeout(() => {
      const manager = this.manager();
      if (this.stopped || manager === undefined || !stillNeeded()) {
        return;
      }
      this.log.warn(`${why}: reconnecting to RabbitMQ`);
      try {
        manager.reconnect();
      } catch {
        // Closed meanwhile.
      }
    }, ms).unref();
  }
}
