import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ChannelCatalog } from '../../store/channel-catalog';
import { AppConfig, loadConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { ClientRepository } from '../../store/client.repository';
import { Broker } from '../broker';
import { EmbeddedBroker } from './embedded-broker';
import { InMemoryChannelRepository, InMemoryClientRepository } from '../../../test/support/fakes';
import { collect, MqttClients, PREFIX, suback, TEST_CHANNELS, waitForCount } from '../../../test/support/broker/harness';


/** The driver as Nest builds it (a factory provider, as in BrokerModule), on the real Fastify adapter. */
describe('EmbeddedBroker in a Nest Fastify application', () => {
  const mqtt = new MqttClients();
  let dataDir: string;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'wc-broker-nest-'));
  });

  afterEach(async () => {
    await mqtt.endAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function createApp(clients: InMemoryClientRepository): Promise<NestFastifyApplication> {
    const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', MQTT_TLS_PORT: '0', MQTT_TLS_HOST: '127.0.0.1', TOPIC_PREFIX: PREFIX });
    const catalog = new ChannelCatalog(new InMemoryChannelRepository(TEST_CHANNELS));
    await catalog.refresh();

    @Module({
      providers: [
        { provide: AppConfig, useValue: config },
        { provide: ClientRepository, useValue: clients },
        { provide: ChannelCatalog, useValue: catalog },
        MetricsService,
        {
          provide: Broker,
          inject: [AppConfig, ClientRepository, ChannelCatalog, MetricsService, HttpAdapterHost],
          useFactory: (c: AppConfig, r: ClientRepository, k: ChannelCatalog, m: MetricsService, http: HttpAdapterHost) =>
            new EmbeddedBroker(c, r, k, m, http),
        },
      ],
    })
    class TestModule {}

    const app = await NestFactory.create<NestFastifyApplication>(TestModule, new FastifyAdapter(), { logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return app;
  }

  it('starts with the application, serves MQTT over WebSocket on its port, and closes with it', async () => {
    const clients = new InMemoryClientRepository();
    const app = await createApp(clients);
    const broker = app.get(Broker);
    const port = (app.getHttpServer().address() as { port: number }).port;

    const endpoint = await broker.endpoint('WEBSOCKET');
    expect(endpoint.port).toBe(port);
    const { connectionToken } = await broker.issueCredentials(clients.seed('alice'), 'WEBSOCKET');
    const alice = await mqtt.url(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'alice', username: 'alice', password: connectionToken });
    await expect(suback(alice, `${PREFIX}/news`)).resolves.toEqual([0]);
    const seen = collect(alice);
    await broker.publish(`${PREFIX}/news`, Buffer.from('hello'));
    await waitForCount(seen, 1);
    const aliceClosed = new Promise<void>((resolve) => alice.once('close', () => resolve()));

    // An open WebSocket session must not keep the HTTP server's close() waiting.
    await app.close();

    await aliceClosed;
    await expect(broker.checkHealth()).rejects.toThrow();
  });
});
