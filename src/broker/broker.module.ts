import { Global, Module } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AppConfig } from '../config/app-config';
import { ChannelCatalog } from '../channels/catalog/channel-catalog';
import { MetricsService } from '../metrics/metrics.service';
import { ClientRepository } from '../store/client.repository';
import { AwsIotBroker } from './aws-iot/aws-iot-broker';
import { Broker } from './broker';
import { EmbeddedBroker } from './embedded/embedded-broker';

/** The broker port; the driver is chosen once here from the validated config. */
@Global()
@Module({
  providers: [
    {
      provide: Broker,
      inject: [AppConfig, ClientRepository, ChannelCatalog, MetricsService, HttpAdapterHost],
      useFactory: (config: AppConfig, clients: ClientRepository, catalog: ChannelCatalog, metrics: MetricsService, http: HttpAdapterHost): Broker => {
        switch (config.broker.driver) {
          case 'embedded':
            return new EmbeddedBroker(config, clients, catalog, metrics, http);
          case 'aws-iot':
            return new AwsIotBroker(config, clients, catalog);
        }
      },
    },
  ],
  exports: [Broker],
})
export class BrokerModule {}
