import { Module, type OnModuleInit } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Broker } from '../broker/broker';
import { BrokerModule } from '../broker/broker.module';
import { ClientRepository } from '../store/client.repository';
import { StoreModule } from '../store/store.module';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';

/** Liveness and readiness; other modules add their own readiness checks through Readiness. */
@Module({
  imports: [StoreModule, BrokerModule, TerminusModule.forRoot({ errorLogStyle: 'json', logger: false })],
  controllers: [HealthController],
  providers: [Readiness],
  exports: [Readiness],
})
export class HealthModule implements OnModuleInit {
  constructor(
    private readonly readiness: Readiness,
    private readonly clients: ClientRepository,
    private readonly broker: Broker,
  ) {}

  onModuleInit(): void {
    this.readiness.register('store', () => this.clients.ping());
    this.readiness.register('broker', () => this.broker.checkHealth());
  }
}
