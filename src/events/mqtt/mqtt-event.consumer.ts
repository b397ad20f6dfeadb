import { Injectable, Logger } from '@nestjs/common';
import type { MqttContext } from '@nestjs/microservices';
import { MetricsService } from '../../metrics/metrics.service';
import type { DecodedEvent } from '../event-contract';
import { EventRelay } from '../event-relay.service';
import { EventsTransport } from '../events-transport';

/**
 * The MQTT half of event consumption (the embedded default). MQTT has no
 * dead-letter queue: an invalid event is logged, counted and reported on
 * `<root>/dead-letters/events` (reason and original body) for whoever
 * listens. A transient failure is
 * retried in-process until the service stops (the next events wait meanwhile,
 * see EventsMqttServer).
 */
@Injectable()
export class MqttEventConsumer {
  private readonly logger = new Logger(MqttEventConsumer.name);

  constructor(
    private readonly relay: EventRelay,
    private readonly metrics: MetricsService,
    private readonly transport: EventsTransport,
  ) {}

  async consume(event: DecodedEvent, context: MqttContext): Promise<void> {
    this.metrics.events.inc({ outcome: 'consumed' });
    if ((context.getPacket() as { dup?: boolean }).dup === true) {
      this.metrics.events.inc({ outcome: 'redelivered' });
    }
    try {
      const outcome = await this.relay.relay(event, { stillOwned: () => true });
      if (outcome.kind !== 'rejected') {
        return;
      }
      const { code, detail } = outcome.rejection;
      this.metrics.events.inc({ outcome: 'dead_lettered' });
      this.logger.warn({ reason: code, detail, pattern: event.pattern, topic: context.getTopic() }, 'event dead-lettered');
      const body = (context.getPacket() as { payload?: Buffer | string }).payload?.toString() ?? '';
      this.transport.mqttServer?.publishDeadLetter({
        reason: code,
        detail,
        pattern: event.pattern,
        topic: context.getTopic(),
        deadLetteredAt: new Date().toISOString(),
        body,
      });
    } catch (error) {
      this.logger.error({ err: error, topic: context.getTopic() }, 'event handling failed unexpectedly; event dropped');
    }
  }
}
