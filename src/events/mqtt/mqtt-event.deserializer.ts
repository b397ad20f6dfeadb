import type { ConsumerDeserializer, IncomingEvent } from '@nestjs/microservices';
import { type DecodedEvent, decodeEvent, rejectInvalid, rejectMalformedJson } from '../event-contract';

/**
 * Decodes an event published on `<root>/events/<pattern>`. The body is either
 * Nest's MQTT wire format `{"pattern": "<topic>", "data": {...}}` (what
 * `ClientMqtt.emit` sends) or the event payload itself (what a plain MQTT
 * client would send): payloads have no `pattern` or `data` field, so the two
 * can't be confused. Never throws.
 */
export class MqttEventDeserializer implements ConsumerDeserializer {
  constructor(private readonly eventsTopicPrefix: string) {}

  deserialize(value: unknown, options?: Record<string, unknown>): IncomingEvent {
    const topic = typeof options?.channel === 'string' ? options.channel : '';
    // Routing is by topic on this transport (ServerMqtt looks the handler up by topic), so `pattern` is informative only.
    return { pattern: topic, data: this.decode(topic, value) };
  }

  private decode(topic: string, value: unknown): DecodedEvent {
    const pattern = topic.startsWith(this.eventsTopicPrefix) ? topic.slice(this.eventsTopicPrefix.length) : topic;
    if (typeof value === 'string') {
      return rejectMalformedJson('The message body is not a JSON object.', pattern);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return rejectInvalid('The message body must be a JSON object.', pattern);
    }
    const body = value as Record<string, unknown>;
    const nestFormat = 'pattern' in body && 'data' in body && Object.keys(body).length === 2;
    return decodeEvent(pattern, nestFormat ? body.data : body);
  }
}
