import { Injectable, Logger } from '@nestjs/common';
import type { RmqContext } from '@nestjs/microservices';
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { AppConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import type { DecodedEvent, EventRejection } from '../event-contract';
import { EventRelay } from '../event-relay.service';
import { isChannelOpen } from './channel-state';
import { ackDelivery, deliverySettled } from './channel-acks';

/** Headers set on a dead-lettered copy (next to the original's own headers). */
export const DEAD_LETTER_HEADERS = {
  /** Stable code: MALFORMED_JSON, UNKNOWN_PATTERN, VALIDATION_FAILED, CHANNEL_NOT_FOUND, USER_NOT_FOUND, ... */
  reason: 'x-webcommunicator-reason',
  /** Human-readable explanation. */
  detail: 'x-webcommunicator-detail',
  /** The event's pattern, when it had a string one. */
  pattern: 'x-webcommunicator-pattern',
  /** The queue it was consumed from. */
  queue: 'x-webcommunicator-queue',
  /** ISO-8601 time it was dead-lettered. */
  at: 'x-webcommunicator-dead-lettered-at',
} as const;

export function deadLetterQueueOf(queue: string): string {
  return `${queue}.dlq`;
}

const MAX_DETAIL_CHARS = 1_000;

/**
 * The RabbitMQ half of event consumption (manual acks): relay, then ack only
 * once the broker accepted the message (or the id was relayed before). An
 * invalid event is published to `<queue>.dlq` with its reason in headers, on
 * the same confirm channel, and acked once RabbitMQ confirmed the copy; a
 * delivery given up during an outage or shutdown stays unacked and is
 * redelivered. Nothing here throws: a throw would leave the delivery unacked
 * and holding a prefetch slot until the channel closes.
 */
@Injectable()
export class RmqEventConsumer {
  private readonly logger = new Logger(RmqEventConsumer.name);
  private readonly queue: string;
  private readonly deadLetterQueue: string;

  constructor(
    config: AppConfig,
    private readonly relay: EventRelay,
    private readonly metrics: MetricsService,
  ) {
    this.queue = config.events.queue;
    this.deadLetterQueue = deadLetterQueueOf(config.events.queue);
  }

  async consume(event: DecodedEvent, context: RmqContext): Promise<void> {
    const message = context.getMessage() as ConsumeMessage;
    const channel = context.getChannelRef() as ConfirmChannel;
    this.metrics.events.inc({ outcome: 'consumed' });
    if (message.fields.redelivered) {
      this.metrics.events.inc({ outcome: 'redelivered' });
    }
    try {
      const outcome = await this.relay.relay(event, { stillOwned: () => isChannelOpen(channel) });
      switch (outcome.kind) {
        case 'relayed':
        case 'duplicate':
          this.ack(channel, message);
          return;
        case 'rejected':
          await this.deadLetter(channel, message, event, outcome.rejection);
          return;
        case 'abandoned':
          return;
      }
    } catch (error) {
      // A bug, not an event problem: let RabbitMQ dead-letter it (x-death, no reason header) rather than hold it.
      this.logger.error(
        { err: error, deliveryTag: message.fields.deliveryTag },
        'event handling failed unexpectedly; rejecting it to the dead-letter queue',
      );
      try {
        deliverySettled(channel, message);
        channel.nack(message, false, false);
      } catch {
        // Channel closed: it will be redelivered.
      }
    }
  }

  private async deadLetter(
    channel: ConfirmChannel,
    message: ConsumeMessage,
    event: DecodedEvent,
    rejection: EventRejection,
  ): Promise<void> {
    const pattern = event.pattern;
    const detail = rejection.detail.length > MAX_DETAIL_CHARS ? `${rejection.detail.slice(0, MAX_DETAIL_CHARS)}…` : rejection.detail;
    const { properties } = message;
    const options: Options.Publish = {
      persistent: true,
      contentType: properties.contentType as string | undefined,
      contentEncoding: properties.contentEncoding as string | undefined,
      correlationId: properties.correlationId as string | undefined,
      messageId: properties.messageId as string | undefined,
      timestamp: properties.timestamp as number | undefined,
      type: properties.type as string | undefined,
      appId: properties.appId as string | undefined,
      headers: {
        ...(properties.headers ?? {}),
        [DEAD_LETTER_HEADERS.reason]: rejection.code,
        [DEAD_LETTER_HEADERS.detail]: detail,
        [DEAD_LETTER_HEADERS.queue]: this.queue,
        [DEAD_LETTER_HEADERS.at]: new Date().toISOString(),
        ...(pattern === undefined ? {} : { [DEAD_LETTER_HEADERS.pattern]: pattern }),
      },
    };
    try {
      await new Promise<void>((resolve, reject) => {
        channel.sendToQueue(this.deadLetterQueue, message.content, options, (error: unknown) =>
          error ? reject(toError(error)) : resolve(),
        );
      });
    } catch (error) {
      // Not acked: it comes back and is dead-lettered then.
      this.logger.warn({ reason: rejection.code, error: toError(error).message }, 'could not dead-letter an event; it stays in the queue');
      return;
    }
    this.metrics.events.inc({ outcome: 'dead_lettered' });
    this.logger.warn(
      {
        reason: rejection.code,
        detail,
        pattern,
        queue: this.deadLetterQueue,
        redelivered: message.fields.redelivered,
        bytes: message.content.length,
      },
      'event dead-lettered',
    );
    this.ack(channel, message);
  }

  /** Coalesced with the other acks of this turn of the event loop (channel-acks.ts). */
  private ack(channel: ConfirmChannel, message: ConsumeMessage): void {
    ackDelivery(channel, message);
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
