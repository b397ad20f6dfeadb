import { Module, type OnModuleInit } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Broker } from '../broker/broker';
import { BrokerModule } from '../broker/broker.module';
import { ClusterModule } from '../cluster/cluster.module';
import { RedisLink } from '../cluster/redis-link';
import { ClientRepository } from '../store/client.repository';
import { StoreModule } from '../store/store.module';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';

/** Liveness and readiness; other modules add their own readiness checks through Readiness. */
@Module({
  imports: [StoreModule, BrokerModule, ClusterModule, TerminusModule.forRoot({ errorLogStyle: 'json', logger: false })],
  controllers: [HealthController],
  providers: [Readiness],
  exports: [Readiness],
})
export class HealthModule implements OnModuleInit {
  constructor(
    private readonly readiness: Readiness,
    private readonly clients: ClientRepository,
    private readonly broker: Broker,
    private readonly redis: RedisLink,
  ) {}

  onModuleInit(): void {
    this.readiness.register('store', () => this.clients.ping());
    this.readiness.register('broker', () => this.broker.checkHealth());
    if (this.redis.enabled) {
      // Never fails readiness: an instance cut off from Redis still serves its own clients (API.md section 9), and
      // taking every instance out of the load balancer at once would serve nobody. It says so instead.
      this.readiness.register('redis', async () => {
        const cluster = this.broker.clusterStatus();
        return {
          redis: this.redis.up ? 'connected' : 'unreachable',
          instanceId: this.redis.instanceId,
          ...(cluster === undefined ? {} : { cluster: cluster.connected ? 'connected' : 'isolated', waitingMessages: cluster.waitingMessages }),
        };
      });
    }
  }
}
