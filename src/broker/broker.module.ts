import { Module } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ClusterModule } from '../cluster/cluster.module';
import { RedisLink } from '../cluster/redis-link';
import { AppConfig } from '../config/app-config';
import { Topics } from '../domain/topics';
import { MetricsService } from '../metrics/metrics.service';
import { ChannelCatalog } from '../store/channel-catalog';
import { ClientRepository } from '../store/client.repository';
import { StoreModule } from '../store/store.module';
import { AwsIotBroker } from './aws-iot/aws-iot-broker';
import { Broker } from './broker';
import { EmbeddedBroker } from './embedded/embedded-broker';

/**
 * The broker port (the driver is chosen once here from the validated config) and
 * the topic scheme. Not global: a module that publishes or grants rights imports this one.
 */
@Module({
  imports: [StoreModule, ClusterModule],
  providers: [
    {
      provide: Broker,
      inject: [AppConfig, ClientRepository, ChannelCatalog, MetricsService, HttpAdapterHost, RedisLink],
      useFactory: (config: AppConfig, clients: ClientRepository, catalog: ChannelCatalog, metrics: MetricsService, http: HttpAdapterHost, redis: RedisLink): Broker => {
        switch (config.broker.driver) {
          case 'embedded':
            return new EmbeddedBroker(config, clients, catalog, metrics, http, redis);
          case 'aws-iot':
            return new AwsIotBroker(config, clients, catalog);
        }
      },
    },
    { provide: Topics, inject: [AppConfig], useFactory: (config: AppConfig) => new Topics(config.broker.topicPrefix) },
  ],
  exports: [Broker, Topics],
})
export class BrokerModule {}
