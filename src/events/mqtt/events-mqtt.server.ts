import { Logger } from '@nestjs/common';
import { type MqttOptions, ServerMqtt } from '@nestjs/microservices';
import type { IPublishPacket, MqttClient, PacketCallback } from 'mqtt';
import { InFlight, withTimeout } from '../in-flight';

export type MqttServerOptions = NonNullable<MqttOptions['options']>;

const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Nest's MQTT server, with two changes:
 *
 * - every handler pattern is rooted under `topicRoot` (the embedded broker's
 *   internal namespace, or EVENTS_MQTT_TOPIC_ROOT on an external broker), so
 *   the controller names only the relative filter (`events/+`);
 * - mqtt.js takes the next packet, and sends the PUBACK of a QoS 1 one, only
 *   once the previous event was relayed (its `handleMessage` hook): events are
 *   relayed one at a time and in order, and a burst waits in the socket
 *   instead of piling up in memory.
 *
 * stopConsuming() (the first step of a graceful shutdown) unsubscribes, so a
 * stopping service takes no new event while HTTP drains.
 */
export class EventsMqttServer extends ServerMqtt {
  private readonly log = new Logger('EventsMqttServer');
  /** Settles when the handling of a packet is done; keyed by the packet mqtt.js hands to both the event and the hook. */
  private readonly handling = new Map<IPublishPacket, Promise<unknown>>();
  private readonly inFlight = new InFlight();
  private stopping?: Promise<void>;
  private closing?: Promise<void>;

  constructor(
    options: MqttServerOptions,
    readonly topicRoot: string,
  ) {
    super(options);
  }

  get connected(): boolean {
    return this.client()?.connected === true;
  }

  /** ServerMqtt types its client `any`. */
  private client(): MqttClient | undefined {
    return this.mqttClient as MqttClient | undefined;
  }

  override addHandler(
    pattern: unknown,
    callback: Parameters<ServerMqtt['addHandler']>[1],
    isEventHandler?: boolean,
    extras?: Record<string, unknown>,
  ): void {
    super.addHandler(typeof pattern === 'string' ? `${this.topicRoot}/${pattern}` : pattern, callback, isEventHandler, extras);
  }

  override createMqttClient(): MqttClient {
    const client = super.createMqttClient() as MqttClient;
    client.handleMessage = (packet: IPublishPacket, callback: PacketCallback): void => {
      const handling = this.handling.get(packet);
      this.handling.delete(packet);
      if (handling === undefined) {
        callback();
        return;
      }
      const next = (): void => {
        callback();
      };
      handling.then(next, next);
    };
    client.on('connect', () => this.log.log(`consuming events from ${this.topicRoot}/events/+`));
    return client;
  }

  // mqtt.js emits 'message' (which lands here) and then calls handleMessage synchronously, so the entry is always there in time.
  override handleMessage(channel: string, buffer: Buffer, pub: MqttClient, originalPacket?: Record<string, unknown>): Promise<unknown> {
    const handling = super.handleMessage(channel, buffer, pub, originalPacket);
    if (originalPacket !== undefined) {
      this.handling.set(originalPacket as unknown as IPublishPacket, handling);
    }
    return this.inFlight.track(handling);
  }

  /**
   * Lets the event being relayed finish, then disconnects cleanly and waits for
   * it: ServerMqtt's close() doesn't wait, so the embedded broker, stopping
   * right after, would reset the connection under it (an error in the logs).
   */
  // ServerMqtt declares close(): void, but NestMicroservice awaits whatever close() returns.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Unsubscribes from the events topics (mqtt.js then won't resubscribe on a reconnect); events being relayed go on. */
  stopConsuming(): Promise<void> {
    this.stopping ??= this.unsubscribe();
    return this.stopping;
  }

  private async unsubscribe(): Promise<void> {
    const client = this.client();
    const topics = [...this.messageHandlers.keys()];
    if (client === undefined || topics.length === 0) {
      return;
    }
    await withTimeout(
      client.unsubscribeAsync(topics).catch(() => undefined),
      CLOSE_TIMEOUT_MS,
    );
  }

  private async shutdown(): Promise<void> {
    await this.stopConsuming();
    this.pendingEventListeners = [];
    await this.inFlight.drain(CLOSE_TIMEOUT_MS);
    const client = this.client();
    if (client !== undefined) {
      await withTimeout(
        client.endAsync().catch(() => undefined),
        CLOSE_TIMEOUT_MS,
      );
      if (!client.disconnected) {
        client.end(true);
      }
    }
  }

  /** Publishes a dead-lettered event's report (QoS 0: an observability feed, not a store). */
  publishDeadLetter(payload: Record<string, unknown>): void {
    const client = this.client();
    if (client?.connected === true) {
      client.publish(`${this.topicRoot}/dead-letters/events`, JSON.stringify(payload), { qos: 0 });
    }
  }
}
