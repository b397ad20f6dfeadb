import { EVENT_PATTERNS, EventValidator } from './event-contract';
import { MqttEventDeserializer } from './mqtt/mqtt-event.deserializer';
import { decodeRmqBody } from './rmq/rmq-event.deserializer';

const { broadcast, direct } = EVENT_PATTERNS;

describe('event decoding and validation', () => {
  const validator = new EventValidator();

  it.each([
    ['not JSON (Nest hands the raw text over)', '{"pattern":', 'MALFORMED_JSON'],
    ['an array', [], 'VALIDATION_FAILED'],
    ['null', null, 'VALIDATION_FAILED'],
    ['no pattern', { data: {} }, 'UNKNOWN_PATTERN'],
    ['an unknown pattern', { pattern: 'webcommunicator.shout', data: {} }, 'UNKNOWN_PATTERN'],
    ['a request (top-level id)', { pattern: broadcast, data: {}, id: '1' }, 'VALIDATION_FAILED'],
  ])('rejects an RMQ body that is %s', (_, body, code) => {
    const decoded = decodeRmqBody(body);
    expect(decoded.ok ? undefined : decoded.rejection.code).toBe(code);
  });

  it('decodes Nest RMQ and MQTT wire formats and plain MQTT payloads alike', () => {
    const data = { channel: 'news', message: 'hi' };
    expect(decodeRmqBody({ pattern: broadcast, data })).toEqual({ ok: true, pattern: broadcast, data });
    const mqtt = new MqttEventDeserializer('$root/events/');
    const topic = `$root/events/${broadcast}`;
    expect(mqtt.deserialize({ pattern: topic, data }, { channel: topic }).data).toEqual({ ok: true, pattern: broadcast, data });
    expect(mqtt.deserialize(data, { channel: topic }).data).toEqual({ ok: true, pattern: broadcast, data });
  });

  it('validates payloads like the HTTP DTOs, unknown fields rejected', () => {
    expect(validator.validate(broadcast, { id: 'a:b.c_d-1', channel: 'news', message: '' }).ok).toBe(true);
    expect(validator.validate(direct, { channel: 'news', clientId: 'eu-west-1:4f1a', message: 'x' }).ok).toBe(true);
    const problems = [
      [broadcast, { channel: 'news' }, '/message is required'],
      [broadcast, { channel: 'news', message: 'x', extra: 1 }, '/extra is not allowed'],
      [broadcast, { channel: 'news/#', message: 'x' }, '/channel must match pattern'],
      [broadcast, { channel: 'news', message: 42 }, '/message must be string'],
      [broadcast, { id: 'x'.repeat(129), channel: 'news', message: 'x' }, '/id must match pattern'],
      [direct, { channel: 'news', clientId: 'a/+', message: 'x' }, '/clientId must match pattern'],
      [direct, { channel: 'news', message: 'x' }, '/clientId is required'],
    ] as const;
    for (const [pattern, data, detail] of problems) {
      const result = validator.validate(pattern, data);
      expect(result.ok ? 'valid' : result.rejection).toEqual({ code: 'VALIDATION_FAILED', detail: expect.stringContaining(detail) });
    }
  });
});
