import { randomUUID } from 'node:crypto';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Broker } from '../../broker/broker';
import { AppConfig } from '../../config/app-config';
import { errorMessage } from '../../domain/errors';
import { MetricsService } from '../../metrics/metrics.service';
import { ExternalMqttOutboundSink, EmbeddedMqttOutboundSink } from './mqtt-outbound.sink';
import { OUTBOUND_TOPIC_LEVEL, type OutboundEventFields, type OutboundEventType } from './outbound-event';
import { OutboundQueue, type OutboundSink } from './outbound-queue';
import { RmqOutboundSink } from './rmq-outbound.sink';

/** Sends in flight at once: enough to keep a confirm round trip from limiting the rate. */
const WINDOW = 512;
const RETRY_MS = 1_000;

type ClosableSink = OutboundSink & {
  /** How long a stopping service waits for the buffer to go out through this sink. */
  readonly drainMs: number;
  close(): Promise<void>;
};

/**
 * Emits the outbound events of API.md section 7 on EVENTS_TRANSPORT (RabbitMQ exchange
 * EVENTS_EXCHANGE, or the MQTT internal namespace). `emit` never blocks and never throws: the
 * event joins a bounded in-order buffer (EVENTS_OUT_BUFFER) that goes out as the transport
 * confirms. With EVENTS_TRANSPORT=none it does nothing.
 */
@Injectable()
export class OutboundEvents implements OnApplicationShutdown {
  private readonly logger = new Logger(OutboundEvents.name);
  private readonly queue?: OutboundQueue;
  private readonly sink?: ClosableSink;

  constructor(config: AppConfig, broker: Broker, metrics: MetricsService) {
    const { transport, url, exchange, outBuffer, mqttTopicRoot } = config.events;
    const wake = (): void => this.queue?.wake();
    switch (transport) {
      case 'none':
        return;
      case 'rmq':
        this.sink = new RmqOutboundSink({ url: url!, exchange, heartbeatSeconds: 10, reconnectSeconds: 2 }, wake);
        break;
      case 'mqtt': {
        const internal = url === undefined ? broker.internalTopicRoot() : undefined;
        this.sink =
          internal !== undefined
            ? new EmbeddedMqttOutboundSink(broker, `${internal}/${OUTBOUND_TOPIC_LEVEL}`)
            : new ExternalMqttOutboundSink(url!, `${mqttTopicRoot}/${OUTBOUND_TOPIC_LEVEL}`, wake);
        break;
      }
    }
    const sent = metrics.outboundEvents.labels({ outcome: 'sent' });
    const dropped = metrics.outboundEvents.labels({ outcome: 'dropped' });
    this.queue = new OutboundQueue(this.sink, {
      capacity: outBuffer,
      window: WINDOW,
      retryMs: RETRY_MS,
      onSent: (count) => sent.inc(count),
      onDropped: () => dropped.inc(),
      onSize: (size) => metrics.outboundEventsBuffered.set(size),
    });
  }

  /** Whether events go anywhere (EVENTS_TRANSPORT is not `none`). */
  get enabled(): boolean {
    return this.queue !== undefined;
  }

  /** Events waiting for the transport. */
  get buffered(): number {
    return this.queue?.size ?? 0;
  }

  /**
   * Queues `{id, type, time, clientId, ...fields}`; returns at once, whatever the transport's state.
   * `id` is a new UUID unless the caller has a stable one for this occurrence (see ClientLifecycleEvent).
   */
  emit<T extends OutboundEventType>(type: T, clientId: string, fields: OutboundEventFields[T], id: string = randomUUID()): void {
    const queue = this.queue;
    if (queue === undefined) {
      return;
    }
    let body: Buffer;
    try {
      body = Buffer.from(JSON.stringify({ id, type, time: new Date().toISOString(), clientId, ...fields }), 'utf8');
    } catch (error) {
      this.logger.error(`outbound event ${type} of ${clientId} could not be serialized: ${errorMessage(error)}`);
      return;
    }
    queue.push({ id, type, body });
  }

  async onApplicationShutdown(): Promise<void> {
    const queue = this.queue;
    if (queue === undefined) {
      return;
    }
    const left = await queue.drain(this.sink!.drainMs);
    queue.stop();
    if (left > 0) {
      this.logger.warn(`stopping with ${left} outbound event(s) not confirmed by the transport: they are lost`);
    }
    await this.sink?.close();
  }
}
