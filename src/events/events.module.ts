import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { HealthModule } from '../health/health.module';
import { PublishingModule } from '../publishing/publishing.module';
import { EventRelay } from './event-relay.service';
import { EventsController } from './events.controller';
import { EventsTransport } from './events-transport';
import { MqttEventConsumer } from './mqtt/mqtt-event.consumer';
import { RmqEventConsumer } from './rmq/rmq-event.consumer';

/** Cross-service events through @nestjs/microservices (RabbitMQ or MQTT); started by `startEvents`. */
@Module({
  imports: [BrokerModule, HealthModule, PublishingModule],
  controllers: [EventsController],
  providers: [EventRelay, EventsTransport, RmqEventConsumer, MqttEventConsumer],
  exports: [EventsTransport],
})
export class EventsModule {}
