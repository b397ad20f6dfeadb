import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { BrokerModule } from './broker/broker.module';
import { ChannelCatalogModule } from './channels/catalog/channel-catalog.module';
import { ChannelsModule } from './channels/channels.module';
import { AuthModule } from './common/auth/auth.module';
import { HttpDrain } from './common/http-drain';
import { ProblemFilter } from './common/problem/problem.filter';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { EventsModule } from './events/events.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { PortalModule } from './portal/portal.module';
import { PublishingModule } from './publishing/publishing.module';
import { RegistrationModule } from './registration/registration.module';
import { StatusModule } from './status/status.module';
import { StoreModule } from './store/store.module';
import { UsersModule } from './users/users.module';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            // Tokens never reach the logs; message bodies are never logged at all.
            redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["sec-websocket-protocol"]'], censor: '[redacted]' },
            genReqId: (req: IncomingMessage) => {
              const given = req.headers['x-request-id'];
              return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
            },
            autoLogging: { ignore: (req: IncomingMessage) => req.url === '/health/live' || req.url === '/metrics' },
          },
        }),
        MetricsModule,
        StoreModule,
        ChannelCatalogModule,
        BrokerModule,
        AuthModule,
        HealthModule,
        StatusModule,
        ChannelsModule,
        UsersModule,
        RegistrationModule,
        PublishingModule,
        EventsModule,
        PortalModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }, HttpDrain],
    };
  }
}
