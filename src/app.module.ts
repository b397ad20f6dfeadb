import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { Logger as PinoLogger } from 'pino';
import { BrokerModule } from './broker/broker.module';
import { ChannelsModule } from './channels/channels.module';
import { AuthModule } from './common/auth/auth.module';
import { HttpDrain } from './common/http-drain';
import { ProblemFilter } from './common/problem/problem.filter';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { EventsModule } from './events/events.module';
import { OutboundEventsModule } from './events/out/outbound-events.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { PortalSiteModule } from './portal-site/portal-site.module';
import { PresenceModule } from './presence/presence.module';
import { PublishingModule } from './publishing/publishing.module';
import { RegistrationModule } from './registration/registration.module';
import { StateModule } from './state/state.module';
import { StatusModule } from './status/status.module';
import { StoreModule } from './store/store.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  /**
   * `logger` is the root pino logger that Fastify also uses (see createRootLogger): Fastify
   * gives each request its child with the request id, and nestjs-pino (`useExisting`) logs
   * through it, so there is one logger and no pino-http middleware in the request path.
   */
  static forRoot(config: AppConfig, logger: PinoLogger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        // No middleware: app.factory binds each request's logger in a Fastify onRequest hook.
        LoggerModule.forRoot({ pinoHttp: { logger }, useExisting: true, forRoutes: [] }),
        MetricsModule,
        StoreModule,
        BrokerModule,
        OutboundEventsModule,
        AuthModule,
        HealthModule,
        StatusModule,
        ChannelsModule,
        UsersModule,
        RegistrationModule,
        PublishingModule,
        StateModule,
        PresenceModule,
        EventsModule,
        PortalSiteModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }, HttpDrain],
    };
  }
}
