import { randomUUID } from 'node:crypto';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Broker } from '../../broker/broker';
import { AppConfig } from '../../config/app-config';
import { errorMessage } from '../../domain/errors';
import { MetricsService } from '../../metrics/metrics.service';
import { ExternalMqttOutboundSink, EmbeddedMqttOutboundSink } from './mqtt-outbound.sink';
import { OUTBOUND_TOPIC_LEVEL, type OutboundEventFields, type OutboundEventType } from './outbound-event';
import { type OutboundBuffer, OutboundQueue, type OutboundQueueOptions } from './outbound-queue';
import { RmqOutboundThread } from './rmq-outbound.thread';

/** Sends in flight at once: enough to keep a confirm round trip from limiting the rate. */
const WINDOW = 512;
const RETRY_MS = 1_000;

interface Closable {
  /** How long a stopping service waits for the buffer to go out. */
  readonly drainMs: number;
  close(): Promise<void>;
}

/**
 * Emits the outbound events of API.md section 7 on EVENTS_TRANSPORT (RabbitMQ exchange
 * EVENTS_EXCHANGE, or the MQTT internal namespace). `emit` never blocks and never throws: the
 * event joins a bounded in-order buffer (EVENTS_OUT_BUFFER) that goes out as the transport
 * confirms. With EVENTS_TRANSPORT=none it does nothing.
 */
@Injectable()
export class OutboundEvents implements OnApplicationShutdown {
  private readonly logger = new Logger(OutboundEvents.name);
  /** In-order, bounded buffer: an OutboundQueue here (MQTT), or the RabbitMQ publisher thread's. */
  private readonly queue?: OutboundBuffer;
  private readonly transport?: Closable;

  constructor(config: AppConfig, broker: Broker, metrics: MetricsService) {
    const { transport, url, exchange, outBuffer, mqttTopicRoot } = config.events;
    if (transport === 'none') {
      return;
    }
    const sent = metrics.outboundEvents.labels({ outcome: 'sent' });
    const dropped = metrics.outboundEvents.labels({ outcome: 'dropped' });
    const counting: Pick<OutboundQueueOptions, 'onSent' | 'onDropped' | 'onSize'> = {
      onSent: (count) => sent.inc(count),
      onDropped: () => dropped.inc(),
      onSize: (size) => metrics.outboundEventsBuffered.set(size),
    };
    if (transport === 'rmq') {
      const thread = new RmqOutboundThread(
        { url: url!, exchange, heartbeatSeconds: 10, reconnectSeconds: 2, capacity: outBuffer, window: WINDOW, retryMs: RETRY_MS },
        counting,
      );
      this.queue = thread;
      this.transport = thread;
      return;
    }
    const internal = url === undefined ? broker.internalTopicRoot() : undefined;
    const wake = (): void => queue.wake();
    const sink =
      internal !== undefined
        ? new EmbeddedMqttOutboundSink(broker, `${internal}/${OUTBOUND_TOPIC_LEVEL}`)
        : new ExternalMqttOutboundSink(url!, `${mqttTopicRoot}/${OUTBOUND_TOPIC_LEVEL}`, wake);
    const queue = new OutboundQueue(sink, { capacity: outBuffer, window: WINDOW, retryMs: RETRY_MS, ...counting });
    this.queue = queue;
    this.transport = sink;
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
    let body: string;
    try {
      body = JSON.stringify({ id, type, time: new Date().toISOString(), clientId, ...fields });
    } catch (error) {
      this.logger.error(`outbound event ${type} of ${clientId} could not be serialized: ${errorMessage(error)}`);
      return;
    }
    queue.push({ id, type, body });
  }

  /**
   * `client.message` with its envelope already serialized (the very JSON the broker published): the same
   * event as `emit('client.message', clientId, {channel, message})`, spliced together instead of
   * serializing the envelope a second time on every client send.
   */
  emitClientMessage(clientId: string, channel: string, envelopeJson: string): void {
    const queue = this.queue;
    if (queue === undefined) {
      return;
    }
    const id = randomUUID();
    const type = 'client.message';
    const body = `{"id":"${id}","type":"${type}","time":"${new Date().toISOString()}","clientId":${JSON.stringify(clientId)},"channel":${JSON.stringify(channel)},"message":${envelopeJson}}`;
    queue.push({ id, type, body });
  }

  async onApplicationShutdown(): Promise<void> {
    const queue = this.queue;
    if (queue === undefined) {
      return;
    }
    const left = await queue.drain(this.transport!.drainMs);
    queue.stop();
    if (left > 0) {
      this.logger.warn(`stopping with ${left} outbound event(s) not confirmed by the transport: they are lost`);
    }
    await this.transport?.close();
  }
}
