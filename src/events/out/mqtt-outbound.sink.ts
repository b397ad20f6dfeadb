import { Logger } from '@nestjs/common';
import { connect, type MqttClient } from 'mqtt';
import type { Broker } from '../../broker/broker';
import type { OutboundSink, QueuedEvent } from './outbound-queue';

/**
 * Outbound events on the embedded broker: published in-process (QoS 1) to
 * `<internal root>/out/{type}`, which only the service's internal sessions may read.
 */
export class EmbeddedMqttOutboundSink implements OutboundSink {
  readonly ready = true;
  /** In-process: what isn't out within this is not going out (the broker is stopping). */
  readonly drainMs = 1_000;

  constructor(
    private readonly broker: Broker,
    private readonly topicRoot: string,
  ) {}

  send(event: QueuedEvent, done: (error?: Error) => void): void {
    this.broker.publish(`${this.topicRoot}/${event.type}`, Buffer.from(event.body, 'utf8'), { qos: 1 }).then(() => done(), done);
  }

  async close(): Promise<void> {}
}

/** Outbound events on an external MQTT broker (EVENTS_URL): `<EVENTS_MQTT_TOPIC_ROOT>/out/{type}`, QoS 1. */
export class ExternalMqttOutboundSink implements OutboundSink {
  readonly drainMs = 3_000;
  private readonly logger = new Logger('OutboundEvents');
  private readonly client: MqttClient;

  constructor(
    url: string,
    private readonly topicRoot: string,
    onReady: () => void,
  ) {
    this.client = connect(url, { clientId: `webcommunicator-events-out-${Math.random().toString(16).slice(2, 10)}`, reconnectPeriod: 2000, clean: true });
    this.client.on('connect', () => {
      this.logger.log(`outbound events go to ${topicRoot}/+ on the MQTT events broker`);
      onReady();
    });
    this.client.on('error', (error) => this.logger.warn(`outbound events MQTT connection: ${error.message}`));
  }

  get ready(): boolean {
    return this.client.connected;
  }

  send(event: QueuedEvent, done: (error?: Error) => void): void {
    this.client.publish(`${this.topicRoot}/${event.type}`, event.body, { qos: 1 }, (error) => done(error ?? undefined));
  }

  async close(): Promise<void> {
    await this.client.endAsync().catch(() => undefined);
  }
}
