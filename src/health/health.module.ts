import { Global, Module, type OnModuleInit } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Broker } from '../broker/broker';
import { ClientRepository } from '../store/client.repository';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';

@Global()
@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json', logger: false })],
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
