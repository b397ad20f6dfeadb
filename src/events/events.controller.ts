import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, MqttContext, Payload, RmqContext, Transport } from '@nestjs/microservices';
import { ApiExcludeController } from '@nestjs/swagger';
import type { DecodedEvent } from './event-contract';
import { MqttEventConsumer } from './mqtt/mqtt-event.consumer';
import { RmqEventConsumer } from './rmq/rmq-event.consumer';
import { RMQ_INBOX_PATTERN } from './rmq/rmq-event.deserializer';

/** Relative to the MQTT transport's topic root (see EventsMqttServer): `<root>/events/<pattern>`. */
export const MQTT_EVENTS_FILTER = 'events/+';

/**
 * Cross-service events (`webcommunicator.broadcast`, `webcommunicator.direct`).
 * Each transport's deserializer routes every delivery to its one handler here,
 * decoded or not, so dead-lettering happens in one place per transport.
 */
@ApiExcludeController()
@Controller()
export class EventsController {
  constructor(
    private readonly rmq: RmqEventConsumer,
    private readonly mqtt: MqttEventConsumer,
  ) {}

  @EventPattern(RMQ_INBOX_PATTERN, Transport.RMQ)
  onRabbitMqDelivery(@Payload() event: DecodedEvent, @Ctx() context: RmqContext): Promise<void> {
    return this.rmq.consume(event, context);
  }

  @EventPattern(MQTT_EVENTS_FILTER, Transport.MQTT)
  onMqttDelivery(@Payload() event: DecodedEvent, @Ctx() context: MqttContext): Promise<void> {
    return this.mqtt.consume(event, context);
  }
}
