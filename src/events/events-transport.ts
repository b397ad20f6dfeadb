import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { Broker } from '../broker/broker';
import { AppConfig } from '../config/app-config';
import { Readiness } from '../health/readiness';
import { EventsMqttServer } from './mqtt/events-mqtt.server';
import { MqttEventDeserializer } from './mqtt/mqtt-event.deserializer';
import { EventsRmqServer } from './rmq/events-rmq.server';
import { RmqEventDeserializer } from './rmq/rmq-event.deserializer';
import { deadLetterQueueOf } from './rmq/rmq-event.consumer';

/** Under DATA_DIR (0600): how a local service reaches the embedded broker's internal listener. Rewritten at every start. */
export const INTERNAL_MQTT_FILE = 'internal-mqtt.json';

/** What INTERNAL_MQTT_FILE holds. */
export interface InternalMqttFile {
  url: string;
  username: string;
  password: string;
  /** Publish `webcommunicator.broadcast` to `<eventsTopicPrefix>webcommunicator.broadcast`, and so on. */
  eventsTopicPrefix: string;
  deadLetterTopic: string;
}

const RECONNECT_SECONDS = 2;
const HEARTBEAT_SECONDS = 10;

/**
 * Builds the Nest transport strategy EVENTS_TRANSPORT asks for, and answers
 * readiness for it. `startEvents` connects it to the app after the HTTP server
 * (and so the embedded broker) is up.
 */
@Injectable()
export class EventsTransport implements OnApplicationShutdown {
  private readonly logger = new Logger(EventsTransport.name);
  private server?: EventsRmqServer | EventsMqttServer;
  private credentialsFile?: string;

  constructor(
    private readonly config: AppConfig,
    private readonly broker: Broker,
    private readonly readiness: Readiness,
  ) {}

  get mqttServer(): EventsMqttServer | undefined {
    return this.server instanceof EventsMqttServer ? this.server : undefined;
  }

  /** The strategy to connect, or undefined for EVENTS_TRANSPORT=none. Call once. */
  createServer(): CustomTransportStrategy | undefined {
    if (this.server !== undefined) {
      throw new Error('the events transport was already created');
    }
    switch (this.config.events.transport) {
      case 'none':
        return undefined;
      case 'rmq':
        this.server = this.createRmqServer();
        break;
      case 'mqtt':
        this.server = this.createMqttServer();
        break;
    }
    this.readiness.register('events', async () => this.checkHealth());
    return this.server;
  }

  /** First step of a graceful shutdown: take no new event (cancel the consumer / unsubscribe); events being relayed go on. */
  async stopConsuming(): Promise<void> {
    await this.server?.stopConsuming();
  }

  onApplicationShutdown(): void {
    if (this.credentialsFile !== undefined) {
      rmSync(this.credentialsFile, { force: true });
    }
  }

  private checkHealth(): void {
    const server = this.server;
    if (server instanceof EventsRmqServer && !server.consuming) {
      throw new Error(server.problem);
    }
    if (server instanceof EventsMqttServer && !server.connected) {
      throw new Error(`not connected to the MQTT events transport (${server.topicRoot})`);
    }
  }

  private createRmqServer(): EventsRmqServer {
    const { url, queue, prefetch } = this.config.events;
    const deadLetterQueue = deadLetterQueueOf(queue);
    return new EventsRmqServer(
      {
        urls: [url!],
        queue,
        noAck: false,
        prefetchCount: prefetch,
        isGlobalPrefetchCount: false,
        queueOptions: {
          durable: true,
          arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetterQueue },
        },
        // Known, so close() can cancel the consumer before draining.
        consumerTag: `webcommunicator-events-${randomUUID()}`,
        deserializer: new RmqEventDeserializer(),
        maxConnectionAttempts: -1,
        socketOptions: {
          heartbeatIntervalInSeconds: HEARTBEAT_SECONDS,
          reconnectTimeInSeconds: RECONNECT_SECONDS,
          connectionOptions: { clientProperties: { connection_name: 'webcommunicator-events' } },
        },
      },
      deadLetterQueue,
    );
  }

  private createMqttServer(): EventsMqttServer {
    const external = this.config.events.url;
    const internal = external === undefined ? this.broker.internalMqttEndpoint() : undefined;
    let connection: { url: string; username?: string; password?: string };
    let root: string;
    if (external !== undefined) {
      connection = { url: external };
      root = this.config.events.mqttTopicRoot;
    } else if (internal !== undefined) {
      const { topicRoot, ...credentials } = internal;
      connection = credentials;
      root = topicRoot;
      this.writeCredentials({ ...credentials, eventsTopicPrefix: `${root}/events/`, deadLetterTopic: `${root}/dead-letters/events` });
    } else {
      // Config validation requires EVENTS_URL here; kept as a clear failure rather than a silent default.
      throw new Error('EVENTS_TRANSPORT=mqtt needs EVENTS_URL unless BROKER=embedded');
    }
    return new EventsMqttServer(
      {
        ...connection,
        clientId: `webcommunicator-events-${randomUUID().slice(0, 8)}`,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: RECONNECT_SECONDS * 1000,
        connectTimeout: 10_000,
        subscribeOptions: { qos: 1 },
        deserializer: new MqttEventDeserializer(`${root}/events/`),
      },
      root,
    );
  }

  private writeCredentials(content: InternalMqttFile): void {
    const { dataDir } = this.config;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, INTERNAL_MQTT_FILE);
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, file);
    this.credentialsFile = file;
    this.logger.log(`internal MQTT credentials for local event publishers written to ${file}`);
  }
}
