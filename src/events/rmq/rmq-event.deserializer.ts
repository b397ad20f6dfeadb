import type { ConsumerDeserializer, IncomingEvent } from '@nestjs/microservices';
import { type DecodedEvent, decodeEvent, rejectInvalid, rejectMalformedJson } from '../event-contract';

/**
 * The one pattern the RabbitMQ server routes to: every delivery, valid or not,
 * reaches the events controller. An object, not a string: Nest tries
 * JSON.parse on every incoming pattern, and a plain string pattern would throw
 * (and build a stack trace) once per message.
 */
export const RMQ_INBOX_PATTERN = { webcommunicator: 'rmq-events' } as const;

/**
 * Decodes Nest's RMQ wire format, `{"pattern": "...", "data": {...}}`.
 *
 * Why a deserializer: left to itself, Nest's RMQ server nacks a delivery whose
 * pattern has no handler (and one with a top-level `id`, a request expecting
 * a reply, goes down another path) without telling why. Routing everything to
 * one handler lets that handler dead-letter with a reason header and ack.
 * It never throws: a throw here would leave the delivery unacknowledged forever.
 */
export class RmqEventDeserializer implements ConsumerDeserializer {
  deserialize(value: unknown): IncomingEvent {
    return { pattern: RMQ_INBOX_PATTERN, data: decodeRmqBody(value) };
  }
}

/** `value` is the body as Nest parsed it: an object, or the raw text when it wasn't JSON. */
export function decodeRmqBody(value: unknown): DecodedEvent {
  if (typeof value === 'string') {
    return rejectMalformedJson('The message body is not a JSON object; expected {"pattern": "...", "data": {...}}.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return rejectInvalid('The message body must be a JSON object {"pattern": "...", "data": {...}}.');
  }
  const body = value as Record<string, unknown>;
  const pattern = typeof body.pattern === 'string' ? body.pattern : undefined;
  const extra = Object.keys(body).filter((key) => key !== 'pattern' && key !== 'data');
  if (extra.length > 0) {
    const hint = extra.includes('id') ? " (a top-level id makes it a request: emit() the event, don't send() it)" : '';
    return rejectInvalid(`Unknown field(s) in the message body: ${extra.slice(0, 5).join(', ')}${hint}.`, pattern);
  }
  return decodeEvent(body.pattern, body.data);
}
