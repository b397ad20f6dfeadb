import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger, type LogLevel } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import fastify, { type FastifyInstance } from 'fastify';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ChannelCatalog } from '../../../src/store/channel-catalog';
import { type AppConfig, loadConfig } from '../../../src/config/app-config';
import { MetricsService } from '../../../src/metrics/metrics.service';
import { EmbeddedBroker } from '../../../src/broker/embedded/embedded-broker';
import { InMemoryChannelRepository, InMemoryClientRepository } from '../fakes';
import type { ChannelDefinition } from '../../../src/domain/channel';

export const PREFIX = 'webcommunicator/test';

/**
 * news: both types; alerts: broadcast only; inbox: private only; digest rides on
 * news' topics (communicationChannel) and so has none of its own.
 */
export const TEST_CHANNELS: ChannelDefinition[] = [
  { name: 'news', types: ['BROADCAST', 'PRIVATE'], clientSend: false, maxMessageBytes: 1024 },
  { name: 'alerts', types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024 },
  { name: 'inbox', types: ['PRIVATE'], clientSend: false, maxMessageBytes: 1024 },
  { name: 'digest', types: ['BROADCAST', 'PRIVATE'], communicationChannel: 'news', clientSend: false, maxMessageBytes: 1024 },
];

export interface BrokerHarness {
  broker: EmbeddedBroker;
  config: AppConfig;
  clients: InMemoryClientRepository;
  channels: InMemoryChannelRepository;
  catalog: ChannelCatalog;
  metrics: MetricsService;
  http: FastifyInstance;
  dataDir: string;
  wsUrl: string;
  tlsPort: number;
  /** Shuts down like Nest does: hooks around the HTTP server's close. Removes a temp dataDir it created. */
  close(): Promise<void>;
}

export interface HarnessOptions {
  dataDir?: string;
  env?: Record<string, string>;
  channels?: ChannelDefinition[];
}

/** A real EmbeddedBroker on a real Fastify HTTP server, with in-memory store fakes. */
export async function startBroker(options: HarnessOptions = {}): Promise<BrokerHarness> {
  const level = process.env.TEST_LOG_LEVEL as LogLevel | undefined;
  Logger.overrideLogger(level ? [level, 'error', 'warn', 'log'] : false);
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'wc-broker-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    MQTT_TLS_PORT: '0',
    MQTT_TLS_HOST: '127.0.0.1',
    TOPIC_PREFIX: PREFIX,
    ...options.env,
  });
  const clients = new InMemoryClientRepository();
  const channels = new InMemoryChannelRepository(options.channels ?? TEST_CHANNELS);
  const catalog = new ChannelCatalog(channels);
  await catalog.refresh();
  const metrics = new MetricsService();
  const http = fastify();
  http.get('/ping', async () => 'pong');
  await http.listen({ port: 0, host: '127.0.0.1' });
  const host = { httpAdapter: { getHttpServer: () => http.server } } as unknown as HttpAdapterHost;
  const broker = new EmbeddedBroker(config, clients, catalog, metrics, host);
  try {
    await broker.onApplicationBootstrap();
  } catch (error) {
    await http.close();
    throw error;
  }
  const ws = await broker.endpoint('WEBSOCKET');
  const tls = await broker.endpoint('OPENSSL');
  return {
    broker,
    config,
    clients,
    channels,
    catalog,
    metrics,
    http,
    dataDir,
    wsUrl: ws.url.replace('localhost', '127.0.0.1'),
    tlsPort: tls.port,
    async close() {
      await broker.beforeApplicationShutdown();
      await http.close();
      await broker.onApplicationShutdown();
      if (ownsDataDir) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

const BASE: IClientOptions = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, keepalive: 30 };

/** Tracks every MQTT client a test opens, so afterEach can end them all. */
export class MqttClients {
  private readonly open = new Set<MqttClient>();

  async ws(h: BrokerHarness, clientId: string, password: string | undefined, extra: IClientOptions = {}): Promise<MqttClient> {
    return this.track(mqtt.connectAsync(h.wsUrl, { ...BASE, clientId, username: clientId, password, ...extra }, false));
  }

  async tls(
    h: BrokerHarness,
    clientId: string,
    credentials: { certificatePem?: string; privateKeyPem?: string; caCertificatePem?: string },
    extra: IClientOptions = {},
  ): Promise<MqttClient> {
    return this.track(
      mqtt.connectAsync(
        `mqtts://127.0.0.1:${h.tlsPort}`,
        {
          ...BASE,
          clientId,
          cert: credentials.certificatePem,
          key: credentials.privateKeyPem,
          ca: credentials.caCertificatePem,
          rejectUnauthorized: true,
          ...extra,
        },
        false,
      ),
    );
  }

  async url(url: string, options: IClientOptions): Promise<MqttClient> {
    return this.track(mqtt.connectAsync(url, { ...BASE, ...options }, false));
  }

  async endAll(): Promise<void> {
    const clients = [...this.open];
    this.open.clear();
    await Promise.all(clients.map((c) => c.endAsync(true)));
  }

  private async track(connecting: Promise<MqttClient>): Promise<MqttClient> {
    const client = await connecting;
    this.open.add(client);
    closes.set(client, new Promise((resolve) => client.once('close', () => resolve())));
    // A client the broker drops emits 'error' now and then; tests look at 'close'.
    client.on('error', () => undefined);
    return client;
  }
}

/** The CONNACK return code of a refused connection (fails the test if it was accepted). */
export async function refusalCode(connecting: Promise<MqttClient>): Promise<number | string> {
  try {
    const client = await connecting;
    await client.endAsync(true);
  } catch (error) {
    return (error as { code?: number | string }).code ?? (error as Error).message;
  }
  throw new Error('connection was accepted');
}

/** Subscribes and returns the SUBACK's granted codes as sent by the broker (0x80 = refused). */
export function suback(client: MqttClient, topics: string | string[], qos: 0 | 1 = 0): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no SUBACK')), 30_000);
    const onPacket = (packet: { cmd: string; granted?: unknown[] }): void => {
      if (packet.cmd === 'suback') {
        clearTimeout(timer);
        client.off('packetreceive', onPacket);
        resolve(packet.granted as number[]);
      }
    };
    client.on('packetreceive', onPacket);
    // mqtt.js reports a 0x80 as an error; the raw packet above carries every code.
    client.subscribe(topics, { qos }, () => undefined);
  });
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** Records every message a client receives. */
export function collect(client: MqttClient): Received[] {
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return received;
}

/** Waits until a collected list has `count` entries. */
export async function waitForCount(received: Received[], count: number, timeoutMs = 5_000): Promise<void> {
  await waitFor(
    () => received.length >= count,
    timeoutMs,
    () => `expected ${count} messages, got ${received.length}`,
  );
}

export async function waitFor(
  condition: () => boolean,
  timeoutMs = 5_000,
  describe: () => string = () => 'condition not met',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(describe());
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const closes = new WeakMap<MqttClient, Promise<void>>();

/** Resolves when the client's connection has closed (also if it already has); rejects after the timeout. */
export async function closed(client: MqttClient, timeoutMs = 5_000): Promise<void> {
  const close = closes.get(client);
  if (close === undefined) {
    throw new Error('not a tracked client');
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('connection stayed open')), timeoutMs);
  });
  try {
    await Promise.race([close, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Hand-made MQTT 3.1.1 packets for raw-socket tests (clients that misbehave on purpose). */
export { mqttPacket as rawMqtt } from './mqtt-packets';
